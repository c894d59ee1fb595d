"""The custom training loop of chapter 12, done right (taught in book/ch12/07_custom_training_loops.ipynb)."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import keras
import numpy as np
import tensorflow as tf

from helpers.batches import RngLike, _check, as_generator
from helpers.progress import print_status_bar

History = dict[str, list[float]]


def _as_tensor(data: Any) -> tf.Tensor:
    array = data.to_numpy() if hasattr(data, "to_numpy") else data
    tensor = tf.convert_to_tensor(array)
    if tensor.dtype.is_floating and tensor.dtype != keras.config.floatx():
        tensor = tf.cast(tensor, keras.config.floatx())
    return tensor


def _positive_int(value: Any, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"`{name}` must be a positive integer. Received: {name}={value!r}")
    return int(value)


def _metric_named(name: str) -> keras.metrics.Metric:
    # keras.metrics.get("mae") is named "mean_absolute_error"; keep the short name the reader wrote.
    try:
        metric = keras.metrics.get(name)
    except ValueError:
        raise ValueError(f"`metrics` must name Keras metrics, e.g. 'mae'. Received an unknown name {name!r}") from None
    return type(metric).from_config({**metric.get_config(), "name": name})


def _check_arguments(model, optimizer, loss_fn, metrics, validation_data) -> list[keras.metrics.Metric]:
    if not isinstance(model, keras.Model):
        raise TypeError(f"`model` must be a keras.Model. Received: model of type {type(model).__name__}")
    if not isinstance(optimizer, keras.optimizers.Optimizer):
        raise TypeError(
            "`optimizer` must be a keras.optimizers.Optimizer instance, e.g. keras.optimizers.Nadam(). "
            f"Received: optimizer={optimizer!r}"
        )
    if not callable(loss_fn):
        raise TypeError(
            "`loss_fn` must be a callable loss(y_true, y_pred), e.g. keras.losses.MeanSquaredError(). "
            f"Received: loss_fn={loss_fn!r}"
        )
    if isinstance(metrics, (str, keras.metrics.Metric)):
        metrics = [metrics]
    resolved = [_metric_named(m) if isinstance(m, str) else m for m in metrics]
    for m in resolved:
        if not isinstance(m, keras.metrics.Metric):
            raise TypeError(
                "`metrics` must be a sequence of keras.metrics.Metric instances or names such as 'mae'. "
                f"Received an item {m!r}"
            )
    names = ["loss"] + [m.name for m in resolved]
    if len(set(names)) != len(names):
        raise ValueError(f"`metrics` must have distinct names, none of them 'loss'. Received names: {names[1:]}")
    if validation_data is not None and (
        not isinstance(validation_data, (tuple, list)) or len(validation_data) != 2
    ):
        raise ValueError(
            "`validation_data` must be a pair (X_val, y_val) or None. "
            f"Received: validation_data of type {type(validation_data).__name__}"
        )
    return resolved


def train(
    model: keras.Model,
    X: Any,
    y: Any,
    *,
    epochs: int,
    batch_size: int = 32,
    optimizer: keras.optimizers.Optimizer,
    loss_fn: Callable[[tf.Tensor, tf.Tensor], tf.Tensor],
    metrics: Sequence[keras.metrics.Metric | str] = (),
    validation_data: tuple[Any, Any] | None = None,
    steps_per_execution: int = 256,
    jit_compile: bool = True,
    rng: RngLike = None,
    verbose: bool = True,
) -> History:
    """Train `model` with a hand-written loop that gets every detail of chapter 12 right.

    Each epoch visits every instance once, in a new random order; the model is called with
    `training=True`; regularization losses (`model.losses`) are added to the loss; the optimizer
    clips gradients if it has `clipnorm`/`clipvalue` and applies variable constraints after each
    update (Keras 3 optimizers do both in `apply_gradients`); metrics are reset every epoch. For
    speed, `steps_per_execution` steps run in one compiled (XLA) call on batches gathered from
    tensors already on the device, and the status bar is redrawn between calls.

    Args:
        model: a built `keras.Model`.
        X: training inputs (NumPy array, tensor or pandas object).
        y: training targets, as many as `X`.
        epochs: number of full passes over the data.
        batch_size: instances per step (the last step of an epoch takes the remainder).
        optimizer: a Keras optimizer.
        loss_fn: `loss_fn(y_true, y_pred)`, a Keras loss or a function (its mean is taken).
        metrics: Keras metrics (or names, e.g. `"mae"`), reported and returned per epoch.
        validation_data: `(X_val, y_val)`, evaluated after every epoch, or `None`.
        steps_per_execution: training steps per compiled call.
        jit_compile: compile the steps with XLA.
        rng: seed or `numpy.random.Generator` for the shuffling, or `None`.
        verbose: print an epoch header and a status bar.

    Returns:
        The history: `{"loss": [...], "<metric>": [...], "val_loss": [...], ...}`, one value per epoch.

    Raises:
        ValueError: for a non-positive `epochs`, `batch_size` or `steps_per_execution`, data of
            mismatched lengths, or colliding metric names.
        TypeError: for a model, optimizer, loss or metric of the wrong kind.

    Example:
        >>> model = keras.Sequential([keras.Input((1,)), keras.layers.Dense(1)])
        >>> X = np.linspace(-1, 1, 64).reshape(-1, 1); y = 3 * X
        >>> history = train(model, X, y, epochs=2, batch_size=16, optimizer=keras.optimizers.SGD(0.1),
        ...                 loss_fn=keras.losses.MeanSquaredError(), metrics=["mae"], rng=0, verbose=False)
        >>> sorted(history), len(history["loss"])
        (['loss', 'mae'], 2)
    """
    epochs = _positive_int(epochs, "epochs")
    batch_size = _positive_int(batch_size, "batch_size")
    steps_per_execution = _positive_int(steps_per_execution, "steps_per_execution")
    n = _check(X, y, batch_size)
    metrics = _check_arguments(model, optimizer, loss_fn, metrics, validation_data)
    if validation_data is not None:
        _check(*validation_data, batch_size)
    rng = as_generator(rng)
    X, y = _as_tensor(X), _as_tensor(y)
    if not model.built:
        model(X[:1])
    optimizer.build(model.trainable_variables)  # create its slots now, outside tf.function
    loss_tracker = keras.metrics.Mean(name="loss")
    trackers = [loss_tracker, *metrics]

    def train_step(X_batch, y_batch):
        with tf.GradientTape() as tape:
            y_pred = model(X_batch, training=True)  # dropout, batch norm... in training mode
            loss = tf.reduce_mean(loss_fn(y_batch, y_pred))
            loss = tf.add_n([loss, *model.losses])  # regularization penalties
        gradients = tape.gradient(loss, model.trainable_variables)
        optimizer.apply_gradients(zip(gradients, model.trainable_variables))
        loss_tracker.update_state(loss)
        for metric in metrics:
            metric.update_state(y_batch, y_pred)

    @tf.function(jit_compile=jit_compile, reduce_retracing=True)
    def run_steps(batch_indices):
        # One Python call runs many steps: the per-call overhead dwarfs a small model's step.
        for i in tf.range(tf.shape(batch_indices)[0]):
            train_step(tf.gather(X, batch_indices[i]), tf.gather(y, batch_indices[i]))

    @tf.function(jit_compile=jit_compile)
    def evaluate_batch(X_batch, y_batch):
        y_pred = model(X_batch, training=False)
        loss = tf.add_n([tf.reduce_mean(loss_fn(y_batch, y_pred)), *model.losses])
        loss_tracker.update_state(loss, sample_weight=tf.shape(y_batch)[0])
        for metric in metrics:
            metric.update_state(y_batch, y_pred)

    steps = math.ceil(n / batch_size)
    history: History = {}
    for epoch in range(1, epochs + 1):
        if verbose:
            print(f"Epoch {epoch}/{epochs}")
        for tracker in trackers:
            tracker.reset_state()
        order = rng.permutation(n).astype(np.int32)
        full = (n // batch_size) * batch_size
        chunks = [order[:full].reshape(-1, batch_size)[i : i + steps_per_execution]
                  for i in range(0, n // batch_size, steps_per_execution)]
        if full < n:
            chunks.append(order[full:].reshape(1, -1))  # the smaller last batch
        done = 0
        for chunk in chunks:
            run_steps(tf.constant(chunk))
            done += len(chunk)
            if verbose and done < steps:
                print_status_bar(done, steps, loss_tracker, metrics)
        results = {t.name: float(t.result()) for t in trackers}
        if validation_data is not None:
            results.update(_evaluate(evaluate_batch, trackers, validation_data, batch_size))
        for name, value in results.items():
            history.setdefault(name, []).append(value)
        if verbose:
            print_status_bar(steps, steps, results.pop("loss"), results)
    for tracker in trackers:
        tracker.reset_state()
    return history


def _evaluate(evaluate_batch, trackers, validation_data, batch_size) -> dict[str, float]:
    for tracker in trackers:
        tracker.reset_state()
    X_val, y_val = (_as_tensor(d) for d in validation_data)
    size = max(batch_size, 1024)  # no gradients to keep: bigger batches are faster
    for start in range(0, int(X_val.shape[0]), size):
        evaluate_batch(X_val[start : start + size], y_val[start : start + size])
    return {f"val_{t.name}": float(t.result()) for t in trackers}
