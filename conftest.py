"""Repository-wide pytest set-up: quiet TensorFlow logs and ignore stderr when nbval compares cells.

TensorFlow writes start-up logs and warnings to stderr whose text depends on the machine; what a
notebook teaches is in its stdout and its displayed results, which nbval still compares exactly.
"""

import os

import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")  # inherited by the notebook kernels
os.environ.setdefault("PYTHONHASHSEED", "0")


def _without_stderr(outputs):
    return [o for o in outputs if not (o.get("output_type") == "stream" and o.get("name") == "stderr")]


def pytest_collection_modifyitems(items):
    for item in items:
        if type(item).__name__ == "IPyNbCell":
            compare = item.compare_outputs
            item.compare_outputs = lambda test, ref, skip_compare=None, _compare=compare: _compare(
                _without_stderr(test), _without_stderr(ref), skip_compare
            )


def pytest_configure(config):
    # Two logical CPU devices, so tests can run a MirroredStrategy with two replicas on any machine.
    import tensorflow as tf

    cpus = tf.config.list_physical_devices("CPU")
    tf.config.set_logical_device_configuration(
        cpus[0], [tf.config.LogicalDeviceConfiguration(), tf.config.LogicalDeviceConfiguration()]
    )


@pytest.fixture(scope="session")
def mirrored_strategy():
    """One MirroredStrategy over the two logical CPUs, shared by every test that needs one.

    TensorFlow numbers the collective operations of each MirroredStrategy from the same keys, so
    a second strategy in the same process can clash with the first ("Shape mismatch in the
    collective instance", tensorflow/tensorflow#62790).
    """
    import tensorflow as tf

    return tf.distribute.MirroredStrategy([d.name for d in tf.config.list_logical_devices("CPU")])
