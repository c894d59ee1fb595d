"""Monte Carlo dropout: predictions with an uncertainty (taught in book/ch11/05_regularization.ipynb)."""

from __future__ import annotations

from typing import Any

import keras
import numpy as np

from helpers.arguments import positive_int


def mc_predict(
    model: keras.Model, X: Any, n_samples: int = 100, *, batch_size: int | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Predict `n_samples` times with dropout active, and return the mean and the spread.

    Each pass calls the model with `training=True`, so every dropout layer drops a different
    random set of units; averaging the passes gives the MC-dropout prediction and their standard
    deviation measures how unsure the model is. Beware: `training=True` also switches batch
    normalization to batch statistics; for a model with `BatchNormalization`, use `MCDropout`
    layers instead and predict normally.

    Args:
        model: a Keras model (or any callable layer) that accepts `training=`.
        X: the inputs, an array or a tensor.
        n_samples: how many stochastic passes to average (a positive integer).
        batch_size: split `X` into batches of this size for each pass (`None`: one batch).

    Returns:
        `(mean, std)`: NumPy arrays of the model's output shape, the mean and the standard
        deviation of the `n_samples` predictions, instance by instance.

    Raises:
        ValueError: if `n_samples` or `batch_size` is not a positive integer.

    Example:
        >>> keras.utils.set_random_seed(0)
        >>> model = keras.Sequential([keras.Input((4,)), keras.layers.Dropout(0.5), keras.layers.Dense(2)])
        >>> mean, std = mc_predict(model, np.ones((3, 4), dtype="float32"), n_samples=20)
        >>> mean.shape, std.shape, bool((std > 0).all())
        ((3, 2), (3, 2), True)
    """
    n_samples = positive_int(n_samples, "n_samples")
    batch_size = positive_int(batch_size, "batch_size", allow_none=True)
    X = np.asarray(X) if not hasattr(X, "dtype") or hasattr(X, "iloc") else X
    n = int(X.shape[0])
    size = n if batch_size is None else batch_size

    def one_pass() -> np.ndarray:
        parts = [keras.ops.convert_to_numpy(model(X[start : start + size], training=True))
                 for start in range(0, n, max(size, 1))]
        return np.concatenate(parts, axis=0)

    samples = np.stack([one_pass() for _ in range(n_samples)])
    return samples.mean(axis=0), samples.std(axis=0)


class MCDropout(keras.layers.Dropout):
    """A `Dropout` layer that stays active at inference, for Monte Carlo dropout.

    Use it in place of `Dropout` (same arguments) in a model you mean to sample with plain
    `model.predict()` or `model(X)`: each call drops a new random set of units, whatever
    `training` says, while the other layers (batch normalization, say) keep their usual inference
    behaviour.

    Args:
        rate: the fraction of the inputs to drop, in [0, 1).
        **kwargs: the other arguments of `keras.layers.Dropout` (`noise_shape`, `seed`, ...).

    Returns:
        A layer.

    Raises:
        ValueError: if `rate` is not in [0, 1) (Keras's check).

    Example:
        >>> layer = MCDropout(0.5, seed=0)
        >>> x = np.ones((1, 1000), dtype="float32")
        >>> bool((keras.ops.convert_to_numpy(layer(x, training=False)) == 0).any())
        True
    """

    def call(self, inputs: Any, training: bool | None = None) -> Any:
        return super().call(inputs, training=True)
