"""The non-finite undo of `helpers.train`: no NaN or infinity is ever kept in the model.

Testing every gradient would cost a sixth of a step, and a branch around each update more. Instead
a compiled call of many steps stops at a non-finite loss (a NaN weight makes the next loss NaN) and
tests the weights once at its end; `train` keeps the values the call started from (a snapshot) and
puts them back (`restore`) if anything is not finite, then redoes those steps one per call to name
the bad one. An XLA program without a strategy reads the snapshot itself, first (one call fewer:
see `multi_step`); otherwise `snapshotter` reads it before the call. The undo stays out of the
compiled program: in it, it would add operations per variable to trace and compile.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Sequence

import tensorflow as tf

from helpers.checkpointing import TrainingCheckpoint


def all_finite(variables: Sequence[tf.Variable]) -> tf.Tensor:
    """Whether every floating-point variable holds only finite values (a boolean scalar tensor).

    One test per dtype on all the values at once: in a compiled program, a few operations instead
    of two per variable.

    Example:
        >>> bool(all_finite([tf.Variable([1.0, 2.0]), tf.Variable(3)])), bool(all_finite([tf.Variable(float("nan"))]))
        (True, False)
    """
    by_dtype = defaultdict(list)
    for v in variables:
        if tf.as_dtype(v.dtype).is_floating:
            by_dtype[tf.as_dtype(v.dtype)].append(tf.reshape(v, [-1]))
    checks = [tf.reduce_all(tf.math.is_finite(tf.concat(values, 0))) for values in by_dtype.values()]
    return tf.reduce_all(checks) if checks else tf.constant(True)


EAGER_SNAPSHOTS = 20  # snapshots read eagerly before the graph is traced: tracing it costs about as much as this many


def snapshotter(variables: Sequence[tf.Variable]) -> Callable[[], list[tf.Tensor]]:
    """A function that returns the variables' current values, for `restore`.

    A snapshot copies nothing (unless a variable was updated sparsely, which makes every read a
    copy): an update of a variable whose value is still held elsewhere writes to a new buffer
    (TensorFlow's copy on write), so the snapshot keeps the old values. The first
    `EAGER_SNAPSHOTS` are read eagerly, one variable at a time (milliseconds for the hundred-odd
    variables of a deep model and its optimizer); later ones in one graph call, a tenth of that,
    once a short run has shown that tracing the graph will pay off.

    Example:
        >>> v = tf.Variable(1.0); snapshot = snapshotter([v])
        >>> values = snapshot(); _ = v.assign_add(1.0); float(values[0])
        1.0
    """
    variables = list(variables)
    calls = 0

    @tf.function(autograph=False)  # never jit_compile: an XLA program's outputs are new buffers, copies
    def read_in_a_graph():
        return [tf.identity(v) for v in variables]

    def snapshot():
        nonlocal calls
        calls += 1
        return [tf.convert_to_tensor(v) for v in variables] if calls <= EAGER_SNAPSHOTS else read_in_a_graph()

    snapshot.read_in_a_graph = read_in_a_graph  # for tests: traced once graph reads begin
    return snapshot


def restore(variables: Sequence[tf.Variable], values: Sequence[tf.Tensor]) -> None:
    """Put the values of a snapshot (see `snapshotter`) back into `variables`.

    Example:
        >>> v = tf.Variable(1.0); values = snapshotter([v])(); _ = v.assign(float("nan"))
        >>> restore([v], values); float(v)
        1.0
    """
    for variable, value in zip(variables, values):
        variable.assign(value)


def non_finite_error(epoch: int, step: int, steps: int, checkpoint: TrainingCheckpoint | None) -> FloatingPointError:
    """The error `train` raises for the first step with a non-finite loss or weight.

    Example:
        >>> str(non_finite_error(2, 4, 10, None))[:44]
        'Non-finite loss or weights at epoch 2, step '
    """
    where = (f"the newest checkpoint, {checkpoint.latest}, is intact" if checkpoint and checkpoint.latest
             else "no update was kept from that step on")
    return FloatingPointError(
        f"Non-finite loss or weights at epoch {epoch}, step {step}/{steps}: training stopped with the model "
        f"as it was before that step, and {where}. Lower the learning rate, clip gradients "
        "(clipnorm=1.0) or check the data for NaN and inf."
    )
