"""Many training steps per compiled call, over the replicas of a strategy, compiled once per model.

For small models the cost of a Python call dwarfs a step, so `helpers.train` runs up to
`steps_per_execution` steps (`train_step.make_train_step`) in one compiled call on index batches
gathered from tensors already in memory. Each function is traced for one shape only: every call
of an epoch gets the same (steps, batch_size) block of indices, padded, with the number of rows to
run. The epoch's smaller last batch has another shape. Without a distribution strategy, the
epoch's final call takes it as one more step: in a graph on the same path (its batch size may
vary); in an XLA program (fixed shapes) padded to the full size with copies of its rows that weigh
nothing, where that is safe (`helpers.padding`), else on a path of its own, compiled apart. An XLA
program without a strategy also takes its own snapshot for the undo (`non_finite`), resets the
metrics in an epoch's first call, evaluates on the validation data in its last (in equal batches,
the last one padded where that is safe), and returns the results: on small models each call more
would cost a tenth of an epoch. Graphs (short runs) keep those as calls of their own, since
validation traced into the steps' graph takes seconds longer to trace; under a strategy, so does
the last batch (`StepFunctions._last_step`).
The functions live on the model (`StepFunctions.of`), so a later `train` call with the same
optimizers, loss, metrics and data shapes reuses them instead of compiling again; they go when the
model goes.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Iterator, Sequence
from typing import Any, TypeAlias

import keras
import numpy as np
import tensorflow as tf

from helpers.non_finite import all_finite, restore, snapshotter
from helpers.padding import pads_safely, per_instance_loss
from helpers.train_step import loss_values, make_train_step, mean_loss, update_metrics
from helpers.training_inputs import OptimizerGroups

Validation: TypeAlias = "tuple[tf.Tensor, tf.Tensor, int] | None"  # (X_val, y_val, batch size)
_CACHE = "_helpers_train_step_functions"  # the attribute of the model that holds its functions
_KEEP = 8  # functions kept per model (for other optimizers, losses, metrics...), newest first


class StepFunctions:
    """The compiled functions (training steps and evaluation) of one model, optimizers, loss and metrics.

    Build it with `StepFunctions.of(...)`, which returns the cached instance when there is one.
    Its `trackers` are the loss tracker followed by the metrics that the functions update.

    Example:
        >>> model = keras.Sequential([keras.Input((1,)), keras.layers.Dense(1)])
        >>> groups = [(keras.optimizers.SGD(0.1), model.trainable_variables)]
        >>> loss_fn = keras.losses.MeanSquaredError()
        >>> steps = StepFunctions.of(model, groups, loss_fn, [], tf.distribute.get_strategy())
        >>> steps is StepFunctions.of(model, groups, loss_fn, [], tf.distribute.get_strategy())
        True
        >>> X, y = tf.ones((10, 1)), tf.ones((10, 1))
        >>> finite, results = steps.run(X, y, np.arange(8).reshape(2, 4), 2, np.arange(8, 10), True, xla=True)
        >>> bool(finite), sorted(results)
        (True, ['loss'])
    """

    @classmethod
    def of(cls, model: keras.Model, groups: OptimizerGroups, loss_fn: Callable, metrics: Sequence[Any],
           strategy: tf.distribute.Strategy) -> StepFunctions:
        """The functions for this model and these settings: cached on the model, or new.

        Args:
            model, groups, loss_fn: as for `train_step.make_train_step`.
            metrics: metric objects; a metric that `train` resolved from a name is passed as a
                pair `(name, metric)`, so that the cached metric of the same name is reused.
            strategy: the distribution strategy.

        Returns:
            A `StepFunctions`.
        """
        key = (tuple((id(o), *map(id, group)) for o, group in groups), id(loss_fn), id(strategy),
               tuple(map(id, model.variables)),
               tuple((m[0], type(m[1]).__name__) if isinstance(m, tuple) else id(m) for m in metrics))
        cache = model.__dict__.get(_CACHE)
        if cache is None:
            cache = OrderedDict()
            object.__setattr__(model, _CACHE, cache)  # bypass Keras's tracking: not a part of the model
        if key not in cache:
            cache[key] = cls(model, groups, loss_fn, [m[1] if isinstance(m, tuple) else m for m in metrics],
                             strategy)
            while len(cache) > _KEEP:
                cache.popitem(last=False)
        cache.move_to_end(key)
        return cache[key]

    def __init__(self, model, groups, loss_fn, metrics, strategy):
        self.model, self.groups, self.loss_fn, self.strategy = model, groups, loss_fn, strategy
        self.replicas = strategy.num_replicas_in_sync
        # Outside any strategy's scope: the last batch, validation and the snapshot run in the program.
        # Other strategies (even with one replica, e.g. on a TPU) keep every step in strategy.run.
        self.plain = not tf.distribute.has_strategy() and strategy is tf.distribute.get_strategy()
        with strategy.scope():
            # Under several replicas the metrics' totals must be created in the strategy's scope.
            metrics = [type(m).from_config(m.get_config()) for m in metrics] if self.replicas > 1 else list(metrics)
            self.trackers = [keras.metrics.Mean(name="loss"), *metrics]
            for optimizer, variables in groups:
                optimizer.build(variables)  # create the slots now, outside tf.function
        self.train_step = make_train_step(model, groups, loss_fn, self.replicas)
        # Everything a step changes (metrics aside: training stops), so a failed call can put it back.
        self.state = [*model.variables, *(v for optimizer, _ in groups for v in optimizer.variables)]
        self._snapshot = snapshotter(self.state)  # an XLA program without a strategy takes its own
        self._none: list[bool] | None = None  # which gradients are None, known once traced
        self._pads = pads_safely(model, training=True)  # XLA: the smaller last batch padded (one pass)
        self._pads_validation = pads_safely(model, training=False)  # XLA: validation in equal batches
        self._functions: dict[tuple, Callable] = {}  # the tf.functions
        self._concrete: dict[tuple, Callable] = {}   # their one trace each

    def run(self, X: tf.Tensor, y: tf.Tensor, batches: np.ndarray, count: int, last_batch: np.ndarray,
            with_last: bool, xla: bool, reset_metrics: bool = False, validation: Validation = None,
            validate: bool = False) -> tuple[bool, dict[str, tf.Tensor]]:
        """Run the first `count` rows of `batches` (index batches), then `last_batch` if `with_last`.

        The trackers are reset first if `reset_metrics` (an epoch's first call), and if `validate`
        (its last), evaluated on `validation` (`(X_val, y_val, batch_size)`) after the steps.
        With `xla`, the steps run as one XLA program: fastest per step, but its first call compiles
        for seconds; without, as a TensorFlow graph. An XLA program without a strategy does all of
        it (the snapshot for the undo, the resets, the steps, the last batch, validation, the
        results) in that one call; otherwise the snapshot, the resets, validation and, under a
        strategy, the last batch (see `_last_step`) are calls of their own.

        Returns:
            `(finite, results)`: whether every step's loss and the weights after the call are
            finite (if not, every variable but the metrics is as before the call), and the
            trackers' results, then, if `validate`, theirs on the validation data (`val_...`).
        """
        run = self._run_in_one_call if self.plain and xla else self._run_in_calls
        finite, at_start, results = run(xla, X, y, batches, count, last_batch, with_last, reset_metrics, validation,
                                        validate)
        if not finite:
            restore(self.state, at_start)
        return finite, results

    def results(self) -> dict[str, tf.Tensor]:
        """The trackers' results: `{"loss": ..., "<metric>": ...}` (see the class's example)."""
        return {t.name: t.result() for t in self.trackers}

    def evaluate(self, X: tf.Tensor, y: tf.Tensor, batch_size: int, xla: bool) -> dict[str, tf.Tensor]:
        """Reset the trackers, evaluate on all of `(X, y)` in one call, and return their results (`val_...`)."""
        key = ("evaluate", xla, *_spec(X), *_spec(y), batch_size)
        make = lambda: tf.function(lambda X, y: self._evaluate(X, y, batch_size, xla), jit_compile=xla, autograph=False)
        return self._call(key, make, X, y)

    def compiled(self, xla: bool, X: tf.Tensor, y: tf.Tensor, batches: np.ndarray, last_batch: np.ndarray,
                 validation: Validation = None) -> bool:
        """Whether the training function for these shapes has already been traced (and compiled)."""
        return self._train_key(xla, X, y, batches, last_batch, validation) in self._functions

    def _train_key(self, xla, X, y, batches, extra, validation):
        # What a training function is traced for: without a strategy, the last batch's shape too,
        # and under XLA the validation data's.
        key = ("train", xla, *_spec(X), *_spec(y), np.shape(batches))
        if self.plain:
            key += (np.shape(extra),)
            if xla and validation:
                X_val, y_val, size = validation
                key += (*_spec(X_val), *_spec(y_val), size)
        return key

    def _run_steps(self, xla, X, y, batches, extra, validation, *args):
        # Calls the training function for these shapes with `args`, tracing it on the first call.
        make = lambda: self._make_run_steps(xla, validation[2] if xla and validation else None)
        return self._call(self._train_key(xla, X, y, batches, extra, validation), make, *args)

    def _run_in_one_call(self, xla, X, y, batches, count, extra, with_extra, reset_metrics, validation, validate):
        # An XLA program without a strategy: returns (finite, the snapshot, the results, the
        # validation ones included if `validate`). Calls cost more than a tenth of a small model's epoch.
        args = [X, y, *(tf.constant(a, tf.int32) for a in (batches, count, extra)), tf.constant(with_extra),
                tf.constant(reset_metrics), *([*validation[:2], tf.constant(validate)] if validation else [])]
        finite, at_start, results, val_results = self._run_steps(xla, X, y, batches, extra, validation, *args)
        finite = bool(finite)
        if validate and finite:
            results.update(val_results)
        return finite, at_start, results

    def _run_in_calls(self, xla, X, y, batches, count, last_batch, with_last, reset_metrics, validation, validate):
        # Graphs, or under a strategy: the snapshot, the steps, validation and the results as calls of
        # their own (in a graph, validation traced into the steps' function would take longer to trace).
        at_start, finite = self._snapshot(), True
        if reset_metrics:
            self._reset_trackers()
        args = [X, y, tf.constant(batches, tf.int32), tf.constant(count, tf.int32)]
        if self.plain:  # the smaller last batch in the same call
            args += [tf.constant(last_batch, tf.int32), tf.constant(with_last)]
            finite = bool(self._run_steps(xla, X, y, batches, last_batch, None, *args))
        else:
            if count:
                finite = bool(self._run_steps(xla, X, y, batches, None, None, *args))
            if finite and with_last:
                finite = self._last_step(X, y, last_batch)
        results = self.results()
        if validate and finite:
            results.update(self.evaluate(*validation, xla=xla))
        return finite, at_start, results

    def _last_step(self, X, y, last_batch):
        """The epoch's smaller last batch under a strategy: one step, run eagerly in `strategy.run`."""
        assert not self.plain, "without a strategy, the program runs the last batch itself"
        indices = tf.constant(last_batch, tf.int32)
        return bool(tf.logical_and(self._global_step(X, y, indices), all_finite(self.state)))

    def _call(self, key: tuple, make: Callable[[], Callable], *args: tf.Tensor) -> Any:
        # One tf.function per kind and shape, traced once for `args` (no retracing, ever), then
        # called as that concrete function: a tf.function's call would look up its trace again on
        # every call, which costs as much as a tenth of a small model's epoch.
        if key not in self._functions:
            self._functions[key] = make()
            self._concrete[key] = self._functions[key].get_concrete_function(*args)
        return self._concrete[key](*args)

    def _replica_batch(self, X, y, indices):
        # Each replica takes its slice of the global batch (slices may differ by one).
        context = tf.distribute.get_replica_context()
        size = tf.shape(indices)[0]
        start = context.replica_id_in_sync_group * size // self.replicas
        end = (context.replica_id_in_sync_group + 1) * size // self.replicas
        mine = indices[start:end]
        return tf.gather(X, mine), tf.gather(y, mine), tf.cast(end - start, tf.float32) / tf.cast(size, tf.float32)

    def _gathered_update(self, loss, y_batch, y_pred):
        # Metrics see the whole global batch, gathered from the replicas.
        gather = lambda t: self.strategy.gather(t, axis=0)
        update_metrics(self.trackers, tf.reduce_sum(gather(loss)), gather(y_batch), gather(y_pred))

    def _global_step(self, X, y, indices):
        def replica_step(indices):
            X_batch, y_batch, share = self._replica_batch(X, y, indices)
            loss, y_pred = self.train_step(X_batch, y_batch, share)
            not_finite = tf.distribute.get_replica_context().all_reduce("sum", 1.0 - tf.cast(tf.math.is_finite(loss), tf.float32))
            # The loss goes out as shape (1,), so the replicas' shares can be gathered and summed.
            return tf.reshape(loss, [1]), y_batch, y_pred, not_finite == 0.0

        loss, y_batch, y_pred, finite = self.strategy.run(replica_step, args=(indices,))
        self._gathered_update(loss, y_batch, y_pred)
        return self.strategy.experimental_local_results(finite)[0]  # the same on every replica

    def _make_run_steps(self, xla: bool, validation_batch_size: int | None) -> Callable:
        # Written without AutoGraph (explicit tf.while_loop and tf.cond), as fit() traces its
        # steps: converting every function the model calls would double the tracing time.
        if not self.plain:
            @tf.function(jit_compile=xla, autograph=False)
            def run_steps(X, y, batches, count):
                _, finite = tf.while_loop(lambda i, finite: tf.logical_and(finite, i < count),
                                          lambda i, finite: (i + 1, self._global_step(X, y, batches[i])),
                                          (tf.constant(0), tf.constant(True)))
                return tf.logical_and(finite, all_finite(self.state))

            return run_steps

        @tf.function(jit_compile=xla, autograph=False)
        def run_steps(X, y, batches, count, extra, with_extra, *in_one_call):
            # `count` steps on `batches`, then, `with_extra`, one more step on the indices `extra`
            # (the smaller last batch). Either way the optimizers are traced once, after the branch.
            def step(i):
                if extra.shape[0] == 0:  # no smaller last batch: the batch size stays known
                    finite, *gradients = self._batch_gradients(X, y, batches[i])
                elif xla and self._pads:  # fixed shapes: the last batch padded, one pass for both sizes
                    finite, *gradients = self._padded_gradients(X, y, batches[i], extra, i < count)
                elif xla:  # fixed shapes: a forward and backward pass for each batch size
                    finite, *gradients = tf.cond(i < count, lambda: self._batch_gradients(X, y, batches[i]),
                                                 lambda: self._batch_gradients(X, y, extra))
                else:  # a graph's batch size may vary: one forward and backward pass for both
                    finite, *gradients = self._batch_gradients(X, y, tf.cond(i < count, lambda: batches[i],
                                                                             lambda: extra))
                kept = iter(gradients)
                self.train_step.apply([None if none else next(kept) for none in self._none])
                return finite

            def steps():
                n = count + tf.cast(with_extra, tf.int32)
                _, finite = tf.while_loop(lambda i, finite: tf.logical_and(finite, i < n),
                                          lambda i, finite: (i + 1, step(i)), (tf.constant(0), tf.constant(True)))
                return tf.logical_and(finite, all_finite(self.state))

            if not in_one_call:
                return steps()
            # (reset_metrics[, X_val, y_val, validate]): see `run`. The snapshot comes first: the
            # program's outputs are copies (the weights and the optimizer's slots: small next to its steps).
            reset_metrics, *validation = in_one_call
            at_start = [tf.identity(v) for v in self.state]
            tf.cond(reset_metrics, self._reset_trackers, lambda: tf.constant(True))
            finite = steps()
            results = self.results()
            val_results = {}
            if validation:  # the same trackers, reset, then on the validation data
                X_val, y_val, validate = validation
                val_results = tf.cond(tf.logical_and(validate, finite),
                                      lambda: self._evaluate(X_val, y_val, validation_batch_size, xla),
                                      lambda: _validation_names(results))
            return finite, at_start, results, val_results

        return run_steps

    def _batch_gradients(self, X, y, indices):
        # One batch's step on one device, its metrics updated: whether its loss is finite, and
        # its gradients without the None ones (variables the loss does not reach).
        X_batch, y_batch = tf.gather(X, indices), tf.gather(y, indices)
        loss, y_pred, gradients = self.train_step.gradients(X_batch, y_batch, 1.0)
        update_metrics(self.trackers, loss, y_batch, y_pred)
        return self._finite_and_kept(loss, gradients)

    def _padded_gradients(self, X, y, full_batch, last_batch, is_full):
        # `_batch_gradients` on `full_batch`, or on `last_batch` padded to the same size with copies
        # of its own rows (finite where it is), the copies weighted 0 in the loss and left out of
        # the metrics: their gradients are zero, and the step is the smaller batch's (`helpers.padding`).
        size, rows = full_batch.shape[0], last_batch.shape[0]
        # (At i == count, `full_batch` is read past the block's rows: XLA clamps the index, and the
        # value goes unused.)
        indices = tf.where(is_full, full_batch, tf.gather(last_batch, tf.range(size) % rows))
        X_batch, y_batch = tf.gather(X, indices), tf.gather(y, indices)
        real_rows = tf.where(is_full, size, rows)

        def loss_of_real_rows(y_true, y_pred):
            values = loss_values(self.loss_fn, y_true, y_pred)
            if not per_instance_loss(self.loss_fn) or values.shape.rank == 0 or values.shape[0] != size:
                # Any other loss, on the real rows alone: right for every loss, but a tf.cond in the
                # gradient's path takes XLA longer to compile (0.4 s more on the Fashion MLP).
                return tf.cond(is_full, lambda: tf.reduce_mean(values),
                               lambda: mean_loss(self.loss_fn, y_true[:rows], y_pred[:rows]))
            # 1 for every row of a full batch (exact: the same mean as unpadded), size/rows or 0 otherwise
            weights = tf.where(tf.range(size) < real_rows, size / real_rows, 0.0)
            return tf.reduce_mean(values * tf.reshape(tf.cast(weights, values.dtype), [-1] + [1] * (values.shape.rank - 1)))

        step = make_train_step(self.model, self.groups, loss_of_real_rows, self.replicas)
        loss, y_pred, gradients = step.gradients(X_batch, y_batch, 1.0)
        tf.cond(is_full, lambda: self._update_metrics(loss, y_batch, y_pred),
                lambda: self._update_metrics(loss, y_batch[:rows], y_pred[:rows]))
        return self._finite_and_kept(loss, gradients)

    def _update_metrics(self, loss, y_batch, y_pred):
        update_metrics(self.trackers, loss, y_batch, y_pred)
        return tf.constant(True)  # for tf.cond

    def _finite_and_kept(self, loss, gradients):
        none = [g is None for g in gradients]
        if self._none not in (None, none):  # traced for another batch size first
            raise ValueError("The model's loss reaches other weights with one batch size than with another (a full "
                             "batch, the epoch's smaller last batch, or a size left unknown in a graph): `train` "
                             "cannot run both in one XLA program. Choose a `batch_size` that divides the number of "
                             "instances, or pass jit_compile=False.")
        self._none = none
        # Sparse gradients made dense: the XLA program's two branches must match, and graphs do
        # the same so that both update alike.
        return [tf.math.is_finite(loss), *(tf.convert_to_tensor(g) for g in gradients if g is not None)]

    def _reset_trackers(self):
        for tracker in self.trackers:
            tracker.reset_state()
        return tf.constant(True)

    def _evaluate(self, X, y, batch_size, xla):
        # Traced inside a tf.function: reset the trackers, update them on every instance of
        # (X, y), `batch_size` at a time (no gradients to keep), and return their results (`val_...`).
        def replica_step(X, y, indices):
            X_batch, y_batch, share = self._replica_batch(X, y, indices)
            y_pred = self.model(X_batch, training=False)
            return tf.reshape(self._validation_loss(y_batch, y_pred, share), [1]), y_batch, y_pred

        def evaluate_batch(indices):
            self._gathered_update(*self.strategy.run(replica_step, args=(X, y, indices)))

        self._reset_trackers()
        count = X.shape[0]
        if xla and self.plain and self._pads_validation:
            self._evaluate_in_equal_batches(X, y, batch_size)
            return _validation_names(self.results())

        def body(i):
            start = i * batch_size
            if xla:
                evaluate_batch(start + tf.range(batch_size))
            else:
                evaluate_batch(tf.range(start, tf.minimum(start + batch_size, count)))
            return i + 1

        if xla:  # fixed shapes: the full batches in the loop, the smaller last one after it
            tf.while_loop(lambda i: i < count // batch_size, body, (tf.constant(0),))
            if count % batch_size:
                evaluate_batch(tf.range(count - count % batch_size, count))
        else:  # a graph's batch size may vary: one forward pass to trace, the last batch's included
            tf.while_loop(lambda i: i < -(-count // batch_size), body, (tf.constant(0),))
        return _validation_names(self.results())

    def _validation_loss(self, y_batch, y_pred, share):
        # This replica's part (`share`) of a validation batch's mean loss, regularization counted once in total.
        loss = tf.math.multiply_no_nan(mean_loss(self.loss_fn, y_batch, y_pred), share)
        if self.model.losses:
            loss += tf.add_n(self.model.losses) / self.replicas
        return loss

    def _evaluate_in_equal_batches(self, X, y, most):
        # `_evaluate` in an XLA program on one device: equal batches of at most `most` instances,
        # the last one padded with copies of the last instance and the copies left out of the
        # loss and metrics, so that one forward pass is compiled, not one for each batch size.
        count = X.shape[0]
        calls = -(-count // most)
        size = -(-count // calls)
        rows = count - (calls - 1) * size  # in the last batch

        def body(i):
            indices = tf.minimum(i * size + tf.range(size), count - 1)
            y_batch = tf.gather(y, indices)
            y_pred = self.model(tf.gather(X, indices), training=False)

            def update(n):
                loss = self._validation_loss(y_batch[:n], y_pred[:n], 1.0)
                return self._update_metrics(loss, y_batch[:n], y_pred[:n])

            if rows == size:
                update(size)
            else:
                tf.cond(i < calls - 1, lambda: update(size), lambda: update(rows))
            return i + 1

        tf.while_loop(lambda i: i < calls, body, (tf.constant(0),))


def _validation_names(results: dict[str, tf.Tensor]) -> dict[str, tf.Tensor]:
    return {f"val_{name}": value for name, value in results.items()}


def _spec(tensor: tf.Tensor) -> tuple:
    return tuple(tensor.shape), tensor.dtype


def epoch_chunks(order: np.ndarray, batch_size: int, steps_per_execution: int, skip: int = 0) -> Iterator[tuple[np.ndarray, int, np.ndarray, bool]]:
    """One epoch's index batches from step `skip` on, as `StepFunctions.run` takes them.

    Yields `(batches, count, last_batch, with_last)`: `batches` always has the same shape,
    (min(steps_per_execution, full batches), batch_size), padded with zeros after its first `count`
    rows; `last_batch` is the epoch's smaller last batch (possibly empty), to run after them in the
    final call (`with_last`).

    Example:
        >>> [(b.shape, count, with_last) for b, count, _, with_last in epoch_chunks(np.arange(10), 3, 2)]
        [((2, 3), 2, False), ((2, 3), 1, True)]
    """
    full = len(order) // batch_size
    rows = max(1, min(steps_per_execution, full))
    batches = order[: full * batch_size].reshape(full, batch_size)
    last_batch = order[full * batch_size :]
    if skip >= full + (len(last_batch) > 0):
        return
    for start in range(skip, full, rows) if skip < full else [full]:
        end = min(start + rows, full)
        padded = np.zeros((rows, batch_size), order.dtype)
        padded[: end - start] = batches[start:end]
        yield padded, end - start, last_batch, end == full and len(last_batch) > 0


def one_by_one(batches: np.ndarray, count: int, last_batch: np.ndarray, with_last: bool) -> Iterator[tuple[np.ndarray, int, np.ndarray, bool]]:
    """The steps of one `epoch_chunks` item, each as an item of its own (same shapes).

    Example:
        >>> [(count, with_last) for _, count, _, with_last in one_by_one(np.arange(6).reshape(2, 3), 2, np.arange(1), True)]
        [(1, False), (1, False), (0, True)]
    """
    for i in range(count):
        single = np.zeros_like(batches)
        single[0] = batches[i]
        yield single, 1, last_batch, False
    if with_last:
        yield batches, 0, last_batch, True
