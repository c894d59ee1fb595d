"""How scripts/measure_tolerances.py turns measured differences into stated tolerances."""

import nbformat
import pytest

from measure_tolerances import needed, round_up, within


def stdout(text):
    return [nbformat.v4.new_output("stream", text=text)]


def test_relative_differences_for_ordinary_numbers_and_absolute_ones_near_zero():
    tolerance = needed(stdout("loss 0.505 bias 0.0004 epoch 3"), stdout("loss 0.500 bias 0.0001 epoch 3"))
    assert tolerance == pytest.approx({"rtol": 0.01, "atol": 0.0003})


def test_no_tolerance_can_cover_other_words_or_other_outputs():
    assert needed(stdout("stopped at epoch 3"), stdout("finished at epoch 3")) is None
    assert needed(stdout("1.0") + stdout("2.0"), stdout("1.0")) is None
    assert needed(stdout("loss nan"), stdout("loss 0.5")) is None


def test_identical_outputs_need_nothing():
    assert needed(stdout("a 1.5 b nan"), stdout("a 1.5 b nan")) == {"rtol": 0.0, "atol": 0.0}


@pytest.mark.parametrize("value, rounded", [(0.0, 0.0), (0.00123, 0.002), (0.03, 0.03), (0.031, 0.04), (4.2, 5.0)])
def test_round_up_keeps_one_significant_digit_and_never_rounds_down(value, rounded):
    assert round_up(value) == rounded
    assert round_up(value) >= value


def test_a_hand_stated_absolute_tolerance_covers_a_chaotic_table():
    fresh, stored = stdout("relu 0.7838 std 0.0155 0.0302"), stdout("relu 0.8012 std 0.0041 0.0101")
    assert needed(fresh, stored)["rtol"] > 1  # the std column moves by far more than 25 %
    assert within(fresh, stored, {"atol": 0.03})
    assert not within(fresh, stored, {"atol": 0.01})
    assert not within(stdout("elu 0.7838"), stdout("relu 0.7838"), {"atol": 0.03})


def test_the_order_of_an_outputs_formats_does_not_matter():
    fresh = [nbformat.v4.new_output("execute_result", data={"text/plain": "0.5", "text/html": "<b>0.5</b>"})]
    stored = [nbformat.v4.new_output("execute_result", data={"text/html": "<b>0.5</b>", "text/plain": "0.5"})]
    assert needed(fresh, stored) == {"rtol": 0.0, "atol": 0.0}


def test_a_last_digit_step_measures_as_printed():
    # In binary floating point 0.009 - 0.002 is 0.006999999999999999; printed, they differ by 0.007.
    assert needed(stdout("bias 0.009"), stdout("bias 0.002"))["atol"] == 0.007
    assert needed(stdout("bias 0.0061"), stdout("bias 0.0012"))["atol"] == 0.0049
