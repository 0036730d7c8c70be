"""Loss and accuracy over training: the mean over the batches between probe records (faint), its smoothed line,
the validation value at each epoch's end (markers), and the epoch boundaries (dotted). Each run in its own colour.

The curves come from the probe records, the per-step data a run directory keeps, so a run opened from disk draws
exactly as it did live (see `series` for why the batch values are turned into interval means)."""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt

from vg_studio.gui.plots.base import PlotBox, fmt, line_pen, run_line_color
from vg_studio.gui.plots.decimate import Overviews
from vg_studio.report import figures as F
from vg_studio.report.figures import epoch_steps  # noqa: F401  (the read-out and older callers)

MAX_EPOCH_LINES = 20  # beyond this many boundaries in view they would only grey the plot


class MetricPlot(PlotBox):
    def __init__(self, figure: F.Figure, parent=None):
        if isinstance(figure, str):  # MetricPlot("accuracy", …): the described figure of that metric
            figure = F.FIGURES[figure]
        super().__init__(figure.title, figure.x_label, figure.y_label, legend=True)
        self.figure = figure
        self.metric = figure.source
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
            steps, means, smooth = run.training_curve(self.metric)
            key = id(run)
            if np.isfinite(means).any():
                faint = pg.mkColor(ink_of_run)
                faint.setAlpha(70)
                self.curve((key, "means"), *self.overviews.envelope((key, "means"), steps, means, zoom=zoom),
                           line_pen(faint, width=1))
                self.curve((key, "smooth"), *self.overviews.envelope((key, "smooth"), steps, smooth, zoom=zoom),
                           line_pen(color, width=2))
                kinds.add("smooth")
            else:  # no per-record value (a run directory from before records carried metrics): epoch means
                train = run.epoch_metric(self.metric)
                if np.isfinite(train).any():
                    self.curve((key, "epoch-train"), epoch_steps(run, len(train)), train, line_pen(color, width=2),
                               symbol="t", symbolSize=7, symbolBrush=color)
                    kinds.add("epoch-train")
            val = run.epoch_metric(f"val_{self.metric}")
            if np.isfinite(val).any():
                self.curve((key, "val"), epoch_steps(run, len(val)), val,
                           line_pen(color, width=1.5, style=Qt.DashLine),
                           symbol="o", symbolSize=6, symbolBrush=color, symbolPen=line_pen(color))
        self.end()
        ink = self.colors["plot_foreground"] if several else (runs[0].color if runs else "#888888")
        if not several and runs:
            ink = run_line_color(ink, self.colors["plot_background"])
        entries = [(F.METRIC_LEGEND["smooth"], line_pen(ink, width=2))] if "smooth" in kinds else []
        if "epoch-train" in kinds:
            entries.append((F.METRIC_LEGEND["epoch-train"], line_pen(ink, width=2),
                            {"symbol": "t", "symbolSize": 7, "symbolBrush": ink}))
        entries.append((F.METRIC_LEGEND["val"], line_pen(ink, width=1.5, style=Qt.DashLine),
                        {"symbol": "o", "symbolSize": 6, "symbolBrush": ink}))
        self.set_legend(entries + (self.run_entries(runs) if several else []))
        self.overviews.keep({(id(r), kind) for r in runs for kind in ("means", "smooth")})
        self._draw_epoch_lines(runs)

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
            steps, means, smooth = run.training_curve(self.metric)
            i = self.nearest(steps, x)
            if i is not None:
                epoch = int(run.record_epochs[i]) + 1
                parts.append(f"{run.name} step {int(steps[i])} (epoch {epoch}): {self.metric} {fmt(means[i])}, "
                             f"smoothed {fmt(smooth[i])}")
            val = run.epoch_metric(f"val_{self.metric}")
            j = self.nearest(epoch_steps(run, len(val)), x)
            if j is not None:
                parts.append(f"validation after epoch {j + 1}: {fmt(val[j])}")
        return "   ".join(parts)

