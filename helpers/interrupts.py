"""Ctrl-C held back until training stands somewhere it can stop (used by `helpers.train`).

Python raises `KeyboardInterrupt` at the first line of Python after the signal, which may be the
line after a compiled call and before the bookkeeping that goes with it (the step count, the undo
of a non-finite call): stopping there would checkpoint weights that do not match the step count.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager


@contextmanager
def deferred_interrupts() -> Iterator[Callable[[], bool]]:
    """Hold Ctrl-C (SIGINT) back in the block, which asks the yielded `pending()` where it can stop.

    A second Ctrl-C raises `KeyboardInterrupt` at once, and one still pending when the block ends
    is raised then. Where no Python handler can be set (outside the main thread, or where SIGINT
    is ignored or not handled by Python), Ctrl-C is not held back and `pending()` stays False.

    Example:
        >>> import os
        >>> try:
        ...     with deferred_interrupts() as pending:
        ...         os.kill(os.getpid(), signal.SIGINT)  # Ctrl-C, as if during a compiled call
        ...         print("bookkeeping done; pending:", pending())
        ... except KeyboardInterrupt:
        ...     print("raised when the block ended")
        bookkeeping done; pending: True
        raised when the block ended
    """
    previous = signal.getsignal(signal.SIGINT)
    if threading.current_thread() is not threading.main_thread() or not callable(previous):
        yield lambda: False
        return
    pressed = []

    def hold(signum, frame):
        if pressed:
            raise KeyboardInterrupt
        pressed.append(signum)

    signal.signal(signal.SIGINT, hold)
    try:
        yield lambda: bool(pressed)
    finally:
        signal.signal(signal.SIGINT, previous)
    if pressed:
        raise KeyboardInterrupt
