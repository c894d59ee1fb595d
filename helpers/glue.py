"""Computed numbers for the website's text: MyST-NB's `glue`, or nothing where MyST-NB is absent."""

from __future__ import annotations

import importlib.util
from typing import Any

import numpy as np


def glue(name: str, value: Any, display: bool = False) -> None:
    """Record `value` under `name` so that the page's text can quote it as {glue:text}`name`.

    When the website is built, MyST-NB's `glue` stores the value in the cell's output. A NumPy
    scalar is stored as the plain Python number it holds: the text's format specs (`:.3f`, `:g`)
    read the stored repr back, and `np.float64(0.003)` would not read as a number. Where
    MyST-NB is not installed (Colab, plain Jupyter), the text is not built, so this does nothing:
    the notebooks run top to bottom there with the same code.

    Args:
        name: the key the text refers to; a non-empty string without spaces.
        value: the value to quote (a number, usually rounded as the text shows it; NumPy scalars
            are converted to Python numbers).
        display: also show the value in the notebook (MyST-NB's default is True; ours is False, as the
            cells that glue are hidden).

    Raises:
        ValueError: if `name` is not a non-empty string without whitespace.

    Example:
        >>> glue("best_accuracy", 0.91)  # stored for the page; prints nothing
        >>> glue("best accuracy", 0.91)
        Traceback (most recent call last):
        ...
        ValueError: `name` must be a non-empty string without whitespace. Received: name='best accuracy'
    """
    if not isinstance(name, str) or not name or any(c.isspace() for c in name):
        raise ValueError(f"`name` must be a non-empty string without whitespace. Received: name={name!r}")
    if importlib.util.find_spec("myst_nb") is not None:
        from myst_nb import glue as myst_glue

        if isinstance(value, np.generic):
            value = value.item()
        myst_glue(name, value, display=display)
