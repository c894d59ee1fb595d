"""The first cell of every notebook: reproducibility, plotting defaults and the device in use."""

from __future__ import annotations

import functools
import os
import platform

import keras
import matplotlib as mpl
import tensorflow as tf


def _device() -> str:
    if tf.config.list_logical_devices("TPU"):
        return "TPU"
    gpus = tf.config.list_physical_devices("GPU")
    return f"{len(gpus)} GPU" + ("s" if len(gpus) > 1 else "") if gpus else "CPU"


def _on_tpu_runtime() -> bool:
    # Colab and Cloud TPU VMs expose the chips as /dev/accel*; older runtimes set an address.
    return os.path.exists("/dev/accel0") or bool(os.environ.get("COLAB_TPU_ADDR") or os.environ.get("TPU_NAME"))


def setup(seed: int = 42, *, deterministic: bool = True) -> None:
    """Seed every random generator, make ops deterministic, set plot defaults, report versions.

    Call it once, at the top of a notebook. Op determinism makes results repeatable on the same
    hardware (at some cost in speed on GPUs); the stored outputs of the book rely on it.

    Args:
        seed: seeds Python's, NumPy's, TensorFlow's and Keras's generators.
        deterministic: enable `tf.config.experimental.enable_op_determinism()`.

    Prints:
        One line, e.g. "TensorFlow 2.21.0 · Keras 3.15.1 · Python 3.11.7 · CPU".

    Raises:
        ValueError: if `seed` is not a non-negative integer.

    Example:
        >>> setup(seed=0)  # doctest: +ELLIPSIS
        TensorFlow ... · Keras ... · Python ... · ...
    """
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ValueError(f"`seed` must be a non-negative integer. Received: seed={seed!r}")
    os.environ.setdefault("PYTHONHASHSEED", str(seed))
    keras.utils.set_random_seed(seed)  # seeds random, numpy and the backend
    if deterministic:
        tf.config.experimental.enable_op_determinism()
    mpl.rcParams.update(
        {"figure.figsize": (7, 4), "figure.dpi": 100, "axes.grid": True, "grid.alpha": 0.3,
         "axes.spines.top": False, "axes.spines.right": False, "font.size": 11}
    )
    report = (
        f"TensorFlow {tf.__version__} · Keras {keras.__version__} · "
        f"Python {platform.python_version()} · {_device()}"
    )
    print(report)


@functools.cache
def distribution_strategy() -> tf.distribute.Strategy:
    """The strategy that uses every accelerator of this runtime.

    A `TPUStrategy` on a TPU runtime (Colab's included), a `MirroredStrategy` over the GPUs when
    there are several, and the default (no-op) strategy otherwise. Every call returns the same
    strategy, so re-running a notebook cell is safe: TensorFlow numbers the collective operations
    of each MirroredStrategy from the same keys, and a second one in the same process can fail
    with "Shape mismatch in the collective instance" (tensorflow/tensorflow#62790); a TPU system
    is initialized once.

    Returns:
        A `tf.distribute.Strategy`: create and train the model inside `strategy.scope()`.

    Example:
        >>> strategy = distribution_strategy()
        >>> strategy.num_replicas_in_sync >= 1
        True
    """
    if _on_tpu_runtime():
        resolver = tf.distribute.cluster_resolver.TPUClusterResolver(tpu="local")
        tf.config.experimental_connect_to_cluster(resolver)
        tf.tpu.experimental.initialize_tpu_system(resolver)
        return tf.distribute.TPUStrategy(resolver)
    gpus = tf.config.list_logical_devices("GPU")
    if len(gpus) > 1:
        return tf.distribute.MirroredStrategy([d.name for d in gpus])
    return tf.distribute.get_strategy()
