import keras
import pytest
from keras.src.losses.losses import LossFunctionWrapper

from helpers.padding import pads_safely, per_instance_loss


class Doubling(keras.layers.Layer):
    """A custom layer: per instance in fact, but `pads_safely` cannot know that."""

    def call(self, inputs):
        return 2 * inputs


class Subclassed(keras.Model):
    def __init__(self):
        super().__init__()
        self.dense = keras.layers.Dense(1)

    def call(self, inputs):
        return self.dense(inputs)


def sequential(*layers):
    return keras.Sequential([keras.Input((3,)), *layers])


class SequentialSubclass(keras.Sequential):
    """A Sequential whose `call` could do anything."""


def functional(layer=None, op=None):
    inputs = keras.Input((3,))
    hidden = keras.layers.Dense(4)(inputs)
    hidden = layer(hidden) if layer else op(hidden)
    return keras.Model(inputs, hidden)


def functional_with_a_nested_sequential():
    inputs = keras.Input((3,))
    hidden = keras.Sequential([keras.layers.Dense(4, activation="elu"), keras.layers.Dropout(0.5)])(inputs)
    return keras.Model(inputs, keras.layers.Concatenate()([hidden, inputs]))


@pytest.mark.parametrize("model, training, expected", [
    (lambda: sequential(keras.layers.Dense(4, activation="relu"), keras.layers.Dropout(0.2), keras.layers.Dense(1)), True, True),
    (functional_with_a_nested_sequential, True, True),
    (lambda: sequential(keras.layers.Dense(4), keras.layers.BatchNormalization()), True, False),  # batch statistics
    (lambda: sequential(keras.layers.Dense(4), keras.layers.BatchNormalization()), False, True),  # moving statistics
    (lambda: sequential(keras.layers.Dense(4, activity_regularizer="l2")), False, False),  # its loss sums the batch
    (lambda: sequential(Doubling()), True, False),
    (lambda: sequential(keras.layers.Lambda(lambda x: x - keras.ops.mean(x, axis=0))), True, False),
    (Subclassed, True, False),
    (lambda: SequentialSubclass([keras.Input((3,)), keras.layers.Dense(1)]), True, False),
    (lambda: functional(layer=Doubling()), True, False),
    (lambda: functional(op=lambda h: h - keras.ops.mean(h, axis=0, keepdims=True)), False, False),  # an operation
    (lambda: functional(layer=keras.layers.Dense(2, activation="relu")), True, True),
    (lambda: sequential(keras.layers.Dense(2, activation=lambda z: z / keras.ops.max(z))), True, False),
    (lambda: sequential(keras.layers.Softmax(axis=0)), True, False),  # across the batch
    (lambda: sequential(keras.layers.Softmax(axis=-1)), True, True),
    # Per instance here, but refused: on an input of another rank, -2 may count back to the batch axis.
    (lambda: keras.Sequential([keras.Input((2, 3)), keras.layers.LayerNormalization(axis=-2)]), True, False),
    (lambda: sequential(keras.layers.Dense(4, activity_regularizer="l2")), True, False),
    (lambda: keras.Sequential([keras.Input((3,), dtype="int32"), keras.layers.Embedding(5, 2, mask_zero=True)]), False, False),
    (lambda: keras.Sequential([keras.Input((3,), dtype="int32"), keras.layers.Embedding(5, 2)]), True, True),
])
def test_only_models_of_per_instance_keras_layers_pad_safely(model, training, expected):
    assert pads_safely(model(), training=training) is expected


def test_a_model_that_is_not_a_keras_model_is_a_type_error():
    with pytest.raises(TypeError, match=r"`model` must be a keras.Model. Received: model of type list"):
        pads_safely([keras.layers.Dense(1)], training=True)


def squared_errors(y_true, y_pred):
    return (y_true - y_pred) ** 2


@pytest.mark.parametrize("loss_fn, expected", [
    (keras.losses.MeanSquaredError(), True),
    (keras.losses.SparseCategoricalCrossentropy(from_logits=True), True),
    (keras.losses.Circle(), False),  # its pairs span the batch
    (LossFunctionWrapper(squared_errors), False),  # wraps any function
    (squared_errors, False),  # per instance in fact, but `per_instance_loss` cannot know that
    ("mse", False),
])
def test_only_keras_per_instance_losses_are_weighed_per_instance(loss_fn, expected):
    assert per_instance_loss(loss_fn) is expected
