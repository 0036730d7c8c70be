"""SDAGD benchmarks on seed 003's 784-700×5-10 sigmoid network.

    python benchmarks/bench_sdagd.py speed   # SDAGD step time ÷ Adam step time, side by side (target ≤ 1.15)
    python benchmarks/bench_sdagd.py mnist   # test misclassification on mnist-5k: SDAGD (defaults), Adam, SGD
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402
import numpy as np  # noqa: E402

from vg_studio import catalog  # noqa: E402
from vg_studio.nn.sdagd import SDAGD  # noqa: E402
from vg_studio.spec import DataSpec, ExperimentSpec, LayerSpec, NetworkSpec, OptimizerSpec, TrainingSpec  # noqa: E402


def _mlp(width, depth, seed=0):
    keras.utils.set_random_seed(seed)
    layers = [keras.Input((784,))] + [keras.layers.Dense(width, "sigmoid") for _ in range(depth)]
    return keras.Sequential(layers + [keras.layers.Dense(10, "softmax")])


def speed(width=700, depth=5, steps=40, repeats=7):
    rng = np.random.default_rng(0)
    x = rng.random((steps * 100, 784), dtype=np.float32)
    y = rng.integers(0, 10, steps * 100)
    models = {}
    for name, opt in (("sdagd", SDAGD()), ("adam", keras.optimizers.Adam(1e-3))):
        model = _mlp(width, depth)
        model.compile(opt, "sparse_categorical_crossentropy")
        model.fit(x[:200], y[:200], batch_size=100, epochs=1, verbose=0)  # compile outside the timing
        models[name] = model
    times = {name: [] for name in models}
    for _ in range(repeats):  # alternate so drifts in machine load hit both alike
        for name, model in models.items():
            start = time.perf_counter()
            model.fit(x, y, batch_size=100, epochs=1, verbose=0, shuffle=False)
            times[name].append((time.perf_counter() - start) / steps)
    sdagd, adam = statistics.median(times["sdagd"]), statistics.median(times["adam"])
    print(f"784-{width}x{depth}-10, batch 100, median of {repeats} x {steps} steps, backend {keras.backend.backend()}")
    print(f"SDAGD {1000 * sdagd:.2f} ms/step  Adam {1000 * adam:.2f} ms/step  ratio {sdagd / adam:.3f} (target <= 1.15)")
    return sdagd / adam


def mnist_table(width=700, depth=5, epochs=10, seed=0):
    from vg_studio.train.trainer import Trainer

    rates = {"sdagd": catalog.OPTIMIZERS["sdagd"]["learning_rate"], "adam": 1e-3, "sgd": 0.1}
    defaults = {name: OptimizerSpec(name=name, learning_rate=lr) for name, lr in rates.items()}
    print(f"mnist-5k, 784-{width}x{depth}-10 sigmoid, Xavier (glorot_uniform), batch 100, {epochs} epochs, seed {seed}")
    print(f"{'optimizer':<10}{'lr':>8}{'test MCR %':>12}{'train loss':>12}{'seconds':>9}")
    for name, opt in defaults.items():
        spec = ExperimentSpec(
            name=f"bench-{name}", data=DataSpec(dataset="mnist-5k"),
            network=NetworkSpec(layers=[LayerSpec(units=width, activation="sigmoid", initializer="glorot_uniform")
                                        for _ in range(depth)]),
            optimizer=opt, training=TrainingSpec(epochs=epochs, batch_size=100, seed=seed))
        start = time.perf_counter()
        with tempfile.TemporaryDirectory() as run_dir:
            result = Trainer(spec, run_dir=run_dir).run()
        accuracy = result.report["test_metrics"]["accuracy"]
        loss = result.history.epochs["loss"][-1]
        print(f"{name:<10}{opt.learning_rate:>8g}{100 * (1 - accuracy):>12.2f}{loss:>12.3f}"
              f"{time.perf_counter() - start:>9.0f}", flush=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("mode", choices=("speed", "mnist"))
    parser.add_argument("--width", type=int, default=700)
    parser.add_argument("--depth", type=int, default=5)
    parser.add_argument("--epochs", type=int, default=10)
    args = parser.parse_args()
    if args.mode == "speed":
        speed(args.width, args.depth)
    else:
        mnist_table(args.width, args.depth, args.epochs)


if __name__ == "__main__":
    main()
