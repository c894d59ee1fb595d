"""Repository-wide pytest set-up: the CPU cap, and how nbval compares notebook outputs.

* The CPU's instruction set is capped before TensorFlow loads (AVX2, or COURSE_CPU_ISA), as the
  execute command does, so that every x86-64 CPU runs the same instruction set (scripts/pinned_platform.py).
* A notebook executed on this very platform (its metadata `executed_on`: CPU architecture, model
  and cap, OS, device, versions) is compared exactly. Elsewhere each cell that states a tolerance
  (metadata `tolerance`) is compared within it, and every other cell still exactly
  (scripts/output_tolerance.py). The header of the run says which notebooks are compared how.
* Ctrl-C reaches Python's handler even when the runner was started with SIGINT ignored (in the
  background: `nohup`, or `&` in a script), so the tests of Ctrl-C do not depend on how pytest started.
* TensorFlow's stderr depends on the machine: what a notebook teaches is in its stdout and its
  displayed results, so stderr is not compared.
"""

import os
import signal
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent / "scripts"))
import output_tolerance  # noqa: E402
import pinned_platform  # noqa: E402

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")  # inherited by the notebook kernels
os.environ.setdefault("PYTHONHASHSEED", "0")
ISA = pinned_platform.apply_cap()  # before TensorFlow is imported, here and in the kernels
PLATFORM: dict = {}  # this run's platform, filled in by pytest_configure


def _stdout_and_results(outputs):
    kept = []
    for output in outputs:
        if output.get("output_type") == "stream" and output.get("name") == "stderr":
            continue
        if kept and output.get("output_type") == "stream" and kept[-1].get("output_type") == "stream":
            kept[-1] = type(output)({**kept[-1], "text": kept[-1]["text"] + output["text"]})
        else:
            kept.append(output)
    return kept


def _tolerance(item):
    """The cell's tolerance when its notebook was executed elsewhere, else None (compare exactly)."""
    recorded = item.parent.nb.metadata.get("executed_on", {})
    if recorded == PLATFORM or "tolerance" not in item.cell.metadata:
        return None
    return output_tolerance.check_tolerance(item.cell.metadata["tolerance"], f"{item.name} tolerance")


def pytest_collection_modifyitems(items):
    for item in items:
        if type(item).__name__ == "IPyNbCell":
            item.compare_outputs = _comparison(item, item.compare_outputs)


def pytest_runtest_setup(item):
    if type(item).__name__ == "IPyNbCell":
        pinned_platform.apply_cap()  # the kernel inherits os.environ: undo whatever a test left in it


def _comparison(item, compare):
    def compare_outputs(test, ref, skip_compare=None):
        test, ref = _stdout_and_results(test), _stdout_and_results(ref)
        tolerance = _tolerance(item)
        if tolerance:
            test = output_tolerance.align_outputs(test, ref, **tolerance)
        return compare(test, ref, skip_compare)

    return compare_outputs


def pytest_configure(config):
    if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:  # inherited from a background start
        signal.signal(signal.SIGINT, signal.default_int_handler)
    # Two logical CPU devices, so tests can run a MirroredStrategy with two replicas on any machine.
    import tensorflow as tf

    cpus = tf.config.list_physical_devices("CPU")
    tf.config.set_logical_device_configuration(
        cpus[0], [tf.config.LogicalDeviceConfiguration(), tf.config.LogicalDeviceConfiguration()]
    )
    device = "GPU" if tf.config.list_physical_devices("GPU") else "CPU"
    PLATFORM.update(pinned_platform.platform_record(ISA, device))


def pytest_report_header(config):
    import nbformat

    if config.getoption("nbval_lax", False):
        return ["notebook outputs: not compared (nbval's lax mode): every cell must run, and the hidden "
                f"assertion cells must hold; this platform is {PLATFORM}"]

    notebooks = sorted((Path(config.rootpath) / "book").rglob("*.ipynb"))
    elsewhere = {}
    for path in notebooks:
        recorded = nbformat.read(path, as_version=4).metadata.get("executed_on", {})
        reasons = pinned_platform.differences(recorded, PLATFORM) if recorded else ["no record of where it was executed"]
        for reason in reasons:
            elsewhere.setdefault(reason, []).append(path.stem)
    exact = [p for p in notebooks if not any(p.stem in names for names in elsewhere.values())]
    lines = [f"notebook outputs: this platform is {PLATFORM}",
             f"notebook outputs: {len(exact)} of {len(notebooks)} notebooks compared exactly (executed on this platform)"]
    if elsewhere:
        lines.append("notebook outputs: the others compared within each cell's stated tolerance, because of: "
                     + "; ".join(f"{reason} ({len(names)} notebooks)" for reason, names in elsewhere.items()))
    return lines


@pytest.fixture(scope="session")
def mirrored_strategy():
    """One MirroredStrategy over the two logical CPUs, shared by every test that needs one.

    TensorFlow numbers the collective operations of each MirroredStrategy from the same keys, so
    a second strategy in the same process can clash with the first ("Shape mismatch in the
    collective instance", tensorflow/tensorflow#62790).
    """
    import tensorflow as tf

    return tf.distribute.MirroredStrategy([d.name for d in tf.config.list_logical_devices("CPU")])
