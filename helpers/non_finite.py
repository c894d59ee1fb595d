"""The non-finite undo of `helpers.train`: no NaN or infinity is ever kept in the model.

Testing every gradient would cost a sixth of a step, and a branch around each update more. Instead
a compiled call of many steps stops at a non-finite loss (a NaN weight makes the next loss NaN),
tests the weights once at its end, and puts back the state it started from if anything is not
finite; `train` then redoes those steps one per call to name the bad one.
"""

from __future__ import annotations

from collections.abc import Sequence

import tensorflow as tf

from helpers.checkpointing import TrainingCheckpoint


def all_finite(variables: Sequence[tf.Variable]) -> tf.Tensor:
    """Whether every floating-point variable holds only finite values (a boolean scalar tensor).

    Example:
        >>> bool(all_finite([tf.Variable([1.0, 2.0]), tf.Variable(3)])), bool(all_finite([tf.Variable(float("nan"))]))
        (True, False)
    """
    checks = [tf.reduce_all(tf.math.is_finite(v)) for v in variables if tf.as_dtype(v.dtype).is_floating]
    return tf.reduce_all(checks) if checks else tf.constant(True)


def undo_unless(finite: tf.Tensor, variables: Sequence[tf.Variable], at_start: Sequence[tf.Tensor]) -> None:
    """Put back `at_start` (values taken with `tf.identity`) into `variables` unless `finite`.

    Example:
        >>> v = tf.Variable(1.0); at_start = [tf.identity(v)]; _ = v.assign(float("nan"))
        >>> undo_unless(tf.constant(False), [v], at_start); float(v)
        1.0
    """

    def undo():
        for variable, value in zip(variables, at_start):
            variable.assign(value)
        return tf.constant(False)

    tf.cond(finite, lambda: tf.constant(True), undo)


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
