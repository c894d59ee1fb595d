"""Whether a smaller batch may be padded to the full batch size: what saves `train` an XLA compile.

An XLA program has fixed shapes, so an epoch's smaller last batch (and validation's) would need a
pass through the model compiled for its own size: on the course's small networks, half a second
more before the first epoch ends. Padding it with copies of its own rows, then leaving the copies
out of the loss and the metrics, gives the same step with one pass for both sizes, but only where
no instance's output depends on the others in the batch. That is known for Keras's own layers, so
`helpers.multi_step` pads only models made of the layers listed here, with Keras's own
activations, never normalizing over the batch axis (batch normalization in training mode, activity
regularizers, masks, custom layers, operations and models are left unpadded); and it weighs each
instance's loss, to leave the copies out, only for Keras's own per-instance losses
(`per_instance_loss`): any other loss is computed on the real rows alone.
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
# Keras losses whose `call` gives each instance's loss from that instance alone (not Circle, whose
# pairs span the batch, nor Dice or Tversky, which may reduce over it).
_PER_INSTANCE_LOSSES = tuple(getattr(keras.losses, name) for name in (
    "MeanSquaredError", "MeanAbsoluteError", "MeanAbsolutePercentageError", "MeanSquaredLogarithmicError",
    "Huber", "LogCosh", "BinaryCrossentropy", "BinaryFocalCrossentropy", "CategoricalCrossentropy",
    "CategoricalFocalCrossentropy", "SparseCategoricalCrossentropy", "Hinge", "SquaredHinge",
    "CategoricalHinge", "KLDivergence", "Poisson", "CosineSimilarity"))


def pads_safely(model: keras.Model, training: bool) -> bool:
    """Whether padding a batch with extra rows leaves `model`'s outputs for the real rows unchanged.

    True for a Sequential or functional model (nested ones included) made only of Keras layers that
    treat each instance on its own (no operations called on its tensors outside layers), with
    Keras's own activations, no axis argument that reaches the batch axis, no activity regularizer
    (its loss sums the batch) and no mask (`Embedding(mask_zero=True)`: slicing rows drops it), in
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


def per_instance_loss(loss_fn: object) -> bool:
    """Whether `loss_fn` is a Keras loss whose values are one per instance, each from that instance alone.

    For such a loss, `helpers.multi_step` weighs the values to leave a padded batch's copies out;
    for any other, it computes the loss again on the real rows.

    Args:
        loss_fn: a loss object or function (any object is accepted).

    Returns:
        True only for the Keras loss classes listed in this module (exact types).

    Example:
        >>> per_instance_loss(keras.losses.MeanSquaredError()), per_instance_loss(lambda y, p: (y - p) ** 2)
        (True, False)
    """
    return type(loss_fn) in _PER_INSTANCE_LOSSES


def _layer_pads_safely(layer: keras.layers.Layer, allowed: tuple[type, ...]) -> bool:
    # Exact types: a subclass may override `call`. A nested model's own layers are checked too.
    if isinstance(layer, Functional) and not all(isinstance(op, keras.layers.Layer) for op in layer.operations):
        return False  # e.g. keras.ops.mean(x, axis=0) called on its tensors: an operation, not a layer
    activation = getattr(layer, "activation", None)
    if activation is not None and not getattr(activation, "__module__", "").startswith("keras.src.activations"):
        return False  # any callable, e.g. one that divides by the batch's maximum
    axes = getattr(layer, "axis", None)
    axes = [axes] if isinstance(axes, int) else list(axes) if isinstance(axes, (list, tuple)) else []
    if any(axis != -1 and axis < 1 for axis in axes):
        return False  # 0, or a negative axis that may count back to the batch axis
    if getattr(layer, "activity_regularizer", None) is not None or getattr(layer, "mask_zero", False):
        return False
    return type(layer) in (keras.Sequential, Functional, *allowed)
