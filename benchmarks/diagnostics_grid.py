"""Labelled grid for the diagnostics: short training runs, each label measured independently of the rules.

    nice -n 10 python benchmarks/diagnostics_grid.py [--set dev|holdout|stress|fresh|unseen|model|findings|all]
                                                     [--quick] [--jobs J] [--runs DIR] [--no-train] [--redo-preflight]
                                                     [--verbose]
                                                     [--json OUT]

Each run is built to show one problem (its construction label) — vanishing, exploding, dead, saturated, flat,
oscillating, slow, poor_init — or none (healthy). What it *does* show is measured apart from the rules, with
`tf.GradientTape` and NumPy on the network before and after training and the loss of every batch
(`grid/checks.py`): its true labels, several where several hold (an explosion that kills the ReLUs is exploding
and dead). A run is *predicted* to carry a label when the diagnosis reports a finding of that label's kinds at
warning or worse that holds at the end of the run (what ended on the way is reported apart and counts for nothing)
or the pre-flight check finds a poor initialisation; the measured labels are likewise what holds at the end (and,
for a poor initialisation, at the start). Prints per-label precision/recall over the multi-label sets, when
vanishing was first reported (% of the run's steps), every healthy run that got a warning, and every run whose
measured labels differ from its construction label.

Spec runs (the app's networks: `grid/spec_sets.py`) are trained by `vg-studio reproduce`'s cells and measured
afterwards (the network rebuilt from its spec and seed, and its saved model.keras; the measurements are kept beside
the run directory, never in it); model runs (users' own Keras
models: `grid/models.py`) are measured in the worker around `model.fit`. Runs are kept under `--runs`: a second
invocation re-diagnoses the stored histories with the current rules in seconds.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from dataclasses import replace
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, str(Path(__file__).resolve().parent))

from grid import checks, spec_sets  # noqa: E402
from grid.aftermath import SETS as AFTERMATH_SETS  # noqa: E402
from grid.edges import SETS as EDGE_SETS  # noqa: E402
from grid.heldout import SETS as HELDOUT_SETS  # noqa: E402
from grid.heldout3 import SETS as HELDOUT3_SETS  # noqa: E402
from grid.heldout4 import SETS as HELDOUT4_SETS  # noqa: E402
from grid.heldout5 import SETS as HELDOUT5_SETS  # noqa: E402
from grid.heldout6 import SETS as HELDOUT6_SETS  # noqa: E402
from grid.heldout7 import SETS as HELDOUT7_SETS  # noqa: E402
from grid.heldout8 import SETS as HELDOUT8_SETS  # noqa: E402
from grid.heldout9 import SETS as HELDOUT9_SETS  # noqa: E402
from grid.heldout10 import SETS as HELDOUT10_SETS  # noqa: E402
from grid.heldout11 import SETS as HELDOUT11_SETS  # noqa: E402
from grid.heldout12 import SETS as HELDOUT12_SETS  # noqa: E402
from grid.heldout13 import SETS as HELDOUT13_SETS  # noqa: E402
from grid.heldout14 import SETS as HELDOUT14_SETS  # noqa: E402
from grid.heldout15 import SETS as HELDOUT15_SETS  # noqa: E402
from grid.heldout16 import SETS as HELDOUT16_SETS  # noqa: E402
from grid.heldout17 import SETS as HELDOUT17_SETS  # noqa: E402
from grid.heldout18 import SETS as HELDOUT18_SETS  # noqa: E402
from grid.heldout19 import SETS as HELDOUT19_SETS  # noqa: E402
from grid.heldout20 import SETS as HELDOUT20_SETS  # noqa: E402
from grid.heldout21 import SETS as HELDOUT21_SETS  # noqa: E402
from grid.heldout22 import SETS as HELDOUT22_SETS  # noqa: E402
from grid.heldout23 import SETS as HELDOUT23_SETS  # noqa: E402
from grid.heldout24 import SETS as HELDOUT24_SETS  # noqa: E402
from grid.heldout25 import SETS as HELDOUT25_SETS  # noqa: E402
from grid.heldout26 import SETS as HELDOUT26_SETS  # noqa: E402
from grid.heldout27 import SETS as HELDOUT27_SETS  # noqa: E402
from grid.models import SETS as MODEL_SETS  # noqa: E402
from grid.oscillation import SETS as OSCILLATION_SETS  # noqa: E402
from grid.models import ModelConfig, model_inputs, train_model_run  # noqa: E402
from grid.spec_sets import SETS as SPEC_SETS  # noqa: E402
from grid.spec_sets import Config  # noqa: E402
from grid.weak import SETS as WEAK_SETS  # noqa: E402

from vg_studio.diagnose.findings import Finding, severity_rank  # noqa: E402

# the rules and thresholds were chosen looking at these
TUNING_SETS = {**SPEC_SETS, **MODEL_SETS, **WEAK_SETS, **EDGE_SETS, **OSCILLATION_SETS, **AFTERMATH_SETS}
# the held-out sets are scored apart, never tuned on
HELDOUT_GROUPS = {"heldout": HELDOUT_SETS, "heldout3": HELDOUT3_SETS, "heldout4": HELDOUT4_SETS,
                  "heldout5": HELDOUT5_SETS, "heldout6": HELDOUT6_SETS, "heldout7": HELDOUT7_SETS,
                  "heldout8": HELDOUT8_SETS, "heldout9": HELDOUT9_SETS,
                  "heldout10": HELDOUT10_SETS, "heldout11": HELDOUT11_SETS, "heldout12": HELDOUT12_SETS,
                  "heldout13": HELDOUT13_SETS, "heldout14": HELDOUT14_SETS,
                  "heldout15": HELDOUT15_SETS, "heldout16": HELDOUT16_SETS,
                  "heldout17": HELDOUT17_SETS, "heldout18": HELDOUT18_SETS,
                  "heldout19": HELDOUT19_SETS, "heldout20": HELDOUT20_SETS,
                  "heldout21": HELDOUT21_SETS, "heldout22": HELDOUT22_SETS,
                  "heldout23": HELDOUT23_SETS, "heldout24": HELDOUT24_SETS,
                  "heldout25": HELDOUT25_SETS, "heldout26": HELDOUT26_SETS,
                  "heldout27": HELDOUT27_SETS}
SETS = {**TUNING_SETS, **{name: make for group in HELDOUT_GROUPS.values() for name, make in group.items()}}
LABELS = checks.LABELS + ("healthy",)
# finding kinds that count as predicting each label; "flat" needs both of the SNS notes' signs
LABEL_KINDS = {"vanishing": ("vanishing_gradient", "vanishing_through_time"),
               "exploding": ("exploding_gradient", "non_finite"), "dead": ("dead_units",),
               "saturated": ("saturated_units",), "flat": ("flat_weights", "loss_plateau"),
               "oscillating": ("oscillating_loss",), "slow": ("slow_convergence",),
               "poor_init": ("poor_initialization",)}


def predicted_labels(findings) -> set[str]:
    """The labels of the warning-or-worse findings that hold at the end of the run (what the report lists as
    holding; what ended on the way is told apart and counts for nothing here)."""
    kinds = {f.kind for f in findings if severity_rank(f.severity) >= 1 and f.state == "active"}
    labels = {label for label, ks in LABEL_KINDS.items() if kinds & set(ks)}
    if "flat" in labels and not {"flat_weights", "loss_plateau"} <= kinds:
        labels.discard("flat")  # one of the two signs alone is not the flat label
        labels.add("stalled")  # ... but a warning all the same: the run is not predicted healthy
    return labels


def spec_checks(config: Config, run_dir: Path) -> dict:
    """Measure a trained spec run: its network as it started (rebuilt from the spec and seed) and as it ended
    (model.keras); the pre-flight findings on its first batch too. Cached beside the run directory."""
    import keras

    from vg_studio.data import load_dataset
    from vg_studio.diagnose.preflight import preflight
    from vg_studio.nn.build import build_model

    stored = Path(f"{run_dir}.checks.json")
    if stored.exists():
        return json.loads(stored.read_text())
    spec = config.spec()
    data = load_dataset(spec.data.dataset, dict(spec.data.options))
    x, y = data.x_train[:128], data.y_train[:128]
    model = build_model(spec, data.input_shape, data.num_classes)
    found = preflight(model, data.x_train[:spec.training.batch_size], spec=spec)
    before = checks.measure(model, x, y, data.num_classes)
    if (run_dir / "model.keras").exists():
        final = keras.saving.load_model(run_dir / "model.keras", compile=False)
        after = checks.measure(final, x, y, data.num_classes, before=before)
    else:  # a run stopped at a non-finite loss keeps no model: what it ended with is not a number
        after = checks.Measured(math.nan, math.nan, math.nan, math.nan, math.nan, math.nan, math.nan, math.nan,
                                finite=False)
    measured = {"before": before.summary(), "after": after.summary(), "batch_losses": _batch_losses(run_dir),
                "num_classes": data.num_classes}
    stored.write_text(json.dumps(measured, default=float))
    Path(f"{run_dir}.preflight.json").write_text(json.dumps([f.to_dict() for f in found]))
    return measured


def redo_preflight(config, run_dir: Path) -> None:
    """Run the pre-flight check again on the network as the run started (rebuilt from its config and seed) and
    store it beside the run: the check's findings as the current code gives them."""
    from vg_studio.data import load_dataset
    from vg_studio.diagnose.preflight import preflight

    if not run_dir.exists():
        return
    if isinstance(config, Config):
        from vg_studio.nn.build import build_model

        spec = config.spec()
        data = load_dataset(spec.data.dataset, dict(spec.data.options))
        model = build_model(spec, data.input_shape, data.num_classes)
        found = preflight(model, data.x_train[:spec.training.batch_size], spec=spec)
    else:
        data = load_dataset(config.dataset, {"limit": config.limit})
        x = model_inputs(config, data.x_train)
        found = preflight(config.build(x.shape[1:], data.num_classes), x[:config.batch_size])
    Path(f"{run_dir}.preflight.json").write_text(json.dumps([f.to_dict() for f in found]))


def _batch_losses(run_dir: Path) -> list:
    """[step, loss of the batches since the previous point] of a spec run, from Keras's running means in its
    history: for records at the j-th and k-th step of an epoch, (k m_k - j m_j) / (k - j) (each batch's own loss
    when every step is recorded); an epoch's first record at its k-th step gives m_k, the mean of its first k
    batches. The epoch's first step is taken from the run's steps per epoch. A run whose history keeps every
    batch's own loss (what Keras logged at each batch end, taken apart from its running mean as `checks.BatchLosses`
    does for a user's model) gives those: the checks then see every batch, as they do for a user's model."""
    from vg_studio.train.runstore import open_run

    history = open_run(run_dir).history
    if history.batch_steps:
        return [[int(s), float(v)] for s, v in zip(history.batch_steps, history.batch_loss)]
    per_epoch = int(history.attrs.get("steps_per_epoch") or 0)
    if per_epoch < 1:
        return []
    out, previous = [], None
    for step, epoch, mean in zip(history.steps, history.record_epochs, history.record_loss):
        k = step - epoch * per_epoch  # the step's place in its epoch, 1-based
        if previous is not None and previous[1] == epoch and 0 < previous[0] < k:
            out.append([int(step), (k * float(mean) - previous[0] * previous[2]) / (k - previous[0])])
        elif k >= 1:
            out.append([int(step), float(mean)])
        previous = (k, epoch, float(mean))
    return out


def run_grid(configs: list, runs: Path, jobs: int, verbose: bool, train: bool = True) -> list[dict]:
    from vg_studio.diagnose.engine import diagnose_run
    from vg_studio.experiments.cells import Cell, read_report, run_cells

    specs = [c for c in configs if isinstance(c, Config)]
    if train:
        cells = []
        for c in specs:
            try:
                cells.append(Cell(c.name, c.spec(), runs / c.name))
            except ValueError as exc:  # a rate of 0 that today's spec refuses: a run stored before is still scored
                if not (runs / c.name).exists():
                    print(f"{c.name}: not trained ({exc})", file=sys.stderr, flush=True)
        run_cells(cells, jobs=jobs)
    models = [c for c in configs if train and isinstance(c, ModelConfig)
              and (read_report(runs / c.name).get("status") not in ("completed", "diverged")
                   or not Path(f"{runs / c.name}.checks.json").exists())]
    if models:
        import concurrent.futures as cf
        import multiprocessing
        import shutil

        for c in models:
            shutil.rmtree(runs / c.name, ignore_errors=True)
        with cf.ProcessPoolExecutor(max(1, jobs), mp_context=multiprocessing.get_context("spawn")) as pool:
            for c, outcome in zip(models, pool.map(train_model_run, models, [str(runs / c.name) for c in models])):
                print(f"{c.name}: {outcome['status']} {outcome.get('message', '')}", file=sys.stderr, flush=True)
    rows = []
    for config in configs:
        run_dir = runs / config.name
        try:
            diagnoser, report = diagnose_run(run_dir)
            if isinstance(config, Config):  # (the batch losses from the history as this version reads them)
                measured = {**spec_checks(config, run_dir), "batch_losses": _batch_losses(run_dir)}
            else:
                measured = json.loads(Path(f"{run_dir}.checks.json").read_text())
            preflight = [Finding.from_dict(f) for f in json.loads(Path(f"{run_dir}.preflight.json").read_text())]
        except Exception as exc:  # noqa: BLE001 - a broken run is reported, the grid goes on
            rows.append({"name": config.name, "label": config.label, "truth": None, "predicted": ["no run"],
                         "status": str(exc).splitlines()[0] if str(exc) else type(exc).__name__, "steps": 0,
                         "vanishing_at_pct": None, "findings": []})
            continue
        diagnoser.add_preflight(preflight)  # as the monitor and the app hand it over before training
        findings = diagnoser.findings
        steps = max(int(report.get("steps", 1) or 1), 1)
        vanishing = sorted((f for f in findings if f.kind in LABEL_KINDS["vanishing"]
                            and severity_rank(f.severity) >= 1 and f.state == "active"), key=lambda f: f.step)
        truth = checks.truth({**measured, "steps": report.get("steps")})
        row = {"name": config.name, "label": config.label, "truth": sorted(truth) or ["healthy"],
               "trained": checks.trained(measured), "predicted": sorted(predicted_labels(findings)) or ["healthy"],
               "status": report.get("status"), "steps": steps,
               "vanishing_at_pct": 100.0 * vanishing[0].step / steps if vanishing else None,
               "findings": [(f.kind, f.severity, f.state, f.step, f.last_step) for f in findings]}
        rows.append(row)
        if verbose:
            print(json.dumps(row), flush=True)
            for f in findings:
                print("   ", str(f).replace("\n", "\n    "))
    return rows


def summarise(rows) -> str:
    scored = [r for r in rows if r["truth"] is not None and (r["truth"] != ["healthy"] or r["trained"])]
    lines = [f"{'label':<12}{'precision':>10}{'recall':>8}{'support':>9}{'predicted':>11}"]
    for label in LABELS:
        tp = sum(label in r["truth"] and label in r["predicted"] for r in scored)
        fp = sum(label not in r["truth"] and label in r["predicted"] for r in scored)
        fn = sum(label in r["truth"] and label not in r["predicted"] for r in scored)
        prec = f"{tp / (tp + fp):.2f}" if tp + fp else "—"
        rec = f"{tp / (tp + fn):.2f}" if tp + fn else "—"
        lines.append(f"{label:<12}{prec:>10}{rec:>8}{tp + fn:>9}{tp + fp:>11}")
    pct = sorted(r["vanishing_at_pct"] for r in scored if "vanishing" in r["truth"]
                 and r["vanishing_at_pct"] is not None)
    if pct:
        lines.append(f"\nfirst vanishing finding: median {pct[len(pct) // 2]:.1f} % of steps, worst {pct[-1]:.1f} % "
                     f"(runs of {min(r['steps'] for r in scored)}–{max(r['steps'] for r in scored)} steps)")
    healthy_bad = [r["name"] for r in scored if r["truth"] == ["healthy"] and r["predicted"] != ["healthy"]]
    lines.append(f"healthy runs with a warning-or-worse finding: {len(healthy_bad)} {healthy_bad or ''}")
    unclear = [r["name"] for r in rows if r["truth"] == ["healthy"] and not r["trained"]]
    if unclear:
        lines.append(f"not scored (no problem measured, yet it did not train): {unclear}")
    missing = [f"{r['name']} ({r['status']})" for r in rows if r["truth"] is None]
    if missing:
        lines.append(f"runs missing or unreadable: {missing}")
    wrong = [f"  {r['name']}: measured {', '.join(r['truth'])}; predicted {', '.join(r['predicted'])}"
             for r in scored if set(r["predicted"]) != set(r["truth"])]
    if wrong:
        lines += ["runs whose prediction is not exactly what was measured:"] + wrong
    built = [f"  {r['name']}: built as {r['label']}, measured {', '.join(r['truth'])}" for r in scored
             if r["label"] not in r["truth"]]
    if built:
        lines += ["runs that do not show what they were built to show (scored by what they show):"] + built
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--set", default="findings",
                        help=f"which configurations: {', '.join(SETS)}, several joined by commas, all (every "
                             "tuning set), heldout (both held-out sets of seeds 11-19), heldout3 (both of seeds "
                             "31-37), heldout4 (51-57), heldout5 (61-67) ... heldout25 (271-277), heldout26 "
                             "(281-287), heldout27 (291-297): both parts of one held-out set (default findings)")
    parser.add_argument("--quick", action="store_true", help="one run per label of the chosen set")
    parser.add_argument("--match", metavar="TEXT", help="only the runs whose name contains TEXT")
    parser.add_argument("--jobs", type=int, default=1, help="runs trained in parallel processes")
    parser.add_argument("--runs", default="runs/diagnostics-grid", help="where the runs are written and reused")
    parser.add_argument("--record-every", type=int, default=None,
                        help="override every run's record interval (rules must not depend on it)")
    parser.add_argument("--no-train", action="store_true",
                        help="only re-diagnose the runs already stored under --runs (missing ones are listed)")
    parser.add_argument("--redo-preflight", action="store_true",
                        help="run the pre-flight check again on every chosen run's initial network before scoring")
    parser.add_argument("--verbose", action="store_true", help="print every run's findings")
    parser.add_argument("--json", metavar="OUT", help="also write the per-run rows as JSON")
    args = parser.parse_args(argv)
    chosen = list(TUNING_SETS) if args.set == "all" else list(HELDOUT_GROUPS[args.set]) \
        if args.set in HELDOUT_GROUPS else args.set.split(",")
    unknown = [name for name in chosen if name not in SETS]
    if unknown:
        parser.error(f"--set: unknown set {', '.join(unknown)} (expected {', '.join(SETS)}, all, heldout, "
                     f"{', '.join(HELDOUT_GROUPS)})")
    spec_sets.DATA_DIR = Path(args.runs) / "data"
    configs = [c for name in chosen for c in SETS[name]()]
    if args.record_every:
        configs = [replace(c, record_every=args.record_every) for c in configs]
    if args.match:
        configs = [c for c in configs if args.match in c.name]
    if args.quick:
        configs = [next(c for c in configs if c.label == label) for label in LABELS
                   if any(c.label == label for c in configs)]
    started = time.perf_counter()
    if args.redo_preflight:
        for config in configs:
            try:
                redo_preflight(config, Path(args.runs) / config.name)
            except Exception as exc:  # noqa: BLE001 - the run is scored (or listed as unreadable) as it is
                print(f"{config.name}: pre-flight not redone ({exc})".splitlines()[0], file=sys.stderr)
    rows = run_grid(configs, Path(args.runs), args.jobs, args.verbose, train=not args.no_train)
    print(summarise(rows))
    print(f"\n{len(rows)} runs ({args.set}) in {time.perf_counter() - started:.0f} s; runs in {args.runs}")
    if args.json:
        with open(args.json, "w", encoding="utf-8") as fh:
            json.dump(rows, fh, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
