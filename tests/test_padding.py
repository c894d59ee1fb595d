import keras
import pytest

from helpers.padding import pads_safely


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
])
def test_only_models_of_per_instance_keras_layers_pad_safely(model, training, expected):
    assert pads_safely(model(), training=training) is expected


def test_a_model_that_is_not_a_keras_model_is_a_type_error():
    with pytest.raises(TypeError, match=r"`model` must be a keras.Model. Received: model of type list"):
        pads_safely([keras.layers.Dense(1)], training=True)
