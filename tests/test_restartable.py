import keras
import numpy as np
import pytest

from helpers.restartable import RestartableModel

RNG = np.random.default_rng(0)
X = RNG.normal(size=(96, 4)).astype("float32")
Y = RNG.integers(0, 3, size=96)


def build():
    # Batch Normalization (moving statistics) and dropout (a random state outside the weights):
    # the two kinds of state that get_weights() alone would not restart
    return keras.Sequential([
        keras.Input((4,)),
        keras.layers.Dense(16, activation="relu"),
        keras.layers.BatchNormalization(momentum=0.5),
        keras.layers.Dropout(0.5),
        keras.layers.Dense(3, activation="softmax"),
    ])


def compile_arguments(learning_rate=0.05):
    return dict(optimizer=keras.optimizers.SGD(learning_rate, momentum=0.9),
                loss="sparse_categorical_crossentropy", metrics=["accuracy"])


def run(model, epochs=2):
    history = model.fit(X, Y, epochs=epochs, batch_size=16, verbose=0).history
    return history, [variable.numpy() for variable in model.variables]


def new_model_run(seed, learning_rate=0.05):
    keras.utils.set_random_seed(seed)
    model = build()
    model.compile(**compile_arguments(learning_rate))
    return run(model)


def assert_same_run(a, b):
    assert a[0] == b[0]  # the same loss and accuracy after every epoch, bit for bit
    assert len(a[1]) == len(b[1])
    for x, y in zip(a[1], b[1]):
        np.testing.assert_array_equal(x, y)


def test_a_restarted_run_is_the_run_of_a_new_model_even_after_other_runs():
    restartable = RestartableModel(build, **compile_arguments())
    run(restartable.restart(5))  # a run that leaves weights, moments, statistics and masks elsewhere
    run(restartable.restart(9), epochs=1)
    assert_same_run(run(restartable.restart(3)), new_model_run(3))


def test_different_seeds_give_different_runs():
    restartable = RestartableModel(build, **compile_arguments())
    first = run(restartable.restart(1))
    second = run(restartable.restart(2))
    assert first[0]["loss"] != second[0]["loss"]


def test_restart_resets_the_optimizer_and_sets_or_restores_the_learning_rate():
    restartable = RestartableModel(build, **compile_arguments(learning_rate=0.05))
    model = restartable.restart(4, learning_rate=0.01)
    assert np.isclose(float(model.optimizer.learning_rate), 0.01)
    assert_same_run(run(model), new_model_run(4, learning_rate=0.01))
    model.optimizer.learning_rate = 0.5  # as ReduceLROnPlateau or a finder would leave it
    model = restartable.restart(4)
    assert int(model.optimizer.iterations) == 0
    assert np.isclose(float(model.optimizer.learning_rate), 0.05)
    assert all(not np.any(v.numpy()) for v in model.optimizer.variables if "momentum" in v.path)


def test_a_restart_keeps_the_one_compiled_model():
    restartable = RestartableModel(build, **compile_arguments())
    assert restartable.restart(1) is restartable.restart(2) is restartable.model


@pytest.mark.parametrize("seed", [-1, 1.5, True, "3"])
def test_a_bad_seed_is_named(seed):
    restartable = RestartableModel(build, **compile_arguments())
    with pytest.raises(ValueError, match=r"`seed` must be a non-negative integer. Received: seed="):
        restartable.restart(seed)


@pytest.mark.parametrize("rate", [0.0, -0.1, float("nan")])
def test_a_bad_learning_rate_is_named(rate):
    restartable = RestartableModel(build, **compile_arguments())
    with pytest.raises(ValueError, match=r"`learning_rate` must be a positive number"):
        restartable.restart(1, learning_rate=rate)


def test_a_learning_rate_for_a_scheduled_optimizer_is_refused():
    schedule = keras.optimizers.schedules.ExponentialDecay(0.1, decay_steps=10, decay_rate=0.5)
    restartable = RestartableModel(build, optimizer=keras.optimizers.SGD(schedule), loss="sparse_categorical_crossentropy")
    restartable.restart(1)  # without a rate, the schedule starts again from step 0
    assert int(restartable.model.optimizer.iterations) == 0
    _, trained = run(restartable.model, epochs=1)
    with pytest.raises(TypeError, match="follows a schedule. Received: learning_rate=0.01"):
        restartable.restart(1, learning_rate=0.01)
    # refused before anything changed: the trained run is still there, optimizer state included
    assert int(restartable.model.optimizer.iterations) == 6
    for before, after in zip(trained, [variable.numpy() for variable in restartable.model.variables]):
        np.testing.assert_array_equal(before, after)


def test_build_must_be_a_function_returning_a_model():
    with pytest.raises(TypeError, match=r"`build` must be a function that returns a new keras.Model. "
                                        r"Received: build of type Sequential"):
        RestartableModel(build())
    with pytest.raises(TypeError, match=r"`build` must return a keras.Model. Received: int"):
        RestartableModel(lambda: 3)


def test_build_must_return_the_same_architecture_every_time():
    widths = iter([8, 8, 16])
    restartable = RestartableModel(
        lambda: keras.Sequential([keras.Input((4,)), keras.layers.Dense(next(widths))]), loss="mse")
    restartable.restart(0)
    with pytest.raises(ValueError, match=r"`build` must return the same architecture every time"):
        restartable.restart(0)
