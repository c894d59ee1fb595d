import re

import numpy as np
import pytest

from helpers.arguments import fraction, positive_int, positive_number


@pytest.mark.parametrize("value", [1, 7, np.int64(3), np.int32(1)])
def test_positive_int_returns_a_python_int(value):
    result = positive_int(value, "epochs")
    assert result == int(value)
    assert type(result) is int


@pytest.mark.parametrize("value", [0, -2, 2.0, 2.5, True, False, "3", None, np.float32(3)])
def test_positive_int_rejects_non_positive_or_non_integers(value):
    with pytest.raises(ValueError, match="^" + re.escape(f"`epochs` must be a positive integer. Received: epochs={value!r}") + "$"):
        positive_int(value, "epochs")


def test_positive_int_may_allow_none_and_then_says_so():
    assert positive_int(None, "batch_size", allow_none=True) is None
    assert positive_int(4, "batch_size", allow_none=True) == 4
    with pytest.raises(ValueError, match=r"^`batch_size` must be a positive integer or None\. Received: batch_size=0$"):
        positive_int(0, "batch_size", allow_none=True)


@pytest.mark.parametrize("value", [1e-9, 0.5, 3, np.float32(0.25), np.int64(2)])
def test_positive_number_returns_a_float(value):
    result = positive_number(value, "max_rate")
    assert result == pytest.approx(float(value))
    assert type(result) is float


@pytest.mark.parametrize("value", [0, 0.0, -1e-3, float("nan"), float("inf"), True, "0.1", None])
def test_positive_number_rejects_the_rest(value):
    with pytest.raises(ValueError, match=r"^`max_rate` must be a positive number\. Received: max_rate="):
        positive_number(value, "max_rate")


@pytest.mark.parametrize("value", [0, 0.0, 0.5, np.float32(0.25), 0.999])
def test_fraction_returns_a_float_in_the_half_open_unit_interval(value):
    result = fraction(value, "smoothing")
    assert result == pytest.approx(float(value))
    assert type(result) is float


@pytest.mark.parametrize("value", [1, 1.0, -0.1, float("nan"), True, "0.5", None])
def test_fraction_rejects_the_rest(value):
    with pytest.raises(ValueError, match=re.escape(f"`smoothing` must be a number in [0, 1). Received: smoothing={value!r}")):
        fraction(value, "smoothing")
