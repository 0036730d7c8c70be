"""Probe overhead: training throughput with in-step probes ÷ plain `model.fit`, same model and data.

    python benchmarks/bench_probe_overhead.py [--rounds 7] [--layers 5] [--units 700]

784-700×5-10 sigmoid network, SGD, batch 100, mnist-5k. Each round fits two epochs of the plain model and two of
the probed model, alternating, and times the second (the first traces the step); the ratio of medians is
printed for two settings: a record every step (unit statistics off) and the default monitoring (a record every 10
steps, with dead/saturated unit statistics on a 128-example probe batch). Both use the Trainer's own recorder
(vg_studio.train.recorder.RunRecorder): in-step statistics and histograms into the device ring buffer, one host
read per block of steps. Target ≥ 0.95.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402

from vg_studio import edits  # noqa: E402
from vg_studio.data import load_dataset  # noqa: E402
from vg_studio.nn.build import build_model, layer_groups  # noqa: E402
from vg_studio.nn.optimizers import make_optimizer  # noqa: E402
from vg_studio.spec import LayerSpec, OptimizerSpec, example_spec  # noqa: E402
from vg_studio.train.columns import Column, UnitTaps  # noqa: E402
from vg_studio.train.recorder import RunRecorder  # noqa: E402


JIT = "auto"


def make(spec, data, probed, every=1, unit_stats=False):
    """The model and a factory of the callbacks the Trainer would use (the same RunRecorder, no run directory)."""
    model = build_model(spec, data.input_shape, data.num_classes)
    model.compile(optimizer=make_optimizer(spec.optimizer), loss=spec.loss, metrics=["accuracy"], jit_compile=JIT)
    if not probed:
        return model, list
    groups = layer_groups(model, spec)

    def columns(model, probe_x):
        plan = [Column(g.name, g.activation, "dense", 0,
                       [v for name in g.layer_names for v in model.get_layer(name).trainable_variables])
                for g in groups]
        taps = [(i, model.get_layer(g.preact_layer).output, g.activation, False)
                for i, g in enumerate(groups) if g.preact_layer]
        return plan, UnitTaps.from_graph(model, len(groups), taps, probe_x)

    probe_x = data.x_train[:128] if unit_stats else None
    return model, lambda: [RunRecorder(record_every=every, columns=columns, probe_data=probe_x)]


class EpochTimer(keras.callbacks.Callback):
    def on_epoch_begin(self, epoch, logs=None):
        self.started = time.perf_counter(), time.process_time()

    def on_epoch_end(self, epoch, logs=None):
        self.last = time.perf_counter() - self.started[0], time.process_time() - self.started[1]


def epoch_time(model, callbacks, data, batch_size):
    """(wall seconds, CPU seconds of this process) of the second epoch of a two-epoch fit (the first traces)."""
    timer = EpochTimer()
    model.fit(data.x_train, data.y_train, batch_size=batch_size, epochs=2, verbose=0,
              callbacks=callbacks() + [timer], shuffle=True)
    return timer.last


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--layers", type=int, default=5)
    parser.add_argument("--units", type=int, default=700)
    args = parser.parse_args()
    spec = example_spec().model_copy(update={"optimizer": OptimizerSpec(name="sgd", learning_rate=0.1)})
    spec = edits.set_layers(spec, [LayerSpec(units=args.units, activation="sigmoid") for _ in range(args.layers)])
    data = load_dataset("mnist-5k")
    variants = {"plain": make(spec, data, probed=False),
                "record every step": make(spec, data, probed=True, every=1),
                "default monitoring": make(spec, data, probed=True, every=10, unit_stats=True)}
    times = {name: [] for name in variants}
    for _ in range(args.rounds):
        for name, (model, callbacks) in variants.items():
            times[name].append(epoch_time(model, callbacks, data, 100))
    plain = statistics.median(t for t, _ in times["plain"])
    plain_cpu = statistics.median(c for _, c in times["plain"])
    print(f"784-{args.units}x{args.layers}-10 sigmoid, SGD, batch 100, mnist-5k ({len(data.x_train)} examples), "
          f"{keras.backend.backend()} backend, median of {args.rounds} alternating epochs")
    print("  (CPU-time ratio: the same from this process's CPU seconds — steadier on a busy machine)")
    for name in variants:
        median = statistics.median(t for t, _ in times[name])
        cpu = statistics.median(c for _, c in times[name])
        print(f"  {name:20s} {median:7.3f} s/epoch   throughput ratio vs plain {plain / median:.3f}   "
              f"CPU-time ratio {plain_cpu / cpu:.3f}")


if __name__ == "__main__":
    main()
