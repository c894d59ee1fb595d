"""Conventions every notebook of the book follows (see the pilot, book/ch12/07_custom_training_loops.ipynb)."""

import re
from pathlib import Path

import nbformat
import pytest
import yaml

from output_tolerance import check_tolerance, is_compared

ROOT = Path(__file__).resolve().parents[1]
CONFIG = yaml.safe_load((ROOT / "_config.yml").read_text())
REPOSITORY = CONFIG["repository"]["url"]
NOTEBOOKS = sorted(p for p in (ROOT / "book").rglob("*.ipynb") if ".ipynb_checkpoints" not in p.parts)
KERAS_2_ONLY = {
    r"\blr\s*=": "lr= (Keras 3: learning_rate=)",
    r"reset_states\(": "reset_states( (Keras 3: reset_state())",
    r"__version__\s*[<>]=?\s*['\"]": "a string version comparison",
    r"add_metric\(": "add_metric( (removed in Keras 3)",
    r"\.h5['\"]": "HDF5 saving (Keras 3: the .keras format)",
}


def toc_files(node):
    if isinstance(node, dict):
        for key, value in node.items():
            if key in ("file", "root"):
                yield value
            else:
                yield from toc_files(value)
    elif isinstance(node, list):
        for item in node:
            yield from toc_files(item)


def ids(paths):
    return [str(p.relative_to(ROOT)) for p in paths]


def code_cells(notebook):
    return [c for c in notebook.cells if c.cell_type == "code" and c.source.strip()]


def test_config_executes_nothing_and_launches_colab():
    assert CONFIG["execute"]["execute_notebooks"] == "off"
    assert CONFIG["launch_buttons"]["colab_url"] == "https://colab.research.google.com"
    assert REPOSITORY.startswith("https://github.com/")


def test_every_notebook_is_in_the_toc_and_every_toc_entry_exists():
    listed = set(toc_files(yaml.safe_load((ROOT / "_toc.yml").read_text())))
    notebooks = {str(p.relative_to(ROOT).with_suffix("")) for p in NOTEBOOKS}
    assert notebooks <= listed
    for entry in listed:
        assert any((ROOT / entry).with_suffix(s).exists() for s in (".md", ".ipynb")), entry


@pytest.mark.parametrize("path", NOTEBOOKS, ids=ids(NOTEBOOKS))
def test_colab_badge_and_install_cell_point_at_this_repository(path):
    notebook = nbformat.read(path, as_version=4)
    relative = path.relative_to(ROOT).as_posix()
    github = REPOSITORY.removeprefix("https://github.com/")
    badge = f"https://colab.research.google.com/github/{github}/blob/{CONFIG['repository']['branch']}/{relative}"
    assert badge in notebook.cells[0].source, "the first cell must hold the Colab badge"
    first_code = code_cells(notebook)[0].source
    assert f'%pip install --quiet "git+{REPOSITORY}"' in first_code
    assert 'if "google.colab" in sys.modules:' in first_code
    assert "helpers.setup()" in first_code


@pytest.mark.parametrize("path", NOTEBOOKS, ids=ids(NOTEBOOKS))
def test_stored_with_outputs_from_one_top_to_bottom_run(path):
    notebook = nbformat.read(path, as_version=4)
    assert notebook.metadata["kernelspec"]["name"] == "python3"
    cells = code_cells(notebook)
    assert [c.execution_count for c in cells] == list(range(1, len(cells) + 1))
    assert any(c.outputs for c in cells)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=ids(NOTEBOOKS))
def test_no_keras_2_only_code(path):
    source = "\n".join(c.source for c in code_cells(nbformat.read(path, as_version=4)))
    found = [name for pattern, name in KERAS_2_ONLY.items() if re.search(pattern, source)]
    assert not found


@pytest.mark.parametrize("path", NOTEBOOKS, ids=ids(NOTEBOOKS))
def test_hardware_dependent_cells_are_checked_by_a_hidden_assertion(path):
    cells = code_cells(nbformat.read(path, as_version=4))
    unchecked = [c for c in cells if "nbval-ignore-output" in c.metadata.get("tags", [])]
    hidden = [c for c in cells if "remove-cell" in c.metadata.get("tags", [])]
    assert all("assert" in c.source for c in hidden)
    if any("time.perf_counter" in c.source for c in unchecked):
        assert hidden, "a timing cell needs a hidden assertion cell that checks its result"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=ids(NOTEBOOKS))
def test_outputs_name_no_folder_of_the_machine_that_ran_them(path):
    outputs = [o for c in code_cells(nbformat.read(path, as_version=4)) for o in c.outputs]
    text = "\n".join("\n".join(o.get("traceback", [])) + o.get("text", "") for o in outputs)
    local = sorted(set(re.findall(r"(?:/[\w.-]+)+/(?:site-packages|\.venv|helpers)/", text)))
    assert not local, f"re-run `make execute`, which shortens these paths: {local}"


def test_nbval_compares_at_least_85_percent_of_the_cells_that_have_outputs():
    cells = [c for p in NOTEBOOKS for c in code_cells(nbformat.read(p, as_version=4)) if c.outputs]
    share = sum(map(is_compared, cells)) / len(cells)
    assert share >= 0.85, f"only {share:.0%} of the {len(cells)} code cells with outputs are compared"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=ids(NOTEBOOKS))
def test_records_the_platform_it_was_executed_on_and_states_valid_tolerances(path):
    notebook = nbformat.read(path, as_version=4)
    recorded = notebook.metadata.get("executed_on", {})
    assert {"machine", "isa", "device", "tensorflow", "keras", "numpy"} <= set(recorded), "re-run `make execute`"
    for index, cell in enumerate(code_cells(notebook)):
        if "tolerance" in cell.metadata:
            assert is_compared(cell), f"code cell {index} states a tolerance but is not compared"
            tolerance = check_tolerance(cell.metadata["tolerance"], f"code cell {index} tolerance")
            assert tolerance["rtol"] <= 0.25, f"code cell {index}: a tolerance this wide compares nothing"
