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

NOTICE = ("\nCtrl-C: stopping at the next safe point (after the running compiled call, which cannot be cut "
          "short, or at the end of the epoch). Press it twice more to stop at once.\n")
FORCE_AFTER = 3  # presses: the last one raises KeyboardInterrupt at once


@contextmanager
def deferred_interrupts() -> Iterator[Callable[[], bool]]:
    """Hold Ctrl-C (SIGINT) back in the block, which asks the yielded `pending()` where it can stop.

    A press makes `pending()` True and writes one line to stderr, as soon as Python runs again
    (at once while Python traces; after a compiled call, which Python cannot enter), so that the
    wait does not look like a hang. The block decides where to stop: a press it has not acted on
    when it ends is dropped. The `FORCE_AFTER`-th press raises `KeyboardInterrupt` at once, a way
    out of a long wait that may stop the block anywhere. The previous handler is back after it.
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
        pressed.append(signum)
        if len(pressed) >= FORCE_AFTER:
            raise KeyboardInterrupt
        if len(pressed) == 1:
            try:  # an error raised here would surface at any line of the block
                sys.stderr.write(NOTICE)
            except Exception:
                pass

    signal.signal(signal.SIGINT, hold)
    try:
        yield lambda: bool(pressed)
    finally:
        signal.signal(signal.SIGINT, previous)
