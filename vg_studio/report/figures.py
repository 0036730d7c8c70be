"""Each figure people look at, described once: which data it selects, its title, axis labels, log axes, colours
and colour scales. The app's pyqtgraph plots (vg_studio/gui/plots) and the report's matplotlib figures
(`vg_studio.report.draw`) both draw from these, so a fix in one is a fix in both.

A run here is anything with the accessors of `vg_studio.report.run.RunView` (the app's live `RunData` has the same):
`name`, `color`, `record_steps`, `record_epochs`, `stat(name)`, `stat_names`, `training_curve(metric)`,
`has_batch_losses`, `batch_loss_curve()`, `epoch_metric(name)`, `display_names`, `layer_names`, `layer_kinds`,
`layer_units`, `hist_edges`, `time_grad()`, `is_recurrent`, `steps_per_epoch`, `num_records`.

A new figure is one `Figure` in FIGURES (and its drawing in each renderer).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

import numpy as np

from vg_studio import catalog
from vg_studio.report.palette import (HEATMAP_COLORMAP, LAYER_COLORMAP, TIME_HEATMAP_COLORMAP, layer_position,  # noqa: F401
                                      line_color, run_layer_color, theme_of)
from vg_studio.report.series import BATCH_SMOOTHING

MAX_LINES = 12  # per-layer lines drawn; beyond, an even selection (the heatmap shows every layer)
PERCENTILES = (2, 98)  # a heatmap's colour scale: one extreme record or run does not wash the rest out
MAX_MAPS = 6  # runs compared side by side
MAX_RIDGES = 24
QUANTILES = (0.0668, 0.1587, 0.3085, 0.5, 0.6915, 0.8413, 0.9332)  # TensorBoard's: normal σ multiples
HISTOGRAMS = {"grad_log10_hist": "gradient |∂L/∂w|", "update_log10_hist": "weight update |ΔW|"}
LOOK = 64  # records searched for a layer's latest (or first) histogram
_SAMPLE = 20_000  # values the percentiles are taken over (a strided sample)


@dataclass(frozen=True)
class Figure:
    key: str  # names the figure's file: <stem>-<key>.png
    kind: str  # how it is drawn: metric | layers | heatmap | time-heatmap | distribution-over-time | ... | network
    title: str
    x_label: str
    y_label: str
    log_y: bool = False
    source: str = ""  # the metric or statistic it shows
    y_limits: tuple | None = None  # a fraction: never an axis from −0.3 to 0.5 around a flat line
    colormap: str = ""
    quantity: str = ""  # what a colour bar measures
    one_per_run: bool = False  # drawn once per compared run (heatmaps, ridges), not overlaid


FIGURES = {f.key: f for f in (
    Figure("loss", "metric", "Loss", "training step", "loss", source="loss"),
    Figure("accuracy", "metric", "Accuracy", "training step", "accuracy", source="accuracy", y_limits=(-0.02, 1.02)),
    Figure("gradients", "layers", "Mean |∂L/∂w| per layer", "training step", "mean |∂L/∂w|", log_y=True,
           source="grad_mean_abs"),
    Figure("weight-change", "layers", "Weight change ‖Δw‖/‖w‖ per step", "training step", "relative update",
           log_y=True, source="update_ratio"),
    Figure("heatmap", "heatmap", "Gradient flow", "training step", "layer", source="grad_mean_abs",
           colormap=HEATMAP_COLORMAP, quantity="log₁₀ mean |∂L/∂w|", one_per_run=True),
    Figure("time-heatmap", "time-heatmap", "Gradient through time", "training step", "input time step",
           source="time_grad", colormap=TIME_HEATMAP_COLORMAP, quantity="log₁₀ mean |∂L/∂xₜ|",
           one_per_run=True),
    Figure("distribution-over-time", "distribution-over-time", "Distribution over time", "training step",
           "|∂L/∂w|", log_y=True, source="grad_log10_hist"),
    Figure("distribution-per-layer", "distribution-per-layer",
           "Distribution per layer: now (filled) and at the start (line)", "|∂L/∂w|", "layer",
           source="grad_log10_hist", one_per_run=True),
    Figure("network", "network", "Network coloured by gradient size", "", "", source="grad_mean_abs",
           colormap=HEATMAP_COLORMAP, quantity="mean |∂L/∂w|", one_per_run=True),
)}


def draws_batches(figure: Figure, run) -> bool:
    """Whether `figure` draws each batch of `run`: the loss, where the run kept each batch's own."""
    return figure.kind == "metric" and figure.source == "loss" and run.has_batch_losses


def has_data(figure: Figure, runs: list) -> bool:
    """Whether any of `runs` gives `figure` something to draw."""
    for run in runs:
        if draws_batches(figure, run) and np.isfinite(run.batch_loss_curve()[2]).any():
            return True
        if figure.kind == "metric":
            _, means, _ = run.training_curve(figure.source)
            if np.isfinite(means).any() or np.isfinite(run.epoch_metric(figure.source)).any() or np.isfinite(
                    run.epoch_metric(f"val_{figure.source}")).any():
                return True
        elif figure.kind == "time-heatmap":
            if run.is_recurrent and np.isfinite(run.time_grad()[1]).any():
                return True
        elif figure.source in run.stat_names:
            values = run.stat(figure.source)
            if values.size and np.isfinite(values).any():
                return True
    return False


# ---- titles and legends --------------------------------------------------------------------------------------
def run_titles(base: str, runs: list) -> list[str]:
    """One title per compared run, never two alike: "<base>: <run name>", runs of the same name numbered."""
    if len(runs) <= 1:
        return [base] * len(runs)
    names = [run.name for run in runs]
    out = []
    for i, name in enumerate(names):
        same = [j for j, other in enumerate(names) if other == name]
        label = name if len(same) == 1 else f"{name} ({same.index(i) + 1})"
        out.append(f"{base}: {label}")
    return out


def layers_title(figure: Figure, subset: tuple | None) -> str:
    return figure.title + (f" ({subset[0]} of {subset[1]} layers)" if subset else "")


def distribution_title(layer_name: str, several: bool) -> str:
    return f"{layer_name} over time: median, middle 38 %" if several else \
        f"{layer_name} over time: median, middle 38 / 68 / 87 %"


METRIC_LEGEND = {"smooth": "train (smoothed)", "means": "train", "epoch-train": "train (epoch mean)",
                 "val": "validation"}
# the loss: each batch's own (faint) and its smoothed line, or, for a run that kept none, the records' means
# (legend labels are cut at 24 characters in the app; its read-out under the plot says the rest)
BATCH_LEGEND = {"batches": "train, each batch", "batch-smooth": f"train smoothed, EMA {BATCH_SMOOTHING:g}",
                "without-batches": "train (running means)"}
FAINT_ALPHA = 0.275  # an unsmoothed curve under its smoothed line (the app and the report alike)
LEGEND_FAINT_ALPHA = 0.67  # its legend sample: a few pixels of a thin line need more ink (dark theme)
DEPTH_NOTE = "darker: nearer the input"


# ---- colours --------------------------------------------------------------------------------------------------
def layer_color_position(index: int, count: int, background: str) -> float:
    """Position on LAYER_COLORMAP of a single run's layer line: the depth of a layer reads off its colour."""
    return layer_position(index, count, theme_of(background))


def overlaid_layer_color(run, index: int, count: int, background: str) -> str:
    """A compared run's layer line: the run's own hue, darker near the input."""
    return run_layer_color(run.color, index, count, background)


def run_line_color(run, background: str) -> str:
    return line_color(run.color, background)



# ---- data selection -------------------------------------------------------------------------------------------
def positive(values: np.ndarray) -> np.ndarray:
    """A log axis cannot show 0 or NaN: those points are gaps."""
    with np.errstate(invalid="ignore"):
        return np.where(values > 0, values, np.nan)


def chosen_layers(count: int, highlighted=(), most: int = MAX_LINES) -> list[int]:
    """All layers, or `most` spread evenly from input to output, plus the flagged ones."""
    if count <= most:
        return list(range(count))
    even = {int(i) for i in np.round(np.linspace(0, count - 1, max(most - 2, 2)))}
    return sorted(even | {i for i in highlighted if 0 <= i < count})


def lines_per_run(runs: list) -> int:
    return max(MAX_LINES // max(len(runs), 1), 3)


def epoch_steps(run, count: int) -> np.ndarray:
    """x position (global step) of the end of each epoch."""
    spe = run.steps_per_epoch
    if not spe and run.num_records:
        spe = run.record_steps[-1] / max(int(run.record_epochs[-1]) + 1, 1)
    return (np.arange(count) + 1.0) * (spe or 1)


def epoch_starts(run, most: int = 20) -> list[float]:
    """Where each epoch after the first starts (dotted lines), at most `most` of them."""
    if run is None or not run.steps_per_epoch or not run.num_records:
        return []
    last = run.record_steps[-1]
    starts = list(np.arange(1, int((last - 1) // run.steps_per_epoch) + 1) * run.steps_per_epoch + 0.5)
    return starts[:: -(-len(starts) // most)] if len(starts) > most else starts


def marker_needed(points: int) -> bool:
    """A line of one point draws nothing: a lone record is shown as a marker."""
    return points == 1


def log10_magnitude(values: np.ndarray) -> np.ndarray:
    """log10 of positive values; an exact zero is below any scale (drawn darkest); NaN stays missing."""
    values = np.asarray(values)
    with np.errstate(divide="ignore", invalid="ignore"):
        logs = np.log10(np.where(values > 0, values, np.nan))
    return np.where(values == 0, -np.inf, logs).astype(np.float32)


def robust_levels(images: list) -> tuple | None:
    """The 2nd and 98th percentiles of the finite values of the images, or None without any."""
    samples = []
    for image in images:
        image = np.asarray(image)
        flat = image[np.isfinite(image)]
        samples.append(flat[:: max(1, flat.size // _SAMPLE)])
    values = np.concatenate(samples) if samples else np.empty(0)
    if values.size == 0:
        return None
    low, high = (float(v) for v in np.percentile(values, PERCENTILES))
    return (low, high) if high > low else (low - 0.5, high + 0.5)


def scale_label(quantity: str, shared: bool) -> str:
    scope = "all shown runs" if shared else "this run"
    return f"{quantity}, {PERCENTILES[0]}–{PERCENTILES[1]} % of {scope}"


def shared_scale_by_default(runs: list) -> bool:
    """Compared runs share one colour scale, so a healthy run does not look as dark as a vanishing one."""
    return len(runs) > 1


def heatmap_source(figure: Figure, run) -> tuple[np.ndarray, np.ndarray]:
    """(record steps, (records, rows) values) a heatmap shows: per layer, or per input time step."""
    if figure.kind == "time-heatmap":
        return run.time_grad()
    return run.record_steps, run.stat(figure.source)


def heatmap_row_labels(figure: Figure, run, rows: int) -> list[str]:
    if figure.kind == "time-heatmap":
        return [str(t + 1) for t in range(rows)]
    return list(run.display_names[:rows])


def labelled_rows(count: int, room_px: float, label_px: float) -> list[int]:
    """Which of `count` rows (input at the bottom) get a tick label so that none overlaps the next: every k-th row
    from the first, and the last, spaced by at least `label_px` in `room_px` of height."""
    if count <= 0:
        return []
    fits = max(int(room_px // max(label_px, 1)), 1)
    every = max(1, math.ceil(count / fits))
    rows = list(range(0, count, every))
    if rows[-1] != count - 1:
        if (count - 1 - rows[-1]) * room_px / count >= label_px:
            rows.append(count - 1)
        else:
            rows[-1] = count - 1
    return rows


def tick_step(span: float, room_px: float, label_px: float) -> float:
    """A 1-2-5 step for linear tick labels `label_px` wide (with a gap) in `room_px`: labels never touch."""
    if not (span > 0 and room_px > 0):
        return 1.0
    most = max(int(room_px // max(label_px * 1.6, 1)), 1)
    raw = span / most
    power = 10 ** math.floor(math.log10(raw))
    for mantissa in (1, 2, 5, 10):
        if mantissa * power >= raw:
            return mantissa * power
    return 10 * power


# ---- distributions ------------------------------------------------------------------------------------------
def quantiles_from_histograms(hist: np.ndarray, edges: np.ndarray, qs=QUANTILES) -> np.ndarray:
    """(n, bins) rows of bin fractions → (n, len(qs)) log10 values, linear within a bin; NaN rows stay NaN."""
    hist = np.asarray(hist, dtype=np.float64)
    totals = hist.sum(axis=1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        cdf = np.cumsum(hist, axis=1) / totals
    out = np.full((len(hist), len(qs)), np.nan)
    bins = hist.shape[1]
    rows = np.arange(len(hist))
    for k, q in enumerate(qs):
        j = np.minimum((cdf < q).sum(axis=1), bins - 1)
        before = np.where(j > 0, cdf[rows, np.maximum(j - 1, 0)], 0.0)
        inside = hist[rows, j] / totals[:, 0]
        with np.errstate(invalid="ignore", divide="ignore"):
            fraction = np.clip(np.where(inside > 0, (q - before) / inside, 0.5), 0, 1)
        out[:, k] = edges[j] + fraction * (edges[j + 1] - edges[j])
    out[~np.isfinite(totals[:, 0]) | (totals[:, 0] <= 0)] = np.nan
    return out


def ridge_layers(count: int) -> np.ndarray:
    """The layers the per-layer distribution draws, input at the bottom."""
    return np.unique(np.round(np.linspace(0, count - 1, min(count, MAX_RIDGES))).astype(int))


def latest_histograms(hist: np.ndarray) -> np.ndarray:
    """(layers, bins): each layer's latest histogram that is not NaN (a layer may skip a record)."""
    return _pick(hist, range(len(hist) - 1, max(len(hist) - 1 - LOOK, -1), -1))


def first_histograms(hist: np.ndarray) -> np.ndarray:
    return _pick(hist, range(min(LOOK, len(hist))))


def _pick(hist: np.ndarray, order) -> np.ndarray:
    """Row by row in `order` until every layer has one: usually a single row, never the whole run."""
    out = np.full(hist.shape[1:], np.nan)
    missing = np.ones(hist.shape[1], dtype=bool)
    for r in order:
        found = missing & np.isfinite(hist[r]).all(axis=1)
        out[found] = hist[r][found]
        missing &= ~found
        if not missing.any():
            break
    return out


def histogram_range(runs: list, stat: str) -> tuple | None:
    """The log10 span of the histograms' bins over the runs that have them (None: no run has any yet), so the
    axis never keeps the range of runs shown before."""
    spans = [(float(r.hist_edges[0]), float(r.hist_edges[-1])) for r in runs
             if stat in r.stat_names and r.stat(stat).ndim == 3 and len(r.stat(stat))]
    if not spans:
        return None
    return min(s[0] for s in spans), max(s[1] for s in spans)


# ---- the network --------------------------------------------------------------------------------------------
def kind_label(kind: str) -> str:
    """A layer kind as Keras names its class: the spec's own labels (catalog), else conv2d → Conv2D,
    multi_head_attention → MultiHeadAttention."""
    if not kind:
        return ""
    if kind in catalog.LAYER_KIND_LABELS:
        return catalog.LAYER_KIND_LABELS[kind]
    words = "".join(part[:1].upper() + part[1:] for part in kind.split("_"))
    return re.sub(r"(\d)d\b", r"\1D", words)


def latest_per_layer(values: np.ndarray, count: int) -> np.ndarray:
    """Each layer's latest finite value (NaN where none yet)."""
    out = np.full(count, np.nan)
    if values.ndim == 2 and len(values):
        ok = np.isfinite(values)
        for layer in range(min(count, values.shape[1])):
            rows = np.flatnonzero(ok[:, layer])
            if len(rows):
                out[layer] = values[rows[-1], layer]
    return out


def network_levels(runs: list, stat: str = "grad_mean_abs") -> tuple | None:
    """The log10 range the diagram's colours span: 2nd–98th percentile of the recent values of the runs shown
    together (one scale for compared runs, as the heatmaps)."""
    images = [log10_magnitude(r.stat(stat)[-4096:]) for r in runs if r is not None and r.stat(stat).ndim == 2]
    return robust_levels([i for i in images if i.size])


def colour_position(value: float, levels: tuple | None) -> float | None:
    """Where a mean |gradient| sits on the colour map (0…1), or None where it has no colour."""
    if levels is None or value is None or not np.isfinite(value):
        return None
    if value <= 0:
        return 0.0
    low, high = levels
    return float(np.clip((math.log10(value) - low) / (high - low), 0, 1))
