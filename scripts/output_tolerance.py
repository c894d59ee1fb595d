"""Compare notebook outputs with a numeric tolerance, for nbval, which compares text exactly.

A cell states its tolerance in its metadata, e.g. `"tolerance": {"rtol": 0.02, "atol": 0.001}`.
Two outputs then agree when their text is the same once every number is taken out (whitespace
runs count as one space, so a wider number may shift a table's columns) and each pair of numbers
satisfies |fresh - stored| <= atol + rtol * |stored|. The tests apply it only to notebooks run on
another platform than the one they were executed on (see pinned_platform.py); there every other
cell must still match exactly.
"""

from __future__ import annotations

import math
import re
from decimal import Decimal
from typing import Any

NUMBER = re.compile(r"[-+]?(?:\d+\.\d*|\.\d+|\d+)(?:[eE][-+]?\d+)?|[-+]?\b(?:nan|inf)\b")
TEXT_TYPES = ("text/plain", "text/html", "text/markdown", "text/latex")
UNCOMPARED_TAGS = frozenset({"nbval-ignore-output", "nbval-skip"})  # nbval leaves these outputs alone


def is_compared(cell: Any) -> bool:
    """Whether nbval compares this notebook cell's outputs (its tags do not tell it to skip them).

    Example:
        >>> is_compared({"metadata": {"tags": ["remove-cell"]}}), is_compared({"metadata": {"tags": ["nbval-skip"]}})
        (True, False)
    """
    return not UNCOMPARED_TAGS & set(cell["metadata"].get("tags", []))


def is_text(kind: str) -> bool:
    """Whether an output's MIME type holds text to compare, glue's records included.

    Example:
        >>> is_text("text/html"), is_text("application/papermill.record/text/plain"), is_text("image/png")
        (True, True, False)
    """
    return kind.endswith(TEXT_TYPES)


def check_tolerance(tolerance: Any, where: str = "tolerance") -> dict[str, float]:
    """The `{"rtol": r, "atol": a}` of a cell's metadata, checked.

    Example:
        >>> check_tolerance({"rtol": 0.01})
        {'rtol': 0.01, 'atol': 0.0}
    """
    if not isinstance(tolerance, dict) or not set(tolerance) <= {"rtol", "atol"} or not tolerance:
        raise ValueError(f"`{where}` must be a dict with keys rtol and/or atol. Received: {tolerance!r}")
    checked = {"rtol": tolerance.get("rtol", 0.0), "atol": tolerance.get("atol", 0.0)}
    for key, value in checked.items():
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value < math.inf:
            raise ValueError(f"`{where}` {key} must be a finite number >= 0. Received: {key}={value!r}")
    return {key: float(value) for key, value in checked.items()}


def _skeleton(text: str) -> str:
    return " ".join(NUMBER.sub("#", text).split())


def align_text(fresh: str, stored: str, rtol: float, atol: float) -> str:
    """`fresh`, with each number that is within tolerance of its counterpart in `stored` written as there.

    When the texts differ in more than numbers, `fresh` comes back unchanged, so the comparison
    that follows reports the real difference. When every number is within tolerance, the result
    is `stored` itself.

    Example:
        >>> align_text("accuracy 0.8831", "accuracy 0.8840", rtol=0.01, atol=0.0)
        'accuracy 0.8840'
        >>> align_text("accuracy 0.7000", "accuracy 0.8840", rtol=0.01, atol=0.0)
        'accuracy 0.7000'
    """
    fresh_numbers, stored_numbers = NUMBER.findall(fresh), NUMBER.findall(stored)
    if len(fresh_numbers) != len(stored_numbers) or _skeleton(fresh) != _skeleton(stored):
        return fresh
    close = [_close(a, b, rtol, atol) for a, b in zip(fresh_numbers, stored_numbers)]
    if all(close):
        return stored
    pieces = iter(zip(close, stored_numbers))

    def replace(match: re.Match) -> str:
        is_close, stored_number = next(pieces)
        return stored_number if is_close else match.group()

    return NUMBER.sub(replace, fresh)


def _close(fresh: str, stored: str, rtol: float, atol: float) -> bool:
    """Whether two printed numbers are within tolerance, in decimal arithmetic: in binary floating
    point, 2.5 - 2.4 is 0.10000000000000009, so one last-digit step would exceed an atol of 0.1."""
    a, b = Decimal(fresh), Decimal(stored)
    if not (a.is_finite() and b.is_finite()):
        return fresh == stored
    return abs(a - b) <= Decimal(repr(atol)) + Decimal(repr(rtol)) * abs(b)


def align_outputs(fresh: list[dict], stored: list[dict], rtol: float, atol: float) -> list[dict]:
    """Fresh outputs of a cell with their texts aligned to the stored ones (see `align_text`).

    Outputs are paired in order; a fresh output with no counterpart of its kind is kept as is.

    Example:
        >>> fresh = [{"output_type": "stream", "name": "stdout", "text": "loss 0.1234"}]
        >>> stored = [{"output_type": "stream", "name": "stdout", "text": "loss 0.1230"}]
        >>> align_outputs(fresh, stored, rtol=0.01, atol=0.0)[0]["text"]
        'loss 0.1230'
    """
    aligned = []
    for index, output in enumerate(fresh):
        reference = stored[index] if index < len(stored) else None
        if reference is None or reference.get("output_type") != output.get("output_type"):
            aligned.append(output)
        elif output.get("output_type") == "stream":
            text = align_text(output["text"], reference.get("text", ""), rtol, atol)
            aligned.append(type(output)({**output, "text": text}))  # keeps nbformat's NotebookNode
        elif "data" in output:
            data = dict(output["data"])
            for kind in filter(is_text, data):
                if isinstance(data[kind], str) and isinstance(reference.get("data", {}).get(kind), str):
                    data[kind] = align_text(data[kind], reference["data"][kind], rtol, atol)
            aligned.append(type(output)({**output, "data": type(output["data"])(data)}))
        else:
            aligned.append(output)
    return aligned
