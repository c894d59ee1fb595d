import keras
import numpy as np
import pytest
import tensorflow as tf

from helpers import train


class CountSeen(keras.metrics.Metric):
    """Counts the instances it is updated with: tells whether epochs are full and metrics reset."""

    def __init__(self, name="seen", **kwargs):
        super().__init__(name=name, **kwargs)
        self.count = self.add_variable(shape=(), initializer="zeros", name="count")

    def update_state(self, y_true, y_pred, sample_weight=None):
        self.count.assign_add(tf.cast(tf.shape(y_true)[0], self.count.dtype))

    def result(self):
        return self.count


class TrainingCalls(keras.layers.Layer):
    """Identity layer that counts the calls made with training=True."""

    def build(self, input_shape):
        self.calls = self.add_weight(shape=(), initializer="zeros", trainable=False, name="calls")

    def call(self, inputs, training=None):
        if training:
            self.calls.assign_add(1.0)
        return inputs


def linear_data(n=100, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 3)).astype(np.float32)
    y = X @ np.array([[1.0], [-2.0], [0.5]], dtype=np.float32) + 0.3
    return X, y


def linear_model(seed=0, **dense_kwargs):
    keras.utils.set_random_seed(seed)
    return keras.Sequential([keras.Input((3,)), keras.layers.Dense(1, **dense_kwargs)])


def fit(model, X, y, **kwargs):
    defaults = dict(epochs=2, batch_size=16, optimizer=keras.optimizers.SGD(0.05),
                    loss_fn=keras.losses.MeanSquaredError(), rng=0, verbose=False)
    return train(model, X, y, **{**defaults, **kwargs})


def test_learns_and_returns_one_value_per_epoch_and_metric():
    X, y = linear_data()
    history = fit(linear_model(), X, y, epochs=20, metrics=["mae"], validation_data=(X[:20], y[:20]))
    assert sorted(history) == ["loss", "mae", "val_loss", "val_mae"]
    assert all(len(values) == 20 for values in history.values())
    assert history["loss"][-1] < 0.01 * history["loss"][0]


@pytest.mark.parametrize("jit_compile", [False, True])
def test_every_epoch_visits_every_instance_once_and_metrics_reset(jit_compile):
    X, y = linear_data(n=103)  # 6 batches of 16 and one of 7, which updates the metrics too
    history = fit(linear_model(), X, y, epochs=3, metrics=[CountSeen()], jit_compile=jit_compile)
    assert history["seen"] == [103.0, 103.0, 103.0]


def test_calls_the_model_with_training_true_once_per_step():
    X, y = linear_data(n=53)
    layer = TrainingCalls()
    model = keras.Sequential([keras.Input((3,)), layer, keras.layers.Dense(1)])
    fit(model, X, y, epochs=2, batch_size=10, validation_data=(X, y))
    assert float(layer.calls) == 12.0  # 6 steps (the last of 3) x 2 epochs; validation calls with training=False


def test_adds_regularization_losses_to_the_loss():
    X, y = linear_data()
    model = linear_model(kernel_regularizer=keras.regularizers.L2(10.0))
    kernel, bias = (w.numpy() for w in model.weights)
    history = fit(model, X, y, epochs=1, batch_size=100, optimizer=keras.optimizers.SGD(0.0))
    expected = np.mean((X @ kernel + bias - y) ** 2) + 10.0 * np.sum(kernel**2)
    assert history["loss"][0] == pytest.approx(expected, rel=1e-5)


def test_honours_the_optimizers_clipnorm():
    X, y = linear_data()
    model = linear_model()
    before = [w.numpy() for w in model.weights]
    fit(model, X, y, epochs=1, batch_size=100, optimizer=keras.optimizers.SGD(1.0, clipnorm=1e-3))
    for old, new in zip(before, model.weights):
        change = np.linalg.norm(new.numpy() - old)
        assert 0 < change <= 1e-3 * (1 + 1e-5)  # each variable's gradient is clipped to norm 1e-3


def test_applies_variable_constraints_after_every_update():
    X, y = linear_data()
    model = linear_model(kernel_constraint=keras.constraints.NonNeg())
    fit(model, X, y, epochs=2, optimizer=keras.optimizers.SGD(0.5))
    kernel = model.weights[0].numpy()
    assert np.all(kernel >= 0)
    assert kernel[1, 0] == 0.0  # the true weight is -2: without the constraint it would go negative


@pytest.mark.parametrize("jit_compile", [False, True])
def test_chunked_execution_matches_step_by_step(jit_compile):
    X, y = linear_data(n=90)
    weights = []
    for steps_per_execution in (1, 4, 1000):
        model = linear_model(seed=1)
        fit(model, X, y, epochs=3, batch_size=8, optimizer=keras.optimizers.Nadam(0.01),
            steps_per_execution=steps_per_execution, jit_compile=jit_compile)
        weights.append(np.concatenate([w.numpy().ravel() for w in model.weights]))
    np.testing.assert_allclose(weights[1], weights[0], rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(weights[2], weights[0], rtol=1e-6, atol=1e-7)


class Unused(keras.layers.Layer):
    """Identity layer with a trainable weight that the loss never reaches (its gradient is None)."""

    def build(self, input_shape):
        self.unused = self.add_weight(shape=(2,), initializer="ones", name="unused")

    def call(self, inputs):
        return inputs


@pytest.mark.parametrize("jit_compile", [False, True])
@pytest.mark.parametrize("n", [90, 6])
def test_matches_an_eager_loop_over_the_same_batches_with_a_smaller_last_one(jit_compile, n):
    # Batches of 8. n=90: 11 full ones and one of 2 per epoch. n=6: only the smaller one, so the
    # XLA program's path for full batches is compiled but never runs.
    X, y = linear_data(n=n)

    def build():
        keras.utils.set_random_seed(1)
        return keras.Sequential([keras.Input((3,)), Unused(), keras.layers.Dense(4, activation="elu"),
                                 keras.layers.BatchNormalization(), keras.layers.Dense(1)])

    model, optimizer = build(), keras.optimizers.Nadam(0.01)
    eager_updates, apply_gradients = [], optimizer.apply_gradients
    optimizer.apply_gradients = lambda *args: (eager_updates.append(tf.executing_eagerly()), apply_gradients(*args))[1]
    with pytest.warns(UserWarning, match="Gradients do not exist"):
        fit(model, X, y, epochs=3, batch_size=8, optimizer=optimizer, jit_compile=jit_compile)
    assert eager_updates and not any(eager_updates)  # the last batch's update ran in the compiled program
    assert_trained_like_an_eager_loop(model, build(), keras.optimizers.Nadam(0.01), X, y, epochs=3, batch_size=8)


class UsedOnBatchesOfTwo(keras.layers.Layer):
    """Adds a weight to its inputs only when the batch size, as traced, is 2."""

    def build(self, input_shape):
        self.offset = self.add_weight(shape=(), initializer="zeros", name="offset")

    def call(self, inputs):
        return inputs + self.offset if inputs.shape[0] == 2 else inputs


def test_a_loss_that_reaches_other_weights_by_batch_size_fails_clearly_under_xla_and_trains_as_a_graph():
    # 90 instances in batches of 8: the last batch holds 2. XLA traces both batch sizes, whose
    # steps would update different weights; a graph traces the batch size as unknown. The advice
    # of the error (jit_compile=False) then works on the same model.
    X, y = linear_data(n=90)
    model = keras.Sequential([keras.Input((3,)), UsedOnBatchesOfTwo(), keras.layers.Dense(1)])
    with pytest.raises(ValueError, match=r"other weights with one batch size than with another.*jit_compile=False"):
        fit(model, X, y, epochs=1, batch_size=8, jit_compile=True)
    with pytest.warns(UserWarning, match="Gradients do not exist"):  # a graph never sees a batch of 2
        history = fit(model, X, y, epochs=1, batch_size=8, jit_compile=False)
    assert np.isfinite(history["loss"][0]) and float(model.layers[0].offset.numpy()) == 0.0


@pytest.mark.parametrize("jit_compile", [False, True])
def test_an_embedding_with_sparse_gradients_matches_an_eager_loop(jit_compile):
    rng = np.random.default_rng(0)
    X, y = rng.integers(0, 20, size=(45, 3)).astype(np.int32), rng.normal(size=(45, 1)).astype(np.float32)

    def build():  # the Embedding's gradient is a tf.IndexedSlices
        keras.utils.set_random_seed(2)
        return keras.Sequential([keras.Input((3,), dtype="int32"), keras.layers.Embedding(20, 4),
                                 keras.layers.Flatten(), keras.layers.Dense(1)])

    # Plain SGD: Keras's Adam updates sparse gradients otherwise than the same gradients made dense,
    # and `train` makes them dense (as its XLA program must, and its graphs do too).
    model = build()
    fit(model, X, y, epochs=2, batch_size=8, optimizer=keras.optimizers.SGD(0.1), jit_compile=jit_compile)
    assert_trained_like_an_eager_loop(model, build(), keras.optimizers.SGD(0.1), X, y, epochs=2, batch_size=8)


def squared_errors(y_true, y_pred):  # one value per element: `train` weights them per instance
    return tf.square(y_true - y_pred)


def mean_squared_error(y_true, y_pred):  # already a mean: `train` computes it again on the real rows
    return tf.reduce_mean(tf.square(y_true - y_pred))


@pytest.mark.parametrize("loss_fn", [keras.losses.MeanSquaredError(), squared_errors, mean_squared_error],
                         ids=["keras-loss", "per-element", "mean"])
def test_under_xla_a_padded_smaller_last_batch_trains_and_reports_like_the_unpadded_one(loss_fn):
    # Per-instance layers: the XLA program pads the last batch (3 of 8) with copies of its rows
    # instead of compiling a second pass. The copies must count nowhere: not in the gradients (the
    # eager loop), nor in the loss and metrics (the graph, which runs the batch of 3 as it is).
    # (Of 2 rows, 4 copies each would give the same mean: 3 do not divide 8.)
    X, y = linear_data(n=91)

    def build():
        keras.utils.set_random_seed(3)
        return keras.Sequential([keras.Input((3,)), keras.layers.Dense(4, activation="elu"), keras.layers.Dense(1)])

    arguments = dict(epochs=3, batch_size=8, loss_fn=loss_fn, metrics=[CountSeen(), "mae"])
    model = build()
    history = fit(model, X, y, optimizer=keras.optimizers.Nadam(0.01), jit_compile=True, **arguments)
    assert history["seen"] == [91.0] * 3
    assert_trained_like_an_eager_loop(model, build(), keras.optimizers.Nadam(0.01), X, y, epochs=3, batch_size=8)
    graph = fit(build(), X, y, optimizer=keras.optimizers.Nadam(0.01), jit_compile=False, **arguments)
    np.testing.assert_allclose(history["loss"], graph["loss"], rtol=1e-5)
    np.testing.assert_allclose(history["mae"], graph["mae"], rtol=1e-5)


def test_under_xla_only_models_that_pad_safely_trace_a_single_forward_pass(monkeypatch):
    traced = []  # the Dense layers called while tracing (not eagerly, as the argument checks call them)
    dense_call = keras.layers.Dense.call

    def counting_call(self, inputs, training=None):
        if not tf.executing_eagerly():
            traced.append(self.name)
        return dense_call(self, inputs, training=training)

    monkeypatch.setattr(keras.layers.Dense, "call", counting_call)
    X, y = linear_data(n=90)  # batches of 8, and a smaller last one of 2
    validation_data = linear_data(n=2_500, seed=1)  # in batches of at most 1,024
    fit(linear_model(), X, y, epochs=1, batch_size=8, jit_compile=True, validation_data=validation_data)
    assert len(traced) == 2  # training: one pass for both batch sizes; validation: three equal batches
    traced.clear()
    keras.utils.set_random_seed(0)
    with_batch_norm = keras.Sequential([keras.Input((3,)), keras.layers.BatchNormalization(), keras.layers.Dense(1)])
    fit(with_batch_norm, X, y, epochs=1, batch_size=8, jit_compile=True, validation_data=validation_data)
    assert len(traced) == 3  # batch statistics: a training pass for each batch size; validation's one
    traced.clear()
    with_a_custom_layer = keras.Sequential([keras.Input((3,)), Unused(), keras.layers.Dense(1)])
    with pytest.warns(UserWarning, match="Gradients do not exist"):
        fit(with_a_custom_layer, X, y, epochs=1, batch_size=8, jit_compile=True, validation_data=validation_data)
    assert len(traced) == 4  # unknown layers: a pass for each size, in training (8, 2) and validation (1,024, 452)


def assert_trained_like_an_eager_loop(model, reference, optimizer, X, y, epochs, batch_size):
    # The textbook's loop, over the batches that `fit(..., rng=0)` visits, the smaller last one included.
    loss_fn, rng = keras.losses.MeanSquaredError(), np.random.default_rng(0)
    for _ in range(epochs):
        order = rng.permutation(len(X))
        for start in range(0, len(X), batch_size):
            X_batch, y_batch = X[order[start:start + batch_size]], y[order[start:start + batch_size]]
            with tf.GradientTape() as tape:
                loss = loss_fn(y_batch, reference(X_batch, training=True))
            gradients = tape.gradient(loss, reference.trainable_variables)
            optimizer.apply_gradients(zip(gradients, reference.trainable_variables))
    for trained, expected in zip(model.variables, reference.variables):  # BN statistics included
        np.testing.assert_allclose(trained.numpy(), expected.numpy(), rtol=1e-5, atol=1e-6, err_msg=trained.path)


def test_a_float64_model_trains_with_a_smaller_last_batch_alike_in_a_graph_and_padded_under_xla():
    X, y = linear_data(n=91)  # batches of 8, and a smaller last one of 3
    policy = keras.config.dtype_policy()
    keras.config.set_dtype_policy("float64")
    try:
        runs = {}
        for jit_compile in (False, True):
            model = linear_model(seed=1)
            history = fit(model, X.astype("float64"), y.astype("float64"), epochs=2, batch_size=8, jit_compile=jit_compile)
            runs[jit_compile] = history, [w.numpy() for w in model.weights]
    finally:
        keras.config.set_dtype_policy(policy)
    assert model.weights[0].dtype == "float64"
    assert runs[True][0]["loss"][1] < runs[True][0]["loss"][0]
    np.testing.assert_allclose(runs[True][0]["loss"], runs[False][0]["loss"], rtol=1e-10)
    for xla, graph in zip(runs[True][1], runs[False][1]):
        np.testing.assert_allclose(xla, graph, rtol=1e-10)


def test_a_padded_last_batch_adds_the_weights_penalty_once_and_draws_dropout_for_every_row():
    X, y = linear_data(n=91)

    def build(*noise):
        keras.utils.set_random_seed(4)
        return keras.Sequential([keras.Input((3,)), *noise, keras.layers.Dense(
            4, activation="elu", kernel_regularizer=keras.regularizers.L2(0.01)), keras.layers.Dense(1)])

    arguments = dict(epochs=2, batch_size=8, metrics=[CountSeen()])
    xla, graph = build(), build()
    xla_history = fit(xla, X, y, jit_compile=True, **arguments)
    graph_history = fit(graph, X, y, jit_compile=False, **arguments)
    np.testing.assert_allclose(xla_history["loss"], graph_history["loss"], rtol=1e-5)
    for trained, expected in zip(xla.weights, graph.weights):
        np.testing.assert_allclose(trained.numpy(), expected.numpy(), rtol=1e-5, atol=1e-6)
    noisy = fit(build(keras.layers.Dropout(0.3), keras.layers.GaussianNoise(0.1)), X, y, jit_compile=True, **arguments)
    assert noisy["seen"] == [91.0, 91.0] and np.all(np.isfinite(noisy["loss"]))


def test_same_seed_same_result_other_seed_other_result():
    X, y = linear_data()
    runs = [fit(linear_model(), X, y, rng=seed)["loss"] for seed in (5, 5, 6)]
    assert runs[0] == runs[1]
    assert runs[0] != runs[2]


def test_without_rng_two_runs_after_the_same_global_seed_end_with_identical_weights():
    X, y = linear_data()

    def weights_after_run(seed):
        model = linear_model(seed=seed)  # seeds Python, NumPy and TensorFlow, as helpers.setup does
        fit(model, X, y, epochs=3, rng=None)
        return np.concatenate([w.numpy().ravel() for w in model.weights])

    first, second, other = weights_after_run(2), weights_after_run(2), weights_after_run(3)
    np.testing.assert_array_equal(first, second)
    assert not np.array_equal(first, other)


@pytest.mark.parametrize("jit_compile", [False, True])
@pytest.mark.parametrize("n_valid", [40, 2_048, 2_500])  # one batch; two of 1,024; three of 834 or 832 (XLA, padded) or two of 1,024 and one of 452
@pytest.mark.parametrize("steps_per_execution", [3, 1024])  # validation in the last of several calls, or in the only one
def test_validation_scores_match_an_independent_evaluation(jit_compile, n_valid, steps_per_execution):
    X, y = linear_data()
    X_val, y_val = linear_data(n=n_valid, seed=1)
    model = linear_model()
    expected = []

    def evaluate(epoch, results):
        y_pred = model.predict(X_val, verbose=0)
        expected.append((np.mean((y_pred - y_val) ** 2), np.mean(np.abs(y_pred - y_val))))

    arguments = dict(epochs=3, metrics=[keras.metrics.MeanAbsoluteError(name="mae")], jit_compile=jit_compile,
                     steps_per_execution=steps_per_execution)
    history = fit(model, X, y, validation_data=(X_val, y_val), on_epoch_end=evaluate, **arguments)
    np.testing.assert_allclose(history["val_loss"], [loss for loss, _ in expected], rtol=1e-5)
    np.testing.assert_allclose(history["val_mae"], [mae for _, mae in expected], rtol=1e-5)
    # Validation shares the trackers: the training results are read before it resets them.
    without = fit(linear_model(), X, y, **arguments)
    np.testing.assert_allclose(history["loss"], without["loss"], rtol=1e-6)
    np.testing.assert_allclose(history["mae"], without["mae"], rtol=1e-6)


@pytest.mark.parametrize("jit_compile", [False, True], ids=["graph", "xla"])
def test_a_call_reports_validation_results_only_when_it_validates(jit_compile):
    from helpers.multi_step import StepFunctions

    model = linear_model()
    groups = [(keras.optimizers.SGD(0.05), model.trainable_variables)]
    steps = StepFunctions.of(model, groups, keras.losses.MeanSquaredError(), [], tf.distribute.get_strategy())
    X, y = (tf.constant(a) for a in linear_data(n=20))
    validation, batches, last_batch = (X[:10], y[:10], 1024), np.arange(16).reshape(4, 4), np.arange(16, 20)
    finite, results = steps.run(X, y, batches, 4, last_batch, False, xla=jit_compile, reset_metrics=True,
                                validation=validation)  # the epoch's first call: not its last
    assert finite and sorted(results) == ["loss"]
    finite, results = steps.run(X, y, batches, 0, last_batch, True, xla=jit_compile, validation=validation,
                                validate=True)
    assert finite and sorted(results) == ["loss", "val_loss"]
    y_pred = model(X[:10]).numpy()
    assert float(results["val_loss"]) == pytest.approx(np.mean((y_pred - y[:10].numpy()) ** 2), rel=1e-6)


def test_prints_an_epoch_header_and_one_status_line_per_epoch(capsys):
    X, y = linear_data(n=64)
    fit(linear_model(), X, y, epochs=2, metrics=["mae"], validation_data=(X, y), verbose=True)
    out = capsys.readouterr().out
    lines = [line.split("\r")[-1] for line in out.split("\n")]
    assert lines[0] == "Epoch 1/2" and lines[2] == "Epoch 2/2"
    assert lines[1].startswith("4/4 [==============================] - loss: ")
    assert " - mae: " in lines[1] and " - val_loss: " in lines[1] and " - val_mae: " in lines[1]


def test_accepts_pandas():
    import pandas as pd

    X, y = linear_data()
    history = fit(linear_model(), pd.DataFrame(X), pd.DataFrame(y), epochs=1)
    assert len(history["loss"]) == 1


def bad_call(**change):
    X, y = linear_data(n=10)
    arguments = dict(model=linear_model(), X=X, y=y, epochs=1, optimizer=keras.optimizers.SGD(),
                     loss_fn=keras.losses.MeanSquaredError(), verbose=False)
    arguments.update(change)
    return arguments


@pytest.mark.parametrize(
    ("change", "error", "message"),
    [
        (dict(epochs=0), ValueError, r"`epochs` must be a positive integer. Received: epochs=0"),
        (dict(batch_size=-1), ValueError, r"`batch_size` must be a positive integer. Received: batch_size=-1"),
        (dict(steps_per_execution=0), ValueError, r"`steps_per_execution` must be a positive integer"),
        (dict(y=np.zeros((9, 1))), ValueError, r"len\(X\)=10, len\(y\)=9"),
        (dict(model=lambda x: x), TypeError, r"`model` must be a keras.Model"),
        (dict(optimizer="adam"), TypeError, r"`optimizer` must be a keras.optimizers.Optimizer instance.*Received: optimizer='adam'"),
        (dict(loss_fn="mse"), TypeError, r"`loss_fn` must be a callable"),
        (dict(metrics=[len]), TypeError, r"`metrics` must be a sequence of keras.metrics.Metric"),
        (dict(metrics=["no_such_metric"]), ValueError, r"unknown name 'no_such_metric'"),
        (dict(metrics=["mae", "mae"]), ValueError, r"`metrics` must have distinct names"),
        (dict(metrics=[keras.metrics.Mean(name="loss")]), ValueError, r"none of them 'loss'"),
        (dict(validation_data=np.zeros((3, 3))), ValueError, r"`validation_data` must be a pair \(X_val, y_val\)"),
        (dict(validation_data=(np.zeros((3, 3)), np.zeros(2))), ValueError, r"len\(X\)=3, len\(y\)=2"),
        (dict(rng=0.5), TypeError, r"`rng` must be an integer seed"),
    ],
)
def test_bad_inputs_name_the_argument(change, error, message):
    with pytest.raises(error, match=message):
        train(**bad_call(**change))


def two_layer_model(seed=0):
    keras.utils.set_random_seed(seed)
    return keras.Sequential([keras.Input((3,)), keras.layers.Dense(4, activation="relu"), keras.layers.Dense(1)])


def test_several_optimizers_each_update_their_own_layers():
    X, y = linear_data()
    model = two_layer_model()
    lower, upper = model.layers
    frozen_upper = [w.numpy() for w in upper.weights]
    lower_before = [w.numpy() for w in lower.weights]
    fit(model, X, y, epochs=1, optimizer=[(keras.optimizers.SGD(0.05), [lower]), (keras.optimizers.SGD(0.0), [upper])])
    assert all(np.array_equal(w.numpy(), old) for w, old in zip(upper.weights, frozen_upper))
    assert not any(np.array_equal(w.numpy(), old) for w, old in zip(lower.weights, lower_before))


def test_several_optimizers_match_one_optimizer_with_the_same_settings():
    X, y = linear_data()
    one, two = two_layer_model(), two_layer_model()
    fit(one, X, y, optimizer=keras.optimizers.SGD(0.05))
    fit(two, X, y, optimizer=[(keras.optimizers.SGD(0.05), two.layers[0]), (keras.optimizers.SGD(0.05), two.layers[1].trainable_variables)])
    for a, b in zip(one.weights, two.weights):
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-6)


@pytest.mark.parametrize(
    ("pairs", "message"),
    [
        (lambda m: [(keras.optimizers.SGD(), m.layers[:1])], r"leave out: \['sequential(_\d+)?/dense(_\d+)?/kernel'"),
        (lambda m: [(keras.optimizers.SGD(), m.layers), (keras.optimizers.SGD(), m.layers[1:])], r"exactly one optimizer. Received: '.*' in pairs 0 and 1"),
        (lambda m: [keras.optimizers.SGD()], r"list of \(optimizer, layers_or_variables\) pairs. Received: optimizer\[0\]="),
        (lambda m: [], r"`optimizer` must be a keras.optimizers.Optimizer instance"),
        (lambda m: [(keras.optimizers.SGD(), m.layers[:1]),
                    (keras.optimizers.LossScaleOptimizer(keras.optimizers.SGD()), m.layers[1:])],
         r"`optimizer\[1\]\[0\]` must not be a keras.optimizers.LossScaleOptimizer"),
    ],
)
def test_optimizer_pairs_must_cover_each_variable_once(pairs, message):
    X, y = linear_data()
    model = two_layer_model()
    with pytest.raises((ValueError, TypeError), match=message):
        fit(model, X, y, optimizer=pairs(model))


def test_mirrored_strategy_on_two_devices_matches_one_device(mirrored_strategy):
    X, y = linear_data(n=101)
    X_val, y_val = linear_data(n=30, seed=1)
    strategy = mirrored_strategy  # over two logical CPUs, see conftest.py
    assert strategy.num_replicas_in_sync == 2
    with strategy.scope():
        mirrored = two_layer_model()
        mirrored_optimizer = keras.optimizers.Nadam(0.01)
    single = two_layer_model()
    arguments = dict(epochs=3, batch_size=10, metrics=["mae"], validation_data=(X_val, y_val), jit_compile=False)
    h_mirrored = fit(mirrored, X, y, optimizer=mirrored_optimizer, strategy=strategy, **arguments)
    h_single = fit(single, X, y, optimizer=keras.optimizers.Nadam(0.01), **arguments)
    for name in h_single:
        np.testing.assert_allclose(h_mirrored[name], h_single[name], rtol=1e-5, err_msg=name)
    for a, b in zip(mirrored.weights, single.weights):
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-5, atol=1e-6)


def test_on_epoch_end_hook_sees_each_epochs_results():
    X, y = linear_data()
    seen = []
    history = fit(linear_model(), X, y, epochs=3, metrics=["mae"], on_epoch_end=lambda epoch, results: seen.append((epoch, results)))
    assert [epoch for epoch, _ in seen] == [1, 2, 3]
    assert [results["mae"] for _, results in seen] == history["mae"]
    with pytest.raises(TypeError, match=r"`on_epoch_end` must be a callable\(epoch, results\) or None. Received: on_epoch_end=3"):
        fit(linear_model(), X, y, on_epoch_end=3)


def classification_data(n=120, classes=3, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 4)).astype(np.float32)
    y = np.argmax(X[:, :classes] + 0.5 * rng.normal(size=(n, classes)), axis=1).astype(np.int32)
    return X, y


def softmax_model(seed=0, classes=3):
    keras.utils.set_random_seed(seed)
    return keras.Sequential([keras.Input((4,)), keras.layers.Dense(classes, activation="softmax")])


def test_accuracy_by_name_with_integer_labels_reports_what_fit_reports():
    X, y = classification_data()
    X_val, y_val = classification_data(n=50, seed=1)
    arguments = dict(epochs=3, batch_size=len(X))  # one full batch per epoch: the order of instances cannot matter
    fitted = softmax_model()
    fitted.compile(optimizer=keras.optimizers.SGD(0.5), loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    expected = fitted.fit(X, y, validation_data=(X_val, y_val), verbose=0, **arguments).history
    trained = softmax_model()
    history = train(trained, X, y, optimizer=keras.optimizers.SGD(0.5), loss_fn=keras.losses.SparseCategoricalCrossentropy(),
                    metrics=["accuracy"], validation_data=(X_val, y_val), rng=0, verbose=False, **arguments)
    assert sorted(history) == ["accuracy", "loss", "val_accuracy", "val_loss"]
    for name in history:
        np.testing.assert_allclose(history[name], expected[name], rtol=1e-5, err_msg=name)
    assert 0.4 < history["accuracy"][-1] < 1.0  # neither chance (1/3) nor trivially perfect
    val_accuracy = np.mean(np.argmax(trained.predict(X_val, verbose=0), axis=1) == y_val)
    assert history["val_accuracy"][-1] == pytest.approx(val_accuracy)


@pytest.mark.parametrize(
    ("y", "outputs", "expected"),
    [
        (np.array([0, 2]), 3, keras.metrics.SparseCategoricalAccuracy),
        (np.array([[0], [2]]), 3, keras.metrics.SparseCategoricalAccuracy),
        (np.eye(3)[[0, 2]], 3, keras.metrics.CategoricalAccuracy),
        (np.array([[0.0], [1.0]]), 1, keras.metrics.BinaryAccuracy),
    ],
    ids=["integer-labels", "integer-column", "one-hot", "single-sigmoid"],
)
def test_metric_names_resolve_as_compile_resolves_them(y, outputs, expected):
    from helpers.training_inputs import resolve_metrics

    y_pred = tf.fill((2, outputs), 1.0 / outputs)
    for name in ("accuracy", "acc"):
        (metric,) = resolve_metrics([name], tf.constant(y), y_pred)
        assert type(metric) is expected and metric.name == name


def test_a_metric_that_does_not_fit_the_targets_fails_before_the_first_step():
    X, y = classification_data(n=40)
    model = softmax_model()
    before = [w.numpy() for w in model.weights]
    with pytest.raises(ValueError, match=r"`metrics` item 'mse' \(MeanSquaredError\) must accept \(y, model output\). "
                                         r"Received: y of shape \(16,\) and dtype int32, outputs of shape \(16, 3\); the metric says: "):
        train(model, X, y, epochs=1, batch_size=16, optimizer=keras.optimizers.SGD(), metrics=["mse"],
              loss_fn=keras.losses.SparseCategoricalCrossentropy(), verbose=False)
    assert all(np.array_equal(w.numpy(), b) for w, b in zip(model.weights, before))  # no step was taken


def tracing_counts(model):
    from helpers.multi_step import _CACHE

    return [f.experimental_get_tracing_count() for entry in getattr(model, _CACHE).values() for f in entry._functions.values()]


@pytest.mark.parametrize("jit_compile, functions", [
    (False, 2),  # the graph of training steps (the smaller last batch's included), evaluation
    (True, 1),   # the XLA program of training steps (the same), evaluation in it
])
def test_calls_on_the_same_model_trace_each_function_once_and_reuse_it(jit_compile, functions):
    X, y = linear_data(n=103)  # 6 full batches of 16 and a smaller last one
    model, optimizer, loss_fn = linear_model(), keras.optimizers.Nadam(0.01), keras.losses.MeanSquaredError()
    arguments = dict(optimizer=optimizer, loss_fn=loss_fn, metrics=["mae"], validation_data=(X[:30], y[:30]),
                     steps_per_execution=4, jit_compile=jit_compile)
    first = fit(model, X, y, epochs=3, **arguments)
    second = fit(model, X, y, epochs=2, **arguments)
    assert tracing_counts(model) == [1] * functions
    # The first call trained as a fresh model would have; the second went on from there.
    single = linear_model()
    reference = fit(single, X, y, epochs=3, **{**arguments, "optimizer": keras.optimizers.Nadam(0.01)})
    assert reference["loss"] == first["loss"]
    assert second["loss"][0] < first["loss"][-1]  # it went on from where the first call stopped


def test_freezing_a_layer_between_calls_is_honoured():
    X, y = linear_data()
    model, optimizer = two_layer_model(), keras.optimizers.SGD(0.05)
    fit(model, X, y, epochs=1, optimizer=optimizer)
    model.layers[1].trainable = False
    frozen = [w.numpy() for w in model.layers[1].weights]
    lower = [w.numpy() for w in model.layers[0].weights]
    fit(model, X, y, epochs=1, optimizer=optimizer)
    assert all(np.array_equal(w.numpy(), old) for w, old in zip(model.layers[1].weights, frozen))
    assert not any(np.array_equal(w.numpy(), old) for w, old in zip(model.layers[0].weights, lower))


def test_by_default_short_runs_use_graphs_long_runs_and_compiled_models_use_xla():
    from helpers.multi_step import _CACHE
    from helpers.training import XLA_MIN_STEPS, XLA_MIN_WORK

    def kinds(model):
        return sorted((key[0], key[1]) for entry in getattr(model, _CACHE).values() for key in entry._functions)

    X, y = linear_data(n=100)
    model, optimizer, loss_fn = linear_model(), keras.optimizers.SGD(0.01), keras.losses.MeanSquaredError()
    fit(model, X, y, epochs=1, batch_size=10, optimizer=optimizer, loss_fn=loss_fn)
    assert kinds(model) == [("train", False)]
    fit(model, X, y, epochs=XLA_MIN_STEPS // 10, batch_size=10, optimizer=optimizer, loss_fn=loss_fn)
    assert kinds(model) == [("train", False), ("train", True)]
    keras.utils.set_random_seed(0)
    wide = keras.Sequential([keras.Input((3,)), keras.layers.Dense(100_000), keras.layers.Dense(1)])  # 500,001 parameters
    steps = int(XLA_MIN_WORK / 10 / 500_001) + 1
    assert steps < XLA_MIN_STEPS  # so only the amount of work can choose XLA here
    fit(wide, X, y, epochs=steps // 10 + 1, batch_size=10, optimizer=keras.optimizers.SGD(1e-6), loss_fn=loss_fn)
    assert kinds(wide) == [("train", True)]
    fit(wide, X, y, epochs=1, batch_size=10, optimizer=keras.optimizers.SGD(1e-6), loss_fn=loss_fn)  # less work: graphs
    assert ("train", False) in kinds(wide)
    other, other_optimizer = linear_model(), keras.optimizers.SGD(0.01)
    X, y = linear_data(n=103)  # a smaller last batch, whose shape is part of the compiled function's key
    fit(other, X, y, epochs=1, batch_size=10, optimizer=other_optimizer, loss_fn=loss_fn, jit_compile=True)
    fit(other, X, y, epochs=1, batch_size=10, optimizer=other_optimizer, loss_fn=loss_fn)  # reuses the XLA function
    assert kinds(other) == [("train", True)]
