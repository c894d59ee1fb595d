"""The platform the stored outputs are made on, and the CPU instruction-set cap that pins it.

TensorFlow's matrix products (oneDNN), the code XLA generates, NumPy's vectorized functions
(exp, log, sin...) and OpenBLAS's matrix products (NumPy's and SciPy's) choose their kernels by the
CPU's instruction set at run time, so the same notebook gives other last digits on an AVX-512 CPU
than on an AVX2 one, and a training run drifts further. Each of them takes a cap. `make execute`
and `make test` cap them all at AVX2 (`COURSE_CPU_ISA`), which every x86-64 CPU of the last ten
years has, so all of them run the same kernels. The rest of TensorFlow (Eigen) is compiled for
one instruction set in the wheel already. The cap belongs to these commands only: readers keep
their CPU's full speed.

The cap does not pin everything: under the same AVX2 cap, an Intel Xeon (with AVX-512) gave other
last digits than the AMD EPYC the outputs were made on, in 50 cells of 10 notebooks (measured
2026-12-07), since the libraries also size their blocks and threads by the CPU's caches and cores.
So the record names the CPU model and the number of CPUs too.

The execute command records the platform in each notebook's metadata (`executed_on`); the tests
compare a notebook's outputs exactly when they run on that platform, and within each cell's
stated tolerance when they do not (another cap, CPU architecture, OS, versions or a GPU).
"""

from __future__ import annotations

import functools
import importlib.util
import mmap
import os
import platform
import sys
from importlib import metadata
from pathlib import Path
from typing import NamedTuple

REFERENCE_ISA = "AVX2"


class Cap(NamedTuple):
    """One instruction-set cap, as each library spells it."""

    xla: str  # --xla_cpu_max_isa
    onednn: str  # ONEDNN_MAX_CPU_ISA
    openblas: str  # OPENBLAS_CORETYPE
    numpy_off: str  # NPY_DISABLE_CPU_FEATURES: NumPy 2.4's names and older ones (unknown ones are ignored)
    cpu_flag: str  # in /proc/cpuinfo


_AVX512 = "X86_V4 AVX512_ICL AVX512_SPR AVX512F AVX512CD AVX512_KNL AVX512_KNM AVX512_SKX AVX512_CLX AVX512_CNL"
# The libraries silently ignore a name they do not know, so only these caps are accepted.
CAPS = {
    "AVX512": Cap("AVX512", "AVX512_CORE", "SkylakeX", "", "avx512f"),
    "AVX2": Cap("AVX2", "AVX2", "Haswell", _AVX512, "avx2"),
    "AVX": Cap("AVX", "AVX", "Sandybridge", f"{_AVX512} X86_V3 AVX2 FMA3 F16C", "avx"),
    "SSE4": Cap("SSE4_2", "SSE41", "Nehalem", f"{_AVX512} X86_V3 AVX2 FMA3 F16C AVX", "sse4_2"),
}
VERSIONED = ("tensorflow", "keras", "numpy")


def _cpuinfo(field: str) -> str | None:
    """The first value of `field` in Linux's /proc/cpuinfo, or None (no such field, or not Linux)."""
    try:
        with open("/proc/cpuinfo") as info:
            return next((line.split(":", 1)[1].strip() for line in info if line.startswith(field)), None)
    except OSError:
        return None


def cpu_flags() -> set[str]:
    """The instruction-set flags of this CPU as Linux lists them (empty elsewhere)."""
    return set((_cpuinfo("flags") or "").split())


def supported_caps() -> list[str]:
    """The caps this CPU can run, widest first, e.g. ["AVX2", "AVX", "SSE4"]."""
    flags = cpu_flags()
    return [name for name, cap in CAPS.items() if cap.cpu_flag in flags]


def apply_cap() -> str:
    """Set the environment variables of the cap `COURSE_CPU_ISA` asks for (default: AVX2).

    Must run before TensorFlow and NumPy are imported. Returns the instruction set the kernels
    really use: the cap, or the CPU's widest below it, or "none" off x86-64.
    """
    wanted = os.environ.get("COURSE_CPU_ISA", REFERENCE_ISA).upper()
    if wanted not in CAPS:
        raise SystemExit(f"COURSE_CPU_ISA must be one of {', '.join(CAPS)}. Received: COURSE_CPU_ISA={wanted!r}")
    supported = supported_caps()
    if not supported:
        return "none"
    names = list(CAPS)
    used = next(name for name in names[names.index(wanted):] if name in supported)
    cap = CAPS[used]
    os.environ.update(ONEDNN_MAX_CPU_ISA=cap.onednn, OPENBLAS_CORETYPE=cap.openblas, NPY_DISABLE_CPU_FEATURES=cap.numpy_off)
    if not xla_takes_a_cap():  # before TensorFlow 2.18 or so, where XLA aborts on the flag
        return used if used == supported[0] else f"{used}, XLA {supported[0]}"
    flags = [f for f in os.environ.get("XLA_FLAGS", "").split() if not f.startswith("--xla_cpu_max_isa=")]
    os.environ["XLA_FLAGS"] = " ".join([*flags, f"--xla_cpu_max_isa={cap.xla}"])
    return used


@functools.cache
def xla_takes_a_cap() -> bool:
    """Whether the installed TensorFlow's XLA knows --xla_cpu_max_isa (found without importing it)."""
    spec = importlib.util.find_spec("tensorflow")
    library = Path(spec.submodule_search_locations[0], "libtensorflow_framework.so.2") if spec else None
    if library is None or not library.exists():
        return False
    with open(library, "rb") as file, mmap.mmap(file.fileno(), 0, access=mmap.ACCESS_READ) as data:
        return data.find(b"xla_cpu_max_isa") >= 0


def cpu_model() -> str:
    """The CPU's model name and how many CPUs this process may use, e.g. "Intel(R) Xeon(R) Processor, 2 CPUs"."""
    name = _cpuinfo("model name") or platform.processor() or platform.machine()
    count = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return f"{name}, {count} CPUs"


def platform_record(isa: str, device: str = "CPU") -> dict[str, str]:
    """What decides the digits of an output: CPU architecture, model and cap, OS, device, versions."""
    record = {"machine": platform.machine(), "cpu": cpu_model(), "isa": isa, "system": platform.system(),
              "device": device, "python": "%d.%d" % sys.version_info[:2]}
    record.update({name: _version(name) for name in VERSIONED})
    return record


def differences(recorded: dict[str, str], current: dict[str, str]) -> list[str]:
    """How `current` differs from the platform a notebook was executed on, e.g. ["isa AVX, not AVX2"].

    A key the record lacks (an older record, made before the CPU model was recorded) is a difference too.
    """
    changed = [f"{key} {current.get(key)}, not {value}" for key, value in recorded.items() if current.get(key) != value]
    return changed + [f"{key} not recorded" for key in current if key not in recorded]


def _version(name: str) -> str:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return "not installed"


if __name__ == "__main__":
    print(f"Caps this CPU supports: {' '.join(supported_caps()) or 'none (not x86-64)'}; "
          f"the stored outputs are made with {REFERENCE_ISA}.")
