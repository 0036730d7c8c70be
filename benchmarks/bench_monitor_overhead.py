"""GradientMonitor overhead: training throughput of a user's small CNN with the monitor at its default record
interval ÷ the same `model.fit` without it.

    python benchmarks/bench_monitor_overhead.py [--rounds 7] [--record-every 10] [--threads 0]

A functional CNN (Conv2D 32 → BatchNorm → ReLU → MaxPool → Conv2D 64 → BatchNorm → ReLU → MaxPool → Dense 128 →
Dense 10), Adam, batch 64, on mnist-5k (28×28, offline). Two identical models (same initial weights) alternate:
each round, one `fit(epochs=2)` without and one with a fresh GradientMonitor; the first epoch of every fit (the
step traced again, the probes installed) is dropped and the second timed. The ratio of the median epoch times is
printed (target ≥ 0.95), with the same ratio from this process's CPU seconds, which is steadier on a busy
machine. The monitored fits write a real run directory (history appended at every read, like a user's script)
with unit statistics on a 128-example probe batch. `--threads 1` pins TensorFlow to one thread (steadier still).
Works on any Keras backend: KERAS_BACKEND=jax python benchmarks/bench_monitor_overhead.py.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def build(keras):
    inputs = keras.Input((28, 28, 1))
    x = inputs
    for filters in (32, 64):
        x = keras.layers.Conv2D(filters, 3, padding="same", use_bias=False)(x)
        x = keras.layers.BatchNormalization()(x)
        x = keras.layers.ReLU()(x)
        x = keras.layers.MaxPooling2D()(x)
    x = keras.layers.Flatten()(x)
    x = keras.layers.Dense(128, activation="relu")(x)
    return keras.Model(inputs, keras.layers.Dense(10, activation="softmax")(x), name="small_cnn")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--record-every", type=int, default=10, help="the monitor's default is 10")
    parser.add_argument("--threads", type=int, default=0, help="TensorFlow threads (0: its default)")
    args = parser.parse_args()

    import keras

    if args.threads and keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        tf.config.threading.set_intra_op_parallelism_threads(args.threads)
        tf.config.threading.set_inter_op_parallelism_threads(args.threads)
    from vg_studio.data import load_dataset
    from vg_studio.monitor import GradientMonitor

    data = load_dataset("mnist-5k")
    keras.utils.set_random_seed(0)
    plain, watched = build(keras), build(keras)
    watched.set_weights(plain.get_weights())
    for model in (plain, watched):
        model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    folder = tempfile.mkdtemp(prefix="vg-bench-monitor-")

    class EpochTimer(keras.callbacks.Callback):  # epoch hooks only: no per-step work of its own
        def on_epoch_begin(self, epoch, logs=None):
            self.started = time.perf_counter(), time.process_time()

        def on_epoch_end(self, epoch, logs=None):
            self.last = time.perf_counter() - self.started[0], time.process_time() - self.started[1]

    def epoch(model, monitored: bool):
        timer = EpochTimer()
        callbacks = [GradientMonitor(os.path.join(folder, "run"), record_every=args.record_every,
                                     probe_data=data.x_train[:128])] if monitored else []
        model.fit(data.x_train, data.y_train, batch_size=64, epochs=2, verbose=0, callbacks=callbacks + [timer])
        return timer.last  # the second epoch: tracing and installing are behind it

    try:
        times = {"plain": [], "monitored": []}
        for _ in range(args.rounds):
            times["plain"].append(epoch(plain, False))
            times["monitored"].append(epoch(watched, True))
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    wall = {k: statistics.median(t for t, _ in v) for k, v in times.items()}
    cpu = {k: statistics.median(c for _, c in v) for k, v in times.items()}
    steps = -(-len(data.x_train) // 64)
    print(f"small CNN ({plain.count_params():,} parameters), Adam, batch 64, mnist-5k ({steps} steps/epoch), "
          f"{keras.backend.backend()} backend, GradientMonitor(record_every={args.record_every}) with unit "
          f"statistics, median of {args.rounds} alternating epochs")
    print(f"  plain model.fit        {wall['plain']:7.3f} s/epoch")
    print(f"  with GradientMonitor   {wall['monitored']:7.3f} s/epoch   throughput ratio "
          f"{wall['plain'] / wall['monitored']:.3f}   CPU-time ratio {cpu['plain'] / cpu['monitored']:.3f}"
          "   (target >= 0.95)")


if __name__ == "__main__":
    main()
