"""Wu's attention paper, Tables 1–2: a plain DNN against the same DNN with the attention block in every hidden layer.

The paper gives the training set-up (Adam, learning rate 0.001, batch 64, 100 epochs, a 10-class image set split
7,000/2,000/1,000, σ = ReLU in eq. 4) but not the network. We use 5 hidden ReLU layers of 256 units, Glorot-uniform
weights, softmax output and cross-entropy; the "optimized model" is the same network with `LayerSpec.attention` on
in every hidden layer (eq. 1–4: α = softmax(qkᵀ/√d_k), h = σ(W(α·x) + b)).

Gradient stability score (Table 1's last column, which the paper does not define). For a model and epoch e,
    r_e = mean |∂L/∂w| of the first hidden layer over epoch e  /  the same over epoch 1
    score_e = clip(round(10 − 3 · |log10 r_e|), 1, 10)
so 10 = the gradient kept its first-epoch size, each factor of 10 it shrank (or grew) costs 3 points, and a fall
by 1000× or more scores 1. Averages over runs are taken of the gradient means before scoring.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from vg_studio.experiments.cells import Cell, CellOutcome, read_report
from vg_studio.experiments.common import (environment_section, fmt, markdown_table, mean_std, pyplot,
                                          save_figure, write_csv)
from vg_studio.safeio import atomic_write_text
from vg_studio.spec import DataSpec, ExperimentSpec, LayerSpec, MonitoringSpec, NetworkSpec, OptimizerSpec, TrainingSpec

MODELS = ("plain", "attention")
PRESET_NAMES = {"plain": "attention-plain", "attention": "attention-every-layer"}  # the preset file per model
MODEL_LABEL = {"plain": "Traditional DNN", "attention": "Optimized model (attention)"}
# Table 1: epoch -> (traditional DNN gradient mean, optimized model gradient mean, stability score)
PAPER_TABLE_1 = {10: (0.052, 0.078, 8), 20: (0.031, 0.075, 8), 30: (0.018, 0.072, 7), 40: (0.009, 0.070, 7),
                 50: (0.004, 0.068, 7), 60: (0.002, 0.066, 7), 70: (0.001, 0.064, 6), 80: (0.0005, 0.062, 6),
                 90: (0.0002, 0.060, 6), 100: (0.0001, 0.058, 6)}
# Table 2: accuracy %, recall %, F1 (×100), MCR %, images/s
PAPER_TABLE_2 = {"plain": (72.5, 70.8, 71.6, 27.5, 500.0), "attention": (85.3, 83.7, 84.5, 14.7, 600.0)}
METRICS = (("accuracy_pct", "accuracy", 100.0), ("recall_pct", "recall_macro", 100.0),
           ("f1_pct", "f1_macro", 100.0), ("mcr_pct", "misclassification_rate", 100.0),
           ("images_per_s", "images_per_second", 1.0))
# Verdict thresholds on the ratio last / first row of Table 1 (paper: 0.0019 plain, 0.74 attention).
VANISHED_BELOW = 0.1
STABLE_ABOVE = 0.5


@dataclass
class AttentionOptions:
    dataset: str = "shapes10"
    runs: int = 1
    epochs: int = 100
    depth: int = 5
    units: int = 256
    limit: int | None = None
    learning_rate: float = 0.001
    batch_size: int = 64
    data_options: dict = field(default_factory=dict)


def cell_spec(model: str, run: int, o: AttentionOptions) -> ExperimentSpec:
    options = dict(o.data_options)
    if o.limit:
        options["limit"] = o.limit
    return ExperimentSpec(
        name=f"attention-{model}",
        data=DataSpec(dataset=o.dataset, options=options),
        network=NetworkSpec(layers=[LayerSpec(units=o.units, activation="relu", initializer="glorot_uniform",
                                              attention=(model == "attention"), attention_value="input")
                                    for _ in range(o.depth)]),
        loss="sparse_categorical_crossentropy",
        optimizer=OptimizerSpec(name="adam", learning_rate=o.learning_rate,
                                params={"beta_1": 0.9, "beta_2": 0.999, "epsilon": 1e-7}),
        training=TrainingSpec(epochs=o.epochs, batch_size=o.batch_size, seed=run),
        monitoring=MonitoringSpec(record_every=_record_every(o)),
    )


def _record_every(o: AttentionOptions) -> int:
    """Every 10 steps, but at least two probe records per epoch when --limit makes epochs short: Table 1 needs
    a gradient mean for every epoch."""
    if not o.limit:
        return 10
    return max(1, min(10, math.ceil(o.limit / o.batch_size) // 2))


def build_cells(o: AttentionOptions, out: Path) -> list[Cell]:
    return [Cell(f"{m}-run{r}", cell_spec(m, r, o), out / "cells" / f"{m}-run{r}")
            for m in MODELS for r in range(o.runs)]


def presets() -> dict[str, ExperimentSpec]:
    o = AttentionOptions()
    return {PRESET_NAMES[m]: cell_spec(m, 0, o) for m in MODELS}


def stability_score(ratio: float) -> int | None:
    if not (ratio > 0 and math.isfinite(ratio)):
        return None
    return int(min(10, max(1, round(10 - 3 * abs(math.log10(ratio))))))


def checkpoints(epochs: int) -> list[int]:
    """Every 10th epoch as in Table 1; every epoch when a short run has fewer than 10; always the last."""
    points = list(range(10, epochs + 1, 10)) or list(range(1, epochs + 1))
    return points if points[-1] == epochs else points + [epochs]


# ---- results ------------------------------------------------------------------------------------------------
def epoch_gradient_means(run_dir: Path) -> np.ndarray:
    """Per epoch (1-based index e-1): mean |gradient| of hidden_1 over that epoch's probe records."""
    from vg_studio.train.runstore import load_run

    _, history, _ = load_run(run_dir)
    grads = history.stat("grad_mean_abs")
    if grads.size == 0:
        return np.empty(0)
    column = grads[:, history.layer_names.index("hidden_1")]
    epochs = np.asarray(history.record_epochs)
    done = len(history.epochs.get("epoch", []))
    return np.array([column[epochs == e].mean() if np.any(epochs == e) else np.nan for e in range(done)])


def collect(o: AttentionOptions, out: Path) -> dict:
    result = {}
    for model in MODELS:
        curves, metrics = [], {name: [] for name, _, _ in METRICS}
        for run in range(o.runs):
            run_dir = out / "cells" / f"{model}-run{run}"
            report = read_report(run_dir)
            if report.get("status") != "completed" or "test_metrics" not in report:
                continue
            for name, key, scale in METRICS:
                metrics[name].append(scale * report["test_metrics"][key])
            curves.append(epoch_gradient_means(run_dir))
        n = min((len(c) for c in curves), default=0)
        curve = np.nanmean(np.vstack([c[:n] for c in curves]), axis=0) if n else np.empty(0)
        result[model] = {"completed": len(curves), "curve": curve,
                         "metrics": {k: mean_std(v) for k, v in metrics.items()}}
    return result


def _at(curve: np.ndarray, epoch: int) -> float:
    return float(curve[epoch - 1]) if 0 < epoch <= len(curve) else math.nan


def table1_rows(o: AttentionOptions, results: dict) -> list[dict]:
    rows = []
    for epoch in checkpoints(o.epochs):
        row = {"epoch": epoch}
        for model in MODELS:
            curve = results[model]["curve"]
            g = _at(curve, epoch)
            row[f"{model}_grad_mean"] = g
            row[f"{model}_score"] = stability_score(g / _at(curve, 1)) if len(curve) else None
        paper = PAPER_TABLE_1.get(epoch)
        row["paper_plain_grad_mean"], row["paper_attention_grad_mean"], row["paper_score"] = paper or (None,) * 3
        rows.append(row)
    return rows


def write_tables(o: AttentionOptions, results: dict, out: Path) -> str:
    rows = table1_rows(o, results)
    header1 = ["epoch", "plain_grad_mean", "attention_grad_mean", "plain_stability_score",
               "attention_stability_score", "paper_plain_grad_mean", "paper_attention_grad_mean", "paper_score"]
    write_csv(out / "table1.csv", header1, [[r["epoch"], _num(r["plain_grad_mean"]), _num(r["attention_grad_mean"]),
                                             _opt(r["plain_score"]), _opt(r["attention_score"]),
                                             _opt(r["paper_plain_grad_mean"]), _opt(r["paper_attention_grad_mean"]),
                                             _opt(r["paper_score"])] for r in rows])
    md1 = markdown_table(
        ["Epoch", "Traditional DNN grad mean (paper)", "Attention model grad mean (paper)",
         "Stability score plain / attention (paper)"],
        [[r["epoch"], f"{_sci(r['plain_grad_mean'])} ({_opt(r['paper_plain_grad_mean'], '—')})",
          f"{_sci(r['attention_grad_mean'])} ({_opt(r['paper_attention_grad_mean'], '—')})",
          f"{_opt(r['plain_score'], '—')} / {_opt(r['attention_score'], '—')} ({_opt(r['paper_score'], '—')})"]
         for r in rows])
    header2 = ["model", "runs_completed"] + [f"{n}{s}" for n, _, _ in METRICS for s in ("", "_std", "_paper")]
    rows2, md_rows2 = [], []
    for model in MODELS:
        m = results[model]["metrics"]
        paper = PAPER_TABLE_2[model]
        row = [model, results[model]["completed"]]
        md = [MODEL_LABEL[model]]
        for i, (name, _, _) in enumerate(METRICS):
            mean, std = m[name]
            row += [_num(mean), _num(std), paper[i]]
            md.append(f"{fmt(mean, 1 if name == 'images_per_s' else 2)} ({paper[i]:g})")
        rows2.append(row)
        md_rows2.append(md)
    write_csv(out / "table2.csv", header2, rows2)
    md2 = markdown_table(["Model", "Accuracy %", "Recall %", "F1 ×100", "MCR %", "Images/s"], md_rows2)
    text = ("## Table 1 — mean |gradient| of the first hidden layer (measured, paper in brackets)\n\n" + md1
            + "\nStability score: clip(round(10 − 3·|log10(g_e / g_1)|), 1, 10), g_e = the epoch-e mean; see "
              "docs/reproductions.md.\n\n## Table 2 — test performance (measured mean over runs, paper in "
              "brackets)\n\n" + md2)
    atomic_write_text(out / "table.md", text)
    return text


def _num(value):
    return "" if value is None or not math.isfinite(value) else float(f"{value:.6g}")


def _opt(value, missing=""):
    return missing if value is None else value


def _sci(value: float) -> str:
    return "—" if value is None or not math.isfinite(value) else f"{value:.3g}"


def write_figure(o: AttentionOptions, results: dict, out: Path) -> Path:
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(7, 4.2))
    for model, colour in zip(MODELS, ("tab:red", "tab:blue")):
        curve = results[model]["curve"]
        if len(curve):
            ax.plot(range(1, len(curve) + 1), curve, color=colour, label=f"{MODEL_LABEL[model]} (measured)")
        paper = [(e, v[MODELS.index(model)]) for e, v in PAPER_TABLE_1.items()]
        ax.plot(*zip(*paper), linestyle="none", marker="o", mfc="none", color=colour,
                label=f"{MODEL_LABEL[model]} (paper)")
    ax.set_yscale("log")
    ax.set_xlabel("epoch")
    ax.xaxis.get_major_locator().set_params(integer=True)
    ax.set_ylabel("mean |gradient|, first hidden layer")
    ax.set_title("Gradient mean near the input (Table 1 of Wu's attention paper)")
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=8)
    path = out / "gradient_mean.png"
    save_figure(fig, path)
    plt.close(fig)
    return path


# ---- verdict ------------------------------------------------------------------------------------------------
def verdict(o: AttentionOptions, results: dict) -> list[str]:
    lines = []

    def claim(text, holds, detail):
        state = "not measured" if holds is None else ("HELD" if holds else "DID NOT HOLD")
        lines.append(f"- **{state}** — {text}: {detail}")

    rows = table1_rows(o, results)
    first, last = rows[0], rows[-1]
    span = f"epoch {first['epoch']} → {last['epoch']}"
    ratios = {}
    for model in MODELS:
        a, b = first[f"{model}_grad_mean"], last[f"{model}_grad_mean"]
        ratios[model] = b / a if a and math.isfinite(a) and math.isfinite(b) and a > 0 else math.nan
    paper_ratio = {"plain": 0.0001 / 0.052, "attention": 0.058 / 0.078}
    if len(rows) < 2 or first["epoch"] == last["epoch"]:
        claim("the traditional DNN's gradient near the input vanishes during training", None,
              "needs at least two epochs")
    else:
        r = ratios["plain"]
        claim(f"the traditional DNN's gradient near the input vanishes (falls below {VANISHED_BELOW:g}× its "
              f"first-row value)", None if not math.isfinite(r) else r < VANISHED_BELOW,
              f"{span}: ×{r:.3g} (paper ×{paper_ratio['plain']:.3g})")
        r = ratios["attention"]
        claim(f"the attention model's gradient stays at a stable level (keeps ≥ {STABLE_ABOVE:g}× its first-row "
              f"value)", None if not math.isfinite(r) else r >= STABLE_ABOVE,
              f"{span}: ×{r:.3g} (paper ×{paper_ratio['attention']:.3g})")
    pairs = [(r["epoch"], r["plain_grad_mean"], r["attention_grad_mean"]) for r in rows
             if math.isfinite(r["plain_grad_mean"]) and math.isfinite(r["attention_grad_mean"])]
    if pairs:
        above = [e for e, p, a in pairs if a > p]
        claim("the attention model's gradient is larger than the traditional DNN's at every row of Table 1",
              len(above) == len(pairs), f"larger at {len(above)} of {len(pairs)} rows; last row "
              f"{pairs[-1][2]:.3g} vs {pairs[-1][1]:.3g} (paper 0.058 vs 0.0001 at epoch 100)")
    plain, att = results["plain"]["metrics"], results["attention"]["metrics"]
    if results["plain"]["completed"] and results["attention"]["completed"]:
        for name, label, better in (("accuracy_pct", "accuracy", 1), ("recall_pct", "recall", 1),
                                    ("f1_pct", "F1", 1), ("mcr_pct", "misclassification rate", -1)):
            i = [m[0] for m in METRICS].index(name)
            diff = att[name][0] - plain[name][0]
            paper_diff = PAPER_TABLE_2["attention"][i] - PAPER_TABLE_2["plain"][i]
            claim(f"attention {'raises' if better > 0 else 'lowers'} {label}", diff * better > 0,
                  f"{plain[name][0]:.2f} → {att[name][0]:.2f} ({diff:+.2f} points; paper {paper_diff:+.1f}: "
                  f"{PAPER_TABLE_2['plain'][i]} → {PAPER_TABLE_2['attention'][i]})")
        speed_p, speed_a = plain["images_per_s"][0], att["images_per_s"][0]
        claim("the attention model classifies faster (images/s)", speed_a > speed_p,
              f"{speed_p:.0f} vs {speed_a:.0f} images/s ({100 * (speed_a / speed_p - 1):+.0f} %; paper 500 vs 600, "
              f"+20 %, on a GPU)")
        lines.append("")
        lines.append("How far off the paper's Table 2 (measured − paper): " + "; ".join(
            f"{MODEL_LABEL[m]}: accuracy {results[m]['metrics']['accuracy_pct'][0] - PAPER_TABLE_2[m][0]:+.1f}, "
            f"MCR {results[m]['metrics']['mcr_pct'][0] - PAPER_TABLE_2[m][3]:+.1f} points" for m in MODELS) + ".")
    else:
        claim("attention improves accuracy, recall, F1 and MCR", None, "a model did not complete")
    return lines


def write_report(o: AttentionOptions, out: Path, outcomes: list[CellOutcome], started: float) -> Path:
    results = collect(o, out)
    tables = write_tables(o, results, out)
    figure = write_figure(o, results, out)
    text = "\n".join([
        "# Reproduction of Wu, \"Optimization of Gradient Vanishing Problem in Deep Neural Networks Based on "
        "Attention Mechanism\": attention in every hidden layer vs a plain DNN, Tables 1–2", "",
        f"Options: dataset `{o.dataset}`, runs {o.runs}, epochs {o.epochs}, {o.depth} hidden ReLU layers of "
        f"{o.units} units (our choice — the paper does not give the network), Glorot-uniform weights, Adam "
        f"lr {o.learning_rate}, batch {o.batch_size}, cross-entropy"
        + (f", training examples limited to {o.limit}" if o.limit else "") + ". The attention model is the same "
        "network with the paper's block (eq. 1–4, a = α·x) in front of every hidden layer.", "",
        environment_section(outcomes, time.perf_counter() - started),
        tables,
        "## Verdict", "",
        *verdict(o, results), "",
        "Images/s is measured by `model.predict` on the test set on this machine's device; the paper's figures "
        "come from an RTX 3080.", "",
        "## Figures", "", f"- `{figure.name}`", "",
    ])
    path = out / "report.md"
    atomic_write_text(path, text)
    return path
