"""Labelled grid for the diagnostics: small training runs whose label is fixed by construction.

    python benchmarks/diagnostics_grid.py [--quick] [--holdout] [--verbose] [--json OUT]

Labels (issue 4): deep sigmoid + plain SGD + small init → vanishing; large random-normal init + high learning
rate → exploding; ReLU with a strongly negative bias → dead; learning rate 0 → flat (flat weights and plateau);
ReLU + He + Adam → healthy. A run is *predicted* to carry a label when a finding of warning-or-worse severity of
that label's kinds is reported. Prints the confusion table (true label × primary predicted label), per-label
precision/recall over the multi-label predictions, and the step of the first vanishing finding as % of the run.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from vg_studio.data import load_dataset  # noqa: E402
from vg_studio.diagnose.findings import severity_rank  # noqa: E402
from vg_studio.spec import DataSpec, ExperimentSpec, LayerSpec, MonitoringSpec, NetworkSpec, OptimizerSpec, \
    TrainingSpec  # noqa: E402

LABELS = ("vanishing", "exploding", "dead", "flat", "healthy")
# finding kinds that count as predicting each label; "flat" needs both of seed 002's signs
LABEL_KINDS = {"vanishing": ("vanishing_gradient",), "exploding": ("exploding_gradient", "non_finite"),
               "dead": ("dead_units",), "flat": ("flat_weights", "loss_plateau")}


def make_spec(label: str, depth: int, dataset: str, seed: int, variant: int = 0, epochs: int = 3,
              limit: int = 600) -> ExperimentSpec:
    """One configuration of `label`; `variant` picks among the ways to build it (width, init, rate)."""
    width = (32, 64, 128)[variant % 3]
    if label == "vanishing":
        init = ("random_normal", "glorot_uniform")[variant % 2]
        layers = [LayerSpec(units=width, activation="sigmoid", initializer=init,
                            init_stddev=(0.05, 0.1, 0.02)[variant % 3]) for _ in range(depth)]
        optimizer = OptimizerSpec("sgd", learning_rate=(0.1, 0.05, 0.2)[variant % 3])
    elif label == "exploding":
        activation = ("relu", "linear", "leaky_relu")[variant % 3]
        layers = [LayerSpec(units=width, activation=activation, initializer="random_normal",
                            init_stddev=(1.0, 2.0, 0.7)[variant % 3]) for _ in range(depth)]
        optimizer = OptimizerSpec("sgd", learning_rate=(0.5, 1.0, 0.3)[variant % 3])
    elif label == "dead":
        layers = [LayerSpec(units=width, activation="relu", initializer="he_normal",
                            bias_init=(-5.0, -10.0, -3.0)[variant % 3]) for _ in range(depth)]
        optimizer = OptimizerSpec(*(("adam", 0.001), ("sgd", 0.05))[variant % 2])
    elif label == "flat":
        activation, init = (("relu", "he_normal"), ("sigmoid", "glorot_uniform"), ("tanh", "glorot_uniform"))[
            variant % 3]
        layers = [LayerSpec(units=width, activation=activation, initializer=init) for _ in range(depth)]
        optimizer = OptimizerSpec(("adam", "sgd", "rmsprop")[variant % 3], learning_rate=0.0)
    elif label == "healthy":
        layers = [LayerSpec(units=width, activation="relu", initializer=("he_normal", "he_uniform")[variant % 2])
                  for _ in range(depth)]
        optimizer = OptimizerSpec("adam", learning_rate=(0.001, 0.003, 0.0005)[variant % 3])
    else:
        raise ValueError(label)
    return ExperimentSpec(
        name=f"{label}-d{depth}-{dataset}-s{seed}-v{variant}",
        data=DataSpec(dataset, {"limit": limit}),
        network=NetworkSpec(layers=layers),
        optimizer=optimizer,
        training=TrainingSpec(epochs=epochs, batch_size=32, seed=seed),
        monitoring=MonitoringSpec(record_every=2, probe_batch_size=128),
    )


def make_holdout_spec(label: str, depth: int, dataset: str, seed: int, variant: int = 0, epochs: int = 3,
                      limit: int = 600) -> ExperimentSpec:
    """Configurations never used to set the thresholds: other activations, initializers, optimizers, widths,
    batch size and dataset (shapes10) than `make_spec`'s, each still labelled by construction."""
    width = (48, 96)[variant % 2]
    if label == "vanishing":  # saturating and deep, plain SGD, small or LeCun init
        activation, init, std = (("tanh", "random_normal", 0.02), ("sigmoid", "lecun_normal", 0.05))[variant % 2]
        layers = [LayerSpec(units=width, activation=activation, initializer=init, init_stddev=std)
                  for _ in range(depth)]
        optimizer = OptimizerSpec("sgd", learning_rate=0.1)
    elif label == "exploding":  # large init and a high rate with momentum
        layers = [LayerSpec(units=width, activation=("elu", "relu")[variant % 2], initializer="random_normal",
                            init_stddev=1.5) for _ in range(depth)]
        optimizer = OptimizerSpec("sgd_momentum", learning_rate=0.5, params={"momentum": 0.9})
    elif label == "dead":
        layers = [LayerSpec(units=width, activation="relu", initializer="glorot_uniform", bias_init=-8.0)
                  for _ in range(depth)]
        optimizer = OptimizerSpec(("rmsprop", "adam")[variant % 2], learning_rate=0.001)
    elif label == "flat":
        layers = [LayerSpec(units=width, activation=("elu", "gelu")[variant % 2], initializer="he_uniform")
                  for _ in range(depth)]
        optimizer = OptimizerSpec(("sgd_momentum", "adagrad")[variant % 2], learning_rate=0.0)
    elif label == "healthy":
        activation, optimizer = (("elu", OptimizerSpec("rmsprop", learning_rate=0.001)),
                                 ("leaky_relu", OptimizerSpec("sgd_momentum", learning_rate=0.01)))[variant % 2]
        layers = [LayerSpec(units=width, activation=activation, initializer="he_normal") for _ in range(depth)]
    else:
        raise ValueError(label)
    return ExperimentSpec(
        name=f"holdout-{label}-d{depth}-{dataset}-s{seed}-v{variant}",
        data=DataSpec(dataset, {"limit": limit}),
        network=NetworkSpec(layers=layers),
        optimizer=optimizer,
        training=TrainingSpec(epochs=epochs, batch_size=64, seed=seed),
        monitoring=MonitoringSpec(record_every=2, probe_batch_size=128),
    )


def predicted_labels(findings) -> set[str]:
    kinds = {f.kind for f in findings if severity_rank(f.severity) >= 1}
    labels = {label for label, ks in LABEL_KINDS.items() if kinds & set(ks)}
    if "flat" in labels and not {"flat_weights", "loss_plateau"} <= kinds:
        labels.discard("flat")  # one of the two signs alone is not the flat label
        labels.add("flat?")
    return labels or {"healthy"}


def primary(labels: set[str]) -> str:
    for label in ("exploding", "dead", "vanishing", "flat", "flat?"):
        if label in labels:
            return label
    return "healthy"


def run_grid(quick: bool, verbose: bool, holdout: bool = False):
    from vg_studio.diagnose.listener import DiagnosisListener
    from vg_studio.train.trainer import Trainer

    build = make_holdout_spec if holdout else make_spec
    datasets = ["shapes10"] if holdout else ["digits"] if quick else ["digits", "mnist-5k"]
    seeds = [0] if quick else [0, 1]
    depths = {"vanishing": [6] if quick else [5, 6, 8], "default": [3] if quick else [2, 4, 6]}
    cache = {}
    rows = []
    for label, dataset, seed in itertools.product(LABELS, datasets, seeds):
        for d_i, depth in enumerate(depths.get(label, depths["default"])):
            variant = seed + d_i + (1 if dataset != "digits" else 0)
            spec = build(label, depth, dataset, seed, variant)
            key = (dataset, spec.data.options["limit"])
            if key not in cache:
                cache[key] = load_dataset(dataset, spec.data.options)
            started = time.perf_counter()
            diagnosis = DiagnosisListener()
            result = Trainer(spec, dataset=cache[key], listeners=[diagnosis]).run()
            findings = diagnosis.findings
            steps = max(result.report.get("steps", 1), 1)
            vanishing = [f for f in findings if f.kind == "vanishing_gradient" and severity_rank(f.severity) >= 1]
            predicted = predicted_labels(findings)
            row = {"name": spec.name, "label": label, "predicted": sorted(predicted), "status": result.status,
                   "steps": steps, "vanishing_at_pct": 100.0 * vanishing[0].step / steps if vanishing else None,
                   "findings": [(f.kind, f.severity, f.step) for f in findings],
                   "seconds": round(time.perf_counter() - started, 1)}
            rows.append(row)
            if verbose:
                print(json.dumps(row), flush=True)
                for f in findings:
                    print("   ", str(f).replace("\n", "\n    "))
    return rows


def summarise(rows) -> str:
    cols = list(LABELS) + ["flat?"]
    table = {t: {p: 0 for p in cols} for t in LABELS}
    for row in rows:
        table[row["label"]][primary(set(row["predicted"]))] += 1
    lines = ["true \\ predicted  " + "".join(f"{c:>10}" for c in cols)]
    for t in LABELS:
        lines.append(f"{t:<17}" + "".join(f"{table[t][c]:>10}" for c in cols))
    lines.append("")
    lines.append(f"{'label':<10}{'precision':>10}{'recall':>8}{'support':>9}")
    for label in LABELS:
        tp = sum(label == r["label"] and label in r["predicted"] for r in rows)
        fp = sum(label != r["label"] and label in r["predicted"] for r in rows)
        fn = sum(label == r["label"] and label not in r["predicted"] for r in rows)
        prec = tp / (tp + fp) if tp + fp else float("nan")
        rec = tp / (tp + fn) if tp + fn else float("nan")
        lines.append(f"{label:<10}{prec:>10.2f}{rec:>8.2f}{tp + fn:>9}")
    pct = [r["vanishing_at_pct"] for r in rows if r["label"] == "vanishing" and r["vanishing_at_pct"] is not None]
    if pct:
        lines.append(f"\nfirst vanishing finding: median {sorted(pct)[len(pct) // 2]:.1f} % of steps, worst "
                     f"{max(pct):.1f} % (runs of {rows[0]['steps']}–{max(r['steps'] for r in rows)} steps)")
    healthy_bad = [r["name"] for r in rows if r["label"] == "healthy" and r["predicted"] != ["healthy"]]
    lines.append(f"healthy runs with a warning-or-worse finding: {len(healthy_bad)} {healthy_bad or ''}")
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="one dataset, one seed, one depth per label")
    parser.add_argument("--verbose", action="store_true", help="print every run's findings")
    parser.add_argument("--json", metavar="OUT", help="also write the per-run rows as JSON")
    parser.add_argument("--holdout", action="store_true",
                        help="the held-out grid: configurations not used to choose the thresholds (shapes10)")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    rows = run_grid(args.quick, args.verbose, args.holdout)
    print(summarise(rows))
    print(f"\n{len(rows)} runs in {time.perf_counter() - started:.0f} s")
    if args.json:
        with open(args.json, "w", encoding="utf-8") as fh:
            json.dump(rows, fh, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
