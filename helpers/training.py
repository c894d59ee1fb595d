"""The custom training loop of chapter 12, done right (taught in book/ch12/07_custom_training_loops.ipynb)."""

from __future__ import annotations

import copy
import math
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import keras
import numpy as np
import tensorflow as tf

from helpers.arguments import positive_int
from helpers.batches import RngLike, _check, as_generator
from helpers.checkpointing import TrainingCheckpoint
from helpers.progress import print_status_bar
from helpers.training_inputs import as_tensor, check_data, check_metrics, check_model, optimizer_groups

History = dict[str, list[float]]


def train(
    model: keras.Model,
    X: Any,
    y: Any,
    *,
    epochs: int,
    batch_size: int = 32,
    optimizer: keras.optimizers.Optimizer | Sequence[tuple[keras.optimizers.Optimizer, Any]],
    loss_fn: Callable[[tf.Tensor, tf.Tensor], tf.Tensor],
    metrics: Sequence[keras.metrics.Metric | str] = (),
    validation_data: tuple[Any, Any] | None = None,
    strategy: tf.distribute.Strategy | None = None,
    checkpoint_dir: str | Path | None = None,
    steps_per_execution: int = 1024,
    jit_compile: bool | None = None,
    rng: RngLike = None,
    verbose: bool = True,
    on_epoch_end: Callable[[int, dict[str, float]], None] | None = None,
) -> History:
    """Train `model` with a hand-written loop that gets every detail of chapter 12 right.

    Each epoch visits every instance once, in a new random order; the model is called with
    `training=True`; regularization losses (`model.losses`) are added to the loss; the optimizer
    clips gradients if it has `clipnorm`/`clipvalue` and applies variable constraints after each
    update (Keras 3 optimizers do both in `apply_gradients`); metrics are reset every epoch. For
    speed, `steps_per_execution` steps run in one compiled (XLA) call on batches gathered from
    tensors already in memory, and the status bar is redrawn between calls.

    A step whose loss is not finite, or that leaves a NaN or infinite weight (from a non-finite
    gradient, say), stops training with a `FloatingPointError` naming the epoch and step, and
    leaves every variable (weights, batch-norm statistics, optimizer state) as it was before that
    step: no NaN is ever kept. Ctrl-C stops after the running call and
    returns the history of the finished epochs. With `checkpoint_dir`, every epoch ends with a
    checkpoint (and so does an interrupt); calling `train` again with the same folder resumes.

    Args:
        model: a built `keras.Model` (created in `strategy.scope()` when a strategy is given).
        X: training inputs (NumPy array, tensor or pandas object).
        y: training targets, as many as `X`, shaped like the model's outputs.
        epochs: the total number of full passes over the data (a resumed run counts earlier ones).
        batch_size: instances per step, over all replicas (the last step of an epoch takes the rest).
        optimizer: a Keras optimizer, or a list of `(optimizer, layers_or_variables)` pairs that
            gives every trainable variable to exactly one optimizer.
        loss_fn: `loss_fn(y_true, y_pred)`, a Keras loss or a function (its mean is taken).
        metrics: Keras metrics (or names, e.g. `"mae"`), reported and returned per epoch.
        validation_data: `(X_val, y_val)`, evaluated after every epoch, or `None`.
        strategy: a `tf.distribute.Strategy`; `None` for the current one (usually the default).
        checkpoint_dir: a folder for checkpoints and resuming, or `None`.
        steps_per_execution: training steps per compiled call (1024 measured fastest here, or
            near it, for both benchmark models: see bench/steps_per_execution.py).
        jit_compile: compile the steps with XLA; `None` means yes on a single replica.
        rng: seed or `numpy.random.Generator` for the shuffling, or `None` to follow the global
            seed (`helpers.setup(seed)`), so that seeded runs repeat exactly.
        verbose: print an epoch header and a status bar.
        on_epoch_end: called as `on_epoch_end(epoch, results)` after each epoch (a hook for
            logging, plotting or timing; it does not change training).

    Returns:
        The history: `{"loss": [...], "<metric>": [...], "val_loss": [...], ...}`, one value per epoch.

    Raises:
        ValueError: for a non-positive `epochs`, `batch_size` or `steps_per_execution`, data of
            mismatched lengths or shapes, an unbuilt model, colliding metric names, or optimizers
            that do not cover each trainable variable exactly once.
        TypeError: for a model, optimizer, loss or metric of the wrong kind.
        FloatingPointError: when a step's loss, or a weight after its update, is not finite.

    Example:
        >>> model = keras.Sequential([keras.Input((1,)), keras.layers.Dense(1)])
        >>> X = np.linspace(-1, 1, 64).reshape(-1, 1); y = 3 * X
        >>> history = train(model, X, y, epochs=2, batch_size=16, optimizer=keras.optimizers.SGD(0.1),
        ...                 loss_fn=keras.losses.MeanSquaredError(), metrics=["mae"], rng=0, verbose=False)
        >>> sorted(history), len(history["loss"])
        (['loss', 'mae'], 2)
    """
    # -- Check everything before the first step, so mistakes fail fast and clearly.
    epochs = positive_int(epochs, "epochs")
    batch_size = positive_int(batch_size, "batch_size")
    steps_per_execution = positive_int(steps_per_execution, "steps_per_execution")
    n = _check(X, y, batch_size)
    check_model(model)
    groups = optimizer_groups(optimizer, model)
    if on_epoch_end is not None and not callable(on_epoch_end):
        raise TypeError(f"`on_epoch_end` must be a callable(epoch, results) or None. Received: on_epoch_end={on_epoch_end!r}")
    if not callable(loss_fn):
        raise TypeError(
            "`loss_fn` must be a callable loss(y_true, y_pred), e.g. keras.losses.MeanSquaredError(). "
            f"Received: loss_fn={loss_fn!r}"
        )
    metrics = check_metrics(metrics)
    if validation_data is not None and (not isinstance(validation_data, (tuple, list)) or len(validation_data) != 2):
        raise ValueError(
            "`validation_data` must be a pair (X_val, y_val) or None. "
            f"Received: validation_data of type {type(validation_data).__name__}"
        )
    X, y = as_tensor(X), as_tensor(y)
    check_data(X[:batch_size], y[:batch_size], model, loss_fn)
    if validation_data is not None:
        _check(*validation_data, batch_size)
        validation_data = tuple(as_tensor(d) for d in validation_data)
        check_data(*(d[:batch_size] for d in validation_data), model, loss_fn, where="validation_data")
    rng = as_generator(rng)
    strategy = strategy or tf.distribute.get_strategy()
    replicas = strategy.num_replicas_in_sync
    jit_compile = replicas == 1 if jit_compile is None else jit_compile
    with strategy.scope():
        # Under several replicas the metrics' totals must be created in the strategy's scope.
        metrics = [type(m).from_config(m.get_config()) for m in metrics] if replicas > 1 else metrics
        loss_tracker = keras.metrics.Mean(name="loss")
        for optimizer_, variables in groups:
            optimizer_.build(variables)  # create the slots now, outside tf.function
    trackers = [loss_tracker, *metrics]
    variables = [v for _, group in groups for v in group]

    def per_example_loss(y_batch, y_pred):
        # Keras loss objects already divide by the number of replicas inside strategy.run; their
        # unreduced `call` does not, so the scaling below is the only one.
        losses = loss_fn.call(y_batch, y_pred) if isinstance(loss_fn, keras.losses.Loss) else loss_fn(y_batch, y_pred)
        return tf.reduce_mean(losses)

    def replica_share(data, indices):
        # Each replica takes its slice of the global batch (slices may differ by one).
        context = tf.distribute.get_replica_context()
        size = tf.shape(indices)[0]
        start = context.replica_id_in_sync_group * size // replicas
        end = (context.replica_id_in_sync_group + 1) * size // replicas
        mine = indices[start:end]
        return [tf.gather(d, mine) for d in data], tf.cast(size, tf.float32)

    def replica_step(indices):
        (X_batch, y_batch), global_size = replica_share((X, y), indices)
        with tf.GradientTape() as tape:
            y_pred = model(X_batch, training=True)  # dropout, batch norm... in training mode
            share = tf.cast(tf.shape(y_batch)[0], tf.float32) / global_size
            # This replica's part of the global mean: the optimizer sums gradients over replicas.
            loss = tf.math.multiply_no_nan(per_example_loss(y_batch, y_pred), share)
            if model.losses:
                loss += tf.add_n(model.losses) / replicas  # regularization, counted once in total
        gradients = tape.gradient(loss, variables)
        not_finite = tf.distribute.get_replica_context().all_reduce("sum", 1.0 - tf.cast(tf.math.is_finite(loss), tf.float32))
        start = 0
        for optimizer_, group in groups:
            optimizer_.apply_gradients(zip(gradients[start : start + len(group)], group))
            start += len(group)
        # The loss goes out as shape (1,), so the replicas' shares can be gathered and summed.
        return tf.reshape(loss, [1]), y_batch, y_pred, not_finite == 0.0

    def update_metrics(loss, y_batch, y_pred):
        # Metrics see the whole global batch, gathered from the replicas; the loss is weighted
        # by the batch size (as fit() does), one copy per instance.
        loss = tf.reduce_sum(strategy.gather(loss, axis=0))
        y_batch, y_pred = strategy.gather(y_batch, axis=0), strategy.gather(y_pred, axis=0)
        loss_tracker.update_state(tf.fill(tf.shape(y_batch)[:1], loss))
        for metric in metrics:
            metric.update_state(y_batch, y_pred)

    def train_step(indices):
        loss, y_batch, y_pred, finite = strategy.run(replica_step, args=(indices,))
        update_metrics(loss, y_batch, y_pred)
        return strategy.experimental_local_results(finite)[0]  # the same on every replica

    # Everything a step changes (metrics aside: training stops), so a failed call can put it back.
    step_variables = [*model.variables, *(v for optimizer_, _ in groups for v in optimizer_.variables)]
    float_variables = [v for v in step_variables if tf.as_dtype(v.dtype).is_floating]

    @tf.function(jit_compile=jit_compile)
    def run_steps(batches, last_batch):
        # Many steps per Python call: for small models the per-call overhead dwarfs a step.
        # Testing every gradient would cost a sixth of a step, and a branch around each update
        # more. Instead a non-finite loss ends the loop (a NaN weight makes the next loss NaN),
        # the weights are tested once at the end, and a failed call puts back the state it
        # started from; train() then redoes its steps one per call to find the bad one.
        at_start = [tf.identity(v) for v in step_variables]
        finite, i = tf.constant(True), tf.constant(0)
        while tf.logical_and(finite, i < batches.shape[0]):
            finite = train_step(batches[i])
            i += 1
        if last_batch.shape[0]:  # the epoch's smaller last batch (shapes are static here)
            if finite:
                finite = train_step(last_batch)
        finite = tf.logical_and(finite, tf.reduce_all([tf.reduce_all(tf.math.is_finite(v)) for v in float_variables]))
        if not finite:
            for variable, value in zip(step_variables, at_start):
                variable.assign(value)
        return finite

    def evaluate_step(indices):
        (X_batch, y_batch), global_size = replica_share(validation_data, indices)
        y_pred = model(X_batch, training=False)
        share = tf.cast(tf.shape(y_batch)[0], tf.float32) / global_size
        loss = tf.math.multiply_no_nan(per_example_loss(y_batch, y_pred), share)
        if model.losses:
            loss += tf.add_n(model.losses) / replicas
        return tf.reshape(loss, [1]), y_batch, y_pred

    @tf.function(jit_compile=jit_compile, reduce_retracing=True)
    def evaluate_batch(indices):
        update_metrics(*strategy.run(evaluate_step, args=(indices,)))

    @tf.function(jit_compile=jit_compile)
    def results_and_reset():
        # One compiled call instead of eager ops per metric variable: it matters for small models.
        results = {t.name: tf.identity(t.result()) for t in trackers}
        for tracker in trackers:
            tracker.reset_state()
        return results

    # -- Resume from the newest checkpoint, if any.
    checkpoint = TrainingCheckpoint(checkpoint_dir, model, [o for o, _ in groups], trackers) if checkpoint_dir else None
    state = checkpoint.restore() if checkpoint else None
    history: History = state["history"] if state else {}
    first_epoch, first_step = (state["epoch"] + 1, state["step"]) if state else (1, 0)
    if state:
        rng = state["rng"]
        if verbose:
            print(f"Resuming from {checkpoint.latest}: epoch {first_epoch}, step {first_step}")

    steps = math.ceil(n / batch_size)
    if first_step == 0:
        for tracker in trackers:
            tracker.reset_state()
    for epoch in range(first_epoch, epochs + 1):
        if verbose:
            print(f"Epoch {epoch}/{epochs}")
        rng_at_epoch_start = copy.deepcopy(rng.bit_generator.state)
        order = rng.permutation(n).astype(np.int32)
        done = first_step if epoch == first_epoch else 0
        try:
            for batches, last_batch in _chunks(order, batch_size, steps_per_execution, skip=done):
                if run_steps(tf.constant(batches), tf.constant(last_batch)):
                    done += len(batches) + (len(last_batch) > 0)
                else:  # the call undid its steps: redo them one per call, up to the bad one
                    for one_batch, one_last_batch in _one_by_one(batches, last_batch):
                        if not run_steps(tf.constant(one_batch), tf.constant(one_last_batch)):
                            raise _non_finite_error(epoch, done + 1, steps, checkpoint)
                        done += 1
                if verbose and done < steps:
                    print_status_bar(done, steps, loss_tracker, metrics)
        except KeyboardInterrupt:
            note = "returning the history of the finished epochs."
            if checkpoint:
                at_start = np.random.default_rng()
                at_start.bit_generator.state = rng_at_epoch_start
                path = checkpoint.save(epoch=epoch - 1, step=done, rng=at_start, history=history)
                note = f"saved {path}; call train() again with the same checkpoint_dir to resume."
            print(f"\nInterrupted at epoch {epoch}, step {done}/{steps}: {note}")
            return history

        results = {name: float(value) for name, value in results_and_reset().items()}
        if validation_data is not None:
            size = max(batch_size, 1024)  # no gradients to keep: bigger batches are faster
            count = int(validation_data[0].shape[0])
            for start in range(0, count, size):
                evaluate_batch(tf.range(start, min(start + size, count)))
            results.update({f"val_{name}": float(value) for name, value in results_and_reset().items()})
        for name, value in results.items():
            history.setdefault(name, []).append(value)
        if checkpoint:
            checkpoint.save(epoch=epoch, step=0, rng=rng, history=history)
        if on_epoch_end is not None:
            on_epoch_end(epoch, dict(results))
        if verbose:
            print_status_bar(steps, steps, results.pop("loss"), results)
    return history


def _non_finite_error(epoch: int, step: int, steps: int, checkpoint: TrainingCheckpoint | None) -> FloatingPointError:
    where = f"the newest checkpoint, {checkpoint.latest}, is intact" if checkpoint and checkpoint.latest else "no update was kept from that step on"
    return FloatingPointError(
        f"Non-finite loss or weights at epoch {epoch}, step {step}/{steps}: training stopped with the model "
        f"as it was before that step, and {where}. Lower the learning rate, clip gradients "
        "(clipnorm=1.0) or check the data for NaN and inf."
    )


def _chunks(order: np.ndarray, batch_size: int, steps_per_execution: int, skip: int = 0) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """One epoch's index batches from step `skip` on, as pairs (full batches, smaller last batch).

    The full batches come `steps_per_execution` at a time, shaped (steps, batch_size); the epoch's
    smaller last batch, if any, rides with the final pair (elsewhere an empty array).
    """
    full = len(order) // batch_size
    batches = order[: full * batch_size].reshape(full, batch_size)
    rest = order[full * batch_size :]
    starts = range(skip, full, steps_per_execution) or [full]
    for start in starts:
        end = min(start + steps_per_execution, full)
        yield batches[start:end], rest if end == full else rest[:0]


def _one_by_one(batches: np.ndarray, last_batch: np.ndarray) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """The steps of one `_chunks` pair, each as a pair of its own."""
    for batch in batches:
        yield batch[None], last_batch[:0]
    if len(last_batch):
        yield batches[:0], last_batch
