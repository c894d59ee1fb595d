"""The 1cycle learning-rate schedule as a Keras callback (taught in book/ch11/04_learning_rate_scheduling.ipynb)."""

from __future__ import annotations

import keras

from helpers.arguments import fraction, positive_int, positive_number


class OneCycleScheduler(keras.callbacks.Callback):
    """Set the optimizer's learning rate at every batch following the 1cycle policy.

    Over the first half of the cycle (minus the final stretch) the rate rises linearly from
    `start_rate` to `max_rate`, over the second half it falls back linearly to `start_rate`, and
    over the last `last_fraction` of the iterations it falls linearly from `start_rate` to
    `last_rate`. The rate used at each batch is appended to `self.rates`. The optimizer must have
    a plain (float) learning rate, not a `LearningRateSchedule`. Each call to `fit()` starts a new
    cycle.

    Args:
        iterations: the total number of training steps (batches) of the cycle, typically
            `math.ceil(len(X_train) / batch_size) * epochs`. After it, the rate stays at `last_rate`.
        max_rate: the peak learning rate, reached in the middle of the cycle.
        start_rate: the rate at the start and at the end of the second phase; `None` means
            `max_rate / 10`.
        last_fraction: the share of the iterations, in [0, 1), spent annealing at the end.
        last_rate: the final rate; `None` means `start_rate / 1000`.

    Returns:
        A callback to pass to `model.fit(..., callbacks=[...])`.

    Raises:
        ValueError: if `iterations` is not a positive integer, a rate is not a positive number,
            `start_rate > max_rate`, `last_rate > start_rate`, or `last_fraction` is not in [0, 1).

    Example:
        >>> scheduler = OneCycleScheduler(iterations=100, max_rate=0.1, last_fraction=0.1)
        >>> [round(scheduler.rate_at(i), 5) for i in (0, 45, 90, 99)]
        [0.01, 0.1, 0.01, 1e-05]
    """

    def __init__(
        self,
        iterations: int,
        max_rate: float,
        start_rate: float | None = None,
        last_fraction: float = 0.1,
        last_rate: float | None = None,
    ) -> None:
        super().__init__()
        self.iterations = positive_int(iterations, "iterations")
        self.max_rate = positive_number(max_rate, "max_rate")
        self.start_rate = (self.max_rate / 10 if start_rate is None
                           else positive_number(start_rate, "start_rate"))
        if self.start_rate > self.max_rate:
            raise ValueError(
                f"`start_rate` must be at most max_rate={self.max_rate!r}. Received: start_rate={start_rate!r}"
            )
        self.last_fraction = fraction(last_fraction, "last_fraction")
        self.last_rate = (self.start_rate / 1000 if last_rate is None
                          else positive_number(last_rate, "last_rate"))
        if self.last_rate > self.start_rate:
            raise ValueError(
                f"`last_rate` must be at most start_rate={self.start_rate!r}. Received: last_rate={last_rate!r}"
            )
        # The cycle proper takes the first (1 - last_fraction) of the iterations, split in two halves.
        self.half_iteration = max(1, int(self.iterations * (1 - self.last_fraction)) // 2)
        self.iteration = 0
        self.rates: list[float] = []

    @staticmethod
    def _interpolate(start: float, end: float, step: int, steps: int) -> float:
        return start + (end - start) * step / max(steps, 1)

    def rate_at(self, iteration: int) -> float:
        """The learning rate that the schedule gives at `iteration` (0-based)."""
        half = self.half_iteration
        if iteration < half:
            return self._interpolate(self.start_rate, self.max_rate, iteration, half)
        if iteration < 2 * half:
            return self._interpolate(self.max_rate, self.start_rate, iteration - half, half)
        last_steps = self.iterations - 2 * half - 1
        step = min(iteration - 2 * half, max(last_steps, 0))
        return self._interpolate(self.start_rate, self.last_rate, step, last_steps) if last_steps > 0 \
            else self.last_rate

    def on_train_begin(self, logs: dict | None = None) -> None:
        self.iteration = 0
        self.rates = []

    def on_train_batch_begin(self, batch: int, logs: dict | None = None) -> None:
        rate = self.rate_at(self.iteration)
        self.model.optimizer.learning_rate = rate
        self.rates.append(rate)
        self.iteration += 1
