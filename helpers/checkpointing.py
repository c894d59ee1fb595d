"""Save and resume the whole state of `helpers.train` (taught in book/ch12/10_surviving_disconnects.md).

One checkpoint holds the model, the optimizers' slots, the metrics' running totals, where training
stands (epoch and step) and, as JSON, the history so far and the shuffling generator's state. So a
run killed at any point resumes from its last checkpoint and ends bit for bit where an uninterrupted
run would (on the same hardware, with op determinism on).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import keras
import numpy as np
import tensorflow as tf

from helpers.arguments import positive_int


def _tf_variables(variables) -> list[tf.Variable]:
    # Keras 3 wraps each tf.Variable; tf.train.Checkpoint tracks the wrapped one.
    return [getattr(v, "value", v) for v in variables]


class TrainingCheckpoint:
    """Atomic checkpoints of a training run in `directory`, keeping the last `keep`.

    Args:
        directory: the folder (created if missing); on Colab, a Google Drive folder survives a
            disconnect.
        model: the model being trained.
        optimizers: the optimizers in use.
        trackers: the loss tracker and metrics, whose running totals are saved mid-epoch.
        keep: how many checkpoints to keep.

    Raises:
        ValueError: if `keep < 1`.

    Example:
        >>> import tempfile
        >>> model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
        >>> optimizer = keras.optimizers.SGD()
        >>> optimizer.build(model.trainable_variables)
        >>> with tempfile.TemporaryDirectory() as folder:
        ...     checkpoint = TrainingCheckpoint(folder, model, [optimizer], [])
        ...     _ = checkpoint.save(epoch=1, step=0, rng=np.random.default_rng(0), history={"loss": [0.5]})
        ...     checkpoint.restore()["history"]
        {'loss': [0.5]}
    """

    def __init__(self, directory: str | Path, model: keras.Model, optimizers: list, trackers: list, keep: int = 3):
        keep = positive_int(keep, "keep")
        self.directory = Path(directory)
        self._epoch = tf.Variable(0, dtype=tf.int64, trainable=False)
        self._step = tf.Variable(0, dtype=tf.int64, trainable=False)
        self._notes = tf.Variable("{}", dtype=tf.string, trainable=False)
        self._checkpoint = tf.train.Checkpoint(
            model=model,
            optimizers=list(optimizers),
            metric_totals=_tf_variables(v for t in trackers for v in t.variables),
            epoch=self._epoch,
            step=self._step,
            notes=self._notes,
        )
        self._manager = tf.train.CheckpointManager(self._checkpoint, str(self.directory), max_to_keep=keep)

    @property
    def latest(self) -> str | None:
        """The path prefix of the newest checkpoint, or `None`."""
        return self._manager.latest_checkpoint

    def save(self, *, epoch: int, step: int, rng: np.random.Generator, history: dict) -> str:
        """Save the state after `epoch` full epochs and `step` steps of the next one."""
        self._epoch.assign(epoch)
        self._step.assign(step)
        self._notes.assign(json.dumps({"history": history, "rng": rng.bit_generator.state}))
        return self._manager.save()

    def restore(self) -> dict[str, Any] | None:
        """Load the newest checkpoint into the model, optimizers and metrics.

        Returns:
            `None` if there is no checkpoint, else `{"epoch", "step", "rng", "history"}`.
        """
        if self.latest is None:
            return None
        self._checkpoint.restore(self.latest).assert_existing_objects_matched()
        notes = json.loads(self._notes.numpy().decode())
        rng = np.random.default_rng()
        rng.bit_generator.state = notes["rng"]
        return {"epoch": int(self._epoch.numpy()), "step": int(self._step.numpy()), "rng": rng,
                "history": notes["history"]}
