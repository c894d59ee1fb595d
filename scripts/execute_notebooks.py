"""Execute the book's notebooks in place on the CPU, so their stored outputs are reproducible.

Usage: python scripts/execute_notebooks.py [NOTEBOOK ...]   (default: every notebook in book/)

Each notebook runs top to bottom in a fresh kernel of this environment, with the GPU hidden, TF's
logs silenced, Python's hash seed fixed and the CPU's instruction set capped (AVX2 unless
COURSE_CPU_ISA says otherwise; see pinned_platform.py), and records that platform in its
metadata (`executed_on`), which tells the tests when they can compare its outputs exactly. Then streams are merged with carriage returns applied
(what a reader sees), TensorFlow's stderr logs are dropped, tracebacks and warnings name files
relative to site-packages or the repository instead of this machine's folders, and timing
metadata is removed, so that re-executing an unchanged notebook changes nothing but
hardware-dependent cells.
"""

from __future__ import annotations

import os
import re
import sys
import sysconfig
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient
from pinned_platform import apply_cap, platform_record

ROOT = Path(__file__).resolve().parents[1]
CARRIAGE_RETURN = re.compile(r"^.*\r(?=[^\n])", re.MULTILINE)
TF_LOG_LINE = re.compile(
    r"^(WARNING: All log messages before absl.*|[IWEF]\d{4} .*|WARNING:tensorflow:.*|"
    r"To enable the following instructions.*|\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d+: [IWEF] .*)\n?",
    re.MULTILINE,
)
# Longest first: the repository folder is a prefix of the site-packages of a virtual environment in it.
LOCAL_FOLDERS = sorted(
    {(sysconfig.get_paths()[key], ".../site-packages") for key in ("purelib", "platlib")}
    | {(str(ROOT), ".")},
    key=lambda pair: -len(pair[0]),
)


def shorten_paths(text: str) -> str:
    """`text` with this machine's folders replaced by names that hold anywhere."""
    for folder, name in LOCAL_FOLDERS:
        text = text.replace(folder, name)
    return text


def tidy(outputs: list) -> list:
    """Merge consecutive streams, apply `\\r`, drop TensorFlow's log lines from stderr, shorten file paths."""
    merged: list = []
    for output in outputs:
        previous = merged[-1] if merged else None
        if (output.output_type == "stream" and previous is not None
                and previous.output_type == "stream" and previous.name == output.name):
            previous.text += output.text
        else:
            merged.append(output)
    kept = []
    for output in merged:
        if output.output_type == "stream":
            output.text = shorten_paths(CARRIAGE_RETURN.sub("", output.text))
            if output.name == "stderr":
                output.text = TF_LOG_LINE.sub("", output.text)
            if not output.text:
                continue
        elif output.output_type == "error":
            output.traceback = [shorten_paths(line) for line in output.traceback]
        kept.append(output)
    return kept


def run(path: Path) -> nbformat.NotebookNode:
    """The notebook at `path`, executed top to bottom in a fresh kernel, with tidied outputs."""
    notebook = nbformat.read(path, as_version=4)
    client = NotebookClient(
        notebook, timeout=1800, kernel_name="python3", resources={"metadata": {"path": str(path.parent)}}
    )
    client.execute()
    for cell in notebook.cells:
        if cell.cell_type == "code":
            cell.outputs = tidy(cell.outputs)
            cell.metadata.pop("execution", None)
    return notebook


def execute(path: Path, platform: dict[str, str]) -> float:
    start = time.perf_counter()
    notebook = run(path)
    notebook.metadata["executed_on"] = platform
    nbformat.write(notebook, path)
    return time.perf_counter() - start


def prepare() -> dict[str, str]:
    """Set this process's environment (inherited by the kernels) and return the platform it pins."""
    os.environ.update(TF_CPP_MIN_LOG_LEVEL="3", PYTHONHASHSEED="0", CUDA_VISIBLE_DEVICES="-1")
    return platform_record(apply_cap())


def notebooks(arguments: list[str]) -> list[Path]:
    """The notebooks to execute: those named (each an existing .ipynb file under book/), or all of book/.

    Example:
        >>> notebooks(["README.md"])
        Traceback (most recent call last):
        ...
        ValueError: README.md is not a notebook of the book: name .ipynb files under book/ (or none, for all)
    """
    paths = [Path(a).resolve() for a in arguments] or sorted((ROOT / "book").rglob("*.ipynb"))
    for path, argument in zip(paths, arguments):
        if path.suffix != ".ipynb" or not path.is_file() or not path.is_relative_to(ROOT / "book"):
            raise ValueError(f"{argument} is not a notebook of the book: name .ipynb files under book/ (or none, for all)")
    return [p for p in paths if ".ipynb_checkpoints" not in p.parts]


def main(arguments: list[str]) -> None:
    paths = notebooks(arguments)  # before the first kernel starts: a wrong name fails at once
    platform = prepare()
    print(f"Executing on {platform}", flush=True)
    for path in paths:
        print(f"{path.relative_to(ROOT)}: {execute(path, platform):.0f} s", flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
