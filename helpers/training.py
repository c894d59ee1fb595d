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
from helpers.interrupts import deferred_interrupts
from helpers.multi_step import StepFunctions, Validation, epoch_chunks, one_by_one
from helpers.non_finite import non_finite_error
from helpers.progress import print_status_bar
from helpers.training_inputs import (as_tensor, check_data, check_metrics, check_model, optimizer_groups,
                                     resolve_metrics)

History = dict[str, list[float]]
RESUME = "call train() again with the same checkpoint_dir to resume."


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
    update (Keras 3 optimizers do both in `apply_gradients`); metrics are reset every epoch. One
    step is `helpers.train_step.make_train_step`, the loop of book/ch12/07_custom_training_loops.ipynb.
    For speed, `steps_per_execution` steps run in one compiled call (a TensorFlow graph, or an XLA
    program for long runs: see `jit_compile`) on batches gathered from tensors already in memory
    (`helpers.multi_step`), and the status bar is redrawn between calls. Every call of an epoch has
    the same shapes, so each function (the steps, the smaller last batch's included, and
    validation, which an XLA program runs itself) is compiled at most once per call of `train`, and
    not at all when `train` is called again on the same model with the same optimizer, loss,
    metrics and data shapes (the validation data's included). In an XLA program, where every layer
    of the model is a Keras layer that treats each instance on its own (`helpers.padding`), the
    smaller last batch is padded to the full size with copies of its rows that count in neither the
    loss nor the metrics (weighted 0 for Keras's per-instance losses; any other loss is computed
    again on the real rows), so one forward and backward pass is compiled, not two: the step is the
    same, up to rounding (a Dropout layer draws masks for the copies too, so the real rows get other
    masks than in a graph, from the same distribution). Metric names resolve as in
    `model.compile()`: with integer labels, `"accuracy"` is sparse categorical accuracy.

    A step whose loss is not finite, or that leaves a NaN or infinite weight (from a non-finite
    gradient, say), stops training with a `FloatingPointError` naming the epoch and step, and
    leaves every variable (weights, batch-norm statistics, optimizer state) as it was before that
    step: no NaN is ever kept (`helpers.non_finite`). Ctrl-C is held back until the running call
    has returned and its steps are counted (`helpers.interrupts`): training stops there, or at the
    end of the epoch if that call ended it (or if Ctrl-C came during the end-of-epoch checkpoint
    or `on_epoch_end`), and returns the history of the finished epochs (a third Ctrl-C raises
    `KeyboardInterrupt` at once, leaving the newest checkpoint intact). With
    `checkpoint_dir`, every epoch ends with a checkpoint (and so does an interrupt); calling
    `train` again with the same folder resumes (`helpers.checkpointing`).

    Args:
        model: a built `keras.Model` (created in `strategy.scope()` when a strategy is given).
        X: training inputs (NumPy array, tensor or pandas object).
        y: training targets, as many as `X`, shaped like the model's outputs.
        epochs: the total number of full passes over the data (a resumed run counts earlier ones).
        batch_size: instances per step, over all replicas (the last step of an epoch takes the rest).
        optimizer: a Keras optimizer, or a list of `(optimizer, layers_or_variables)` pairs that
            gives every trainable variable to exactly one optimizer.
        loss_fn: `loss_fn(y_true, y_pred)`, a Keras loss or a function (its mean is taken).
        metrics: Keras metrics (or names, e.g. `"mae"`, `"accuracy"`), reported and returned per epoch.
        validation_data: `(X_val, y_val)`, evaluated after every epoch, or `None`.
        strategy: a `tf.distribute.Strategy`; `None` for the current one (usually the default).
        checkpoint_dir: a folder for checkpoints and resuming, or `None`.
        steps_per_execution: training steps per compiled call (1024 measured fastest here, or
            near it, for both benchmark models: see bench/steps_per_execution.py).
        jit_compile: `True` runs the steps as XLA programs (fastest per step, but compiling takes
            seconds); `False` as TensorFlow graphs (traced in a fraction of that time); `None`:
            XLA on one replica when the call is long enough to repay compiling (`XLA_MIN_STEPS`
            steps, or `XLA_MIN_WORK` for bigger networks) or this model's XLA function for these
            shapes is compiled already, graphs otherwise.
        rng: seed or `numpy.random.Generator` for the shuffling, or `None` to follow the global
            seed (`helpers.setup(seed)`), so that seeded runs repeat exactly.
        verbose: print an epoch header and a status bar.
        on_epoch_end: called as `on_epoch_end(epoch, results)` after each epoch (a hook for
            logging, plotting or timing; it does not change training).

    Returns:
        The history: `{"loss": [...], "<metric>": [...], "val_loss": [...], ...}`, one value per epoch.

    Raises:
        ValueError: for a non-positive `epochs`, `batch_size` or `steps_per_execution`, data of
            mismatched lengths or shapes, an unbuilt model, colliding metric names (or names
            starting `val_`), a metric that cannot take the targets and outputs, or optimizers
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
    y_pred = check_data(X[:batch_size], y[:batch_size], model, loss_fn)
    resolved = resolve_metrics(metrics, y[:batch_size], y_pred)
    if validation_data is not None:
        _check(*validation_data, batch_size)
        validation_data = tuple(as_tensor(d) for d in validation_data)
        check_data(*(d[:batch_size] for d in validation_data), model, loss_fn, where="validation_data")
    # No gradients to keep in validation: bigger batches are faster.
    validation = (*validation_data, max(batch_size, 1024)) if validation_data is not None else None
    rng = as_generator(rng)
    strategy = strategy or tf.distribute.get_strategy()
    # Names resolved to metrics go as (name, metric) pairs: a cached metric of that name can serve.
    metrics = [(m, r) if isinstance(m, str) else r for m, r in zip(metrics, resolved)]
    steps_functions = StepFunctions.of(model, groups, loss_fn, metrics, strategy)
    trackers = steps_functions.trackers

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
    xla = _use_xla(jit_compile, strategy, steps_functions, X, y, batch_size, steps_per_execution,
                   (epochs - first_epoch + 1) * steps - first_step, validation)
    with deferred_interrupts() as interrupted:  # Ctrl-C stops where the step count matches the weights
        for epoch in range(first_epoch, epochs + 1):
            if verbose:
                print(f"Epoch {epoch}/{epochs}")
            rng_at_epoch_start = copy.deepcopy(rng)  # any bit generator
            order = rng.permutation(n).astype(np.int32)
            done = first_step if epoch == first_epoch else 0
            results = None
            for done, results in _run_calls(steps_functions, X, y, order, batch_size, steps_per_execution, done,
                                            lambda step: non_finite_error(epoch, step, steps, checkpoint), xla,
                                            validation):
                if verbose and done < steps:
                    print_status_bar(done, steps, trackers[0], trackers[1:])
                if interrupted() and done < steps:
                    _stop_mid_epoch(checkpoint, epoch, done, steps, rng_at_epoch_start, history)
                    return history

            if results is None:  # nothing was left to run in this epoch (a resumed run)
                results = steps_functions.results()
                if validation is not None:
                    results.update(steps_functions.evaluate(*validation, xla=xla))
            results = {name: float(value) for name, value in results.items()}
            for name, value in results.items():
                history.setdefault(name, []).append(value)
            if checkpoint:
                checkpoint.save(epoch=epoch, step=0, rng=rng, history=history)
            if on_epoch_end is not None:
                on_epoch_end(epoch, dict(results))
            if verbose:
                print_status_bar(steps, steps, results.pop("loss"), results)
            if interrupted() and epoch < epochs:
                print(f"Interrupted after epoch {epoch}: " + (f"saved {checkpoint.latest}; {RESUME}" if checkpoint else
                                                              "returning the history."))
                return history
    return history


def _stop_mid_epoch(checkpoint: TrainingCheckpoint | None, epoch: int, done: int, steps: int,
                    rng_at_epoch_start: np.random.Generator, history: History) -> None:
    """Ctrl-C after `done` steps of `epoch`: checkpoint that point (if checkpointing) and say so."""
    note = "returning the history of the finished epochs."
    if checkpoint:
        path = checkpoint.save(epoch=epoch - 1, step=done, rng=rng_at_epoch_start, history=history)
        note = f"saved {path}; {RESUME}"
    print(f"\nInterrupted at epoch {epoch}, step {done}/{steps}: {note}")


def _run_calls(steps_functions: StepFunctions, X: tf.Tensor, y: tf.Tensor, order: np.ndarray, batch_size: int,
               steps_per_execution: int, done: int, error: Callable[[int], Exception], xla: bool,
               validation: Validation) -> Iterator[tuple[int, dict]]:
    """Run an epoch's steps from step `done` on, one compiled call at a time.

    The epoch's first call resets the trackers. Yields the steps done so far and the trackers'
    results after each call; the epoch's last call adds the results on `validation` (if given).
    A call that meets a non-finite value undoes itself (see `non_finite`); its steps are then redone
    one per call, and `error(step)` is raised for the first bad one.
    """
    steps = -(-len(order) // batch_size)

    def run(batches, count, last_batch, with_last):
        ends_epoch = done + count + with_last == steps
        return steps_functions.run(X, y, batches, count, last_batch, with_last, xla=xla, reset_metrics=done == 0,
                                   validation=validation, validate=validation is not None and ends_epoch)

    for chunk in epoch_chunks(order, batch_size, steps_per_execution, skip=done):
        finite, results = run(*chunk)
        if finite:
            done += chunk[1] + chunk[3]
        else:
            for single in one_by_one(*chunk):
                finite, results = run(*single)
                if not finite:
                    raise error(done + 1)
                done += 1
        yield done, results


XLA_MIN_STEPS = 5_000  # steps in one call from which XLA's compile time pays off even for tiny models, on CPUs
# Or steps × batch size × trainable parameters: the work from which it pays off. Measured on 2 cores
# (Nadam, batch 32, 2,000 validation images, fresh processes, 5 epochs, graph / XLA, from the call):
# Fashion-MNIST MLP 784-300-100-10 on 10,000 images (1.3e10), 3.5-3.9 s / 3.0-3.1 s; chapter 11's
# 20×100 ELU network on 5,000 (6.8e9), 4.8-4.9 s / 5.1-5.2 s; with Batch Normalization, 8.1-8.2 s /
# 9.8-9.9 s. From their per-epoch times (graph 0.57, 0.39 and 0.60 s; XLA 0.21, 0.19 and 0.23 s),
# XLA's extra compile time is repaid from about 9e9, 9e9 and 1.3e10: the threshold sits among them.
XLA_MIN_WORK = 1.0e10


def _use_xla(jit_compile: bool | None, strategy: tf.distribute.Strategy, steps_functions: StepFunctions,
             X: tf.Tensor, y: tf.Tensor, batch_size: int, steps_per_execution: int, steps_to_run: int,
             validation: Validation) -> bool:
    """Whether the training steps run as one XLA program per call, as `train`'s `jit_compile` asks.

    For `None` on one replica: XLA compiles for about five times as long as a graph traces (on the
    course's networks, on CPUs) and then runs steps 1.5 to 10 times faster, which pays off from
    `XLA_MIN_STEPS` steps, or sooner for bigger networks (`XLA_MIN_WORK`), and at once if this
    model's XLA function is compiled already. The choice depends on the arguments and on earlier
    calls only, never on timings, so that seeded runs repeat exactly.
    """
    if jit_compile is not None or strategy.num_replicas_in_sync > 1:
        return bool(jit_compile)
    batches, _, last_batch, _ = next(epoch_chunks(np.arange(len(X)), batch_size, steps_per_execution))
    parameters = sum(int(np.prod(v.shape)) for _, group in steps_functions.groups for v in group)
    return (steps_to_run >= XLA_MIN_STEPS or steps_to_run * batch_size * parameters >= XLA_MIN_WORK
            or steps_functions.compiled(True, X, y, batches, last_batch, validation))
