"""One training step, as book/ch12/07_custom_training_loops.ipynb teaches it: the core of `helpers.train`.

Everything else in `train` is around this: `multi_step` runs many of these steps per compiled call
(over the replicas of a distribution strategy), `non_finite` undoes a call that produced NaN or
infinity, `checkpointing` saves and resumes, and `training` checks the arguments and reports.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import keras
import tensorflow as tf

from helpers.training_inputs import OptimizerGroups


def make_train_step(model: keras.Model, optimizers: OptimizerGroups, loss_fn: Callable, replicas: int = 1) -> Callable:
    """Return `train_step(X_batch, y_batch, share)`: one gradient-descent step on one replica.

    Args:
        model: the model to train.
        optimizers: `(optimizer, variables)` pairs, as `training_inputs.optimizer_groups` returns them.
        loss_fn: `loss_fn(y_true, y_pred)`; its mean over the batch is taken.
        replicas: the number of replicas that each run the step on their part of the global batch.

    Returns:
        `train_step(X_batch, y_batch, share) -> (loss, y_pred)`, where `share` is this replica's
        fraction of the global batch (1.0 on a single device) and `loss` this replica's part of it.
        Its two halves are `train_step.gradients(X_batch, y_batch, share) -> (loss, y_pred,
        gradients)` and `train_step.apply(gradients)`, for callers that compute and apply apart:
        the gradients come in the order of `train_step.variables` (the optimizers' variables), None
        for a variable the loss does not reach.

    Example:
        >>> model = keras.Sequential([keras.Input((1,)), keras.layers.Dense(1)])
        >>> step = make_train_step(model, [(keras.optimizers.SGD(0.1), model.trainable_variables)],
        ...                        keras.losses.MeanSquaredError())
        >>> loss, y_pred = step(tf.ones((4, 1)), tf.ones((4, 1)), 1.0)
        >>> tuple(y_pred.shape)
        (4, 1)
    """
    variables = [v for _, group in optimizers for v in group]

    def gradients(X_batch, y_batch, share):
        with tf.GradientTape() as tape:
            y_pred = model(X_batch, training=True)  # dropout, batch norm... in training mode
            # This replica's part of the global batch's mean loss: the optimizers sum the replicas' gradients.
            loss = mean_loss(loss_fn, y_batch, y_pred)
            loss = tf.math.multiply_no_nan(loss, tf.cast(share, loss.dtype))
            if model.losses:
                loss += tf.add_n(model.losses) / replicas  # regularization, counted once in total
        return loss, y_pred, tape.gradient(loss, variables)

    def apply(gradients):
        start = 0
        for optimizer, group in optimizers:  # each clips, updates, then applies the constraints
            optimizer.apply_gradients(zip(gradients[start : start + len(group)], group))
            start += len(group)

    def train_step(X_batch, y_batch, share):
        loss, y_pred, grads = gradients(X_batch, y_batch, share)
        apply(grads)
        return loss, y_pred

    train_step.gradients, train_step.apply, train_step.variables = gradients, apply, variables
    return train_step


def update_metrics(trackers: Sequence[keras.metrics.Metric], loss: tf.Tensor, y_batch: tf.Tensor, y_pred: tf.Tensor) -> None:
    """Update the loss tracker `trackers[0]` and the metrics `trackers[1:]` with one global batch.

    The loss counts once per instance (as `fit()` weights it), so an epoch's loss is the mean over
    its instances even when the last batch is smaller.

    Example:
        >>> trackers = [keras.metrics.Mean(name="loss"), keras.metrics.MeanAbsoluteError(name="mae")]
        >>> update_metrics(trackers, tf.constant(2.0), tf.zeros((3, 1)), tf.ones((3, 1)))
        >>> [float(t.result()) for t in trackers]
        [2.0, 1.0]
    """
    loss_tracker, *metrics = trackers
    loss_tracker.update_state(tf.fill(tf.shape(y_batch)[:1], loss))
    for metric in metrics:
        metric.update_state(y_batch, y_pred)


def mean_loss(loss_fn: Callable, y_batch: tf.Tensor, y_pred: tf.Tensor) -> tf.Tensor:
    """The mean of `loss_fn` over the batch, never divided by the number of replicas.

    Keras loss objects divide by the number of replicas inside `strategy.run`; their unreduced
    `call` does not, so `train_step`'s `share` is the only scaling.

    Example:
        >>> float(mean_loss(keras.losses.MeanSquaredError(), tf.zeros((2, 1)), tf.ones((2, 1))))
        1.0
    """
    return tf.reduce_mean(loss_values(loss_fn, y_batch, y_pred))


def loss_values(loss_fn: Callable, y_batch: tf.Tensor, y_pred: tf.Tensor) -> tf.Tensor:
    """`loss_fn`'s values before the mean: one per instance for Keras losses (their unreduced `call`).

    A plain function's result as it comes (per instance, or already a mean).

    Example:
        >>> loss_values(keras.losses.MeanSquaredError(), tf.zeros((2, 1)), tf.constant([[1.0], [3.0]])).numpy()
        array([1., 9.], dtype=float32)
    """
    return loss_fn.call(y_batch, y_pred) if isinstance(loss_fn, keras.losses.Loss) else loss_fn(y_batch, y_pred)
