"""SDAGD benchmarks on Tan & Lim's 784-700×5-10 sigmoid network (Tan & Lim, 2019), built as the app builds it.

    python benchmarks/bench_sdagd.py speed     # SDAGD step time ÷ Adam step time, side by side (target ≤ 1.15);
                                               # --optimizers A,B: any two variants, e.g.
                                               # sdagd:curvature_scale=diagonal,adam
    python benchmarks/bench_sdagd.py compare   # test MCR through the Trainer: SDAGD (defaults) vs Adam vs SGD,
                                               # several mnist-5k splits and seeds, and scikit-learn's digits
    python benchmarks/bench_sdagd.py sweep CONFIGS.json [--results FILE]   # resumable variant sweep (docs/sdagd.md)
    python benchmarks/bench_sdagd.py summary [--results FILE]              # medians per variant from a sweep

Run them with `nice -n 5` on a shared machine. Timings are ratios measured side by side in one process, medians of
alternating repetitions; errors are medians over splits and seeds.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402
import numpy as np  # noqa: E402

from vg_studio import catalog  # noqa: E402
from vg_studio.spec import DataSpec, ExperimentSpec, LayerSpec, NetworkSpec, OptimizerSpec, TrainingSpec  # noqa: E402

RESULTS = Path("runs/sdagd_sweep.jsonl")  # runs/ is git-ignored


def _spec(optimizer: OptimizerSpec, width=700, depth=5, activation="sigmoid", loss="sparse_categorical_crossentropy",
          dataset="mnist-5k", split=0, seed=0, epochs=10) -> ExperimentSpec:
    return ExperimentSpec(
        name=f"bench-{optimizer.name}", data=DataSpec(dataset=dataset, options={"seed": split}),
        network=NetworkSpec(layers=[LayerSpec(units=width, activation=activation, initializer="glorot_uniform")
                                    for _ in range(depth)], output_initializer="glorot_uniform"),
        loss=loss, optimizer=optimizer, training=TrainingSpec(epochs=epochs, batch_size=100, seed=seed))


def tuning_model(opt_name: str, depth: int, activation: str, seed: int, epochs: int, class_params: dict):
    """The tuning digits (mnist-5k's training digits, 20 % held out by `seed`) and the app's 784-700×depth-10
    network compiled with Adam 1e-3 or the named optimizer at rate 1.0 under cross-entropy, `class_params` set on
    the optimizer before it is built: (data, models, optimizer)."""
    from vg_studio.data import load_dataset
    from vg_studio.nn.build import build_models
    from vg_studio.nn.optimizers import make_optimizer

    data = load_dataset("mnist-5k", {"seed": 0}).with_validation(0.2, seed)
    optimizer_spec = OptimizerSpec(name=opt_name, learning_rate=1e-3 if opt_name == "adam" else 1.0)
    spec = _spec(optimizer_spec, 700, depth, activation, "sparse_categorical_crossentropy", "mnist-5k", 0, seed,
                 epochs)
    models = build_models(spec, (int(np.prod(data.x_train.shape[1:])),), data.num_classes)
    optimizer = make_optimizer(optimizer_spec, 100)
    for name, value in class_params.items():
        setattr(optimizer, name, value)
    models.train.compile(optimizer, "sparse_categorical_crossentropy")
    return data, models, optimizer


def default_optimizer(name: str) -> OptimizerSpec:
    lr = {"adam": 1e-3, "sgd": 0.1}.get(name, catalog.OPTIMIZERS[name]["learning_rate"])
    return OptimizerSpec(name=name, learning_rate=lr)


def _training_model(spec: ExperimentSpec, input_shape, classes):
    """The training graph and optimizer as the Trainer builds them (SDAGD's curvature taps), without the run
    recorder's probes: they cost both optimizers alike, so the ratio is the optimizers' own."""
    from vg_studio.nn.build import build_models
    from vg_studio.nn.optimizers import make_optimizer

    models = build_models(spec, input_shape, classes)
    optimizer = make_optimizer(spec.optimizer, spec.training.batch_size)
    models.train.compile(optimizer, spec.loss)
    return models, optimizer


# ---- speed ----------------------------------------------------------------------------------------------------
def speed(width=700, depth=5, steps=40, repeats=21, optimizers=("sdagd", "adam")):
    """Step time of each optimizer's training graph as the app builds it, in steady state: each graph is traced and
    run once on the timed data before the timing (a first fit on other data retraces inside the first timed
    repetition), then `repeats` repetitions of `steps` steps alternate between the two, in alternating order (ABBA…)
    so that drifts in the machine's load and any position effect hit both alike. Reports the ratio of the medians
    and the median of the paired ratios (each repetition's pair ran back to back), with the paired ratios' quartiles.
    `steps` is a multiple of 10, so every repetition holds the same number of curvature refreshes and records."""
    rng = np.random.default_rng(0)
    x = rng.random((steps * 100, 784), dtype=np.float32)
    y = rng.integers(0, 10, steps * 100)
    models = {}
    for text in optimizers:
        label, optimizer = parse_variant(text)
        model, _ = _training_model(_spec(optimizer, width, depth), (784,), 10)
        for _ in range(2):  # trace on the timed data, then one untimed steady-state pass
            model.train.fit(x, y, batch_size=100, epochs=1, verbose=0, shuffle=False)
        models[label] = model.train
    names = list(models)
    times, cpu = {name: [] for name in names}, {name: [] for name in names}
    for repeat in range(repeats):
        for name in (names if repeat % 2 == 0 else names[::-1]):
            start, start_cpu = time.perf_counter(), time.process_time()
            models[name].fit(x, y, batch_size=100, epochs=1, verbose=0, shuffle=False)
            times[name].append((time.perf_counter() - start) / steps)
            cpu[name].append((time.process_time() - start_cpu) / steps)
    first, second = names[0], names[-1]
    medians = {name: statistics.median(values) for name, values in times.items()}
    pairs = sorted(a / b for a, b in zip(times[first], times[second]))
    quartiles = statistics.quantiles(pairs, n=4)
    ratio, paired = medians[first] / medians[second], statistics.median(pairs)
    print(f"784-{width}x{depth}-10 sigmoid, batch 100, training graphs as the app builds them (no probes), "
          f"{repeats} alternating repetitions (ABBA order) of {steps} steps after a traced and an "
          f"untimed pass, backend {keras.backend.backend()}, load average {os.getloadavg()[0]:.2f}")
    print(f"{first} {1000 * medians[first]:.2f} ms/step, {second} {1000 * medians[second]:.2f} ms/step (medians); "
          f"{first}/{second}: ratio of medians {ratio:.3f}, median of paired ratios {paired:.3f} (quartiles "
          f"{quartiles[0]:.3f}–{quartiles[2]:.3f}; target <= 1.15)")
    print("paired ratios: " + " ".join(f"{r:.2f}" for r in pairs))
    # every graph's median wall and process CPU time (CPU time shows work that ran in parallel on another core)
    for name in names:
        print(f"  {name:40s} wall {1000 * medians[name]:6.2f} ms/step   CPU {1000 * statistics.median(cpu[name]):6.2f} "
              "ms/step (medians)")
    return ratio, paired


# ---- compare: the owners' check, through the Trainer -------------------------------------------------------
def parse_variant(text: str) -> tuple[str, OptimizerSpec]:
    """"adam", "sdagd" (catalog defaults) or "sdagd:radius_growth_steps=100;learning_rate=2e-4"."""
    name, _, settings = text.partition(":")
    base = default_optimizer(name)
    lr, params = base.learning_rate, {}
    for item in filter(None, settings.split(";")):
        key, _, value = item.partition("=")
        try:
            value = json.loads(value)
        except ValueError:  # a word: a string option such as curvature=difference
            pass
        if key == "learning_rate":
            lr = value
        else:
            params[key] = value
    return text, OptimizerSpec(name=name, learning_rate=lr, params=params)


def compare(epochs=10, depth=5, splits=(0, 1, 2), seeds=(0,), datasets=("mnist-5k", "digits"),
            optimizers=("sdagd", "adam", "sgd"), validation_split=0.0, results: Path = Path("runs/sdagd_compare.jsonl")):
    """Test MCR of each optimizer (variant) per (dataset, split, seed) through the Trainer, as the app trains;
    seed None: the split's own number. Each run is appended to `results` (and skipped when already there)."""
    from vg_studio.train.trainer import Trainer

    cases = [(dataset, split, split if seed is None else seed) for dataset in datasets for split in splits
             for seed in seeds]
    print(f"784-700x{depth}-10 sigmoid (digits: 64-700x{depth}-10), Xavier, batch 100, {epochs} epochs, "
          f"cross-entropy, validation split {validation_split}, Trainer; test MCR % per (dataset, split, seed)")
    done = {}
    if results.exists():
        done = {row["key"]: row for row in map(json.loads, results.read_text().splitlines()) if row}
    table: dict = {}
    for dataset, split, seed in cases:
        row = []
        for text in optimizers:
            label, optimizer = parse_variant(text)
            spec = _spec(optimizer, depth=depth, dataset=dataset, split=split, seed=seed, epochs=epochs)
            spec = spec.model_copy(update={"training": spec.training.model_copy(
                update={"validation_split": validation_split})})
            key = hashlib.sha1(spec.to_json().encode()).hexdigest()[:12]
            if key not in done:
                with tempfile.TemporaryDirectory() as run_dir:
                    result = Trainer(spec, run_dir=run_dir).run()
                phase1 = [float(v) for v in result.history.optimizer.get("sdagd_phase1_fraction", [])]
                done[key] = {"key": key, "variant": label, "dataset": dataset, "split": split, "seed": seed,
                             "epochs": epochs, "depth": depth,
                             "mcr": 100 * result.report["test_metrics"]["misclassification_rate"],
                             "wall_s": result.report.get("wall_time_s"), "phase1": phase1,
                             "train_loss": [float(v) for v in result.history.epochs.get("loss", [])]}
                results.parent.mkdir(parents=True, exist_ok=True)
                with open(results, "a") as fh:
                    fh.write(json.dumps(done[key]) + "\n")
            run = done[key]
            table.setdefault((label, dataset), []).append(run["mcr"])
            phase1 = run["phase1"]
            row.append(f"{label} {run['mcr']:6.2f}" + (f" (phase-I {phase1[0]:.3f}→{phase1[-1]:.3f}, min "
                                                        f"{min(phase1):.3f})" if phase1 else ""))
        print(f"{dataset:9s} split {split} seed {seed}: " + "  ".join(row), flush=True)
    for dataset in dict.fromkeys(c[0] for c in cases):
        print(f"median {dataset}: " + "  ".join(f"{label} {statistics.median(table[(label, dataset)]):.2f}"
                                                 for label in optimizers))


# ---- sweep: variants on the builder network, resumable -----------------------------------------------------
class _Trace(keras.callbacks.Callback):
    """SDAGD's diagnostic scalars every `every` steps and the epoch logs."""

    def __init__(self, optimizer, every=40):
        super().__init__()
        self.optimizer_, self.every, self.step, self.rows = optimizer, every, 0, []

    def on_train_batch_end(self, batch, logs=None):
        self.step += 1
        report = getattr(self.optimizer_, "diagnostic_scalars", None)
        if callable(report) and (self.step == 1 or self.step % self.every == 0):
            sync = getattr(self.model, "jax_state_sync", None)
            if callable(sync):
                sync()
            row = {k: float(keras.ops.convert_to_numpy(v)) for k, v in report().items()}
            self.rows.append({"step": self.step, **row})

    def on_epoch_end(self, epoch, logs=None):
        self.rows.append({"epoch": epoch, **{k: float(v) for k, v in (logs or {}).items()}})


def run_variant(config: dict, results: Path = RESULTS) -> dict:
    """One training run of a config dict (dataset, split, seed, width, depth, act, loss, epochs, opt, lr, params;
    class_params: attributes set on the optimizer before it is built): skipped when `results` already holds it.
    The training graph is the app's (build_models, make_optimizer)."""
    from vg_studio.data import load_dataset
    from vg_studio.nn.build import build_models
    from vg_studio.nn.optimizers import make_optimizer

    key = hashlib.sha1(json.dumps(config, sort_keys=True).encode()).hexdigest()[:12]
    if results.exists():
        for line in results.read_text().splitlines():
            if line.strip() and json.loads(line)["key"] == key:
                return json.loads(line)
    data = load_dataset(config["dataset"], {"seed": config.get("split", 0)})
    if config.get("holdout"):  # tune on a validation part of the training digits: the test digits stay unseen
        data = data.with_validation(float(config["holdout"]), config.get("holdout_seed", config.get("split", 0)))
        data.x_test, data.y_test = data.x_val, data.y_val
    optimizer_spec = OptimizerSpec(name=config["opt"], learning_rate=config["lr"], params=config.get("params", {}))
    loss = config.get("loss", "sparse_categorical_crossentropy")
    spec = _spec(optimizer_spec, config.get("width", 700), config.get("depth", 5), config.get("act", "sigmoid"),
                 loss, config["dataset"], config.get("split", 0), config.get("seed", 0), config.get("epochs", 10))
    x = data.x_train.reshape(len(data.x_train), -1)
    x_test = data.x_test.reshape(len(data.x_test), -1)
    models = build_models(spec, x.shape[1:], data.num_classes)
    optimizer = make_optimizer(optimizer_spec, 100)
    for name, value in config.get("class_params", {}).items():  # class options the spec does not (yet) expose
        setattr(optimizer, name, value)
    models.train.compile(optimizer, loss)
    target = keras.utils.to_categorical(data.y_train, data.num_classes) if loss == "mse" else data.y_train
    trace = _Trace(optimizer)
    start = time.perf_counter()
    models.train.fit(x, target, batch_size=100, epochs=spec.training.epochs, verbose=0, callbacks=[trace])
    wall = time.perf_counter() - start
    predicted = np.argmax(models.user.predict(x_test, verbose=0, batch_size=500), axis=1)
    row = {"key": key, "config": config, "mcr": 100 * float(np.mean(predicted != data.y_test)), "wall_s": wall,
           "trace": trace.rows}
    results.parent.mkdir(parents=True, exist_ok=True)
    with open(results, "a") as fh:
        fh.write(json.dumps(row) + "\n")
    return row


def sweep(config_path: Path, results: Path = RESULTS):
    for config in json.loads(config_path.read_text()):
        row = run_variant(config, results)
        phase1 = [t["sdagd_phase1_fraction"] for t in row["trace"] if "sdagd_phase1_fraction" in t]
        print(json.dumps(config), f"MCR {row['mcr']:.2f}",
              f"phase-I {phase1[0]:.3f}→{phase1[-1]:.3f}" if phase1 else "", f"{row['wall_s']:.0f}s", flush=True)


def summary(results: Path = RESULTS, match: str = ""):
    """Median test MCR per variant (the config without dataset split and seed) over its runs."""
    groups: dict = {}
    for line in results.read_text().splitlines():
        row = json.loads(line)
        config = dict(row["config"])
        if match and match not in json.dumps(config):
            continue
        runs = f"{config.pop('dataset')}"
        config.pop("split", None), config.pop("seed", None)
        phase1 = [t["sdagd_phase1_fraction"] for t in row["trace"] if "sdagd_phase1_fraction" in t]
        groups.setdefault((json.dumps(config, sort_keys=True), runs), []).append((row["mcr"], phase1[-1] if phase1
                                                                                  else float("nan")))
    for (config, dataset), values in sorted(groups.items()):
        mcrs = [v[0] for v in values]
        print(f"{dataset:9s} n={len(mcrs)} median MCR {statistics.median(mcrs):6.2f} "
              f"(runs {' '.join(f'{m:.1f}' for m in mcrs)}) final phase-I "
              f"{statistics.median([v[1] for v in values]):.3f}  {config}")


def layers(results: Path = RESULTS, match: str = ""):
    """Where μ crosses h, per layer: the medians of μ and h at the first and last record of each matching run, and
    R* = R_k·μ/h, the radius at which the layer's median weight would switch to phase II (its diagonal Newton step)."""
    for line in results.read_text().splitlines():
        row = json.loads(line)
        if match and match not in json.dumps(row["config"]):
            continue
        records = [t for t in row["trace"] if "sdagd_phase1_fraction" in t]
        if not records:
            continue
        print(json.dumps(row["config"]), f"MCR {row['mcr']:.2f}")
        names = [k[len("sdagd_mu["):-1] for k in records[0] if k.startswith("sdagd_mu[")]
        for record in (records[0], records[-1]):
            radius = record.get("sdagd_radius", row["config"].get("params", {}).get("radius", float("nan")))
            cells = []
            for name in names:
                mu, h = record[f"sdagd_mu[{name}]"], record[f"sdagd_h[{name}]"]
                crossing = radius * mu / h if h > 0 else float("inf")
                cells.append(f"{name} μ {mu:.1e} h {h:.1e} R* {crossing:.2g} phase-I "
                             f"{record[f'sdagd_phase1_fraction[{name}]']:.2f}")
            print(f"  step {record['step']:5d} R {radius:.3g} phase-I {record['sdagd_phase1_fraction']:.3f}: "
                  + " | ".join(cells))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("mode", choices=("speed", "compare", "sweep", "summary", "layers"))
    parser.add_argument("configs", nargs="?", help="sweep: a JSON list of run configs")
    parser.add_argument("--results", type=Path, default=RESULTS)
    parser.add_argument("--match", default="", help="summary: only configs whose JSON contains this text")
    parser.add_argument("--width", type=int, default=700)
    parser.add_argument("--depth", type=int, default=5)
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--splits", default="0,1,2", help="compare: mnist-5k/digits split seeds")
    parser.add_argument("--seeds", default="split", help="compare: weight seeds (default: the split's number)")
    parser.add_argument("--optimizers", default="sdagd,adam,sgd",
                        help="compare: optimizers, comma-separated; a variant as name:key=value;key=value, e.g. "
                             "sdagd:radius_growth_steps=100;learning_rate=2e-4")
    parser.add_argument("--repeats", type=int, default=21, help="speed: alternating repetitions (with --optimizers: "
                        "any number of graphs side by side; the ratio is the first's over the last's)")
    parser.add_argument("--validation-split", type=float, default=0.0, help="compare: Trainer validation split")
    parser.add_argument("--datasets", default="mnist-5k,digits", help="compare: which datasets")
    args = parser.parse_args(argv)
    if args.mode == "speed":
        speed(args.width, args.depth, repeats=args.repeats, optimizers=tuple(args.optimizers.split(","))
              if args.optimizers != "sdagd,adam,sgd" else ("sdagd", "adam"))
    elif args.mode == "compare":
        seeds = (None,) if args.seeds == "split" else tuple(int(s) for s in args.seeds.split(","))
        compare(args.epochs, args.depth, tuple(int(s) for s in args.splits.split(",")), seeds,
                tuple(args.datasets.split(",")), tuple(args.optimizers.split(",")), args.validation_split)
    elif args.mode == "sweep":
        if not args.configs:
            sys.exit("bench_sdagd.py: error: sweep needs a JSON file of configs")
        sweep(Path(args.configs), args.results)
    elif args.mode == "layers":
        layers(args.results, args.match)
    else:
        summary(args.results, args.match)


if __name__ == "__main__":
    main()
