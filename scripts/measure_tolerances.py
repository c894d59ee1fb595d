"""Measure how far each cell's numbers move on another platform, and state the tolerances it needs.

Usage: COURSE_CPU_ISA=AVX python scripts/measure_tolerances.py [--write] [NOTEBOOK ...]
       (`make tolerances ISA=AVX`; default: every notebook in book/)

Runs each notebook under this platform (another cap than its outputs were made with stands in for
another CPU) without touching the file, compares every code cell with its stored outputs and
prints the cells whose numbers differ, with the relative and absolute differences. With
`--write`, each such cell gets (or widens) a `tolerance` in its metadata: three times what was
measured, rounded up to one significant digit. A cell whose text differs in more than numbers,
or that would need more than MAX_RTOL, gets no tolerance: it is listed for a human to make
steadier (a claim asserted instead of printed, say), or for a tolerance stated by hand where the
numbers are honestly chaotic (separate training runs); a cell already within its stated tolerance
is reported as such and left alone.
"""

from __future__ import annotations

import math
import sys
from decimal import Decimal
from pathlib import Path

import nbformat
from nbclient.exceptions import CellExecutionError
from execute_notebooks import notebooks, prepare, run
from output_tolerance import NUMBER, _skeleton, align_outputs, check_tolerance, is_compared, is_text

MARGIN = 3.0
MAX_RTOL = 0.25
NEAR_ZERO = 0.01  # below this a difference counts as absolute, not relative


def texts(outputs: list) -> list[str]:
    """Every compared text of a cell's outputs (stderr and images are not compared)."""
    found = []
    for output in outputs:
        if output.get("output_type") == "stream" and output.get("name") == "stdout":
            found.append(output["text"])
        for kind, value in sorted(output.get("data", {}).items()):  # stored files sort them, fresh runs do not
            if is_text(kind) and isinstance(value, str):
                found.append(value)
    return found


def needed(fresh: list, stored: list) -> dict[str, float] | None:
    """The (rtol, atol) that makes `fresh` agree with `stored`, or None if numbers alone cannot."""
    fresh_texts, stored_texts = texts(fresh), texts(stored)
    if len(fresh_texts) != len(stored_texts):
        return None
    rtol = atol = 0.0
    for a_text, b_text in zip(fresh_texts, stored_texts):
        if _skeleton(a_text) != _skeleton(b_text):
            return None
        for a_number, b_number in zip(NUMBER.findall(a_text), NUMBER.findall(b_text)):
            a, b = float(a_number), float(b_number)
            if math.isnan(a) != math.isnan(b) or (math.isinf(a) or math.isinf(b)) and a != b:
                return None
            if a == b or math.isnan(a):
                continue
            difference = float(abs(Decimal(a_number) - Decimal(b_number)))  # as printed, like _close
            if abs(b) >= NEAR_ZERO:
                rtol = max(rtol, difference / abs(b))
            else:
                atol = max(atol, difference)
    return {"rtol": rtol, "atol": atol}


def within(fresh: list, stored: list, tolerance: dict) -> bool:
    """Whether `fresh` agrees with `stored` under a cell's stated tolerance (set by hand, say)."""
    return texts(align_outputs(fresh, stored, **check_tolerance(tolerance))) == texts(stored)


def first_difference(fresh: list, stored: list) -> str:
    """The first line that differs, fresh and stored, for a human to judge."""
    fresh_lines = "\n".join(texts(fresh)).splitlines()
    stored_lines = "\n".join(texts(stored)).splitlines()
    for a, b in zip(fresh_lines, stored_lines):
        if a != b:
            return f"    fresh:  {a[:150]}\n    stored: {b[:150]}"
    return f"    {len(fresh_lines)} lines fresh, {len(stored_lines)} stored"


def round_up(value: float) -> float:
    """`value` rounded up to one significant digit (0 stays 0)."""
    if value == 0:
        return 0.0
    scale = 10 ** math.floor(math.log10(value))
    return float(f"{math.ceil(value / scale) * scale:.1g}")


def measure(path: Path, write: bool) -> list[str]:
    """Report lines for one notebook; with `write`, store the widened tolerances in it."""
    stored = nbformat.read(path, as_version=4)
    try:
        fresh = run(path)
    except CellExecutionError as error:  # a claim that does not hold here: no tolerance can fix it
        return [f"{path.name}: a cell fails on this platform: make its claim hold\n    {error.ename}: {error.evalue[:300]}"]
    report, changed = [], False
    code = [(i, c) for i, c in enumerate(stored.cells) if c.cell_type == "code"]
    fresh_code = [c for c in fresh.cells if c.cell_type == "code"]
    for (index, cell), new in zip(code, fresh_code):
        if not is_compared(cell) or texts(new.outputs) == texts(cell.outputs):
            continue
        old = cell.metadata.get("tolerance", {})
        if old and within(new.outputs, cell.outputs, old):
            report.append(f"{path.name} cell {index}: differs within its stated tolerance {old}")
            continue
        tolerance = needed(new.outputs, cell.outputs)
        wanted = {k: max(old.get(k, 0.0), round_up(MARGIN * v)) for k, v in (tolerance or {}).items()}
        wanted = {k: v for k, v in wanted.items() if v}
        if tolerance is None:
            report.append(f"{path.name} cell {index}: differs beyond numbers: make it steadier\n"
                          f"{first_difference(new.outputs, cell.outputs)}")
            continue
        if wanted.get("rtol", 0.0) > MAX_RTOL:
            report.append(f"{path.name} cell {index}: would need rtol {wanted['rtol']:g} (over {MAX_RTOL:g}; "
                          f"atol {wanted.get('atol', 0.0):g}): make it steadier or state an atol by hand\n"
                          f"{first_difference(new.outputs, cell.outputs)}")
            continue
        report.append(f"{path.name} cell {index}: measured rtol {tolerance['rtol']:.2g}, atol {tolerance['atol']:.2g}; stated {wanted}")
        if write and wanted != old:
            cell.metadata["tolerance"], changed = wanted, True
        assert within(new.outputs, cell.outputs, {"rtol": 0.0, **wanted})
    if changed:
        nbformat.write(stored, path)
    return report


def main(arguments: list[str]) -> None:
    write = "--write" in arguments
    platform = prepare()
    print(f"Measuring on {platform}", flush=True)
    for path in notebooks([a for a in arguments if a != "--write"]):
        lines = measure(path, write)
        print("\n".join(lines) if lines else f"{path.name}: every cell the same", flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
