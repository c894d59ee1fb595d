"""Whether a smaller batch may be padded to the full batch size: what saves `train` an XLA compile.

An XLA program has fixed shapes, so an epoch's smaller last batch (and validation's) would need a
forward and backward pass compiled for its own size: on the course's small networks, half a second
more before the first epoch ends. Padding it with copies of its own rows, then leaving the copies
out of the loss and the metrics, gives the same step with one pass for both sizes, but only where
no instance's output depends on the others in the batch. That is known for Keras's own layers, so
`helpers.multi_step` pads only models made of the layers listed here (batch normalization in
training mode, activity regularizers, custom layers and custom models are left unpadded).
"""

from __future__ import annotations

import keras
from keras.src.models.functional import Functional

# Keras layers whose output for one instance depends on that instance only (and on their weights).
_PER_INSTANCE = tuple(getattr(keras.layers, name) for name in (
    "InputLayer", "Dense", "EinsumDense", "Embedding", "Flatten", "Reshape", "Permute", "RepeatVector",
    "Activation", "ReLU", "LeakyReLU", "PReLU", "ELU", "Softmax", "Identity", "Rescaling", "Normalization",
    "Dropout", "SpatialDropout1D", "SpatialDropout2D", "SpatialDropout3D", "GaussianNoise", "GaussianDropout",
    "AlphaDropout", "LayerNormalization", "GroupNormalization", "UnitNormalization",
    "Conv1D", "Conv2D", "Conv3D", "Conv1DTranspose", "Conv2DTranspose", "Conv3DTranspose", "DepthwiseConv2D",
    "SeparableConv2D", "MaxPooling1D", "MaxPooling2D", "MaxPooling3D", "AveragePooling1D", "AveragePooling2D",
    "AveragePooling3D", "GlobalAveragePooling1D", "GlobalAveragePooling2D", "GlobalMaxPooling1D",
    "GlobalMaxPooling2D", "ZeroPadding1D", "ZeroPadding2D", "Cropping1D", "Cropping2D", "UpSampling1D",
    "UpSampling2D", "Add", "Subtract", "Multiply", "Average", "Maximum", "Minimum", "Concatenate"))
# In inference mode, batch normalization uses its moving statistics: per instance too.
_PER_INSTANCE_IN_INFERENCE = (*_PER_INSTANCE, keras.layers.BatchNormalization)


def pads_safely(model: keras.Model, training: bool) -> bool:
    """Whether padding a batch with extra rows leaves `model`'s outputs for the real rows unchanged.

    True for a Sequential or functional model (nested ones included) made only of Keras layers that
    treat each instance on its own, none with an activity regularizer (its loss sums the batch), in
    training mode or, with `training=False`, in inference mode (batch normalization included).

    Args:
        model: a Keras model.
        training: whether the model is called with `training=True`.

    Returns:
        Whether the padding is safe.

    Raises:
        TypeError: if `model` is not a Keras model.

    Example:
        >>> model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(4), keras.layers.BatchNormalization()])
        >>> pads_safely(model, training=True), pads_safely(model, training=False)
        (False, True)
    """
    if not isinstance(model, keras.Model):
        raise TypeError(f"`model` must be a keras.Model. Received: model of type {type(model).__name__}")
    allowed = _PER_INSTANCE if training else _PER_INSTANCE_IN_INFERENCE
    return all(_layer_pads_safely(layer, allowed) for layer in model._flatten_layers(include_self=True))


def _layer_pads_safely(layer: keras.layers.Layer, allowed: tuple[type, ...]) -> bool:
    # Exact types: a subclass may override `call`. A nested model's own layers are checked too.
    if getattr(layer, "activity_regularizer", None) is not None:
        return False
    return type(layer) in (keras.Sequential, Functional, *allowed)
