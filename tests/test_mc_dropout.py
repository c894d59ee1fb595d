import keras
import numpy as np
import pytest

from helpers.mc_dropout import MCDropout, mc_predict


def data(n=10, features=5):
    return np.random.default_rng(0).normal(size=(n, features)).astype("float32")


def test_without_dropout_the_mean_is_the_prediction_and_std_is_zero():
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((5,)), keras.layers.Dense(8, activation="relu"), keras.layers.Dense(3)])
    X = data()
    mean, std = mc_predict(model, X, n_samples=5)
    np.testing.assert_allclose(mean, model.predict(X, verbose=0), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(std, 0.0, atol=1e-6)


def test_with_dropout_the_samples_differ_and_the_shapes_match():
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((5,)), keras.layers.Dense(16, activation="relu"),
                              keras.layers.Dropout(0.5), keras.layers.Dense(3, activation="softmax")])
    X = data(n=7)
    mean, std = mc_predict(model, X, n_samples=30, batch_size=3)
    assert mean.shape == std.shape == (7, 3)
    assert np.all(std > 0)
    np.testing.assert_allclose(mean.sum(axis=1), 1.0, rtol=1e-5)


def test_batching_does_not_change_the_shape():
    model = keras.Sequential([keras.Input((5,)), keras.layers.Dense(2)])
    for batch_size in (None, 1, 4, 100):
        mean, std = mc_predict(model, data(n=9), n_samples=2, batch_size=batch_size)
        assert mean.shape == std.shape == (9, 2)


def test_mc_dropout_layer_is_active_at_inference():
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((50,)), MCDropout(0.5)])
    X = np.ones((4, 50), dtype="float32")
    first, second = model.predict(X, verbose=0), model.predict(X, verbose=0)
    assert np.any(first == 0) and not np.array_equal(first, second)
    assert set(np.unique(first)) <= {0.0, 2.0}


@pytest.mark.parametrize("n_samples", [0, -3, 2.5, True, "10"])
def test_bad_n_samples_raises(n_samples):
    model = keras.Sequential([keras.Input((5,)), keras.layers.Dense(1)])
    with pytest.raises(ValueError, match="`n_samples` must be a positive integer. Received: n_samples="):
        mc_predict(model, data(), n_samples=n_samples)


@pytest.mark.parametrize("batch_size", [0, -1, 1.5])
def test_bad_batch_size_raises(batch_size):
    model = keras.Sequential([keras.Input((5,)), keras.layers.Dense(1)])
    with pytest.raises(ValueError, match="`batch_size` must be a positive integer or None. Received: batch_size="):
        mc_predict(model, data(), n_samples=2, batch_size=batch_size)
