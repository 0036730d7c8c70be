"""Loss and accuracy over training, each run in its own colour: the validation value at each epoch's end
(markers), the epoch boundaries (dotted), and the training curve:
- the loss, where the run kept each batch's own loss (history.h5's /batches, carried by the records and epoch
  ends): every batch's loss (thin, faint) and its smoothed line (TensorBoard's moving average);
- accuracy, and the loss of a run without them (recorded before they were kept, or a custom train_step): the mean
  over the batches between probe records, undone from Keras's running means (faint), and its smoothed line —
  the legend says so.

Both come from what a run directory keeps, so a run opened from disk draws exactly as it did live (see `series`
for why the running means are turned into interval means)."""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt

from vg_studio.gui.plots.base import PlotBox, fmt, line_pen, run_line_color
from vg_studio.gui.plots.decimate import Overviews
from vg_studio.gui.plots.series import BATCH_SMOOTHING
from vg_studio.report import figures as F
from vg_studio.report.figures import BATCH_LEGEND, epoch_steps  # noqa: F401  (epoch_steps: the read-out, older callers)

MAX_EPOCH_LINES = 20  # beyond this many boundaries in view they would only grey the plot
FAINT_ALPHA, LEGEND_FAINT_ALPHA = round(255 * F.FAINT_ALPHA), round(255 * F.LEGEND_FAINT_ALPHA)  # Qt's 0–255
CURVE_KINDS = ("means", "smooth", "batches", "batch-smooth")  # the curves kept in overviews, per run


class MetricPlot(PlotBox):
    def __init__(self, figure: F.Figure, parent=None):
        if isinstance(figure, str):  # MetricPlot("accuracy", …): the described figure of that metric
            figure = F.FIGURES[figure]
        super().__init__(figure.title, figure.x_label, figure.y_label, legend=True)
        self.figure = figure
        self.metric_name = figure.source  # not `metric`: that would hide QWidget.metric(), which Qt calls
        self.overviews = Overviews()
        self._epoch_lines: list[pg.InfiniteLine] = []
        if figure.y_limits:  # a fraction: never an axis from −0.3 to 0.5 around a flat line
            self.plot.vb.setLimits(yMin=figure.y_limits[0], yMax=figure.y_limits[1], minYRange=0.05)
        else:
            self.plot.vb.setLimits(minYRange=1e-3)

    def draw(self, runs: list) -> None:
        self.begin()
        zoom = self.zoomed_range()
        several, kinds = len(runs) > 1, set()
        for run in runs:
            ink_of_run = run_line_color(run.color, self.colors["plot_background"])
            color = pg.mkColor(ink_of_run)
            faint = pg.mkColor(ink_of_run)
            faint.setAlpha(FAINT_ALPHA)
            key = id(run)
            if self.per_batch(run):
                steps, _, losses, smooth = run.batch_loss_curve()
                self.curve((key, "batches"), *self.overviews.envelope((key, "batches"), steps, losses, zoom=zoom),
                           line_pen(faint, width=1))
                self.curve((key, "batch-smooth"),
                           *self.overviews.envelope((key, "batch-smooth"), steps, smooth, zoom=zoom),
                           line_pen(color, width=2))
                kinds.add("batches")
                self._draw_validation(run, color)
                continue
            steps, means, smooth = run.training_curve(self.metric_name)
            if np.isfinite(means).any():
                self.curve((key, "means"), *self.overviews.envelope((key, "means"), steps, means, zoom=zoom),
                           line_pen(faint, width=1))
                self.curve((key, "smooth"), *self.overviews.envelope((key, "smooth"), steps, smooth, zoom=zoom),
                           line_pen(color, width=2))
                kinds.add("without-batches" if self.metric_name == "loss" else "smooth")
            else:  # no per-record value (a run directory from before records carried metrics): epoch means
                train = run.epoch_metric(self.metric_name)
                if np.isfinite(train).any():
                    self.curve((key, "epoch-train"), epoch_steps(run, len(train)), train, line_pen(color, width=2),
                               symbol="t", symbolSize=7, symbolBrush=color)
                    kinds.add("epoch-train")
            self._draw_validation(run, color)
        self.end()
        self.set_legend(self._metric_legend(runs, kinds))
        self.overviews.keep({(id(r), kind) for r in runs for kind in CURVE_KINDS})
        self._draw_epoch_lines(runs)

    def per_batch(self, run) -> bool:
        """Whether this plot draws each batch of `run`: the loss, where the run kept each batch's own."""
        return F.draws_batches(self.figure, run)

    def _draw_validation(self, run, color) -> None:
        val = run.epoch_metric(f"val_{self.metric_name}")
        if np.isfinite(val).any():
            self.curve((id(run), "val"), epoch_steps(run, len(val)), val,
                       line_pen(color, width=1.5, style=Qt.DashLine),
                       symbol="o", symbolSize=6, symbolBrush=color, symbolPen=line_pen(color))

    def _metric_legend(self, runs: list, kinds: set) -> list:
        several = len(runs) > 1
        ink = self.colors["plot_foreground"] if several else (runs[0].color if runs else "#888888")
        if not several and runs:
            ink = run_line_color(ink, self.colors["plot_background"])
        faint = pg.mkColor(ink)
        faint.setAlpha(LEGEND_FAINT_ALPHA)
        entries = []
        if "batches" in kinds:
            entries += [(BATCH_LEGEND["batches"], line_pen(faint, width=1)),
                        (BATCH_LEGEND["batch-smooth"], line_pen(ink, width=2))]
        if "without-batches" in kinds:
            entries.append((BATCH_LEGEND["without-batches"], line_pen(ink, width=2)))
        if "smooth" in kinds:
            entries.append((F.METRIC_LEGEND["smooth"], line_pen(ink, width=2)))
        if "epoch-train" in kinds:
            entries.append((F.METRIC_LEGEND["epoch-train"], line_pen(ink, width=2),
                            {"symbol": "t", "symbolSize": 7, "symbolBrush": ink}))
        entries.append((F.METRIC_LEGEND["val"], line_pen(ink, width=1.5, style=Qt.DashLine),
                        {"symbol": "o", "symbolSize": 6, "symbolBrush": ink}))
        return entries + (self.run_entries(runs) if several else [])

    def _draw_epoch_lines(self, runs: list) -> None:
        """Dotted lines where an epoch starts (the longest run's), so a change at a boundary reads as one."""
        run = max(runs, key=lambda r: r.num_records, default=None)
        starts = F.epoch_starts(run, MAX_EPOCH_LINES)
        while len(self._epoch_lines) < len(starts):
            line = pg.InfiniteLine(angle=90, movable=False)
            line.setZValue(-10)
            self.plot.addItem(line, ignoreBounds=True)
            self._epoch_lines.append(line)
        color = pg.mkColor(self.colors["plot_foreground"])
        color.setAlpha(70)
        for i, line in enumerate(self._epoch_lines):
            line.setVisible(i < len(starts))
            if i < len(starts):
                line.setPen(line_pen(color, width=1, style=Qt.DotLine))
                line.setValue(starts[i])

    def describe(self, x: float, y: float) -> str:
        parts = []
        for run in self.runs[:3]:
            name = f"{run.name} " if len(self.runs) > 1 else ""  # one run: its numbers need the two lines
            if self.per_batch(run):
                steps, epochs, losses, smooth = run.batch_loss_curve()
                i = self.nearest(steps, x)
                if i is not None:
                    parts.append(f"{name}step {int(steps[i])} (epoch {int(epochs[i]) + 1}): batch "
                                 f"{fmt(losses[i])}, smoothed {fmt(smooth[i])} (the batch's own loss; "
                                 f"EMA {BATCH_SMOOTHING:g})")
            else:
                steps, means, smooth = run.training_curve(self.metric_name)
                i = self.nearest(steps, x)
                if i is not None:
                    epoch = int(run.record_epochs[i]) + 1
                    why = (" (no per-batch loss kept: the mean since the previous record, from Keras's running "
                           "means)" if self.metric_name == "loss" else "")
                    parts.append(f"{name}step {int(steps[i])} (epoch {epoch}): {self.metric_name} "
                                 f"{fmt(means[i])}, smoothed {fmt(smooth[i])}{why}")
            val = run.epoch_metric(f"val_{self.metric_name}")
            j = self.nearest(epoch_steps(run, len(val)), x)
            if j is not None:
                parts.append(f"validation after epoch {j + 1}: {fmt(val[j])}")
        return "   ".join(parts)
