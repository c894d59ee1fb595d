"""Checks of `helpers.train`'s arguments, each failing with a message that says what to fix."""

from __future__ import annotations

import re
from typing import Any

import keras
import numpy as np
import tensorflow as tf

OptimizerGroups = list[tuple[keras.optimizers.Optimizer, list]]


def as_tensor(data: Any) -> tf.Tensor:
    """A NumPy array, tensor or pandas object as a tensor, floats in Keras's float type.

    Example:
        >>> as_tensor(np.zeros((2, 3))).dtype.name
        'float32'
    """
    array = data.to_numpy() if hasattr(data, "to_numpy") else data
    tensor = tf.convert_to_tensor(array)
    if tensor.dtype.is_floating and tensor.dtype != keras.config.floatx():
        tensor = tf.cast(tensor, keras.config.floatx())
    return tensor


def check_model(model: Any) -> None:
    """The model must be a built `keras.Model`.

    Example:
        >>> check_model(keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)]))
    """
    if not isinstance(model, keras.Model):
        raise TypeError(f"`model` must be a keras.Model. Received: model of type {type(model).__name__}")
    if not model.built:
        raise ValueError(
            "`model` must be built before training, so its variables exist (and, under a strategy, "
            "are created in its scope): start it with keras.Input(shape=...) or call it on a batch. "
            f"Received: an unbuilt model {model.name!r}"
        )


def optimizer_groups(optimizer: Any, model: keras.Model) -> OptimizerGroups:
    """Pair each optimizer with the trainable variables it updates; each variable has exactly one.

    Args:
        optimizer: one optimizer (for all variables), or a list of `(optimizer, layers_or_variables)`.
        model: the model whose trainable variables must all be covered.

    Returns:
        A list of `(optimizer, variables)`.

    Example:
        >>> model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(3), keras.layers.Dense(1)])
        >>> groups = optimizer_groups([(keras.optimizers.SGD(), model.layers[:1]),
        ...                            (keras.optimizers.Adam(), model.layers[1:])], model)
        >>> [len(variables) for _, variables in groups]
        [2, 2]
    """
    if isinstance(optimizer, keras.optimizers.Optimizer):
        return [(_reject_loss_scaling(optimizer, "optimizer"), list(model.trainable_variables))]
    if not isinstance(optimizer, (list, tuple)) or not optimizer:
        raise TypeError(
            "`optimizer` must be a keras.optimizers.Optimizer instance, e.g. keras.optimizers.Nadam(), "
            f"or a list of (optimizer, layers_or_variables) pairs. Received: optimizer={optimizer!r}"
        )
    groups, owner = [], {}
    for i, pair in enumerate(optimizer):
        if not (isinstance(pair, (list, tuple)) and len(pair) == 2 and isinstance(pair[0], keras.optimizers.Optimizer)):
            raise TypeError(
                "`optimizer` must be a list of (optimizer, layers_or_variables) pairs. "
                f"Received: optimizer[{i}]={pair!r}"
            )
        items = pair[1] if isinstance(pair[1], (list, tuple)) else [pair[1]]
        variables = []
        for item in items:
            variables += list(item.trainable_variables) if hasattr(item, "trainable_variables") else [item]
        for v in variables:
            if id(v) in owner:
                raise ValueError(
                    f"`optimizer` must give each trainable variable to exactly one optimizer. "
                    f"Received: {v.path!r} in pairs {owner[id(v)]} and {i}"
                )
            owner[id(v)] = i
        groups.append((_reject_loss_scaling(pair[0], f"optimizer[{i}][0]"), variables))
    missing = [v.path for v in model.trainable_variables if id(v) not in owner]
    if missing:
        raise ValueError(
            "`optimizer` must give each trainable variable to exactly one optimizer. "
            f"Received pairs that leave out: {missing}"
        )
    return groups


def _reject_loss_scaling(optimizer: keras.optimizers.Optimizer, name: str) -> keras.optimizers.Optimizer:
    # train's step never scales its loss, which a LossScaleOptimizer's unscaling would expect.
    if isinstance(optimizer, keras.optimizers.LossScaleOptimizer):
        raise TypeError(
            f"`{name}` must not be a keras.optimizers.LossScaleOptimizer: `train` does not scale losses. "
            "For mixed precision use model.fit(); otherwise pass `optimizer.inner_optimizer` with the model "
            f"built under the float32 dtype policy. Received: {name} of type {type(optimizer).__name__}"
        )
    return optimizer


def check_metrics(metrics: Any) -> list[keras.metrics.Metric | str]:
    """Metric objects or names (e.g. `"mae"`, `"accuracy"`), with distinct names not starting `val_`; names stay names.

    `resolve_metrics` turns the names into metrics once the targets and outputs are known.

    Example:
        >>> check_metrics(["mae", keras.metrics.RootMeanSquaredError(name="rmse")])[0]
        'mae'
    """
    if isinstance(metrics, (str, keras.metrics.Metric)):
        metrics = [metrics]
    checked = []
    for m in metrics:
        if isinstance(m, str):
            try:
                keras.metrics.get(m)
            except ValueError:
                raise ValueError(f"`metrics` must name Keras metrics, e.g. 'mae'. Received an unknown name {m!r}") from None
        elif not isinstance(m, keras.metrics.Metric):
            raise TypeError(
                "`metrics` must be a sequence of keras.metrics.Metric instances or names such as 'mae'. "
                f"Received an item {m!r}"
            )
        checked.append(m)
    names = ["loss"] + [m if isinstance(m, str) else m.name for m in checked]
    if len(set(names)) != len(names):
        raise ValueError(f"`metrics` must have distinct names, none of them 'loss'. Received names: {names[1:]}")
    if any(name.startswith("val_") for name in names):  # the history's validation results have that prefix
        raise ValueError("`metrics` names must not start with 'val_' (the validation results' prefix): rename it, "
                         f"e.g. name='mae'. Received names: {names[1:]}")
    return checked


def resolve_metrics(metrics: list[keras.metrics.Metric | str], y: tf.Tensor, y_pred: tf.Tensor) -> list[keras.metrics.Metric]:
    """Turn metric names into metrics the way `model.compile()` does, then check each on one batch.

    Keras's own resolution is reused: `"accuracy"` (or `"acc"`) becomes binary accuracy for a
    single output unit, sparse categorical accuracy for integer labels against class scores, and
    categorical accuracy for one-hot targets. Each metric is then tried (and reset) on the first
    batch, so that a mismatch fails here, naming the metric, rather than inside the compiled loop.

    Args:
        metrics: as `check_metrics` returns them.
        y: the first batch of targets.
        y_pred: the model's outputs for the first batch.

    Returns:
        The metrics, each named as given.

    Raises:
        ValueError: if a metric cannot take these targets and outputs.

    Example:
        >>> y, y_pred = tf.constant([0, 2]), tf.constant([[0.9, 0.05, 0.05], [0.1, 0.2, 0.7]])
        >>> [type(m).__name__ for m in resolve_metrics(["accuracy"], y, y_pred)]
        ['SparseCategoricalAccuracy']
    """
    from keras.src.trainers.compile_utils import get_metric  # what compile() uses to resolve names

    resolved = [get_metric(m, y, y_pred) if isinstance(m, str) else m for m in metrics]
    for given, metric in zip(metrics, resolved):
        try:
            metric.update_state(y, y_pred)
            metric.result()
        except Exception as error:
            raise ValueError(
                f"`metrics` item {given if isinstance(given, str) else metric.name!r} ({type(metric).__name__}) "
                f"must accept (y, model output). Received: y of shape {tuple(y.shape)} and dtype {y.dtype.name}, "
                f"outputs of shape {tuple(y_pred.shape)}; the metric says: {_gist(error)}"
            ) from error
        finally:
            metric.reset_state()  # train resets its metrics anyway (or restores them to resume)
    return resolved


def _gist(error: Exception) -> str:
    # Keras's messages open with a generic line; the one that says what was expected is more useful.
    text = re.sub(r"\x1b\[[0-9;]*m", "", str(error))  # Keras colours some messages for terminals
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return next((line for line in lines if "expected" in line.lower()), lines[0] if lines else type(error).__name__)


def check_data(X: tf.Tensor, y: tf.Tensor, model: keras.Model, loss_fn: Any, where: str = "") -> tf.Tensor:
    """Inputs that fit the model, and targets whose shape fits its outputs and the loss.

    Give it one batch; it returns the model's outputs for it. Catches the classic silent bug: targets of shape (n,) against outputs of shape (n, 1), which
    most losses broadcast to an (n, n) matrix instead of failing.
    """
    x_name, y_name = (f"validation_data[0]", f"validation_data[1]") if where else ("X", "y")
    try:
        y_pred = model(X, training=False)
    except Exception as error:
        raise ValueError(
            f"`{x_name}` must fit the model's input. Received: {x_name} of shape {tuple(X.shape)}; "
            f"the model says: {_gist(error)}"
        ) from error
    if y.shape.rank == 1 and y_pred.shape.rank == 2 and y_pred.shape[1] == 1:
        raise ValueError(
            f"`{y_name}` must have the model's output shape (n, 1), or the loss broadcasts it into an "
            f"(n, n) matrix. Received: {y_name} of shape {tuple(y.shape)}; reshape it with .reshape(-1, 1)"
        )
    try:
        loss = loss_fn(y, y_pred)
    except Exception as error:
        raise ValueError(
            f"`loss_fn` must accept ({y_name}, model output). Received: {y_name} of shape "
            f"{tuple(y.shape)} and outputs of shape {tuple(y_pred.shape)}; the loss says: "
            f"{_gist(error)}"
        ) from error
    if not tf.reduce_all(tf.math.is_finite(tf.cast(loss, tf.float32))):
        raise ValueError(f"`loss_fn` must return finite values on the first batch. Received: {loss!r}")
    return y_pred
