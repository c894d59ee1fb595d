"""Training survives faults: a killed process resumes exactly, Ctrl-C stops cleanly, NaN never lands."""

import signal
import subprocess
import sys
import time
from pathlib import Path

import keras
import numpy as np
import pytest
import tensorflow as tf

from helpers import train
from helpers.checkpointing import TrainingCheckpoint

JOB = Path(__file__).parent / "scripts" / "train_job.py"


def start_job(checkpoint_dir, output, epochs=4):
    return subprocess.Popen(
        [sys.executable, str(JOB), str(checkpoint_dir), str(output), str(epochs)],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
    )


def wait_for(process, condition, timeout=120):
    """Read the job's output until `condition(lines_so_far)` holds."""
    lines, deadline = [], time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line:
            break
        lines.append(line.strip())
        if condition(lines):
            return lines
    process.kill()
    raise AssertionError(f"the job never reached the condition; output: {lines[-5:]}")


def weights(path):
    with np.load(path) as data:
        return [data[k] for k in sorted(data.files) if k.startswith("arr_")], data["loss"]


def test_a_killed_run_resumes_to_the_same_weights_bit_for_bit(tmp_path):
    reference = start_job(tmp_path / "reference_checkpoints", tmp_path / "reference.npz")
    reference.communicate(timeout=300)
    assert reference.returncode == 0

    steps_per_epoch = 2000 // 16
    job = start_job(tmp_path / "checkpoints", tmp_path / "resumed.npz")
    # Strike in the middle of the second epoch: after epoch 1's checkpoint, before epoch 2's.
    wait_for(job, lambda lines: lines.count("step") >= steps_per_epoch * 1.5)
    job.send_signal(signal.SIGKILL)
    job.wait(timeout=30)
    assert job.returncode == -signal.SIGKILL
    assert not (tmp_path / "resumed.npz").exists()
    checkpoints = sorted(p.name for p in (tmp_path / "checkpoints").glob("ckpt-*.index"))
    assert checkpoints == ["ckpt-1.index"]  # epoch 1 only

    again = start_job(tmp_path / "checkpoints", tmp_path / "resumed.npz")
    again.communicate(timeout=300)
    assert again.returncode == 0
    expected, expected_loss = weights(tmp_path / "reference.npz")
    got, got_loss = weights(tmp_path / "resumed.npz")
    assert len(got_loss) == 4  # the full history, epochs before the kill included
    np.testing.assert_array_equal(got_loss, expected_loss)
    for a, b in zip(got, expected):
        np.testing.assert_array_equal(a, b)


def test_ctrl_c_stops_cleanly_with_a_checkpoint_and_the_history_so_far(tmp_path):
    steps_per_epoch = 2000 // 16
    job = start_job(tmp_path / "checkpoints", tmp_path / "out.npz", epochs=50)
    wait_for(job, lambda lines: lines.count("step") >= steps_per_epoch * 2.5)
    job.send_signal(signal.SIGINT)
    out, _ = job.communicate(timeout=60)
    assert job.returncode == 0, out[-500:]
    assert "Interrupted at epoch 3, step" in out
    assert "call train() again with the same checkpoint_dir to resume" in out
    _, loss = weights(tmp_path / "out.npz")
    assert len(loss) == 2  # the finished epochs
    assert np.all(np.isfinite(loss))
    checkpoints = sorted((tmp_path / "checkpoints").glob("ckpt-*.index"))
    assert len(checkpoints) == 3  # after epoch 1, after epoch 2, and at the interrupt


def ctrl_c_after_a_compiled_call(monkeypatch, on_call):
    # Python runs a signal's handler at its next line: here, right after the call returns, before
    # the bookkeeping that goes with it (the undo, the step count). Returns the calls made so far.
    from helpers.multi_step import StepFunctions

    calls = []
    for name in ("_run_in_one_call", "_run_in_calls"):
        def call_then_ctrl_c(self, *args, original=getattr(StepFunctions, name)):
            outcome = original(self, *args)
            calls.append(name)
            if len(calls) == on_call:
                signal.raise_signal(signal.SIGINT)
            return outcome

        monkeypatch.setattr(StepFunctions, name, call_then_ctrl_c)
    return calls


def small_regression(n=30):
    X = np.random.default_rng(0).normal(size=(n, 3)).astype(np.float32)
    return X, X.sum(axis=1, keepdims=True)


@pytest.mark.parametrize("jit_compile", [False, True], ids=["graph", "xla"])
@pytest.mark.parametrize("where, steps_per_execution, message", [
    ("mid-epoch call", 2, "Interrupted at epoch 2, step 4/6: saved"),  # 3 calls per epoch: the 5th
    ("an epoch's last call", 1024, "Interrupted after epoch 1: saved"),  # 1 call per epoch, validation in it
    ("on_epoch_end", 1024, "Interrupted after epoch 1: saved"),
])
def test_ctrl_c_stops_where_a_resumed_run_goes_on_as_if_never_stopped(where, steps_per_execution, message, jit_compile,
                                                                      monkeypatch, capsys, tmp_path):
    def run(checkpoint_dir, on_epoch_end=None):
        keras.utils.set_random_seed(0)
        model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1)])
        history = train(model, *small_regression(), epochs=3, batch_size=5, optimizer=keras.optimizers.Nadam(0.01),
                        loss_fn=keras.losses.MeanSquaredError(), metrics=["mae"], validation_data=small_regression(10),
                        steps_per_execution=steps_per_execution, jit_compile=jit_compile,
                        checkpoint_dir=checkpoint_dir, on_epoch_end=on_epoch_end, rng=0, verbose=False)
        return history, [w.numpy() for w in model.weights]

    expected, expected_weights = run(tmp_path / "uninterrupted")
    if where == "on_epoch_end":
        stopped, _ = run(tmp_path / "interrupted", lambda epoch, _: signal.raise_signal(signal.SIGINT))
    else:
        calls = ctrl_c_after_a_compiled_call(monkeypatch, on_call=5 if where == "mid-epoch call" else 1)
        stopped, _ = run(tmp_path / "interrupted")
        assert len(calls) >= 1
        monkeypatch.undo()
    assert message in capsys.readouterr().out
    assert list(map(len, stopped.values())) == [1, 1, 1, 1]  # epoch 1 only
    resumed, weights = run(tmp_path / "interrupted")
    assert list(resumed) == list(expected)
    for name, values in expected.items():
        np.testing.assert_allclose(resumed[name], values, rtol=1e-6, err_msg=name)
    for w, expected_w in zip(weights, expected_weights, strict=True):
        np.testing.assert_allclose(w, expected_w, rtol=1e-6)


@pytest.mark.parametrize("jit_compile", [False, True], ids=["graph", "xla"])
def test_ctrl_c_as_a_non_finite_call_returns_still_undoes_it(jit_compile, monkeypatch):
    calls = ctrl_c_after_a_compiled_call(monkeypatch, on_call=2)  # epoch 2's call: its step 4 is bad
    train_into_the_poison(poisoned_model(PoisonAfter), keras.optimizers.Nadam(0.01), steps_per_execution=1000,
                          jit_compile=jit_compile)
    assert len(calls) > 2  # the press came, then the redo one step per call


class PoisonAfter(keras.layers.Layer):
    """Multiplies by NaN once a counter passes `after` training steps."""

    def __init__(self, after, **kwargs):
        super().__init__(**kwargs)
        self.after = after

    def build(self, input_shape):
        # Counted once per step under a distribution strategy too.
        self.calls = self.add_weight(shape=(), initializer="zeros", trainable=False, name="calls",
                                     aggregation="only_first_replica")

    def call(self, inputs, training=None):
        if training:
            self.calls.assign_add(1.0)
        return tf.where(self.calls > self.after, np.nan, 1.0) * inputs


def test_a_non_finite_loss_stops_with_the_epoch_and_step_and_writes_no_nan(tmp_path):
    keras.utils.set_random_seed(0)
    X, y = small_regression(100)
    model = keras.Sequential([keras.Input((3,)), PoisonAfter(after=13), keras.layers.Dense(1)])  # 10 steps per epoch
    arguments = dict(batch_size=10, optimizer=keras.optimizers.SGD(0.01), loss_fn=keras.losses.MeanSquaredError(),
                     checkpoint_dir=tmp_path, steps_per_execution=3, rng=0, verbose=False)
    with pytest.raises(FloatingPointError, match=r"Non-finite loss or weights at epoch 2, step 4/10: .*ckpt-1, is intact"):
        train(model, X, y, epochs=3, **arguments)
    in_memory = [w.numpy() for w in model.layers[1].weights]
    assert all(np.all(np.isfinite(w)) for w in in_memory)
    saved = tf.train.load_checkpoint(str(tmp_path / "ckpt-1"))
    values = [np.asarray(saved.get_tensor(name)) for name, _ in tf.train.list_variables(str(tmp_path / "ckpt-1"))]
    floats = [v for v in values if v.dtype.kind == "f"]
    assert len(floats) >= 2 and all(np.all(np.isfinite(v)) for v in floats)
    assert sorted(p.name for p in tmp_path.glob("ckpt-*.index")) == ["ckpt-1.index"]


class PoisonGradientAfter(PoisonAfter):
    """Passes its inputs through, but its gradient turns NaN once `after` training steps have run."""

    def call(self, inputs, training=None):
        if training:
            self.calls.assign_add(1.0)
        poisoned = self.calls > self.after

        @tf.custom_gradient
        def identity(x):
            return tf.identity(x), lambda upstream: tf.where(poisoned, np.nan, 1.0) * upstream

        return identity(inputs)


def poisoned_model(poison, batch_norm=True):
    keras.utils.set_random_seed(0)
    norm = [keras.layers.BatchNormalization()] if batch_norm else []
    # No bias before batch norm: its gradient is rounding noise, which Nadam turns into full-size
    # steps of random sign, so two correct runs that merely round differently would end apart.
    first = keras.layers.Dense(4, use_bias=not batch_norm)
    return keras.Sequential([keras.Input((3,)), first, poison(after=13), *norm, keras.layers.Dense(1)])


def train_into_the_poison(model, optimizer, **arguments):
    X, y = small_regression(100)
    with pytest.raises(FloatingPointError, match=r"at epoch 2, step 4/10: training stopped with the model as it was"):
        train(model, X, y, epochs=3, batch_size=10, optimizer=optimizer, loss_fn=keras.losses.MeanSquaredError(),
              rng=0, verbose=False, **arguments)
    assert int(optimizer.iterations.numpy()) == 13  # 10 steps in epoch 1, 3 in epoch 2
    return [(v.name, v.numpy()) for v in [*model.variables, *optimizer.variables]]


def assert_same_and_finite(reference, other, tolerance):
    for (name, expected), (_, value) in zip(reference, other, strict=True):
        assert np.all(np.isfinite(value)), name
        np.testing.assert_allclose(value, expected, rtol=tolerance, atol=tolerance / 10, err_msg=name)


# Snapshots are read eagerly for the first EAGER_SNAPSHOTS calls, then in a graph (XLA programs
# without a strategy read their own): undo from both.
SNAPSHOT_READS = pytest.mark.parametrize("eager_snapshots", [0, 10_000], ids=["graph-snapshots", "eager-snapshots"])


POISONS = pytest.mark.parametrize("poison", [PoisonAfter, PoisonGradientAfter], ids=["nan-loss", "nan-gradient-finite-loss"])


@SNAPSHOT_READS
@POISONS
def test_a_non_finite_step_inside_a_long_call_leaves_every_variable_as_before_that_step(poison, eager_snapshots,
                                                                                       monkeypatch):
    monkeypatch.setattr("helpers.non_finite.EAGER_SNAPSHOTS", eager_snapshots)
    # With one step per call the bad step is simply undone; in a 1000-step call the whole call is
    # undone and its steps redone one by one up to the bad one. Weights, batch-norm statistics
    # (which the forward pass updates) and optimizer slots must end the same, and finite, either way.
    one_per_call = train_into_the_poison(poisoned_model(poison), keras.optimizers.Nadam(0.01), steps_per_execution=1)
    long_call = train_into_the_poison(poisoned_model(poison), keras.optimizers.Nadam(0.01), steps_per_execution=1000)
    assert_same_and_finite(one_per_call, long_call, tolerance=1e-6)


@POISONS
def test_a_non_finite_step_inside_a_long_xla_call_leaves_every_variable_as_before_that_step(poison):
    # The same with XLA (whose program reads its own snapshot), compared with itself: on this model
    # XLA's numbers differ from the graph's.
    one_per_xla_call, long_xla_call = (
        train_into_the_poison(poisoned_model(poison), keras.optimizers.Nadam(0.01), steps_per_execution=spe, jit_compile=True)
        for spe in (1, 1000))
    assert_same_and_finite(one_per_xla_call, long_xla_call, tolerance=1e-6)


@pytest.mark.parametrize("jit_compile", [False, True], ids=["graph", "xla"])
def test_a_non_finite_smaller_last_batch_undoes_its_whole_call(jit_compile):
    # The epoch's smaller last batch runs in the same graph or XLA call as the full ones (under
    # XLA, so does validation); a NaN there must undo the whole call, and the redo must name the
    # last step of epoch 2.
    def run(steps_per_execution):
        model, optimizer = poisoned_model(PoisonAfter), keras.optimizers.Nadam(0.01)
        model.layers[1].after = 19  # 10 steps per epoch (9 of 10 instances, 1 of 5): step 20 is bad
        X, y = small_regression(95)
        with pytest.raises(FloatingPointError, match=r"at epoch 2, step 10/10: training stopped"):
            train(model, X, y, epochs=3, batch_size=10, optimizer=optimizer, loss_fn=keras.losses.MeanSquaredError(),
                  validation_data=(X[:20], y[:20]), steps_per_execution=steps_per_execution,
                  jit_compile=jit_compile, rng=0, verbose=False)
        assert int(optimizer.iterations.numpy()) == 19
        return [(v.name, v.numpy()) for v in [*model.variables, *optimizer.variables]]

    assert_same_and_finite(run(1), run(1000), tolerance=1e-6)


@pytest.mark.parametrize("update", ["eager", "graph", "xla"])
def test_snapshots_keep_the_values_read_eagerly_at_first_then_in_a_graph(update):
    from helpers.non_finite import EAGER_SNAPSHOTS, restore, snapshotter

    variables = [tf.Variable([1.0, 2.0]), tf.Variable(3.0), tf.Variable(4, dtype=tf.int64)]
    add_one = lambda: [v.assign_add(tf.ones_like(v)) for v in variables]
    if update != "eager":
        add_one = tf.function(add_one, jit_compile=update == "xla", autograph=False)
    snapshot = snapshotter(variables)
    for call in range(EAGER_SNAPSHOTS + 2):  # the last two are read in the graph
        before = [v.numpy() for v in variables]
        values = snapshot()
        add_one()
        assert all(np.array_equal(value.numpy(), old) for value, old in zip(values, before)), call
        restore(variables, values)
        assert all(np.array_equal(v.numpy(), old) for v, old in zip(variables, before)), call
        add_one()
    assert snapshot.read_in_a_graph.experimental_get_tracing_count() == 1


@SNAPSHOT_READS
def test_a_non_finite_step_is_undone_on_every_replica_of_a_mirrored_strategy(mirrored_strategy, eager_snapshots,
                                                                             monkeypatch):
    monkeypatch.setattr("helpers.non_finite.EAGER_SNAPSHOTS", eager_snapshots)
    # No batch norm here: each replica normalizes its half of the batch, unlike a single device.
    single = train_into_the_poison(poisoned_model(PoisonAfter, batch_norm=False), keras.optimizers.Nadam(0.01),
                                   steps_per_execution=1)
    strategy = mirrored_strategy
    with strategy.scope():
        model, optimizer = poisoned_model(PoisonAfter, batch_norm=False), keras.optimizers.Nadam(0.01)
    mirrored = train_into_the_poison(model, optimizer, strategy=strategy, steps_per_execution=1000)
    assert_same_and_finite(single, mirrored, tolerance=1e-5)
    for variable in model.trainable_variables:  # every replica's copy, not just the first
        for copy in strategy.experimental_local_results(variable.value):
            np.testing.assert_array_equal(copy.numpy(), variable.numpy())


def test_resuming_a_finished_run_returns_its_history_without_training(tmp_path):
    keras.utils.set_random_seed(0)
    X, y = small_regression(50)
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1)])
    arguments = dict(batch_size=10, optimizer=keras.optimizers.SGD(0.01), loss_fn=keras.losses.MeanSquaredError(),
                     checkpoint_dir=tmp_path, rng=0, verbose=False)
    first = train(model, X, y, epochs=2, **arguments)
    before = [w.numpy() for w in model.weights]
    second = train(model, X, y, epochs=2, **arguments)
    assert second == first
    assert all(np.array_equal(w.numpy(), b) for w, b in zip(model.weights, before))
    third = train(model, X, y, epochs=3, **arguments)
    assert third["loss"][:2] == first["loss"] and len(third["loss"]) == 3


def test_checkpoint_keep_must_be_positive(tmp_path):
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1)])
    with pytest.raises(ValueError, match=r"`keep` must be a positive integer. Received: keep=0"):
        TrainingCheckpoint(tmp_path, model, [], [], keep=0)
