"""A training run for the fault tests: python train_job.py CHECKPOINT_DIR OUTPUT_FILE [EPOCHS].

The shuffling follows the global seed (no `rng`), so a resumed run must restore it exactly.
Prints "step" lines as it goes (so a test knows when to strike), then writes the final weights
and the history to OUTPUT_FILE (.npz).
"""

import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

import helpers  # noqa: E402


class Announce(keras.layers.Layer):
    """Identity layer that prints a line at each training call, from inside the graph."""

    def call(self, inputs, training=None):
        if training:
            # Padded so that a few lines fill the pipe: the job cannot run ahead of the test reading them.
            tf.print("step" + " " * 4096, output_stream=sys.stdout)
        return inputs


def main(checkpoint_dir: str, output: str, epochs: int = 4) -> None:
    keras.utils.set_random_seed(0)
    tf.config.experimental.enable_op_determinism()
    rng = np.random.default_rng(0)
    X = rng.normal(size=(2000, 8)).astype(np.float32)
    y = (X @ rng.normal(size=(8, 1)) + 0.1 * rng.normal(size=(2000, 1))).astype(np.float32)
    model = keras.Sequential([keras.Input((8,)), Announce(), keras.layers.Dense(16, activation="relu"), keras.layers.Dense(1)])
    history = helpers.train(
        model, X, y, epochs=epochs, batch_size=16, optimizer=keras.optimizers.Nadam(0.001),
        loss_fn=keras.losses.MeanSquaredError(), metrics=["mae"], checkpoint_dir=checkpoint_dir,
        steps_per_execution=4, jit_compile=False, verbose=False,  # tf.print needs no XLA
    )
    np.savez(output, loss=np.array(history.get("loss", [])), *[w.numpy() for w in model.weights])
    print("finished", len(history.get("loss", [])), flush=True)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], *(int(a) for a in sys.argv[3:]))
