"""Tan & Lim (2019), Table I and Figures 3–4: SGD vs SDAGD on 784-700×L-10 networks, L = 1…5.

Set-up as the paper gives it: 700 units per hidden layer, sigmoid or ReLU, Xavier (Glorot uniform) initialisation,
mini-batches of 100, the squared-error objective of eq. (5) on one-hot targets, test misclassification rate
averaged over 3 differently initialised runs. What the paper leaves open and we fix (nothing tuned toward its
numbers): SGD learning rate 0.1, SDAGD with the catalog's defaults, softmax output, no validation hold-out
(all training examples are trained on), 100 epochs. Adam (learning rate 0.001) runs beside them as today's
reference; it is not in the paper's table.
"""

from __future__ import annotations

import math
import statistics
import time
from dataclasses import dataclass, field
from pathlib import Path

from vg_studio import catalog
from vg_studio.experiments.cells import Cell, CellOutcome, read_report
from vg_studio.experiments.common import (environment_section, fmt, markdown_table, mean_std, pyplot,
                                          save_figure, write_csv)
from vg_studio.references import cite
from vg_studio.safeio import atomic_write_text
from vg_studio.spec import DataSpec, ExperimentSpec, LayerSpec, MonitoringSpec, NetworkSpec, OptimizerSpec, TrainingSpec

DEPTHS = (1, 2, 3, 4, 5)
ACTIVATIONS = ("sigmoid", "relu")
OPTIMIZERS = ("sgd", "sdagd", "adam")
PAPER_OPTIMIZERS = ("sgd", "sdagd")  # the paper's table; Adam is our reference beside it
SGD_LEARNING_RATE = 0.1
ADAM_LEARNING_RATE = 0.001
# Table I, test MCR in % — (optimizer, activation) -> value at hl-1 … hl-5.
PAPER_TABLE_I = {
    ("sgd", "sigmoid"): (10.73, 12.98, 33.71, 88.65, 89.91),
    ("sgd", "relu"): (10.95, 10.07, 9.32, 9.24, 9.22),
    ("sdagd", "sigmoid"): (3.34, 3.66, 4.00, 4.11, 5.07),
    ("sdagd", "relu"): (1.77, 1.96, 2.09, 2.09, 2.34),
}
# Verdict thresholds (test MCR, %): 10 classes, so chance is 90 %.
FAILS_AT = 80.0  # "failed to train completely" (the paper's hl-4/hl-5 SGD-sigmoid cells: 88.65, 89.91)
TRAINS_AT = 20.0  # "trains": far from chance (the paper's worst training cell is 33.71, hl-3 SGD-sigmoid)
LABEL = {"sgd": "SGD", "sdagd": "SDAGD", "adam": "Adam", "sigmoid": "Sigmoid", "relu": "ReLU"}


@dataclass
class GridOptions:
    dataset: str = "mnist"
    runs: int = 3
    epochs: int = 100
    depths: tuple = DEPTHS
    units: int = 700
    activations: tuple = ACTIVATIONS
    optimizers: tuple = OPTIMIZERS
    limit: int | None = None
    loss: str = "mse"
    batch_size: int = 100
    data_options: dict = field(default_factory=dict)


def cell_spec(depth: int, activation: str, optimizer: str, run: int, o: GridOptions) -> ExperimentSpec:
    options = dict(o.data_options)
    if o.limit:
        options["limit"] = o.limit
    if optimizer == "sgd":
        opt = OptimizerSpec(name="sgd", learning_rate=SGD_LEARNING_RATE)
    elif optimizer == "adam":
        opt = OptimizerSpec(name="adam", learning_rate=ADAM_LEARNING_RATE)
    else:  # SDAGD's defaults, as the GUI offers them
        defaults = catalog.OPTIMIZERS[optimizer]
        params = dict(defaults["params"])
        if "batch_size" in params:  # older catalogs: the trainer passes training.batch_size to SDAGD anyway
            params["batch_size"] = o.batch_size
        opt = OptimizerSpec(name=optimizer, learning_rate=defaults["learning_rate"], params=params)
    return ExperimentSpec(
        name=f"sdagd-hl{depth}-{activation}-{optimizer}",
        data=DataSpec(dataset=o.dataset, options=options),
        network=NetworkSpec(layers=[LayerSpec(units=o.units, activation=activation, initializer="glorot_uniform")
                                    for _ in range(depth)],
                            output_activation="softmax", output_initializer="glorot_uniform"),
        loss=o.loss,
        optimizer=opt,
        training=TrainingSpec(epochs=o.epochs, batch_size=o.batch_size, seed=run, validation_split=0.0),
        monitoring=MonitoringSpec(record_every=10),
    )


def cell_key(depth: int, activation: str, optimizer: str, run: int) -> str:
    return f"{optimizer}-{activation}-hl{depth}-run{run}"


def build_cells(o: GridOptions, out: Path) -> list[Cell]:
    cells = []
    for optimizer in o.optimizers:
        for activation in o.activations:
            for depth in o.depths:
                for run in range(o.runs):
                    key = cell_key(depth, activation, optimizer, run)
                    cells.append(Cell(key, cell_spec(depth, activation, optimizer, run, o), out / "cells" / key))
    return cells


def presets() -> dict[str, ExperimentSpec]:
    """One preset per cell family of the paper's table (optimizer × activation) at the deepest net, hl-5."""
    o = GridOptions()
    return {f"sdagd-hl5-{a}-{opt}": cell_spec(5, a, opt, 0, o) for opt in PAPER_OPTIMIZERS for a in ACTIVATIONS}


# ---- results ------------------------------------------------------------------------------------------------
@dataclass
class Measured:
    mcr: float  # mean test MCR over completed runs, %
    std: float
    completed: int
    runs: int
    curves: list  # per completed run: training error per epoch, %
    accuracy: float
    f1: float
    wall_s: float
    phase1_final: float = math.nan  # SDAGD: share of weights still in phase I at the last record (mean of runs)
    phase1_layers: dict = field(default_factory=dict)  # SDAGD: per layer group (hidden_1 … output), median of runs
    mcrs: list = field(default_factory=list)  # test MCR % of each completed run, in seed order

    @property
    def median(self) -> float:
        return statistics.median(self.mcrs) if self.mcrs else math.nan


def collect(o: GridOptions, out: Path) -> dict[tuple, Measured]:
    from vg_studio.train.history_file import load_history
    from vg_studio.train.runstore import RunStoreError

    table = {}
    for optimizer in o.optimizers:
        for activation in o.activations:
            for depth in o.depths:
                mcrs, accs, f1s, walls, curves, phase1, layers = [], [], [], [], [], [], {}
                for run in range(o.runs):
                    run_dir = out / "cells" / cell_key(depth, activation, optimizer, run)
                    report = read_report(run_dir)
                    if report.get("status") != "completed" or "test_metrics" not in report:
                        continue
                    m = report["test_metrics"]
                    mcrs.append(100.0 * m["misclassification_rate"])
                    accs.append(100.0 * m["accuracy"])
                    f1s.append(100.0 * m["f1_macro"])
                    walls.append(float(report.get("wall_time_s", math.nan)))
                    try:
                        history = load_history(run_dir / "history.h5")
                    except RunStoreError:
                        continue
                    curves.append([100.0 * (1.0 - a) for a in history.epochs.get("accuracy", [])])
                    fractions = history.optimizer.get("sdagd_phase1_fraction", [])
                    if len(fractions):
                        phase1.append(float(fractions[-1]))
                    for key, values in history.optimizer.items():
                        if key.startswith("sdagd_phase1_fraction[") and len(values):
                            layers.setdefault(key[len("sdagd_phase1_fraction["):-1], []).append(float(values[-1]))
                mcr, std = mean_std(mcrs)
                table[(optimizer, activation, depth)] = Measured(
                    mcr, std, len(mcrs), o.runs, curves, mean_std(accs)[0], mean_std(f1s)[0], mean_std(walls)[0],
                    mean_std(phase1)[0], {name: statistics.median(v) for name, v in layers.items()}, mcrs)
    return table


def paper_value(optimizer: str, activation: str, depth: int) -> float | None:
    values = PAPER_TABLE_I.get((optimizer, activation))
    return values[depth - 1] if values and 1 <= depth <= len(values) else None


def write_tables(o: GridOptions, table: dict, out: Path, input_size: int | str) -> str:
    header = ["depth", "network", "optimizer", "activation", "runs", "runs_completed", "mcr_mean_pct",
              "mcr_std_pct", "paper_mcr_pct", "diff_pct", "accuracy_mean_pct", "f1_macro_mean_pct",
              "wall_time_s_mean", "sdagd_phase1_final"]
    rows = []
    for (optimizer, activation, depth), m in table.items():
        paper = paper_value(optimizer, activation, depth)
        diff = m.mcr - paper if paper is not None and math.isfinite(m.mcr) else math.nan
        rows.append([depth, f"{input_size}-{o.units}x{depth}-10", optimizer, activation, m.runs, m.completed,
                     _num(m.mcr), _num(m.std), "" if paper is None else paper, _num(diff), _num(m.accuracy),
                     _num(m.f1), _num(m.wall_s), _num(m.phase1_final)])
    write_csv(out / "table.csv", header, rows)

    families = [(opt, act) for opt in o.optimizers for act in o.activations]
    md_header = ["MCR %"] + [f"{LABEL[opt]} {LABEL[act]}" for opt, act in families]
    md_rows = []
    for depth in o.depths:
        row = [f"hl-{depth}"]
        for opt, act in families:
            m = table[(opt, act, depth)]
            paper = paper_value(opt, act, depth)
            measured = fmt(m.median) + (f" [{', '.join(fmt(v) for v in m.mcrs)}]" if m.completed > 1 else "")
            if m.completed < m.runs:
                measured += f" ({m.completed}/{m.runs} runs)"
            row.append(measured if opt not in PAPER_OPTIMIZERS else
                       f"{measured} (paper {fmt(paper) if paper is not None else '—'})")
        md_rows.append(row)
    text = (f"# Table I {cite('tan-lim-2019')} — test misclassification rate (%)\n\n"
            f"Median of the completed runs (each run's value in square brackets), the paper's value in round "
            f"brackets; table.csv has the mean and standard deviation. Network "
            f"{input_size}-{o.units}×L-10, batch {o.batch_size}, {o.epochs} epochs, loss {o.loss}, dataset "
            f"{o.dataset}.\n\n" + markdown_table(md_header, md_rows) + _phase1_table(o, table))
    atomic_write_text(out / "table.md", text)
    return text


def _phase1_table(o: GridOptions, table: dict) -> str:
    """SDAGD's share of weights still in phase I (μ > h: the relative step length, not a damped Newton step) at the
    last record, all weights (mean over runs, as table.csv) and per layer group (median of runs)."""
    cells = [(act, d) for act in o.activations for d in o.depths if table.get(("sdagd", act, d)) is not None
             and table[("sdagd", act, d)].phase1_layers]
    if not cells:
        return ""
    groups = [f"hidden_{i}" for i in range(1, max(d for _, d in cells) + 1)] + ["output"]
    rows = []
    for act, depth in cells:
        m = table[("sdagd", act, depth)]
        rows.append([f"{LABEL[act]} hl-{depth}", fmt(m.phase1_final)]
                    + [fmt(m.phase1_layers[g]) if g in m.phase1_layers else "" for g in groups])
    return ("\nSDAGD's share of weights in phase I (μ > h) at the last record, all weights (mean of runs) and per layer "
            "(median of runs):\n\n"
            + markdown_table(["cell", "all"] + groups, rows))


def _num(value: float):
    return "" if value is None or not math.isfinite(value) else round(float(value), 4)


def write_figures(o: GridOptions, table: dict, out: Path) -> list[Path]:
    """Training error against epochs, one line per depth; per activation one figure with a panel per optimizer
    (the paper's Fig. 3 is sigmoid, Fig. 4 ReLU, each with (a) SGD and (b) SDAGD)."""
    plt = pyplot()
    paths = []
    for activation in o.activations:
        fig, axes = plt.subplots(1, len(o.optimizers), figsize=(5.5 * len(o.optimizers), 4), squeeze=False)
        for ax, optimizer in zip(axes[0], o.optimizers):
            for depth in o.depths:
                curves = table[(optimizer, activation, depth)].curves
                if not curves:
                    continue
                n = min(len(c) for c in curves)
                if n == 0:
                    continue
                mean = [sum(c[i] for c in curves) / len(curves) for i in range(n)]
                ax.plot(range(1, n + 1), mean, marker="o" if n < 15 else None, label=f"hl-{depth}")
            ax.set_title(f"{LABEL[optimizer]}, {LABEL[activation]}")
            ax.set_xlabel("epoch")
            ax.xaxis.get_major_locator().set_params(integer=True)
            ax.set_ylabel("training error (%)")
            ax.set_ylim(bottom=0)
            ax.grid(alpha=0.3)
            if ax.get_legend_handles_labels()[0]:
                ax.legend()
        figure = 3 if activation == "sigmoid" else 4
        fig.suptitle(f"Training error, {LABEL[activation]} (Fig. {figure} of {cite('tan-lim-2019')[1:-1]})")
        path = out / f"training_error_{activation}.png"
        save_figure(fig, path)
        plt.close(fig)
        paths.append(path)
    return paths


# ---- verdict ------------------------------------------------------------------------------------------------
def verdict(o: GridOptions, table: dict) -> list[str]:
    """Each of the paper's claims, judged from the measured table only."""
    lines = []

    def value(opt, act, depth):
        m = table.get((opt, act, depth))
        return m.mcr if m is not None and m.completed else math.nan

    def claim(text, holds, detail):
        state = "not measured" if holds is None else ("HELD" if holds else "DID NOT HOLD")
        lines.append(f"- **{state}** — {text}: {detail}")

    def have(opt, act, depths):
        return opt in o.optimizers and act in o.activations and all(
            d in o.depths and math.isfinite(value(opt, act, d)) for d in depths)

    deep = [d for d in (4, 5) if d in o.depths]
    if deep and have("sgd", "sigmoid", deep):
        vals = [value("sgd", "sigmoid", d) for d in deep]
        claim(f"SGD with sigmoid fails to train at {', '.join(f'hl-{d}' for d in deep)} (MCR ≥ {FAILS_AT:.0f} %)",
              all(v >= FAILS_AT for v in vals),
              ", ".join(f"hl-{d} {v:.2f} % (paper {paper_value('sgd', 'sigmoid', d):.2f})" for d, v in zip(deep,
                                                                                                            vals)))
    else:
        claim("SGD with sigmoid fails to train at hl-4/hl-5", None, "those cells were not run or did not complete")
    # The paper's depth claims: SGD-sigmoid's MCR grows with depth (vanishing gradient), SDAGD's rises
    # monotonically with both activations. (Its SGD-ReLU column falls with depth, so no claim is made there.)
    for opt, act in (("sgd", "sigmoid"), ("sdagd", "sigmoid"), ("sdagd", "relu")):
        if len(o.depths) < 2 or not have(opt, act, o.depths):
            continue
        vals = [value(opt, act, d) for d in o.depths]
        monotone = all(b >= a for a, b in zip(vals, vals[1:]))
        claim(f"{LABEL[opt]} with {LABEL[act]}: MCR rises with depth"
              + (" (paper: monotonic)" if opt == "sdagd" else ""),
              monotone if opt == "sdagd" else vals[-1] > vals[0],
              " → ".join(f"{v:.2f}" for v in vals) + (" (monotonic)" if monotone else " (not monotonic)"))
    for opt, acts in (("sgd", ("relu",)), ("sdagd", ("sigmoid", "relu"))):
        acts = [a for a in acts if have(opt, a, o.depths)]
        if not acts:
            claim(f"{LABEL[opt]} trains at every depth", None, "cells not run or not completed")
            continue
        worst = max((value(opt, a, d), a, d) for a in acts for d in o.depths)
        claim(f"{LABEL[opt]} with {' and '.join(LABEL[a] for a in acts)} trains at every depth "
              f"(MCR ≤ {TRAINS_AT:.0f} %)", worst[0] <= TRAINS_AT,
              f"worst cell {LABEL[worst[1]]} hl-{worst[2]} at {worst[0]:.2f} %")
    pairs = [(a, d) for a in o.activations for d in o.depths if have("sgd", a, [d]) and have("sdagd", a, [d])]
    if pairs:
        wins = [(a, d) for a, d in pairs if value("sdagd", a, d) < value("sgd", a, d)]
        losses = [f"{LABEL[a]} hl-{d}" for a, d in pairs if (a, d) not in wins]
        claim("SDAGD has a lower MCR than SGD in every depth × activation cell", len(wins) == len(pairs),
              f"lower in {len(wins)} of {len(pairs)}" + (f"; not in {', '.join(losses)}" if losses else ""))
    else:
        claim("SDAGD beats SGD in every cell", None, "no cell has both optimizers completed")
    finished = [(value(opt, act, d), opt, act, d) for opt in o.optimizers if opt in PAPER_OPTIMIZERS
                for act in o.activations for d in o.depths if math.isfinite(value(opt, act, d))]
    if finished and "sdagd" in o.optimizers and "relu" in o.activations and 1 in o.depths:
        best = min(finished)
        claim("the best cell is SDAGD + ReLU at hl-1 (paper 1.77 %)", best[1:] == ("sdagd", "relu", 1),
              f"best measured: {LABEL[best[1]]} + {LABEL[best[2]]} hl-{best[3]} at {best[0]:.2f} %")
    beside = [(a, d) for a in o.activations for d in o.depths if have("sdagd", a, [d]) and have("adam", a, [d])]
    if beside:  # not a claim of the paper: our reference, by the median of the runs
        def median(opt, act, depth):
            return table[(opt, act, depth)].median

        at_most = [(a, d) for a, d in beside if median("sdagd", a, d) <= median("adam", a, d)]
        lines.append(f"- (beside the paper) SDAGD's median MCR ≤ Adam's in {len(at_most)} of {len(beside)} cells: "
                     + ", ".join(f"{LABEL[a]} hl-{d} {median('sdagd', a, d):.2f} vs {median('adam', a, d):.2f}"
                                 for a, d in beside))
    lines.append("")
    lines.append("How far off (measured − paper, percentage points of MCR):")
    for opt in [opt for opt in o.optimizers if opt in PAPER_OPTIMIZERS]:
        for act in o.activations:
            diffs = [value(opt, act, d) - paper_value(opt, act, d) for d in o.depths
                     if paper_value(opt, act, d) is not None and math.isfinite(value(opt, act, d))]
            if diffs:
                lines.append(f"- {LABEL[opt]} {LABEL[act]}: mean {sum(diffs) / len(diffs):+.2f}, "
                             f"largest |diff| {max(abs(x) for x in diffs):.2f}")
            else:
                lines.append(f"- {LABEL[opt]} {LABEL[act]}: no completed cells")
    return lines


def write_report(o: GridOptions, out: Path, outcomes: list[CellOutcome], started: float) -> Path:
    table = collect(o, out)
    input_size = _input_size(outcomes)
    table_md = write_tables(o, table, out, input_size)
    figures = write_figures(o, table, out)
    text = "\n".join([
        f"# Reproduction of Tan & Lim, \"Vanishing Gradient Mitigation with Deep Learning Neural Network "
        f"Optimization\" {cite('tan-lim-2019')}: SGD vs SDAGD, Table I and Figures 3–4", "",
        f"Command options: dataset `{o.dataset}`, runs {o.runs}, epochs {o.epochs}, depths "
        f"{', '.join(f'hl-{d}' for d in o.depths)}, {o.units} units per hidden layer, activations "
        f"{', '.join(o.activations)}, optimizers {', '.join(o.optimizers)}, batch {o.batch_size}, loss {o.loss}"
        + (f", training examples limited to {o.limit}" if o.limit else "") + ".",
        f"Fixed by us where the paper is silent: SGD learning rate {SGD_LEARNING_RATE}; SDAGD "
        f"{catalog.OPTIMIZERS['sdagd']}; Adam (not in the paper) learning rate {ADAM_LEARNING_RATE}; softmax "
        f"output; Glorot-uniform (Xavier) weights; seeds 0…runs−1.", "",
        environment_section(outcomes, time.perf_counter() - started),
        table_md.replace(f"# Table I {cite('tan-lim-2019')}", "## Table I"),
        "## Verdict", "",
        f"Thresholds: a cell *fails to train* at MCR ≥ {FAILS_AT:.0f} % (chance is 90 %), *trains* at MCR ≤ "
        f"{TRAINS_AT:.0f} %.", "",
        *verdict(o, table), "",
        "## Figures", "",
        *[f"- `{p.name}`" for p in figures], "",
    ])
    path = out / "report.md"
    atomic_write_text(path, text)
    return path


def _input_size(outcomes: list[CellOutcome]):
    for outcome in outcomes:
        shape = read_report(outcome.run_dir).get("dataset", {}).get("input_shape")
        if shape:
            return math.prod(shape)
    return 784
