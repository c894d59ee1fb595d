import keras
import numpy as np
import pytest

from helpers.lr_finder import LearningRateFinder


def regression(n=64, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 3)).astype("float32")
    y = (X @ np.array([[1.0], [-2.0], [0.5]]) + 3.0).astype("float32")
    keras.utils.set_random_seed(seed)
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1)])
    model.compile(optimizer=keras.optimizers.SGD(learning_rate=0.5), loss="mse")
    return model, X, y


def test_rate_grows_geometrically_from_the_start_rate_across_epochs():
    model, X, y = regression()
    finder = LearningRateFinder(start_rate=1e-4, end_rate=1e-2, n_steps=8)
    model.fit(X, y, batch_size=16, epochs=2, verbose=0, shuffle=False, callbacks=[finder])
    np.testing.assert_allclose(finder.rates, 1e-4 * 10 ** (np.arange(8) / 4), rtol=1e-5)
    assert len(finder.losses) == len(finder.smoothed) == 8


def test_each_batch_loss_is_recovered_from_the_running_mean_in_every_epoch():
    model, X, y = regression()
    expected = [float(keras.losses.mean_squared_error(y[i:i + 16], model(X[i:i + 16])).numpy().mean())
                for i in range(0, 64, 16)]
    finder = LearningRateFinder(start_rate=1e-12, end_rate=2e-12, n_steps=8, smoothing=0.0)  # weights barely move
    model.fit(X, y, batch_size=16, epochs=2, verbose=0, shuffle=False, callbacks=[finder])
    np.testing.assert_allclose(finder.losses, expected * 2, rtol=1e-4)
    np.testing.assert_allclose(finder.smoothed, finder.losses)  # no smoothing: the raw losses


def test_stops_when_the_loss_takes_off_and_reports_the_best_rate():
    model, X, y = regression(n=512)
    finder = LearningRateFinder(start_rate=1e-4, end_rate=100.0, n_steps=32)
    model.fit(X, y, batch_size=16, epochs=1, verbose=0, callbacks=[finder])
    assert len(finder.rates) < 32  # stopped before the end
    assert finder.smoothed[-1] > 2 * min(finder.smoothed) or not np.isfinite(finder.losses[-1])
    assert finder.lowest_loss_rate() == finder.rates[int(np.argmin(finder.smoothed))]
    assert 1e-4 < finder.lowest_loss_rate() < finder.rates[-1]


def test_lowest_loss_rate_before_training_raises():
    with pytest.raises(ValueError, match="train a model with this callback first"):
        LearningRateFinder(start_rate=1e-4, end_rate=1.0, n_steps=10).lowest_loss_rate()


@pytest.mark.parametrize(
    "kwargs, name",
    [
        ({"start_rate": 0.0, "end_rate": 1.0, "n_steps": 10}, "start_rate"),
        ({"start_rate": 1e-3, "end_rate": float("inf"), "n_steps": 10}, "end_rate"),
        ({"start_rate": 1e-3, "end_rate": 1e-4, "n_steps": 10}, "end_rate"),
        ({"start_rate": 1e-3, "end_rate": 1.0, "n_steps": 0}, "n_steps"),
        ({"start_rate": 1e-3, "end_rate": 1.0, "n_steps": 10, "smoothing": 1.0}, "smoothing"),
        ({"start_rate": 1e-3, "end_rate": 1.0, "n_steps": 10, "smoothing": True}, "smoothing"),
    ],
)
def test_bad_arguments_raise_naming_the_argument(kwargs, name):
    with pytest.raises(ValueError, match=f"`{name}`"):
        LearningRateFinder(**kwargs)
