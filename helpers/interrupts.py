"""Ctrl-C held back until training stands somewhere it can stop (used by `helpers.train`).

Python raises `KeyboardInterrupt` at the first line of Python after the signal, which may be the
line after a compiled call and before the bookkeeping that goes with it (the step count, the undo
of a non-finite call): stopping there would checkpoint weights that do not match the step count,
or keep a NaN. Taught in book/ch12/10_checkpoints_and_disconnects.md.
"""

from __future__ import annotations

import signal
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

NOTICE = "\nCtrl-C: stopping once the running call's steps are counted (it cannot be cut short).\n"


@contextmanager
def deferred_interrupts() -> Iterator[Callable[[], bool]]:
    """Hold Ctrl-C (SIGINT) back in the block, which asks the yielded `pending()` where it can stop.

    A press writes one line to stderr (so that the wait does not look like a hang) and makes
    `pending()` True; further presses change nothing. The block decides where to stop: a press
    it has not acted on when it ends is dropped. The previous handler is back after the block.
    Where no Python handler can be set (outside the main thread, or where SIGINT is ignored or
    not handled by Python), Ctrl-C is not held back and `pending()` stays False.

    Yields:
        `pending()`: whether Ctrl-C was pressed since the block began.

    Example:
        >>> with deferred_interrupts() as pending:
        ...     signal.raise_signal(signal.SIGINT)  # Ctrl-C, as if during a compiled call
        ...     print("bookkeeping done; pending:", pending())
        bookkeeping done; pending: True
    """
    previous = signal.getsignal(signal.SIGINT)
    if threading.current_thread() is not threading.main_thread() or not callable(previous):
        yield lambda: False
        return
    pressed = []

    def hold(signum, frame):
        if not pressed:
            sys.stderr.write(NOTICE)
        pressed.append(signum)

    signal.signal(signal.SIGINT, hold)
    try:
        yield lambda: bool(pressed)
    finally:
        signal.signal(signal.SIGINT, previous)
