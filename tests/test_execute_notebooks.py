"""Which notebooks scripts/execute_notebooks.py accepts (executing them is what `make execute` does)."""

from pathlib import Path

import pytest

from execute_notebooks import ROOT, notebooks


def test_without_arguments_every_notebook_of_the_book():
    found = notebooks([])
    assert found and all(p.suffix == ".ipynb" and p.is_relative_to(ROOT / "book") for p in found)
    assert ROOT / "book" / "ch11" / "05_regularization.ipynb" in found


def test_named_notebooks_relative_or_absolute(monkeypatch):
    monkeypatch.chdir(ROOT)
    absolute = str(ROOT / "book" / "ch12" / "01_tensors_and_operations.ipynb")
    assert notebooks(["book/ch11/05_regularization.ipynb", absolute]) == [
        ROOT / "book" / "ch11" / "05_regularization.ipynb", Path(absolute)]


@pytest.mark.parametrize("name", ["README.md", "book/ch11/no_such_notebook.ipynb", "/tmp/elsewhere.ipynb"])
def test_anything_else_is_refused_before_any_kernel_starts(name, tmp_path, monkeypatch):
    monkeypatch.chdir(ROOT)
    if name.startswith("/tmp"):
        name = str(tmp_path / "elsewhere.ipynb")
        Path(name).write_text("{}")
    with pytest.raises(ValueError, match="is not a notebook of the book"):
        notebooks([name])
