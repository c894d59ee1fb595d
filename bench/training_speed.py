"""Training speed, end to end and in steady state: fit(), tuned fit(), the eager loop, helpers.train, fused.

Run with `make bench` (under 20 minutes on 2 CPU cores). For each workload and method, a fresh model
(and optimizer) is built outside the clock and trained from the call to the end of the run, tracing
and compiling included, for 1 epoch and for 5 epochs, with batch size 32, Nadam, validation data and
one metric, as a reader's notebook does. The steady state is the median epoch of the 5-epoch run
after the first (training steps per second, validation included). `helpers.train` chooses how to
run from the length of the call (graphs for short work, XLA from `XLA_MIN_STEPS` steps or
`XLA_MIN_WORK`), so its steady state is also measured in a long run, of at least `XLA_MIN_STEPS`
steps, with the same defaults: what a reader's long training runs at. The fused reference runs
as long right after it, so that the two steady states compare runs timed side by side. Methods:

- `fit`: `model.compile(...)` defaults, then `fit()`;
- `fit_tuned`: `compile(jit_compile=True, steps_per_execution=100)`, the peer a reader would choose
  (note: Keras turns XLA off in `fit()` when op determinism is on, as in the notebooks and here, and
  says so in a warning: so this is `fit()` with 100 steps per call, without XLA);
- `eager_loop`: the textbook's loop of eager steps (steady state only, training steps only);
- `train`: `helpers.train` with its defaults;
- `fused_reference`: the fastest loop we know for in-memory data, a whole epoch in one XLA call
  (no checks, no metrics), plus the validation loss in one more call.

End-to-end timings and long runs are the median of REPEATS runs (BENCH_REPEATS, 1 by default to keep
the run short), the methods interleaved so that the noise of a shared machine spreads over all of them.
Each workload runs in a fresh process, as each notebook has its own kernel.
`python bench/training_speed.py WORKLOAD ...` runs some workloads only. Results go to bench/results.json, a plot to
bench/training_speed.png.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

import helpers  # noqa: E402
from helpers.training import XLA_MIN_STEPS  # noqa: E402

BATCH_SIZE = 32         # the textbook's batch size
EPOCHS = (1, 5)         # epochs per end-to-end timing
REPEATS = int(os.environ.get("BENCH_REPEATS", 1))            # end-to-end timings per method and epochs; the median is kept
EAGER_STEPS = 100       # the eager loop is slow: time this many steps
TUNED_STEPS_PER_EXECUTION = 100
N_FASHION = 10_000      # Fashion-MNIST training images for the MLP (of 55,000: a subset keeps `make bench` short)
N_DEEP = 5_000          # training images for the deep networks and exercise 13 (subset, as above)
N_VALID = 2_000         # Fashion-MNIST validation images: the last of the training set
HERE = Path(__file__).parent
RESULTS = HERE / "results.json"
PLOT = HERE / "training_speed.png"


@dataclass
class Workload:
    X: np.ndarray
    y: np.ndarray
    X_valid: np.ndarray
    y_valid: np.ndarray
    make_model: Callable[[], keras.Model]
    loss: str                   # a key of LOSSES: a fresh loss object for each run
    metric: str


def california() -> Workload:
    from sklearn.datasets import fetch_california_housing
    from sklearn.model_selection import train_test_split

    data = fetch_california_housing()
    X, _, y, _ = train_test_split(data.data, data.target.reshape(-1, 1), random_state=42)
    X, X_valid, y, y_valid = train_test_split(X, y, random_state=42)
    mean, std = X.mean(axis=0), X.std(axis=0)
    X, X_valid = (X - mean) / std, (X_valid - mean) / std

    def model():  # chapter 12's pilot model
        keras.utils.set_random_seed(42)
        l2 = keras.regularizers.L2(0.05)
        return keras.Sequential([keras.Input((8,)), keras.layers.Dense(30, activation="elu", kernel_initializer="he_normal", kernel_regularizer=l2), keras.layers.Dense(1, kernel_regularizer=l2)])

    f32 = lambda a: a.astype(np.float32)
    return Workload(f32(X), f32(y), f32(X_valid), f32(y_valid), model, "mse", "mae")


def _fashion(n_train: int):
    (X, y), _ = keras.datasets.fashion_mnist.load_data()
    X = (X / 255.0).astype(np.float32)
    return X[:n_train], y[:n_train].astype(np.int32), X[-N_VALID:], y[-N_VALID:].astype(np.int32)


def fashion() -> Workload:
    def model():
        keras.utils.set_random_seed(42)
        return keras.Sequential([keras.Input((28, 28)), keras.layers.Flatten(), keras.layers.Dense(300, activation="relu"), keras.layers.Dense(100, activation="relu"), keras.layers.Dense(10, activation="softmax")])

    return Workload(*_fashion(N_FASHION), model, "sparse_categorical_crossentropy", "accuracy")


def _deep(batch_norm: bool) -> Workload:
    def model():  # chapter 11's exercise: 20 hidden layers of 100 ELU units, He initialization
        keras.utils.set_random_seed(42)
        layers = [keras.Input((28, 28)), keras.layers.Flatten()]
        for _ in range(20):
            if batch_norm:
                layers += [keras.layers.Dense(100, kernel_initializer="he_normal", use_bias=False),
                           keras.layers.BatchNormalization(), keras.layers.Activation("elu")]
            else:
                layers.append(keras.layers.Dense(100, activation="elu", kernel_initializer="he_normal"))
        return keras.Sequential(layers + [keras.layers.Dense(10, activation="softmax")])

    return Workload(*_fashion(N_DEEP), model, "sparse_categorical_crossentropy", "accuracy")


def exercise_13() -> Workload:
    def model():  # chapter 12's exercise 13
        keras.utils.set_random_seed(42)
        return keras.Sequential([keras.Input((28, 28)), keras.layers.Flatten(),
                                 keras.layers.Dense(100, activation="relu", kernel_initializer="he_normal"),
                                 keras.layers.Dense(10, activation="softmax")])

    return Workload(*_fashion(N_DEEP), model, "sparse_categorical_crossentropy", "accuracy")


LOSSES = {"mse": keras.losses.MeanSquaredError, "sparse_categorical_crossentropy": keras.losses.SparseCategoricalCrossentropy}
WORKLOADS = {"california_mlp": california, "fashion_mlp": fashion, "deep_elu": lambda: _deep(False),
             "deep_elu_bn": lambda: _deep(True), "ch12_exercise_13": exercise_13}


# -- The methods. Each trains a fresh model for `epochs` epochs and returns the times at which the
# -- epochs ended, measured from the call (model and optimizer are built before the clock starts).

def run_fit(w: Workload, epochs: int, tuned: bool) -> list[float]:
    model, optimizer = w.make_model(), keras.optimizers.Nadam()
    ends = []
    callback = keras.callbacks.LambdaCallback(on_epoch_end=lambda epoch, logs: ends.append(time.perf_counter()))
    start = time.perf_counter()
    settings = dict(jit_compile=True, steps_per_execution=TUNED_STEPS_PER_EXECUTION) if tuned else {}
    model.compile(optimizer=optimizer, loss=LOSSES[w.loss](), metrics=[w.metric], **settings)
    model.fit(w.X, w.y, batch_size=BATCH_SIZE, epochs=epochs, validation_data=(w.X_valid, w.y_valid),
              callbacks=[callback], verbose=0)
    return [end - start for end in ends]


def run_train(w: Workload, epochs: int) -> list[float]:
    model, optimizer = w.make_model(), keras.optimizers.Nadam()
    ends = []
    start = time.perf_counter()
    helpers.train(model, w.X, w.y, epochs=epochs, batch_size=BATCH_SIZE, optimizer=optimizer,
                  loss_fn=LOSSES[w.loss](), metrics=[w.metric], validation_data=(w.X_valid, w.y_valid),
                  rng=0, verbose=False, on_epoch_end=lambda epoch, _: ends.append(time.perf_counter()))
    return [end - start for end in ends]


def run_fused(w: Workload, epochs: int) -> list[float]:
    model, optimizer = w.make_model(), keras.optimizers.Nadam()
    loss = LOSSES[w.loss]()
    ends = []
    start = time.perf_counter()
    optimizer.build(model.trainable_variables)
    X, y, X_valid, y_valid = (tf.constant(a) for a in (w.X, w.y, w.X_valid, w.y_valid))
    steps = len(w.X) // BATCH_SIZE

    @tf.function(jit_compile=True)
    def epoch(batches):  # (steps, BATCH_SIZE) indices: static shapes for XLA
        for i in tf.range(steps):
            X_batch, y_batch = tf.gather(X, batches[i]), tf.gather(y, batches[i])
            with tf.GradientTape() as tape:
                y_pred = model(X_batch, training=True)
                total = tf.add_n([loss(y_batch, y_pred), *model.losses])
            gradients = tape.gradient(total, model.trainable_variables)
            optimizer.apply_gradients(zip(gradients, model.trainable_variables))

    @tf.function(jit_compile=True)
    def validation_loss():
        return loss(y_valid, model(X_valid, training=False))

    rng = np.random.default_rng(0)
    for _ in range(epochs):
        epoch(tf.constant(rng.permutation(len(w.X))[: steps * BATCH_SIZE].reshape(steps, BATCH_SIZE).astype(np.int32)))
        float(validation_loss())
        ends.append(time.perf_counter())
    return [end - start for end in ends]


def eager_steps_per_second(w: Workload) -> float:
    model, optimizer, loss = w.make_model(), keras.optimizers.Nadam(), LOSSES[w.loss]()
    rng = np.random.default_rng(0)

    def run(steps):
        for _ in range(steps):
            X_batch, y_batch = helpers.random_batch(w.X, w.y, BATCH_SIZE, rng=rng)
            with tf.GradientTape() as tape:
                y_pred = model(X_batch, training=True)
                total = tf.add_n([loss(y_batch, y_pred), *model.losses])
            gradients = tape.gradient(total, model.trainable_variables)
            optimizer.apply_gradients(zip(gradients, model.trainable_variables))

    run(5)
    start = time.perf_counter()
    run(EAGER_STEPS)
    return EAGER_STEPS / (time.perf_counter() - start)


METHODS = {"fit": lambda w, e: run_fit(w, e, tuned=False), "fit_tuned": lambda w, e: run_fit(w, e, tuned=True),
           "train": run_train, "fused_reference": run_fused}


LONG_RUN = ("train", "fused_reference")  # the methods also timed in a long run, one after the other


def long_run_steps_per_second(method: str, w: Workload, steps: int) -> float:
    ends = METHODS[method](w, max(EPOCHS[-1], int(np.ceil(XLA_MIN_STEPS / steps))))
    return steps / statistics.median(np.diff(ends))


def bench(w: Workload) -> dict:
    steps = int(np.ceil(len(w.X) / BATCH_SIZE))
    timings = {(m, e): [] for m in METHODS for e in EPOCHS}
    steady = {m: [] for m in METHODS}
    for repeat in range(REPEATS):
        order = list(METHODS) if repeat % 2 == 0 else list(reversed(METHODS))
        for epochs in EPOCHS:
            for method in order:
                ends = METHODS[method](w, epochs)
                timings[method, epochs].append(ends[-1])
                if len(ends) > 1:
                    steady[method] += list(np.diff(ends))
                print(f"  {method:<16} {epochs} epoch(s): {ends[-1]:7.2f} s", file=sys.stderr, flush=True)
    result = {"training_instances": len(w.X), "validation_instances": len(w.X_valid), "steps_per_epoch": steps}
    for method in METHODS:
        result[method] = {f"seconds_{e}_epochs": round(statistics.median(timings[method, e]), 3) for e in EPOCHS}
        result[method]["steady_steps_per_second"] = round(steps / statistics.median(steady[method]), 1)
    result["eager_loop"] = {"steady_steps_per_second": round(eager_steps_per_second(w), 1)}
    long_runs = {m: [] for m in LONG_RUN}
    for repeat in range(REPEATS):  # one after the other, the order alternating
        for method in LONG_RUN if repeat % 2 == 0 else reversed(LONG_RUN):
            long_runs[method].append(long_run_steps_per_second(method, w, steps))
            print(f"  {method:<16} long run: {long_runs[method][-1]:9,.0f} steps/s", file=sys.stderr, flush=True)
    for method in LONG_RUN:
        result[method]["steady_steps_per_second_long_run"] = round(statistics.median(long_runs[method]), 1)
    return result


def table(results: dict) -> str:
    lines = ["| workload | fit 1 ep | tuned 1 ep | train 1 ep | fused 1 ep | fit 5 ep | tuned 5 ep | train 5 ep | fused 5 ep "
             "| tuned/train 1 ep | tuned/train 5 ep | steady steps/s (5 ep): fit / tuned / eager / train / fused "
             "| long run: train / fused | train/tuned (5 ep) | train/fused (5 ep) | train/fused (long run) |",
             "|---" * 16 + "|"]
    for name, r in results.items():
        s = {m: r[m]["steady_steps_per_second"] for m in [*METHODS, "eager_loop"]}
        long = {m: r[m]["steady_steps_per_second_long_run"] for m in LONG_RUN}
        t = {(m, e): r[m][f"seconds_{e}_epochs"] for m in METHODS for e in EPOCHS}
        lines.append(
            f"| {name} | " + " | ".join(f"{t[m, e]:.1f} s" for e in EPOCHS for m in METHODS)
            + f" | {t['fit_tuned', 1] / t['train', 1]:.2f}× | {t['fit_tuned', 5] / t['train', 5]:.2f}×"
            + f" | {s['fit']:,.0f} / {s['fit_tuned']:,.0f} / {s['eager_loop']:,.0f} / {s['train']:,.0f}"
            + f" / {s['fused_reference']:,.0f} | {long['train']:,.0f} / {long['fused_reference']:,.0f}"
            + f" | {s['train'] / s['fit_tuned']:.2f}× | {s['train'] / s['fused_reference']:.2f}"
            + f" | {long['train'] / long['fused_reference']:.2f} |")
    return "\n".join(lines)


def plot(results: dict) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(results)
    fig, axes = plt.subplots(1, 3, figsize=(15, 4.5))
    steady = [(m, m, "steady_steps_per_second") for m in [*METHODS, "eager_loop"]]
    steady.insert(3, ("train, long run", "train", "steady_steps_per_second_long_run"))
    steady.insert(5, ("fused_reference, long run", "fused_reference", "steady_steps_per_second_long_run"))
    colors = {label: f"C{i}" for i, (label, _, _) in enumerate(steady)}  # one colour per method in every panel
    for ax, series, title in [(axes[0], [(m, m, "seconds_1_epochs") for m in METHODS], "1 epoch, from the call (s)"),
                              (axes[1], [(m, m, "seconds_5_epochs") for m in METHODS], "5 epochs, from the call (s)"),
                              (axes[2], steady, "steady state (training steps/s)")]:
        width = 0.8 / len(series)
        for i, (label, method, key) in enumerate(series):
            ax.bar(np.arange(len(names)) + i * width, [results[n][method][key] for n in names], width, label=label,
                   color=colors[label])
        ax.set_xticks(np.arange(len(names)) + 0.4 - width / 2, names, rotation=20, ha="right")
        ax.set_yscale("log")
        ax.set_title(title)
    axes[2].legend(fontsize=9, loc="upper left", bbox_to_anchor=(1.01, 1.0))  # beside the bars, not over them
    fig.tight_layout()
    fig.savefig(PLOT, dpi=100, bbox_inches="tight")


def bench_in_a_fresh_process(name: str) -> dict:
    # One process per workload, as each notebook has its own kernel: a process that has trained
    # many models before traces and runs slower (its heap and function library have grown), which
    # would charge one workload for the ones measured before it.
    with tempfile.TemporaryDirectory() as folder:
        out = Path(folder) / "result.json"
        subprocess.run([sys.executable, __file__, name], env={**os.environ, "BENCH_ONE_TO": str(out)}, check=True)
        return json.loads(out.read_text())


def main() -> None:
    helpers.setup()
    only = sys.argv[1:] or list(WORKLOADS)
    if os.environ.get("BENCH_ONE_TO"):  # a child process: one workload, its result to that file
        Path(os.environ["BENCH_ONE_TO"]).write_text(json.dumps(bench(WORKLOADS[only[0]]())))
        return
    results = {}
    environment = {"tensorflow": tf.__version__, "keras": keras.__version__, "cpus": os.cpu_count(),
                   "batch_size": BATCH_SIZE, "repeats": REPEATS,
                   "tuned_fit": f"jit_compile=True, steps_per_execution={TUNED_STEPS_PER_EXECUTION}"}
    for name in only:
        print(name, file=sys.stderr, flush=True)
        results[name] = bench_in_a_fresh_process(name)
        # after every workload, so that a run cut short still leaves what it measured
        RESULTS.write_text(json.dumps({"environment": environment, "workloads": results}, indent=2) + "\n")
    plot(results)
    print(table(results))
    print(f"\nwritten to {RESULTS} and {PLOT}")


if __name__ == "__main__":
    main()
