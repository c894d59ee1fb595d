import ml_dtypes
import numpy as np
import pytest
import tensorflow as tf
from hypothesis import given, settings
from hypothesis import strategies as st

from helpers import stable_softplus

DTYPES = {"float16": tf.float16, "bfloat16": tf.bfloat16, "float32": tf.float32, "float64": tf.float64}
# A few units in the last place of each dtype (TensorFlow's sigmoid is within about 2 ulp).
RELATIVE_TOLERANCE = {"float16": 2**-10, "bfloat16": 2**-7, "float32": 2**-21, "float64": 1e-15}


def reference(z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """softplus and sigmoid in float64, each within about 2 ulp.

    np.logaddexp is stable. The sigmoid is e / (1 + e) with e = exp(-|z|), flipped for z >= 0:
    exp(-logaddexp(0, -z)) would be off by up to ~7 ulp near |z| = 20 (the rounding error of a
    logaddexp result near 20 becomes a relative error of exp's result).
    """
    z = z.astype(np.float64)
    e = np.exp(-np.abs(z))
    return np.logaddexp(0.0, z), np.where(z >= 0, 1.0 / (1.0 + e), e / (1.0 + e))


def value_and_gradient(z, dtype):
    z = tf.constant(z, dtype=dtype)
    with tf.GradientTape() as tape:
        tape.watch(z)
        value = stable_softplus(z)
    return value, tape.gradient(value, z)


def finite_floats(dtype_name):
    width = {"float16": 16, "bfloat16": 32, "float32": 32, "float64": 64}[dtype_name]
    return st.floats(allow_nan=False, allow_infinity=False, width=width)


def check_against_reference(values, dtype_name):
    dtype = DTYPES[dtype_name]
    z = tf.cast(tf.constant(values, dtype=tf.float64), dtype)  # representable in the dtype
    value, gradient = value_and_gradient(z, dtype)
    assert value.dtype == dtype and gradient.dtype == dtype
    expected_value, expected_gradient = reference(z.numpy().astype(np.float64))
    got_value, got_gradient = value.numpy().astype(np.float64), gradient.numpy().astype(np.float64)
    assert not np.isnan(got_value).any() and not np.isnan(got_gradient).any()
    # TensorFlow flushes subnormal numbers to zero on CPU: below the smallest normal number, 0 is right.
    tiny = float(ml_dtypes.finfo(dtype.as_numpy_dtype).tiny)
    tolerance = RELATIVE_TOLERANCE[dtype_name]
    np.testing.assert_allclose(got_value, expected_value, rtol=tolerance, atol=tiny)
    np.testing.assert_allclose(got_gradient, expected_gradient, rtol=tolerance, atol=tiny)


@pytest.mark.parametrize("dtype_name", list(DTYPES))
def test_matches_the_float64_reference_on_hypothesis_inputs(dtype_name):
    @settings(deadline=None, max_examples=150)
    @given(st.lists(finite_floats(dtype_name), min_size=1, max_size=20))
    def check(values):
        check_against_reference(values, dtype_name)

    check()


@pytest.mark.parametrize("dtype_name", list(DTYPES))
def test_extremes_of_every_dtype(dtype_name):
    dtype = DTYPES[dtype_name]
    info = ml_dtypes.finfo(dtype.as_numpy_dtype)
    extremes = [float(info.max), -float(info.max), float(info.tiny), -float(info.tiny), 0.0, -20.0, 20.0, -100.0, 100.0]
    check_against_reference(extremes, dtype_name)


def test_acceptance_values_at_plus_and_minus_1000():
    value, gradient = value_and_gradient([1000.0, -1000.0], tf.float32)
    assert value.numpy().tolist() == [1000.0, 0.0]
    assert gradient.numpy().tolist() == [1.0, 0.0]


def test_negative_inputs_do_not_underflow_early():
    # The naive log(1 + exp(z)) is exactly 0 from z = -17 in float32; the true values are normal floats.
    value, _ = value_and_gradient([-20.0, -80.0], tf.float32)
    np.testing.assert_allclose(value.numpy(), np.exp([-20.0, -80.0]), rtol=1e-6)


def test_infinities_and_nan():
    value, gradient = value_and_gradient([np.inf, -np.inf, np.nan], tf.float32)
    assert value.numpy()[0] == np.inf and gradient.numpy()[0] == 1.0
    assert value.numpy()[1] == 0.0 and gradient.numpy()[1] == 0.0
    assert np.isnan(value.numpy()[2]) and np.isnan(gradient.numpy()[2])


def test_naive_softplus_has_the_nan_gradient_this_fixes():
    z = tf.constant([1000.0])
    with tf.GradientTape() as tape:
        tape.watch(z)
        naive = tf.math.log(1.0 + tf.exp(z))
    assert np.isnan(tape.gradient(naive, z).numpy()[0])


def test_works_inside_tf_function_and_as_a_keras_activation():
    import keras

    @tf.function
    def gradient_at(z):
        with tf.GradientTape() as tape:
            tape.watch(z)
            value = stable_softplus(z)
        return value, tape.gradient(value, z)

    value, gradient = gradient_at(tf.constant([-1000.0, 1000.0]))
    assert value.numpy().tolist() == [0.0, 1000.0] and gradient.numpy().tolist() == [0.0, 1.0]

    layer = keras.layers.Dense(2, activation=stable_softplus, kernel_initializer="ones")
    out = layer(tf.constant([[500.0], [-500.0]]))
    np.testing.assert_allclose(out.numpy(), [[500.0, 500.0], [0.0, 0.0]])


def test_rejects_integer_input():
    with pytest.raises(TypeError, match=r"`z` must be a floating-point tensor .* Received: z with dtype int32"):
        stable_softplus(tf.constant([1, 2]))
