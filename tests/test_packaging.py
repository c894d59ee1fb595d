"""pyproject.toml and environment.yml must ask for the same packages."""

import tomllib
from pathlib import Path

import yaml
from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parents[1]


def normalized(requirements):
    return {(r.name.lower().replace("_", "-"), str(r.specifier)) for r in map(Requirement, requirements)}


def test_environment_yml_lists_the_requirements_of_pyproject():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    wanted = project["dependencies"] + project["optional-dependencies"]["book"] + project["optional-dependencies"]["test"]
    environment = yaml.safe_load((ROOT / "environment.yml").read_text())
    pip_section = next(d["pip"] for d in environment["dependencies"] if isinstance(d, dict))
    listed = [line for line in pip_section if not line.startswith("-e")]
    assert normalized(listed) == normalized(wanted)
    assert "-e ." in pip_section  # installs helpers itself


def test_pins_that_matter():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    requirements = {r.name: r.specifier for r in map(Requirement, project["dependencies"] + project["optional-dependencies"]["book"])}
    assert "2.16" in requirements["tensorflow"] and "2.15.9" not in requirements["tensorflow"]
    # Keras 3.0 lacks what the course relies on (constraints applied in apply_gradients, a plain
    # float learning rate); 3.5 is the oldest that `make test-floor` passes with.
    assert "3.5" in requirements["keras"] and "3.4" not in requirements["keras"]
    assert "2.0" not in requirements["jupyter-book"] and "1.5" in requirements["jupyter-book"]
