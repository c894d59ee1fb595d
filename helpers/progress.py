"""A one-line progress bar for custom training loops (taught in book/ch12/07_custom_training_loops.ipynb).

The library alternative is `tqdm.auto.tqdm`, which the notebook shows too; this one prints exactly
the `loss: ... - mae: ...` line of the textbook's loop and nothing that changes between runs.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterable, Mapping
from numbers import Real
from typing import Any, TextIO

from helpers.arguments import positive_int

Values = Mapping[str, float] | Iterable[Any] | None


def _value(x: Any, name: str) -> float:
    if hasattr(x, "result"):
        return float(x.result())
    if isinstance(x, Real) or hasattr(x, "__float__"):
        return float(x)
    raise TypeError(
        f"`{name}` must be a Keras metric or a number. Received: {name} of type {type(x).__name__}"
    )


def _named_values(loss: Any, metrics: Values) -> list[tuple[str, float]]:
    pairs = [("loss", _value(loss, "loss"))]
    if metrics is None:
        return pairs
    if isinstance(metrics, Mapping):
        return pairs + [(str(k), _value(v, f"metrics[{k!r}]")) for k, v in metrics.items()]
    if isinstance(metrics, (str, bytes)) or not isinstance(metrics, Iterable):
        raise TypeError(
            "`metrics` must be a list of Keras metrics, a dict of names to numbers, or None. "
            f"Received: metrics of type {type(metrics).__name__}"
        )
    for m in metrics:
        name = getattr(m, "name", None)
        if name is None:
            raise TypeError(
                f"`metrics` must hold Keras metrics (objects with `name` and `result()`). "
                f"Received an item of type {type(m).__name__}"
            )
        # Keras calls a bare Mean metric "mean": in a loss slot it is the loss.
        pairs.append(("loss" if name == "mean" else name, _value(m, f"metrics[{name!r}]")))
    return pairs


def format_status(step: int, total: int, loss: Any, metrics: Values = None, width: int = 30) -> str:
    """The status line for `step` of `total`: a bar, the counts, then each value to 4 decimals.

    A pure function (no printing, no clock), so it is easy to test.

    Args:
        step: steps done so far, from 0 to `total`.
        total: steps in the epoch (a positive integer).
        loss: a Keras metric (its `result()` is shown) or a number.
        metrics: Keras metrics, a dict of names to numbers, or `None`.
        width: characters in the bar.

    Returns:
        The line, without `\\r` or newline.

    Raises:
        ValueError: if `total < 1` or `step` is outside `[0, total]`.
        TypeError: if a value is neither a metric nor a number.

    Example:
        >>> format_status(5, 10, 0.25, {"mae": 0.5}, width=10)
        ' 5/10 [=====.....] - loss: 0.2500 - mae: 0.5000'
    """
    total = positive_int(total, "total")
    if isinstance(step, bool) or not isinstance(step, int) or not 0 <= step <= total:
        raise ValueError(
            f"`step` must be an integer from 0 to total={total}. Received: step={step!r}"
        )
    done = width * step // total
    bar = "=" * done + "." * (width - done)
    values = " - ".join(f"{name}: {value:.4f}" for name, value in _named_values(loss, metrics))
    return f"{step:>{len(str(total))}}/{total} [{bar}] - {values}"


class StatusBar:
    """Redraws one status line in place with `\\r`, at most every `min_interval` seconds.

    The final step of an epoch is always drawn and ends the line, so the stored output of a
    notebook holds one line per epoch whatever the speed of the machine.

    Args:
        min_interval: seconds between redraws.
        clock: returns the time in seconds (inject a fake one in tests).
        file: where to write (default: `sys.stdout` at the time of writing).

    Example:
        >>> import io
        >>> out = io.StringIO()
        >>> bar = StatusBar(file=out, clock=lambda: 0.0)
        >>> for step in range(1, 4):
        ...     bar.update(step, 3, 0.5)
        >>> out.getvalue().splitlines()[-1].split("\\r")[-1]
        '3/3 [==============================] - loss: 0.5000'
    """

    def __init__(
        self,
        *,
        min_interval: float = 0.1,
        clock: Callable[[], float] = time.monotonic,
        file: TextIO | None = None,
    ) -> None:
        if not isinstance(min_interval, Real) or min_interval < 0:
            raise ValueError(
                f"`min_interval` must be a number of seconds >= 0. Received: min_interval={min_interval!r}"
            )
        self.min_interval = float(min_interval)
        self.clock = clock
        self.file = file
        self._last_draw: float | None = None
        self._last_step = 0

    def update(self, step: int, total: int, loss: Any, metrics: Values = None) -> None:
        """Draw the line for `step` of `total` unless the last draw was under `min_interval` ago."""
        line = format_status(step, total, loss, metrics)
        now = self.clock()
        new_line = step <= self._last_step
        final = step == total
        if final or new_line or self._last_draw is None or now - self._last_draw >= self.min_interval:
            out = self.file if self.file is not None else sys.stdout
            out.write("\r" + line + ("\n" if final else ""))
            out.flush()
            self._last_draw = None if final else now
        self._last_step = 0 if final else step


_bar = StatusBar()


def print_status_bar(step: int, total: int, loss: Any, metrics: Values = None) -> None:
    """Print the status line of a training loop, rewriting it in place (`\\r`).

    Works in a terminal and in Jupyter. Redraws are throttled (at most ten a second); the line
    for `step == total` is always printed and ends with a newline.

    Args:
        step: steps done in this epoch, from 0 to `total`.
        total: steps per epoch.
        loss: the mean loss: a Keras metric (a metric named "mean" is shown as "loss") or a number.
        metrics: Keras metrics, a dict of names to numbers (e.g. validation scores), or `None`.

    Raises:
        ValueError: if `total < 1` or `step` is outside `[0, total]`.
        TypeError: if a value is neither a Keras metric nor a number.

    Example:
        >>> import contextlib, io
        >>> with contextlib.redirect_stdout(io.StringIO()) as out:
        ...     print_status_bar(10, 10, 0.1234, {"mae": 0.5678})
        >>> out.getvalue()
        '\\r10/10 [==============================] - loss: 0.1234 - mae: 0.5678\\n'
    """
    _bar.update(step, total, loss, metrics)
