"""Checks of numeric arguments shared by the helpers: each returns the value or raises a
ValueError naming the argument, what it received and what it expects."""

from __future__ import annotations

import math
from typing import Any

import numpy as np


def positive_int(value: Any, name: str, *, allow_none: bool = False) -> int | None:
    """`value` as an int if it is an integer ≥ 1 (or `None` when `allow_none`), else a ValueError.

    Booleans are rejected although Python counts them as integers: `epochs=True` is a mistake.

    Example:
        >>> positive_int(3, "epochs")
        3
        >>> positive_int(0, "epochs")
        Traceback (most recent call last):
        ...
        ValueError: `epochs` must be a positive integer. Received: epochs=0
    """
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        expected = "a positive integer or None" if allow_none else "a positive integer"
        raise ValueError(f"`{name}` must be {expected}. Received: {name}={value!r}")
    return int(value)


def positive_number(value: Any, name: str) -> float:
    """`value` as a float if it is a finite real number > 0, else a ValueError.

    Example:
        >>> positive_number(0.5, "max_rate")
        0.5
        >>> positive_number(float("nan"), "max_rate")
        Traceback (most recent call last):
        ...
        ValueError: `max_rate` must be a positive number. Received: max_rate=nan
    """
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)) \
            or not math.isfinite(value) or value <= 0:
        raise ValueError(f"`{name}` must be a positive number. Received: {name}={value!r}")
    return float(value)


def fraction(value: Any, name: str) -> float:
    """`value` as a float if it is a real number in [0, 1), else a ValueError.

    Example:
        >>> fraction(0.9, "smoothing")
        0.9
        >>> fraction(1.0, "smoothing")
        Traceback (most recent call last):
        ...
        ValueError: `smoothing` must be a number in [0, 1). Received: smoothing=1.0
    """
    if isinstance(value, bool) or not isinstance(value, (int, float, np.number)) or not 0 <= value < 1:
        raise ValueError(f"`{name}` must be a number in [0, 1). Received: {name}={value!r}")
    return float(value)
