import keras
import numpy as np
import pandas as pd
import pytest
import tensorflow as tf
from hypothesis import given, settings
from hypothesis import strategies as st

from helpers import epoch_batches, random_batch
from helpers.batches import as_generator


def make_data(n, features=3):
    X = np.arange(n * features, dtype=np.float32).reshape(n, features)
    y = np.arange(n)
    return X, y


@settings(deadline=None, max_examples=50)
@given(n=st.integers(1, 200), batch_size=st.integers(1, 64), seed=st.integers(0, 2**32 - 1))
def test_random_batch_rows_stay_paired(n, batch_size, seed):
    X, y = make_data(n)
    X_batch, y_batch = random_batch(X, y, batch_size, rng=seed)
    assert X_batch.shape == (batch_size, 3)
    assert y_batch.shape == (batch_size,)
    np.testing.assert_array_equal(X_batch[:, 0], 3 * y_batch)
    assert np.all((0 <= y_batch) & (y_batch < n))


def test_random_batch_draws_with_replacement():
    X, y = make_data(3)
    _, y_batch = random_batch(X, y, batch_size=30, rng=0)
    assert len(np.unique(y_batch)) == 3  # 30 draws from 3 instances must repeat


def test_random_batch_is_reproducible_with_a_seed_and_advances_a_generator():
    X, y = make_data(100)
    np.testing.assert_array_equal(random_batch(X, y, rng=7)[1], random_batch(X, y, rng=7)[1])
    generator = np.random.default_rng(7)
    first, second = random_batch(X, y, rng=generator)[1], random_batch(X, y, rng=generator)[1]
    assert not np.array_equal(first, second)


def test_without_rng_the_global_seed_makes_batches_repeat_and_another_seed_changes_them():
    X, y = make_data(100)

    def draw(seed):
        keras.utils.set_random_seed(seed)
        return random_batch(X, y)[1], [b for _, b in epoch_batches(X, y, 10)]

    (first, first_epoch), (again, again_epoch), (other, _) = draw(3), draw(3), draw(4)
    np.testing.assert_array_equal(first, again)
    np.testing.assert_array_equal(np.concatenate(first_epoch), np.concatenate(again_epoch))
    assert not np.array_equal(first, other)


def test_random_batch_keeps_the_kind_of_its_inputs():
    X, y = make_data(10)
    X_batch, y_batch = random_batch(tf.constant(X), tf.constant(y), 4, rng=0)
    assert isinstance(X_batch, tf.Tensor) and isinstance(y_batch, tf.Tensor)
    frame, series = pd.DataFrame(X, index=np.arange(10) + 100), pd.Series(y, index=np.arange(10) + 100)
    X_batch, y_batch = random_batch(frame, series, 4, rng=0)
    assert isinstance(X_batch, pd.DataFrame) and isinstance(y_batch, pd.Series)
    np.testing.assert_array_equal(X_batch.to_numpy()[:, 0], 3 * y_batch.to_numpy())


@settings(deadline=None, max_examples=50)
@given(n=st.integers(1, 200), batch_size=st.integers(1, 64), shuffle=st.booleans())
def test_epoch_batches_visit_every_instance_once(n, batch_size, shuffle):
    X, y = make_data(n)
    batches = list(epoch_batches(X, y, batch_size, shuffle=shuffle, rng=0))
    sizes = [len(y_batch) for _, y_batch in batches]
    assert sizes[:-1] == [batch_size] * (len(sizes) - 1)
    assert 1 <= sizes[-1] <= batch_size
    seen = np.concatenate([y_batch for _, y_batch in batches])
    np.testing.assert_array_equal(np.sort(seen), np.arange(n))
    for X_batch, y_batch in batches:
        np.testing.assert_array_equal(X_batch[:, 0], 3 * y_batch)
    if not shuffle:
        np.testing.assert_array_equal(seen, np.arange(n))


def test_epoch_batches_shuffle_differs_between_seeds():
    X, y = make_data(50)
    first = np.concatenate([b for _, b in epoch_batches(X, y, 10, rng=1)])
    second = np.concatenate([b for _, b in epoch_batches(X, y, 10, rng=2)])
    assert not np.array_equal(first, second)


BAD_INPUTS = [
    (dict(batch_size=0), ValueError, r"`batch_size` must be a positive integer. Received: batch_size=0"),
    (dict(batch_size=-3), ValueError, r"batch_size=-3"),
    (dict(batch_size=2.5), ValueError, r"`batch_size` must be a positive integer"),
    (dict(batch_size=True), ValueError, r"`batch_size` must be a positive integer"),
    (dict(y=np.arange(4)), ValueError, r"same number of instances.*len\(X\)=5, len\(y\)=4"),
    (dict(X=np.zeros((0, 3)), y=np.zeros(0)), ValueError, r"at least one instance"),
    (dict(X=[1, 2, 3, 4, 5]), TypeError, r"`X` must be an array"),
    (dict(y=np.float32(1.0)), TypeError, r"`y` must be an array"),
    (dict(rng="seed"), TypeError, r"`rng` must be an integer seed, a numpy.random.Generator or None"),
]


@pytest.mark.parametrize("function", [random_batch, epoch_batches])
@pytest.mark.parametrize(("change", "error", "message"), BAD_INPUTS)
def test_bad_inputs_raise_at_the_call(function, change, error, message):
    X, y = make_data(5)
    arguments = {"X": X, "y": y, "batch_size": 2, "rng": 0, **change}
    with pytest.raises(error, match=message):
        function(**arguments)


def test_as_generator_names_the_argument():
    with pytest.raises(TypeError, match=r"`seed` must be .* Received: seed=1.5"):
        as_generator(1.5, name="seed")
