import builtins
import importlib.machinery
import importlib.util
import sys
import types

import numpy as np
import pytest

from helpers.glue import glue


def test_with_myst_nb_the_value_is_recorded_under_its_name(monkeypatch):
    recorded = []
    myst_nb = types.ModuleType("myst_nb")  # a stand-in, so the test runs whether or not MyST-NB is installed
    myst_nb.__spec__ = importlib.machinery.ModuleSpec("myst_nb", None)
    myst_nb.glue = lambda name, value, display: recorded.append((name, value, display))
    monkeypatch.setitem(sys.modules, "myst_nb", myst_nb)
    glue("accuracy", 0.875)
    glue("rate", 0.01, display=True)
    assert recorded == [("accuracy", 0.875, False), ("rate", 0.01, True)]


def test_numpy_scalars_are_recorded_as_python_numbers(monkeypatch):
    recorded = []
    myst_nb = types.ModuleType("myst_nb")
    myst_nb.__spec__ = importlib.machinery.ModuleSpec("myst_nb", None)
    myst_nb.glue = lambda name, value, display: recorded.append(value)
    monkeypatch.setitem(sys.modules, "myst_nb", myst_nb)
    glue("rate", np.float64(0.003))
    glue("epochs", np.int64(8))
    assert recorded == [0.003, 8] and [type(v) for v in recorded] == [float, int]
    assert [repr(v) for v in recorded] == ["0.003", "8"]  # what MyST-NB stores and the text reads back


def test_without_myst_nb_it_does_nothing(monkeypatch):
    real_find_spec, real_import = importlib.util.find_spec, builtins.__import__
    monkeypatch.setattr(importlib.util, "find_spec", lambda n, *a: None if n == "myst_nb" else real_find_spec(n, *a))

    def no_myst_nb(name, *args, **kwargs):
        if name.startswith("myst_nb"):
            raise AssertionError("glue imported myst_nb although it is not installed")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_myst_nb)
    assert glue("accuracy", 0.875) is None


@pytest.mark.parametrize("name", ["", "two words", None, 3])
def test_a_bad_name_raises_naming_the_argument(name):
    with pytest.raises(ValueError, match="`name` must be a non-empty string"):
        glue(name, 1.0)
