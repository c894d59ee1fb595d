"""The CPU cap of the execute and test commands, and the platform record (scripts/pinned_platform.py)."""

import importlib.machinery
import os

import pytest

import pinned_platform


@pytest.fixture(autouse=True)
def keep_environment():
    # apply_cap() writes the caps into os.environ, and the notebook kernels that run later in the
    # same session inherit it: a test's lower cap must not leak into them.
    saved = dict(os.environ)
    yield
    os.environ.clear()
    os.environ.update(saved)


def test_a_cap_sets_both_libraries_in_their_own_spelling(monkeypatch):
    monkeypatch.setattr(pinned_platform, "cpu_flags", lambda: {"sse4_2", "avx", "avx2"})
    monkeypatch.setattr(pinned_platform, "xla_takes_a_cap", lambda: True)
    monkeypatch.setenv("COURSE_CPU_ISA", "sse4")
    monkeypatch.setenv("XLA_FLAGS", "--xla_cpu_max_isa=AVX512 --xla_dump_to=/tmp/x")
    assert pinned_platform.apply_cap() == "SSE4"
    environ = pinned_platform.os.environ
    assert environ["ONEDNN_MAX_CPU_ISA"] == "SSE41" and environ["OPENBLAS_CORETYPE"] == "Nehalem"
    assert {"X86_V3", "X86_V4", "AVX2", "AVX512F"} <= set(environ["NPY_DISABLE_CPU_FEATURES"].split())
    assert pinned_platform.os.environ["XLA_FLAGS"] == "--xla_dump_to=/tmp/x --xla_cpu_max_isa=SSE4_2"


def test_an_xla_without_the_flag_is_left_uncapped_and_the_record_says_so(monkeypatch):
    monkeypatch.setattr(pinned_platform, "cpu_flags", lambda: {"sse4_2", "avx", "avx2", "avx512f"})
    monkeypatch.setattr(pinned_platform, "xla_takes_a_cap", lambda: False)
    monkeypatch.setenv("COURSE_CPU_ISA", "AVX2")
    monkeypatch.setenv("XLA_FLAGS", "")
    assert pinned_platform.apply_cap() == "AVX2, XLA AVX512"
    assert "max_isa" not in pinned_platform.os.environ["XLA_FLAGS"]


@pytest.mark.parametrize("content, takes", [(b"..xla_cpu_max_isa..", True), (b"..xla_cpu_other..", False)])
def test_the_flag_is_looked_for_in_tensorflows_library(tmp_path, monkeypatch, content, takes):
    (tmp_path / "libtensorflow_framework.so.2").write_bytes(content)
    spec = importlib.machinery.ModuleSpec("tensorflow", None, is_package=True)
    spec.submodule_search_locations = [str(tmp_path)]
    monkeypatch.setattr(pinned_platform.importlib.util, "find_spec", lambda name: spec)
    assert pinned_platform.xla_takes_a_cap.__wrapped__() is takes  # the uncached function


def test_a_cpu_below_the_cap_runs_its_widest_instruction_set(monkeypatch):
    monkeypatch.setattr(pinned_platform, "cpu_flags", lambda: {"sse4_2", "avx"})
    monkeypatch.setenv("COURSE_CPU_ISA", "AVX2")
    assert pinned_platform.apply_cap() == "AVX"
    assert pinned_platform.os.environ["OPENBLAS_CORETYPE"] == "Sandybridge"  # never a core the CPU lacks


def test_off_x86_there_is_no_cap(monkeypatch):
    monkeypatch.setattr(pinned_platform, "cpu_flags", set)
    monkeypatch.delenv("ONEDNN_MAX_CPU_ISA", raising=False)
    assert pinned_platform.apply_cap() == "none"
    assert "ONEDNN_MAX_CPU_ISA" not in pinned_platform.os.environ


def test_an_unknown_cap_is_refused_with_the_valid_names(monkeypatch):
    monkeypatch.setenv("COURSE_CPU_ISA", "AVX3")
    with pytest.raises(SystemExit, match="COURSE_CPU_ISA must be one of AVX512, AVX2, AVX, SSE4. Received: COURSE_CPU_ISA='AVX3'"):
        pinned_platform.apply_cap()


def test_differences_name_each_thing_that_changed():
    recorded = pinned_platform.platform_record("AVX2")
    assert pinned_platform.differences(recorded, dict(recorded)) == []
    other = {**recorded, "isa": "AVX", "tensorflow": "2.16.2"}
    assert pinned_platform.differences(recorded, other) == ["isa AVX, not AVX2", f"tensorflow 2.16.2, not {recorded['tensorflow']}"]


def test_a_record_without_the_cpu_model_is_another_platform():
    # Records made before the CPU model was recorded must not count as this platform: an Intel
    # and an AMD CPU under the same cap gave other digits.
    current = pinned_platform.platform_record("AVX2")
    older = {key: value for key, value in current.items() if key != "cpu"}
    assert pinned_platform.differences(older, current) == ["cpu not recorded"]


def test_the_cpu_model_names_the_processor_and_the_cpus_it_may_use(monkeypatch):
    monkeypatch.setattr(pinned_platform.os, "sched_getaffinity", lambda pid: {0, 1, 2}, raising=False)
    model = pinned_platform.cpu_model()
    assert model.endswith(", 3 CPUs") and len(model) > len(", 3 CPUs")
    assert pinned_platform.platform_record("AVX2")["cpu"] == model


def test_supported_caps_are_read_from_the_cpu_flags_widest_first(monkeypatch):
    monkeypatch.setattr(pinned_platform, "cpu_flags", lambda: {"fpu", "sse4_2", "avx", "avx2", "avx512f"})
    assert pinned_platform.supported_caps() == ["AVX512", "AVX2", "AVX", "SSE4"]
    monkeypatch.setattr(pinned_platform, "cpu_flags", lambda: {"sse4_2", "avx"})
    assert pinned_platform.supported_caps() == ["AVX", "SSE4"]
