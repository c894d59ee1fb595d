"""Mini-batches for hand-written training loops (taught in book/ch12/07_custom_training_loops.ipynb)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import tensorflow as tf

from helpers.arguments import positive_int

RngLike = int | np.random.Generator | None


def as_generator(rng: RngLike, name: str = "rng") -> np.random.Generator:
    """Turn a seed, a `numpy.random.Generator` or `None` into a Generator.

    `None` follows the global seed, as Keras's own shuffling does: the Generator is seeded from
    NumPy's global generator, which `helpers.setup(seed)` and `keras.utils.set_random_seed(seed)`
    seed. So after either, a program draws the same batches on every run.

    Args:
        rng: an integer seed (reproducible), a Generator (used as is, so its state advances),
            or `None` (seeded from NumPy's global generator).
        name: the argument's name, used in the error message.

    Returns:
        A `numpy.random.Generator`.

    Raises:
        TypeError: if `rng` is none of the above.

    Example:
        >>> int(as_generator(42).integers(100)) == int(as_generator(42).integers(100))
        True
        >>> np.random.seed(0); first = int(as_generator(None).integers(100))
        >>> np.random.seed(0); first == int(as_generator(None).integers(100))
        True
    """
    if rng is None:
        return np.random.default_rng(np.random.randint(0, 2**32, size=4, dtype=np.uint64))
    if isinstance(rng, np.random.Generator):
        return rng
    if isinstance(rng, (int, np.integer)) and not isinstance(rng, bool):
        return np.random.default_rng(int(rng))
    raise TypeError(
        f"`{name}` must be an integer seed, a numpy.random.Generator or None. "
        f"Received: {name}={rng!r} of type {type(rng).__name__}"
    )


def _length(data: Any, name: str) -> int:
    shape = getattr(data, "shape", None)
    if shape is None or len(shape) == 0:
        raise TypeError(
            f"`{name}` must be an array, a tensor or a pandas object with at least one "
            f"dimension. Received: {name} of type {type(data).__name__}"
        )
    return int(shape[0])


def _check(X: Any, y: Any, batch_size: int) -> int:
    positive_int(batch_size, "batch_size")
    n_x, n_y = _length(X, "X"), _length(y, "y")
    if n_x != n_y:
        raise ValueError(
            f"`X` and `y` must have the same number of instances (first dimension). "
            f"Received: len(X)={n_x}, len(y)={n_y}"
        )
    if n_x == 0:
        raise ValueError("`X` and `y` must hold at least one instance. Received: 0 instances")
    return n_x


def _take(data: Any, indices: np.ndarray) -> Any:
    """Rows `indices` of `data`, keeping its kind (NumPy, tensor or pandas)."""
    if hasattr(data, "iloc"):
        return data.iloc[indices]
    if isinstance(data, (tf.Tensor, tf.Variable)):
        return tf.gather(data, indices)
    return np.asarray(data)[indices]


def random_batch(
    X: Any, y: Any, batch_size: int = 32, *, rng: RngLike = None
) -> tuple[Any, Any]:
    """Draw a random batch of instances, with replacement, as the textbook's loop does.

    Sampling with replacement means an epoch of `len(X) // batch_size` such batches usually
    misses some instances and repeats others; `epoch_batches` visits each exactly once.

    Args:
        X: inputs: a NumPy array, a tensor or a pandas DataFrame/Series.
        y: targets, with as many instances as `X`.
        batch_size: how many instances to draw (a positive integer).
        rng: an integer seed, a `numpy.random.Generator` or `None` (follows the global seed).

    Returns:
        `(X_batch, y_batch)`, each of the same kind as its input.

    Raises:
        ValueError: if `batch_size < 1`, the lengths differ, or the data is empty.
        TypeError: if `rng` is not a seed, a Generator or `None`.

    Example:
        >>> X, y = np.arange(20).reshape(10, 2), np.arange(10)
        >>> X_batch, y_batch = random_batch(X, y, batch_size=4, rng=0)
        >>> X_batch.shape, bool(np.all(X_batch[:, 0] == 2 * y_batch))
        ((4, 2), True)
    """
    n = _check(X, y, batch_size)
    generator = as_generator(rng)
    indices = generator.integers(0, n, size=int(batch_size))
    return _take(X, indices), _take(y, indices)


def epoch_batches(
    X: Any, y: Any, batch_size: int = 32, *, shuffle: bool = True, rng: RngLike = None
) -> Iterator[tuple[Any, Any]]:
    """Yield batches that visit every instance exactly once (one epoch).

    All batches hold `batch_size` instances except the last, which holds the remainder.

    Args:
        X: inputs: a NumPy array, a tensor or a pandas DataFrame/Series.
        y: targets, with as many instances as `X`.
        batch_size: instances per batch (a positive integer).
        shuffle: visit the instances in a random order (`True`) or in order (`False`).
        rng: an integer seed, a `numpy.random.Generator` or `None` (follows the global seed).

    Returns:
        An iterator of `(X_batch, y_batch)` pairs.

    Raises:
        ValueError: if `batch_size < 1`, the lengths differ, or the data is empty.
        TypeError: if `rng` is not a seed, a Generator or `None`.

    Example:
        >>> X, y = np.arange(10).reshape(5, 2), np.arange(5)
        >>> [len(y_batch) for _, y_batch in epoch_batches(X, y, batch_size=2, rng=0)]
        [2, 2, 1]
    """
    # Checked here, not in the generator, so that a mistake fails at the call.
    n = _check(X, y, batch_size)
    order = as_generator(rng).permutation(n) if shuffle else np.arange(n)
    return (
        (_take(X, order[start : start + batch_size]), _take(y, order[start : start + batch_size]))
        for start in range(0, n, int(batch_size))
    )
