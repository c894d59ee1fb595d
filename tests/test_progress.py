import io

import keras
import numpy as np
import pytest

from helpers import StatusBar, format_status, print_status_bar


class FakeClock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


def test_format_status_with_keras_metrics():
    loss = keras.metrics.Mean()  # named "mean": shown as the loss
    loss.update_state([1.0, 2.0])
    mae = keras.metrics.MeanAbsoluteError(name="mae")
    mae.update_state(np.array([[1.0]]), np.array([[1.25]]))
    line = format_status(3, 4, loss, [mae], width=8)
    assert line == "3/4 [======..] - loss: 1.5000 - mae: 0.2500"


def test_format_status_names_a_mean_metric_in_the_metrics_list_loss():
    mean = keras.metrics.Mean()
    mean.update_state([4.0])
    assert format_status(1, 1, 0.5, [mean], width=1).endswith("loss: 0.5000 - loss: 4.0000")


def test_format_status_pads_the_step_to_the_width_of_the_total():
    assert format_status(7, 100, 1.0, width=4).startswith("  7/100 [")
    assert format_status(0, 100, 1.0, width=4).startswith("  0/100 [....]")


@pytest.mark.parametrize(
    ("step", "total", "loss", "metrics", "error", "message"),
    [
        (1, 0, 0.1, None, ValueError, r"`total` must be a positive integer. Received: total=0"),
        (5, 4, 0.1, None, ValueError, r"`step` must be an integer from 0 to total=4. Received: step=5"),
        (-1, 4, 0.1, None, ValueError, r"Received: step=-1"),
        (1, 4, "low", None, TypeError, r"`loss` must be a Keras metric or a number"),
        (1, 4, 0.1, "mae", TypeError, r"`metrics` must be a list of Keras metrics, a dict"),
        (1, 4, 0.1, [0.5], TypeError, r"`metrics` must hold Keras metrics"),
        (1, 4, 0.1, {"mae": "x"}, TypeError, r"`metrics\['mae'\]` must be a Keras metric or a number"),
    ],
)
def test_bad_inputs(step, total, loss, metrics, error, message):
    with pytest.raises(error, match=message):
        format_status(step, total, loss, metrics)
    with pytest.raises(error, match=message):
        print_status_bar(step, total, loss, metrics)


def test_status_bar_throttles_by_time_and_always_draws_the_end():
    out, clock = io.StringIO(), FakeClock()
    bar = StatusBar(file=out, clock=clock, min_interval=0.1)
    for step in range(1, 101):
        clock.now = step * 0.01  # a step every 10 ms: about one draw in ten
        bar.update(step, 100, 0.5)
    text = out.getvalue()
    draws = text.count("\r")
    assert 9 <= draws <= 12
    assert text.endswith("\r100/100 [==============================] - loss: 0.5000\n")
    assert text.count("\n") == 1


def test_status_bar_draws_every_step_when_slow_and_starts_a_new_epoch_line():
    out, clock = io.StringIO(), FakeClock()
    bar = StatusBar(file=out, clock=clock)
    for epoch in range(2):
        for step in range(1, 4):
            clock.now += 1.0
            bar.update(step, 3, {"epoch": epoch}.get("epoch"))
    lines = out.getvalue().split("\n")
    assert out.getvalue().count("\r") == 6
    assert lines[0].endswith("3/3 [==============================] - loss: 0.0000")
    assert lines[1].endswith("3/3 [==============================] - loss: 1.0000")


def test_print_status_bar_writes_to_stdout(capsys):
    print_status_bar(2, 2, 0.25, {"mae": 1.0})
    assert capsys.readouterr().out == "\r2/2 [==============================] - loss: 0.2500 - mae: 1.0000\n"


def test_status_bar_rejects_a_negative_interval():
    with pytest.raises(ValueError, match=r"`min_interval` must be a number of seconds >= 0. Received: min_interval=-1"):
        StatusBar(min_interval=-1)
