"""Softplus that is right in value and gradient for every float (taught in book/ch12/06_autodiff.ipynb)."""

from __future__ import annotations

import tensorflow as tf

_HALF_TYPES = (tf.float16, tf.bfloat16)


@tf.custom_gradient
def stable_softplus(z: tf.Tensor) -> tuple[tf.Tensor, object]:
    """log(1 + exp(z)), computed without overflow, and with the gradient sigmoid(z).

    The naive formula overflows to `inf` for large `z` (exp(z) is `inf`), loses everything for
    negative `z` (1 + exp(z) rounds to 1), and its autodiff gradient is `0 × inf = NaN` (the
    gradient of the log, 1 / inf = 0, times that of exp, inf). Here the value is
    max(z, 0) + log1p(exp(-|z|)) and the gradient is written by hand.

    Half-precision inputs (float16, bfloat16) are computed in float32 and rounded back, so the
    result is correct to the input dtype's precision (TensorFlow flushes subnormal numbers to
    zero on CPU, so values below the dtype's smallest normal number come out as 0). ±inf give (inf, 1) and (0, 0); NaN gives NaN.

    Args:
        z: a floating-point tensor (or anything `tf.convert_to_tensor` accepts).

    Returns:
        A tensor of the same dtype and shape as `z`.

    Raises:
        TypeError: if `z` is not a floating-point tensor.

    Example:
        >>> z = tf.constant([-1000.0, 0.0, 1000.0])
        >>> with tf.GradientTape() as tape:
        ...     tape.watch(z)
        ...     out = stable_softplus(z)
        >>> [round(float(v), 4) for v in out], tape.gradient(out, z).numpy().tolist()
        ([0.0, 0.6931, 1000.0], [0.0, 0.5, 1.0])
    """
    z = tf.convert_to_tensor(z)
    if not z.dtype.is_floating:
        raise TypeError(
            "`z` must be a floating-point tensor (float16, bfloat16, float32 or float64). "
            f"Received: z with dtype {z.dtype.name}"
        )
    wide = tf.cast(z, tf.float32) if z.dtype in _HALF_TYPES else z
    value = tf.nn.relu(wide) + tf.math.log1p(tf.exp(-tf.abs(wide)))
    # relu(NaN) may be 0, but the log1p term is NaN, so NaN propagates.

    def grad(upstream: tf.Tensor) -> tf.Tensor:
        return upstream * tf.cast(tf.sigmoid(wide), z.dtype)

    return tf.cast(value, z.dtype), grad
