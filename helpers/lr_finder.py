"""The learning-rate finder as a Keras callback (taught in book/ch11/04_learning_rate_scheduling.ipynb)."""

from __future__ import annotations

import keras
import numpy as np

from helpers.arguments import fraction, positive_int, positive_number

# The finder stops once the smoothed loss exceeds this multiple of its lowest value so far:
# the loss is taking off, and the rest of the curve would only show the divergence.
STOP_FACTOR = 2.0


class LearningRateFinder(keras.callbacks.Callback):
    """Raise the learning rate geometrically at every batch, recording the rate and the loss.

    Train a fresh model for a few hundred steps with this callback: the rate grows from
    `start_rate` by a constant factor per batch, reaching `end_rate` after `n_steps` batches, and the
    callback stops training when the loss diverges. Plot `smoothed` against `rates` (log scale): a
    good learning rate is about a tenth of the rate at the lowest point of the curve.

    Each batch's own loss is recovered from the running mean that Keras reports in `logs["loss"]`,
    and smoothed by an exponential moving average with bias correction (as in Adam).

    Args:
        start_rate: the rate of the first batch.
        end_rate: the rate reached after `n_steps` batches; larger than `start_rate`.
        n_steps: the number of batches over which the rate goes from `start_rate` to `end_rate`.
        smoothing: the moving average's decay, in [0, 1): 0 keeps the raw batch losses.

    Attributes:
        rates: the learning rate used at each batch.
        losses: each batch's loss.
        smoothed: the smoothed loss after each batch.

    Raises:
        ValueError: if a rate is not a positive number, `end_rate <= start_rate`, `n_steps` is not
            a positive integer, or `smoothing` is not in [0, 1).

    Example:
        >>> finder = LearningRateFinder(start_rate=1e-4, end_rate=1.0, n_steps=4)
        >>> round(finder.factor, 6)  # the rate is multiplied by 10 after every batch
        10.0
    """

    def __init__(self, start_rate: float, end_rate: float, n_steps: int, smoothing: float = 0.9) -> None:
        super().__init__()
        self.start_rate = positive_number(start_rate, "start_rate")
        end_rate = positive_number(end_rate, "end_rate")
        if end_rate <= self.start_rate:
            raise ValueError(f"`end_rate` must be larger than start_rate={start_rate!r}. Received: end_rate={end_rate!r}")
        n_steps = positive_int(n_steps, "n_steps")
        self.smoothing = fraction(smoothing, "smoothing")
        self.factor = (end_rate / self.start_rate) ** (1 / n_steps)
        self.rates: list[float] = []
        self.losses: list[float] = []
        self.smoothed: list[float] = []
        self._previous_mean, self._average = 0.0, 0.0

    def on_train_begin(self, logs: dict | None = None) -> None:
        self.model.optimizer.learning_rate = self.start_rate
        self.rates, self.losses, self.smoothed = [], [], []
        self._average = 0.0

    def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
        mean = logs["loss"]
        # logs["loss"] is the mean since the start of the epoch (batch 0 needs no previous mean)
        loss = (batch + 1) * mean - batch * self._previous_mean
        self._previous_mean = mean
        self._average = self.smoothing * self._average + (1 - self.smoothing) * loss
        self.losses.append(loss)
        self.smoothed.append(self._average / (1 - self.smoothing ** len(self.losses)))  # bias-corrected
        self.rates.append(float(self.model.optimizer.learning_rate))
        if not np.isfinite(loss) or self.smoothed[-1] > STOP_FACTOR * min(self.smoothed):
            self.model.stop_training = True
        self.model.optimizer.learning_rate = self.rates[-1] * self.factor

    def lowest_loss_rate(self) -> float:
        """The rate at which the smoothed loss was lowest (call after training).

        Example:
            >>> finder = LearningRateFinder(start_rate=0.01, end_rate=1.0, n_steps=2)
            >>> finder.rates, finder.smoothed = [0.01, 0.1, 1.0], [2.0, 1.5, 3.0]
            >>> finder.lowest_loss_rate()
            0.1
        """
        if not self.smoothed:
            raise ValueError("`lowest_loss_rate()` needs a finished run: train a model with this callback first")
        return self.rates[int(np.argmin(self.smoothed))]
