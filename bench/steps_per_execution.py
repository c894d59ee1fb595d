"""How many steps per compiled call should helpers.train run? The measurement behind its default.

Run with `.venv/bin/python bench/steps_per_execution.py [workload ...]`. Trains the benchmark
workloads of training_speed.py (by default the two MLPs) with helpers.train for several values of `steps_per_execution` and prints the
steady-state steps per second (median over epochs, the first epoch, which compiles, left out).
Larger values mean fewer Python calls per epoch but a status bar redrawn less often.
"""

from __future__ import annotations

import statistics
import sys
import time

import keras
import numpy as np

import helpers
from training_speed import BATCH_SIZE, LOSSES, WORKLOADS

VALUES = (16, 64, 256, 1024, 4096)
EPOCHS = {"california_mlp": 21, "fashion_mlp": 6}  # about the same time for each model; 4 for others


def steps_per_second(workload, steps_per_execution: int, epochs: int) -> float:
    ends = []
    X, y = workload.X, workload.y
    helpers.train(workload.make_model(), X, y, epochs=epochs, batch_size=BATCH_SIZE, optimizer=keras.optimizers.Nadam(),
                  loss_fn=LOSSES[workload.loss](), steps_per_execution=steps_per_execution, rng=0, verbose=False,
                  on_epoch_end=lambda epoch, _: ends.append(time.perf_counter()))
    return np.ceil(len(X) / BATCH_SIZE) / statistics.median(np.diff(ends))


def main() -> None:
    helpers.setup()
    print(f"{'model':<15} " + " ".join(f"{value:>8}" for value in VALUES) + "   (steps_per_execution: steps/s)")
    for model_name in sys.argv[1:] or ["california_mlp", "fashion_mlp"]:
        workload = WORKLOADS[model_name]()
        speeds = [steps_per_second(workload, value, EPOCHS.get(model_name, 4)) for value in VALUES]
        print(f"{model_name:<15} " + " ".join(f"{speed:>8,.0f}" for speed in speeds), flush=True)


if __name__ == "__main__":
    main()
