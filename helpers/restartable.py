"""One compiled model trained many times, each run as if on a new one (used in book/ch11/01, 04, 07)."""

from __future__ import annotations

from typing import Any, Callable

import keras
import numpy as np

from helpers.arguments import positive_number


class RestartableModel:
    """Build and compile a model once; `restart(seed)` makes it a freshly built model again.

    The first `fit()` of a newly compiled model traces its training step into a graph, which for a
    small network can cost more than several epochs. A study that trains one architecture with
    several seeds (or learning rates) can compile it once and restart it before each run instead:
    `restart(seed)` seeds every generator with `keras.utils.set_random_seed(seed)`, builds a new
    copy with `build()` and copies all of its state into the compiled model (weights, Batch
    Normalization's moving statistics, the random state of dropout layers), then puts the
    optimizer's state (step count, moments, learning rate) back as it was before any training. The
    run that follows is the one a new model built and compiled under that seed would give: the
    global generators (Python's, NumPy's and Keras's, which shuffle the batches) are left just as
    `build()` under that seed leaves them, and with TensorFlow's op determinism on (as
    `helpers.setup()` sets it) the two runs agree to the last bit. Every restart returns the same
    model object, `self.model`: keep a copy of anything you need from a run before the next one.

    Args:
        build: a function with no arguments that returns a new `keras.Model`, with the same
            architecture every time.
        **compile_arguments: passed to `model.compile()` (the optimizer, loss, metrics, ...). Give a
            new optimizer instance: it becomes this model's own.

    Attributes:
        model: the compiled model that every `restart()` returns.

    Raises:
        TypeError: if `build` is not callable or does not return a `keras.Model`.

    Example:
        >>> def build():
        ...     return keras.Sequential([keras.Input(shape=(3,)), keras.layers.Dense(1)])
        >>> restartable = RestartableModel(build, optimizer=keras.optimizers.SGD(0.1), loss="mse")
        >>> X, y = np.ones((8, 3)), np.zeros((8, 1))
        >>> first = restartable.restart(seed=7).fit(X, y, epochs=2, verbose=0).history["loss"]
        >>> again = restartable.restart(seed=7).fit(X, y, epochs=2, verbose=0).history["loss"]
        >>> first == again
        True
    """

    def __init__(self, build: Callable[[], keras.Model], **compile_arguments: Any) -> None:
        if not callable(build) or isinstance(build, keras.Model):  # a model is callable too
            raise TypeError(f"`build` must be a function that returns a new keras.Model. "
                            f"Received: build of type {type(build).__name__}")
        self.build = build
        self.model = self._new_model()
        self.model.compile(**compile_arguments)
        self.model.optimizer.build(self.model.trainable_variables)
        self._fresh_optimizer = [variable.numpy() for variable in self.model.optimizer.variables]

    def restart(self, seed: int, learning_rate: float | None = None) -> keras.Model:
        """Return the compiled model, restarted as a new model built under `seed`.

        Args:
            seed: the seed of this run (initial weights, then batch order and dropout masks).
            learning_rate: a constant learning rate for this run; `None` keeps the one the
                optimizer was compiled with (undoing any change a callback such as
                `ReduceLROnPlateau` made in the previous run).

        Returns:
            `self.model`, ready for `fit()`.

        Raises:
            ValueError: if `seed` is not a non-negative integer, `learning_rate` is not a positive
                number, or `build()` returned a model with other variables than the first time.
            TypeError: if `learning_rate` is given but the optimizer follows a schedule.
        """
        if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
            raise ValueError(f"`seed` must be a non-negative integer. Received: seed={seed!r}")
        if learning_rate is not None:
            learning_rate = positive_number(learning_rate, "learning_rate")
            if isinstance(self.model.optimizer.get_config()["learning_rate"], dict):  # a serialized schedule
                raise TypeError("`learning_rate` can only replace a constant rate, but this optimizer follows a "
                                f"schedule. Received: learning_rate={learning_rate!r}")
        keras.utils.set_random_seed(int(seed))
        self._copy_state_from(self._new_model())
        for variable, value in zip(self.model.optimizer.variables, self._fresh_optimizer):
            variable.assign(value)
        if learning_rate is not None:
            self.model.optimizer.learning_rate = learning_rate
        return self.model

    def _new_model(self) -> keras.Model:
        model = self.build()
        if not isinstance(model, keras.Model):
            raise TypeError(f"`build` must return a keras.Model. Received: {type(model).__name__}")
        return model

    def _copy_state_from(self, fresh: keras.Model) -> None:
        # model.variables, unlike get_weights(), also holds the dropout layers' random state
        shapes = [tuple(variable.shape) for variable in self.model.variables]
        fresh_shapes = [tuple(variable.shape) for variable in fresh.variables]
        if shapes != fresh_shapes:
            raise ValueError(f"`build` must return the same architecture every time. Received variables "
                             f"of shapes {fresh_shapes}, first {shapes}")
        for variable, fresh_variable in zip(self.model.variables, fresh.variables):
            variable.assign(fresh_variable)
