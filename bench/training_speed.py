"""Training speed of fit(), the textbook's eager loop, helpers.train and a fused reference.

Run with `make bench`. For each model, every method trains on the same data with batch size 32,
after a warm-up run, and the median of REPEATS timings is kept. Prints a table of steps per second
with ratios, and writes bench/results.json as {"model": {"method": steps_per_second}}.

The fused reference is the fastest loop we know for in-memory data: one whole epoch in a single
XLA-compiled tf.function, batches gathered from tensors already in memory. helpers.train is
measured in steady state, from its on_epoch_end hook, leaving out the first epoch (which traces
and compiles, once per call of train()).
"""

from __future__ import annotations

import json
import os
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

import helpers  # noqa: E402

BATCH_SIZE = 32   # the textbook's batch size
REPEATS = 5       # timings per method; the median is kept
EPOCHS = 2        # epochs per timing for fit(), helpers.train and the fused reference
EAGER_STEPS = 150 # the eager loop is slow: time this many steps
RESULTS = Path(__file__).with_name("results.json")


def california():
    from sklearn.datasets import fetch_california_housing
    from sklearn.model_selection import train_test_split

    data = fetch_california_housing()
    X, _, y, _ = train_test_split(data.data, data.target.reshape(-1, 1), random_state=42)
    X, _, y, _ = train_test_split(X, y, random_state=42)
    X = (X - X.mean(axis=0)) / X.std(axis=0)

    def model():
        keras.utils.set_random_seed(42)
        l2 = keras.regularizers.L2(0.05)
        return keras.Sequential([keras.Input((8,)), keras.layers.Dense(30, activation="elu", kernel_initializer="he_normal", kernel_regularizer=l2), keras.layers.Dense(1, kernel_regularizer=l2)])

    return X.astype(np.float32), y.astype(np.float32), model, keras.losses.MeanSquaredError()


def fashion():
    (X, y), _ = keras.datasets.fashion_mnist.load_data()

    def model():
        keras.utils.set_random_seed(42)
        return keras.Sequential([keras.Input((28, 28)), keras.layers.Flatten(), keras.layers.Dense(300, activation="relu"), keras.layers.Dense(100, activation="relu"), keras.layers.Dense(10, activation="softmax")])

    return (X / 255.0).astype(np.float32), y.astype(np.int32), model, keras.losses.SparseCategoricalCrossentropy()


def timed(function) -> float:
    start = time.perf_counter()
    function()
    return time.perf_counter() - start


def bench_fit(X, y, make_model, loss):
    model = make_model()
    model.compile(optimizer=keras.optimizers.Nadam(), loss=loss)
    run = lambda: model.fit(X, y, batch_size=BATCH_SIZE, epochs=EPOCHS, verbose=0)
    run()  # warm-up: traces the train step
    return EPOCHS * len(X) / BATCH_SIZE / statistics.median(timed(run) for _ in range(REPEATS))


def bench_eager_loop(X, y, make_model, loss):
    model, optimizer = make_model(), keras.optimizers.Nadam()
    rng = np.random.default_rng(0)

    def run(steps=EAGER_STEPS):
        for _ in range(steps):
            X_batch, y_batch = helpers.random_batch(X, y, BATCH_SIZE, rng=rng)
            with tf.GradientTape() as tape:
                y_pred = model(X_batch, training=True)
                main_loss = loss(y_batch, y_pred)
                total = tf.add_n([main_loss, *model.losses])
            gradients = tape.gradient(total, model.trainable_variables)
            optimizer.apply_gradients(zip(gradients, model.trainable_variables))

    run(5)
    return EAGER_STEPS / statistics.median(timed(run) for _ in range(REPEATS))


def bench_train(X, y, make_model, loss):
    ends = []
    epochs = 1 + REPEATS * EPOCHS  # the first epoch traces and compiles: left out
    helpers.train(make_model(), X, y, epochs=epochs, batch_size=BATCH_SIZE, optimizer=keras.optimizers.Nadam(),
                  loss_fn=loss, rng=0, verbose=False, on_epoch_end=lambda epoch, _: ends.append(time.perf_counter()))
    steps = np.ceil(len(X) / BATCH_SIZE)
    timings = [ends[i + EPOCHS] - ends[i] for i in range(0, len(ends) - 1, EPOCHS)]
    return EPOCHS * steps / statistics.median(timings)


def bench_fused_reference(X, y, make_model, loss):
    model, optimizer = make_model(), keras.optimizers.Nadam()
    optimizer.build(model.trainable_variables)
    X, y = tf.constant(X), tf.constant(y)
    steps = len(X) // BATCH_SIZE

    @tf.function(jit_compile=True)
    def epoch(batches):  # (steps, BATCH_SIZE) indices: static shapes for XLA
        for i in tf.range(steps):
            X_batch, y_batch = tf.gather(X, batches[i]), tf.gather(y, batches[i])
            with tf.GradientTape() as tape:
                y_pred = model(X_batch, training=True)
                total = tf.add_n([loss(y_batch, y_pred), *model.losses])
            gradients = tape.gradient(total, model.trainable_variables)
            optimizer.apply_gradients(zip(gradients, model.trainable_variables))

    rng = np.random.default_rng(0)
    order = lambda: tf.constant(rng.permutation(len(X))[: steps * BATCH_SIZE].reshape(steps, BATCH_SIZE).astype(np.int32))
    run = lambda: [epoch(order()) for _ in range(EPOCHS)]
    run()
    return EPOCHS * steps / statistics.median(timed(run) for _ in range(REPEATS))


METHODS = {"fit": bench_fit, "eager_loop": bench_eager_loop, "train": bench_train, "fused_reference": bench_fused_reference}
MODELS = {"california_mlp": california, "fashion_mlp": fashion}


def main() -> None:
    helpers.setup()
    results = {}
    for model_name, load in MODELS.items():
        data = load()
        results[model_name] = {}
        for method, bench in METHODS.items():
            results[model_name][method] = round(bench(*data), 1)
            print(f"{model_name:<15} {method:<16} {results[model_name][method]:>10,.0f} steps/s", file=sys.stderr, flush=True)
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")
    print(f"\n{'model':<15} {'method':<16} {'steps/s':>10} {'vs fit()':>9} {'vs fused':>9}")
    for model_name, speeds in results.items():
        for method, speed in speeds.items():
            print(f"{model_name:<15} {method:<16} {speed:>10,.0f} {speed / speeds['fit']:>8.2f}x {speed / speeds['fused_reference']:>8.2f}x")
    print(f"\nwritten to {RESULTS}")


if __name__ == "__main__":
    main()
