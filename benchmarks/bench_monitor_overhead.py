"""GradientMonitor overhead: training throughput of a user's small CNN with the monitor at its default record
interval ÷ the same `model.fit` without it.

    python benchmarks/bench_monitor_overhead.py [--mode epoch|whole-fit|refit|all] [--rounds 7] [--epochs 20]
                                                [--record-every 10] [--threads 0]

A functional CNN (Conv2D 32 → BatchNorm → ReLU → MaxPool → Conv2D 64 → BatchNorm → ReLU → MaxPool → Dense 128 →
Dense 10), Adam, batch 64, on mnist-5k (28×28, offline). Three measurements, each a ratio of medians of fits with
and without the monitor that alternate (target ≥ 0.95), beside the same ratio of this process's CPU seconds
(steadier on a busy machine):

- epoch: the steady state — two identical models, each round one `fit(epochs=2)` without and one with a fresh
  monitor; the second epoch of each is timed;
- whole-fit: what a user waits for — a fresh model per fit, built, compiled, traced and trained for `--epochs`
  epochs (about a minute on 2 cores), all timed;
- refit: the same compiled model fitted again for one epoch, plainly and with a new monitor each time; the steps
  the monitored refits trace are counted (a plain refit traces none).

The monitored fits write a real run directory (history appended at every read, like a user's script) with unit
statistics on a 128-example probe batch and its targets (so the BatchNorm network's loss in inference mode is
measured too). `--threads 1` pins TensorFlow to one thread (steadier still). Works on
any Keras backend: KERAS_BACKEND=jax python benchmarks/bench_monitor_overhead.py.
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
    parser.add_argument("--mode", choices=("epoch", "whole-fit", "refit", "all"), default="all")
    parser.add_argument("--rounds", type=int, default=7, help="alternating pairs (whole-fit: 3 unless given)")
    parser.add_argument("--epochs", type=int, default=20, help="whole-fit: epochs per fit (about a minute on 2 cores)")
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
    folder = tempfile.mkdtemp(prefix="vg-bench-monitor-")
    steps = -(-len(data.x_train) // 64)
    print(f"small CNN, Adam, batch 64, mnist-5k ({steps} steps/epoch), {keras.backend.backend()} backend, "
          f"GradientMonitor(record_every={args.record_every}) with unit statistics, the probe rows' targets (the "
          f"loss of guessing; the BatchNorm net's loss in inference mode) and a run directory; "
          f"load average {os.getloadavg()[0]:.1f}")

    def monitor():
        return GradientMonitor(os.path.join(folder, "run"), record_every=args.record_every,
                               probe_data=data.x_train[:128], probe_targets=data.y_train[:128])

    def compiled():
        model = build(keras)
        model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
        return model

    try:
        if args.mode in ("epoch", "all"):
            steady_state(keras, data, compiled, monitor, args.rounds)
        if args.mode in ("whole-fit", "all"):
            whole_fit(keras, data, compiled, monitor, args.rounds if args.mode == "whole-fit" else 3, args.epochs)
        if args.mode in ("refit", "all"):
            refit(keras, data, compiled, monitor, args.rounds)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


class EpochTimer:
    """Epoch hooks only: no per-step work of its own (a keras.callbacks.Callback made on first use)."""

    @staticmethod
    def make(keras):
        class Timer(keras.callbacks.Callback):
            def on_epoch_begin(self, epoch, logs=None):
                self.started = time.perf_counter(), time.process_time()

            def on_epoch_end(self, epoch, logs=None):
                self.last = time.perf_counter() - self.started[0], time.process_time() - self.started[1]

        return Timer()


def report(name: str, times: dict, unit: str) -> None:
    wall = {k: statistics.median(t for t, _ in v) for k, v in times.items()}
    cpu = {k: statistics.median(c for _, c in v) for k, v in times.items()}
    pairs = list(zip(times["plain"], times["monitored"]))  # each monitored run beside the plain one before it
    print(f"{name}:")
    print(f"  plain model.fit        {wall['plain']:7.3f} s/{unit}")
    print(f"  with GradientMonitor   {wall['monitored']:7.3f} s/{unit}   throughput ratio "
          f"{wall['plain'] / wall['monitored']:.3f}   CPU-time ratio {cpu['plain'] / cpu['monitored']:.3f}"
          "   (target >= 0.95)")
    print(f"  median of paired ratios: wall {statistics.median(p[0] / m[0] for p, m in pairs):.3f}, CPU time "
          f"{statistics.median(p[1] / m[1] for p, m in pairs):.3f}; each pair (plain/monitored, wall s | CPU s): "
          + ", ".join(f"{p[0]:.1f}/{m[0]:.1f} | {p[1]:.1f}/{m[1]:.1f}" for p, m in pairs))


def steady_state(keras, data, compiled, monitor, rounds: int) -> None:
    """Two identical models (same initial weights) alternate: each round one `fit(epochs=2)` without and one with
    a fresh monitor; the second epoch of each is timed."""
    keras.utils.set_random_seed(0)
    plain, watched = compiled(), compiled()
    watched.set_weights(plain.get_weights())

    def epoch(model, monitored: bool):
        timer = EpochTimer.make(keras)
        callbacks = [monitor()] if monitored else []
        model.fit(data.x_train, data.y_train, batch_size=64, epochs=2, verbose=0, callbacks=callbacks + [timer])
        return timer.last

    times = {"plain": [], "monitored": []}
    for _ in range(rounds):
        times["plain"].append(epoch(plain, False))
        times["monitored"].append(epoch(watched, True))
    report(f"steady state (median of {rounds} alternating epochs, the second of each fit)", times, "epoch")


def whole_fit(keras, data, compiled, monitor, rounds: int, epochs: int) -> None:
    """A fresh model per fit — building, compiling, the first trace and every epoch timed — alternating plain
    and monitored."""
    from vg_studio.train.probes import step as step_probes

    traces = []

    def fit(monitored: bool):
        keras.backend.clear_session()
        keras.utils.set_random_seed(0)
        start, cpu = time.perf_counter(), time.process_time()
        model = compiled()
        model.fit(data.x_train, data.y_train, batch_size=64, epochs=epochs, verbose=0,
                  callbacks=[monitor()] if monitored else [])
        took = time.perf_counter() - start, time.process_time() - cpu
        if monitored:
            traces.append(step_probes._PROBES[model].traces)
        return took

    times = {"plain": [], "monitored": []}
    for _ in range(rounds):
        times["plain"].append(fit(False))
        times["monitored"].append(fit(True))
    report(f"whole fit (fresh model, compile included, {epochs} epochs; median of {rounds} alternating fits; "
           f"traces of the probed step per monitored fit: {sorted(set(traces))}; load average now "
           f"{os.getloadavg()[0]:.1f})", times, "fit")


def refit(keras, data, compiled, monitor, rounds: int) -> None:
    """The same compiled model fitted again for one epoch: plainly, and with a new monitor each time; the steps
    the monitored refits trace are counted (a plain refit traces none)."""
    from vg_studio.train.probes import step as step_probes

    keras.utils.set_random_seed(0)
    plain, watched = compiled(), compiled()
    watched.set_weights(plain.get_weights())
    plain.fit(data.x_train, data.y_train, batch_size=64, epochs=1, verbose=0)
    watched.fit(data.x_train, data.y_train, batch_size=64, epochs=1, verbose=0, callbacks=[monitor()])
    probe = step_probes._PROBES[watched]
    traced = probe.traces

    def once(model, monitored: bool):
        start, cpu = time.perf_counter(), time.process_time()
        model.fit(data.x_train, data.y_train, batch_size=64, epochs=1, verbose=0,
                  callbacks=[monitor()] if monitored else [])
        return time.perf_counter() - start, time.process_time() - cpu

    times = {"plain": [], "monitored": []}
    for _ in range(rounds):
        times["plain"].append(once(plain, False))
        times["monitored"].append(once(watched, True))
    report(f"refit (one epoch, a new monitor each time; median of {rounds} alternating refits; steps traced by the "
           f"monitored refits: {probe.traces - traced})", times, "refit")


if __name__ == "__main__":
    main()
