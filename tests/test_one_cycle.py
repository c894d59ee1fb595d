import keras
import numpy as np
import pytest

from helpers.one_cycle import OneCycleScheduler


def rates(scheduler):
    return np.array([scheduler.rate_at(i) for i in range(scheduler.iterations)])


def test_rate_rises_then_falls_then_anneals():
    scheduler = OneCycleScheduler(iterations=200, max_rate=0.05, last_fraction=0.1)
    curve = rates(scheduler)
    peak = int(np.argmax(curve))
    assert curve[0] == pytest.approx(0.005)
    assert curve[peak] == pytest.approx(0.05)
    assert peak == pytest.approx(90, abs=1)
    assert np.all(np.diff(curve[: peak + 1]) > 0)
    assert np.all(np.diff(curve[peak:]) < 0)
    assert curve[180] == pytest.approx(0.005)
    assert curve[-1] == pytest.approx(0.005 / 1000)


def test_custom_start_and_last_rates_and_no_annealing():
    scheduler = OneCycleScheduler(iterations=100, max_rate=1.0, start_rate=0.2, last_fraction=0.0, last_rate=0.2)
    curve = rates(scheduler)
    assert curve[0] == pytest.approx(0.2)
    assert curve.max() == pytest.approx(1.0)
    assert curve.min() >= 0.2 - 1e-12
    # Past the end of the cycle, the rate stays at the last rate.
    assert scheduler.rate_at(10_000) == pytest.approx(0.2)


def test_records_and_sets_the_rate_every_batch():
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1)])
    model.compile(optimizer=keras.optimizers.SGD(learning_rate=1e-3), loss="mse")
    X, y = np.random.default_rng(0).normal(size=(64, 3)).astype("float32"), np.zeros((64, 1), "float32")
    scheduler = OneCycleScheduler(iterations=3 * 4, max_rate=0.01)
    model.fit(X, y, batch_size=16, epochs=3, verbose=0, callbacks=[scheduler])
    assert len(scheduler.rates) == 12
    np.testing.assert_allclose(scheduler.rates, rates(scheduler))
    assert float(model.optimizer.learning_rate) == pytest.approx(scheduler.rates[-1])


@pytest.mark.parametrize(
    "kwargs, name",
    [
        ({"iterations": 0, "max_rate": 0.1}, "iterations"),
        ({"iterations": 2.5, "max_rate": 0.1}, "iterations"),
        ({"iterations": 10, "max_rate": -1.0}, "max_rate"),
        ({"iterations": 10, "max_rate": float("nan")}, "max_rate"),
        ({"iterations": 10, "max_rate": 0.1, "start_rate": 0.0}, "start_rate"),
        ({"iterations": 10, "max_rate": 0.1, "start_rate": 0.5}, "start_rate"),
        ({"iterations": 10, "max_rate": 0.1, "last_fraction": 1.0}, "last_fraction"),
        ({"iterations": 10, "max_rate": 0.1, "last_rate": 0.05}, "last_rate"),
    ],
)
def test_bad_arguments_raise_naming_the_argument(kwargs, name):
    with pytest.raises(ValueError, match=f"`{name}` must be .* Received: {name}="):
        OneCycleScheduler(**kwargs)
