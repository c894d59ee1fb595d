"""The numeric tolerance that nbval's comparison gets for cells that state one (scripts/output_tolerance.py)."""

import nbformat
import pytest

from output_tolerance import align_outputs, align_text, check_tolerance, is_compared


def test_numbers_within_tolerance_take_the_stored_text_whole():
    stored = "epoch 10: loss 0.4776, accuracy 88.40%"
    assert align_text("epoch 10: loss 0.4775, accuracy 88.41%", stored, rtol=0.001, atol=0.0) == stored


def test_a_number_outside_the_tolerance_is_kept_and_only_it():
    fresh = align_text("loss 0.4700, accuracy 88.41%", "loss 0.4776, accuracy 88.40%", rtol=0.001, atol=0.0)
    assert fresh == "loss 0.4700, accuracy 88.40%"


def test_absolute_tolerance_covers_values_near_zero():
    assert align_text("bias -0.0004", "bias 0.0003", rtol=0.0, atol=0.001) == "bias 0.0003"
    assert align_text("bias -0.0004", "bias 0.0003", rtol=0.5, atol=0.0) == "bias -0.0004"


def test_a_difference_equal_to_the_tolerance_is_within_it_as_printed():
    # In binary floating point 2.5 - 2.4 exceeds 0.1; the printed decimals differ by exactly 0.1.
    assert align_text("gain 2.4 points", "gain 2.5 points", rtol=0.0, atol=0.1) == "gain 2.5 points"
    assert align_text("rate 1.1e-05", "rate 1e-05", rtol=0.1, atol=0.0) == "rate 1e-05"
    assert align_text("gain 2.39 points", "gain 2.5 points", rtol=0.0, atol=0.1) == "gain 2.39 points"


def test_other_words_or_another_count_of_numbers_leave_the_fresh_text_unchanged():
    assert align_text("stopped at epoch 3", "finished at epoch 3", rtol=1, atol=1) == "stopped at epoch 3"
    assert align_text("scores 1 2", "scores 1 2 3", rtol=1, atol=1) == "scores 1 2"


def test_padding_that_moves_with_a_wider_number_is_not_a_difference():
    stored = "   a      b\n0  0.5    1.25\n"
    assert align_text("   a      b\n0  0.51   1.25\n", stored, rtol=0.05, atol=0.0) == stored


def test_nan_and_inf_match_only_themselves():
    assert align_text("loss nan", "loss nan", rtol=0.1, atol=0.1) == "loss nan"
    assert align_text("loss inf", "loss 1e30", rtol=10, atol=10) == "loss inf"


def test_outputs_of_every_text_kind_are_aligned_and_others_kept():
    stored = [nbformat.v4.new_output("stream", text="loss 0.50\n"),
              nbformat.v4.new_output("execute_result", {"text/plain": "0.25", "text/html": "<td>0.25</td>",
                                                        "image/png": "AAA"}, execution_count=1)]
    fresh = [nbformat.v4.new_output("stream", text="loss 0.51\n"),
             nbformat.v4.new_output("execute_result", {"text/plain": "0.26", "text/html": "<td>0.26</td>",
                                                       "image/png": "BBB"}, execution_count=1)]
    aligned = align_outputs(fresh, stored, rtol=0.1, atol=0.0)
    assert aligned[0].text == "loss 0.50\n"  # still a NotebookNode, as nbval expects
    assert aligned[1]["data"]["text/plain"] == "0.25" and aligned[1]["data"]["text/html"] == "<td>0.25</td>"
    assert aligned[1]["data"]["image/png"] == "BBB"


def test_values_glued_for_the_website_are_compared_like_text():
    record = "application/papermill.record/text/plain"
    stored = [nbformat.v4.new_output("display_data", {record: "0.8412"})]
    fresh = [nbformat.v4.new_output("display_data", {record: "0.8415"})]
    assert align_outputs(fresh, stored, rtol=0.001, atol=0.0)[0]["data"][record] == "0.8412"


def test_an_output_without_a_counterpart_of_its_kind_is_kept():
    fresh = [nbformat.v4.new_output("stream", text="1.0"), nbformat.v4.new_output("stream", text="2.0")]
    stored = [nbformat.v4.new_output("execute_result", {"text/plain": "1.0"}, execution_count=1)]
    assert align_outputs(fresh, stored, rtol=1, atol=1) == fresh


@pytest.mark.parametrize("tolerance, message", [
    ([0.1], "must be a dict with keys rtol and/or atol"),
    ({}, "must be a dict with keys rtol and/or atol"),
    ({"rtol": 0.1, "relative": 0.1}, "must be a dict with keys rtol and/or atol"),
    ({"rtol": -0.1}, r"rtol must be a finite number >= 0. Received: rtol=-0.1"),
    ({"atol": "0.1"}, r"atol must be a finite number >= 0. Received: atol='0.1'"),
    ({"atol": float("inf")}, "atol must be a finite number >= 0"),
])
def test_a_malformed_tolerance_is_refused_saying_what_is_expected(tolerance, message):
    with pytest.raises(ValueError, match=message):
        check_tolerance(tolerance)


@pytest.mark.parametrize(
    ("tags", "expected"),
    [([], True), (["remove-cell", "raises-exception"], True), (["nbval-ignore-output"], False), (["nbval-skip"], False)],
)
def test_only_cells_nbval_skips_or_ignores_count_as_uncompared(tags, expected):
    assert is_compared({"metadata": {"tags": tags}}) is expected
    assert is_compared(nbformat.v4.new_code_cell(metadata={"tags": tags})) is expected
