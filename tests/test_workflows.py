"""The GitHub workflows are valid for GitHub's schema and pass zizmor's security audit (offline)."""

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
WORKFLOWS = sorted((ROOT / ".github" / "workflows").glob("*.yml"))
BIN = Path(sys.executable).parent


def run(tool, *arguments):
    executable = shutil.which(tool, path=str(BIN)) or shutil.which(tool)
    assert executable, f"{tool} is not installed: pip install -e '.[test]'"
    return subprocess.run([executable, *arguments], capture_output=True, text=True, cwd=ROOT)


def test_there_are_the_cpu_gpu_versions_and_website_workflows():
    assert {p.name for p in WORKFLOWS} == {"ci.yml", "gpu.yml", "versions.yml", "pages.yml"}


def test_workflows_match_githubs_schema():
    result = run("check-jsonschema", "--builtin-schema", "vendor.github-workflows", *map(str, WORKFLOWS))
    assert result.returncode == 0, result.stdout + result.stderr


def test_workflows_pass_zizmor():
    result = run("zizmor", "--offline", "--no-progress", ".github/workflows")
    assert result.returncode == 0, result.stdout + result.stderr


def test_gpu_job_is_switched_by_a_repository_variable_and_runs_lax():
    job = yaml.safe_load((ROOT / ".github/workflows/gpu.yml").read_text())["jobs"]["notebooks"]
    assert job["if"] == "${{ vars.GPU_RUNNER == 'true' }}"
    assert "self-hosted" in job["runs-on"] and "gpu" in job["runs-on"]
    assert any("--nbval-lax" in step.get("run", "") for step in job["steps"])


@pytest.mark.parametrize("command", ["make book", "make test"])
def test_cpu_job_runs_the_readme_commands(command):
    steps = yaml.safe_load((ROOT / ".github/workflows/ci.yml").read_text())["jobs"]["cpu"]["steps"]
    assert any(step.get("run") == command for step in steps)
    assert f"`{command}`" in (ROOT / "README.md").read_text()


@pytest.mark.parametrize("job, command", [("floor", "make test-floor"), ("newest", "make test-newest")])
def test_version_range_jobs_run_the_makefile_commands(job, command):
    workflow = yaml.safe_load((ROOT / ".github/workflows/versions.yml").read_text())
    steps = workflow["jobs"][job]["steps"]
    assert any(step.get("run") == command for step in steps)
    assert "schedule" in workflow[True]  # yaml reads the key `on` as True
    phony = next(line for line in (ROOT / "Makefile").read_text().splitlines() if line.startswith(".PHONY:"))
    assert command.split()[1] in phony.split()


def test_the_website_is_built_by_make_book_and_published_from_main():
    workflow = yaml.safe_load((ROOT / ".github/workflows/pages.yml").read_text())
    build, deploy = workflow["jobs"]["build"], workflow["jobs"]["deploy"]
    assert workflow[True]["push"]["branches"] == ["main"]
    assert any(step.get("run") == "make book" for step in build["steps"])
    upload = next(s for s in build["steps"] if s.get("uses", "").startswith("actions/upload-pages-artifact@"))
    assert upload["with"]["path"] == "_build/html"
    assert deploy["permissions"] == {"pages": "write", "id-token": "write"}
    assert deploy["environment"]["name"] == "github-pages"
