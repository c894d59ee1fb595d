"""Every bad input to `helpers.train` that we try, and the message it gets.

`tests/bad_inputs.md` is the table of these cases with the messages they actually raise; the last
test regenerates it and fails if the committed copy is stale (run with UPDATE_BAD_INPUTS=1 to
rewrite it).
"""

import os
from pathlib import Path

import keras
import numpy as np
import pytest

from helpers import train

TABLE = Path(__file__).with_name("bad_inputs.md")


def model(built=True):
    keras.utils.set_random_seed(0)
    # Fixed names: Keras's automatic ones count up through the session and would make the table
    # depend on which tests ran before.
    layers = [keras.layers.Dense(1, name="dense")]
    return keras.Sequential(([keras.Input((3,))] if built else []) + layers, name="model")


X, Y = np.zeros((10, 3), np.float32), np.zeros((10, 1), np.float32)

# (what is wrong, arguments changed from a correct call, error type, a pattern the message must match)
CASES = [
    ("epochs is zero", dict(epochs=0), ValueError, r"`epochs` must be a positive integer. Received: epochs=0"),
    ("batch_size is negative", dict(batch_size=-1), ValueError, r"`batch_size` must be a positive integer. Received: batch_size=-1"),
    ("steps_per_execution is zero", dict(steps_per_execution=0), ValueError, r"`steps_per_execution` must be a positive integer"),
    ("X and y differ in length", dict(y=np.zeros((9, 1))), ValueError, r"same number of instances.*len\(X\)=10, len\(y\)=9"),
    ("X is empty", dict(X=np.zeros((0, 3)), y=np.zeros((0, 1))), ValueError, r"at least one instance"),
    ("X has the wrong number of features", dict(X=np.zeros((10, 4), np.float32)), ValueError, r"`X` must fit the model's input. Received: X of shape \(10, 4\)"),
    ("y is (n,) but the model outputs (n, 1)", dict(y=np.zeros(10, np.float32)), ValueError, r"`y` must have the model's output shape \(n, 1\).*reshape"),
    ("the loss rejects the model's output", dict(y=np.zeros((10, 2, 2), np.float32)), ValueError, r"`loss_fn` must accept \(y, model output\). Received: y of shape \(10, 2, 2\)"),
    ("the model is not a Keras model", dict(model=lambda x: x), TypeError, r"`model` must be a keras.Model"),
    ("the model is not built", dict(model="unbuilt"), ValueError, r"`model` must be built before training"),
    ("the optimizer is a string", dict(optimizer="adam"), TypeError, r"`optimizer` must be a keras.optimizers.Optimizer instance.*Received: optimizer='adam'"),
    ("an optimizer pair leaves variables out", dict(optimizer="pairs-missing"), ValueError, r"leave out"),
    ("the optimizer scales losses (mixed precision)", dict(optimizer=keras.optimizers.LossScaleOptimizer(keras.optimizers.SGD())), TypeError, r"must not be a keras.optimizers.LossScaleOptimizer.*Received: optimizer of type LossScaleOptimizer"),
    ("the loss is a string", dict(loss_fn="mse"), TypeError, r"`loss_fn` must be a callable"),
    ("a metric is not a metric", dict(metrics=[len]), TypeError, r"`metrics` must be a sequence of keras.metrics.Metric"),
    ("a metric name is unknown", dict(metrics=["no_such_metric"]), ValueError, r"unknown name 'no_such_metric'"),
    ("two metrics share a name", dict(metrics=["mae", "mae"]), ValueError, r"`metrics` must have distinct names"),
    ("a metric is named 'loss'", dict(metrics=[keras.metrics.Mean(name="loss")]), ValueError, r"none of them 'loss'"),
    ("a metric's name starts with 'val_'", dict(metrics=[keras.metrics.MeanAbsoluteError(name="val_mae")]), ValueError, r"`metrics` names must not start with 'val_'.*Received names: \['val_mae'\]"),
    ("a metric cannot take the targets", dict(metrics=[keras.metrics.CosineSimilarity(name="cosine", axis=2)]), ValueError, r"`metrics` item 'cosine' \(CosineSimilarity\) must accept \(y, model output\). Received: y of shape \(10, 1\)"),
    ("validation_data is one array", dict(validation_data=np.zeros((3, 3))), ValueError, r"`validation_data` must be a pair \(X_val, y_val\)"),
    ("validation_data lengths differ", dict(validation_data=(np.zeros((3, 3)), np.zeros((2, 1)))), ValueError, r"len\(X\)=3, len\(y\)=2"),
    ("validation targets are (n,)", dict(validation_data=(np.zeros((3, 3), np.float32), np.zeros(3, np.float32))), ValueError, r"`validation_data\[1\]` must have the model's output shape"),
    ("rng is a float", dict(rng=0.5), TypeError, r"`rng` must be an integer seed"),
    ("on_epoch_end is not callable", dict(on_epoch_end=3), TypeError, r"`on_epoch_end` must be a callable"),
]


def call(change):
    arguments = dict(model=model(), X=X, y=Y, epochs=1, optimizer=keras.optimizers.SGD(),
                     loss_fn=keras.losses.MeanSquaredError(), verbose=False)
    arguments.update(change)
    if arguments["model"] == "unbuilt":
        arguments["model"] = model(built=False)
    if arguments["optimizer"] == "pairs-missing":
        arguments["optimizer"] = [(keras.optimizers.SGD(), [arguments["model"].layers[0].kernel])]
    return train(**arguments)


@pytest.mark.parametrize(("what", "change", "error", "pattern"), CASES, ids=[c[0] for c in CASES])
def test_bad_input_gets_a_message_that_names_the_argument(what, change, error, pattern):
    with pytest.raises(error, match=pattern):
        call(change)


def render_table() -> str:
    rows = ["# Bad inputs to `helpers.train` and the messages they get", "",
            "Generated by `tests/test_bad_inputs.py` (each row is a test).", "",
            "| what is wrong | error | message |", "|---|---|---|"]
    for what, change, error, _ in CASES:
        with pytest.raises(error) as raised:
            call(change)
        message = str(raised.value).splitlines()[0].replace("|", "\\|")
        rows.append(f"| {what} | `{error.__name__}` | {message} |")
    return "\n".join(rows) + "\n"


def test_the_table_in_bad_inputs_md_is_current():
    table = render_table()
    if os.environ.get("UPDATE_BAD_INPUTS"):
        TABLE.write_text(table)
    assert TABLE.read_text() == table, "tests/bad_inputs.md is stale: run with UPDATE_BAD_INPUTS=1"
