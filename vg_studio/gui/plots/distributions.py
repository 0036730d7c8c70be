"""Distributions over time, as TensorBoard's distribution and histogram dashboards show them, fed by the per-layer
histograms of log10 |g| (and log10 |ΔW|) the probes compute in the training step (`grad_log10_hist`,
`update_log10_hist`: per record, one row of bin fractions per layer, bins `hist_edges`).

- "Over time": one layer's distribution as nested quantile bands (the median, and the bands holding the middle
  38 %, 68 %, 87 % of the values: ±½, 1, 1½ σ of a normal) over training.
- "Per layer": every layer's distribution now (filled) against the first record's (outline), stacked input to
  output: where the gradient vanishes, the ridges slide left towards the input.
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QComboBox, QHBoxLayout, QLabel, QVBoxLayout, QWidget

from vg_studio.gui.plots.base import PlotBox, PlotGroup, fmt, line_pen, polygons_path, power_of_ten
from vg_studio.gui.plots.decimate import Overviews
from vg_studio.history import Rows
from vg_studio.report import figures as F
from vg_studio.report.figures import (MAX_RIDGES, QUANTILES, first_histograms,  # noqa: F401
                                      latest_histograms, quantiles_from_histograms)

QUANTITIES = F.HISTOGRAMS
NO_HISTOGRAMS = ("No distributions to show: the shown runs' records carry no gradient histograms (runs recorded "
                 "by an older VG Studio).")
NO_RECORDS = "No distributions yet: they appear with the run's first probe record."


class QuantileCache:
    """Quantiles of one layer's histograms per record, computed once per record as records arrive."""

    def __init__(self):
        self._cache: dict = {}

    def get(self, run, stat: str, layer: int) -> np.ndarray:
        hist = run.stat(stat)
        key = (id(run), stat, layer)
        done = self._cache.get(key)
        if done is None or len(done) > len(hist):
            done = self._cache[key] = Rows((len(QUANTILES),), np.float64)
        if len(hist) > len(done):
            for row in quantiles_from_histograms(hist[len(done):, layer], run.hist_edges):
                done.append(row)
        return done.array


class DistributionOverTime(PlotBox):
    figure = F.FIGURES["distribution-over-time"]

    def __init__(self, parent=None):
        figure = self.figure
        super().__init__(figure.title, figure.x_label, figure.y_label, log_y=figure.log_y, legend=True)
        self.stat, self.layer = "grad_log10_hist", 0
        self.quantiles = QuantileCache()
        self.overviews = Overviews()
        self.bands: dict = {}  # id(run) -> (bucket centres, (buckets, quantiles) log10 values) as drawn

    def signature(self, runs: list) -> tuple:
        return super().signature(runs) + (self.stat, self.layer)

    def draw(self, runs: list) -> None:
        self.begin()
        several = len(runs) > 1
        self.bands = {}
        for run in runs:
            hist = run.stat(self.stat)
            if hist.ndim != 3 or self.layer >= hist.shape[1]:
                continue
            qs = self.quantiles.get(run, self.stat, self.layer)
            overview = self.overviews.view((id(run), self.stat, self.layer), run.record_steps, qs,
                                           self.zoomed_range())
            x, logs = self.bands[id(run)] = overview.means()
            for low, high in ((2, 4),) if several else ((0, 6), (1, 5), (2, 4)):
                color = pg.mkColor(run.color)
                color.setAlpha(45 if several else 40 + 30 * low)
                # a log axis: the path is in log10 units, which the quantiles already are
                self.shape((id(run), low), polygons_path([(np.r_[x, x[::-1]], np.r_[logs[:, low], logs[::-1, high]])]),
                           brush=pg.mkBrush(color))
            self.curve((id(run), 3), x, 10.0 ** logs[:, 3], line_pen(run.color, width=2))
        self.end()
        ink = self.colors["plot_foreground"] if several else (runs[0].color if runs else "#888888")
        self.set_legend([("median", line_pen(ink, width=2))] + (self.run_entries(runs) if several else []))
        self.overviews.keep({(id(r), self.stat, self.layer) for r in runs})
        if not self.bands:  # nothing (yet): the axis follows what comes, not the runs shown before
            self.plot.enableAutoRange()
        self.plot.setLabel("left", QUANTITIES[self.stat].split(" ", 1)[1])
        names = runs[0].display_names if runs else []
        layer = names[self.layer] if self.layer < len(names) else ""
        self.set_title(F.distribution_title(layer, several))

    def describe(self, x: float, y: float) -> str:
        parts = []
        for run in self.runs[:2]:
            i = self.nearest(run.record_steps, x)
            if i is None or run.stat(self.stat).ndim != 3:
                continue
            qs = self.quantiles.get(run, self.stat, self.layer)[i]
            parts.append(f"{run.name} step {int(run.record_steps[i])}: median {fmt(10 ** qs[3])}, "
                         f"68 % within {fmt(10 ** qs[1])}…{fmt(10 ** qs[5])}")
        return "   ".join(parts)


class DistributionPerLayer(PlotBox):
    """Ridges: one per layer (input at the bottom), the latest record filled, the first one as an outline."""

    figure = F.FIGURES["distribution-per-layer"]
    TITLE = figure.title

    def __init__(self, parent=None):
        super().__init__(self.figure.title, self.figure.x_label, self.figure.y_label)
        self.stat = "grad_log10_hist"
        self.run = None
        self.ridges: dict = {}  # layer -> (bin fractions now, at the first record) as drawn

    def signature(self, runs: list) -> tuple:
        return super().signature(runs[:1]) + (self.stat, len(runs) > 1)

    def draw(self, runs: list) -> None:
        self.begin()
        run = self.run = runs[0] if runs else None
        several = run is not None and len(runs) > 1
        self.set_title(F.run_titles(self.TITLE, runs)[0] if several else self.TITLE, run.color if several else None)
        hist = run.stat(self.stat) if run is not None else np.empty((0, 0))
        self.ridges = {}
        if not (hist.ndim == 3 and len(hist)):  # nothing (yet): no ticks or range left from the runs shown before
            for side in ("left", "bottom"):
                self.plot.getAxis(side).setTicks(None)
            self.plot.enableAutoRange()
        if hist.ndim == 3 and len(hist):
            edges = run.hist_edges
            count = hist.shape[1]
            layers = F.ridge_layers(count)
            latest, first = latest_histograms(hist), first_histograms(hist)
            steps_x = np.repeat(edges, 2)  # a histogram's outline: up and down at every bin edge
            now_shapes, start_shapes = [], []
            for row, layer in enumerate(layers):
                now, start = latest[layer], first[layer]
                self.ridges[layer] = (now, start)
                scale = 0.9 / max(np.nanmax(np.r_[now, start, 1e-12]), 1e-12)
                for fractions, shapes in ((now, now_shapes), (start, start_shapes)):
                    if np.isfinite(fractions).any():
                        heights = np.r_[0, np.repeat(np.nan_to_num(fractions) * scale, 2), 0]
                        shapes.append((steps_x, row + 1 + heights))
            fill = pg.mkColor(run.color)
            fill.setAlpha(150)
            self.shape("now", polygons_path(now_shapes), line_pen(run.color), pg.mkBrush(fill))
            self.shape("start", polygons_path(start_shapes),
                       line_pen(self.colors["plot_foreground"], style=Qt.DashLine))
            names = run.display_names
            self.plot.getAxis("left").setTicks([[(row + 1, names[layer]) for row, layer in enumerate(layers)]])
            self.plot.getAxis("bottom").setTicks([[(e, power_of_ten(e)) for e in range(int(edges[0]),
                                                                                     int(edges[-1]) + 1, 2)]])
            self.plot.setLabel("bottom", QUANTITIES[self.stat].split(" ", 1)[1])
        self.end()

    def describe(self, x: float, y: float) -> str:
        run = self.run
        if run is None or run.stat(self.stat).ndim != 3:
            return ""
        hist = run.stat(self.stat)
        layers = F.ridge_layers(hist.shape[1])
        row = int(np.floor(y)) - 1
        edges = run.hist_edges
        b = int(np.searchsorted(edges, x)) - 1
        if not (0 <= row < len(layers) and 0 <= b < len(edges) - 1):
            return ""
        layer = layers[row]
        share = latest_histograms(hist)[layer, b]
        where = (f"below {power_of_ten(edges[1])} (or exactly 0)" if b == 0 else
                 f"above {power_of_ten(edges[-2])}" if b == len(edges) - 2 else
                 f"in [{power_of_ten(edges[b])}, {power_of_ten(edges[b + 1])})")
        return f"{run.name}  {run.display_names[layer]}: {fmt(100 * share)} % of |values| {where} now"


class DistributionsView(PlotGroup, QWidget):
    """The Distributions tab: choose gradient or weight update, and the layer for the over-time bands."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.quantity, self.layer = QComboBox(), QComboBox()
        for stat, label in QUANTITIES.items():
            self.quantity.addItem(label, stat)
        self.layer.setSizeAdjustPolicy(QComboBox.AdjustToContents)
        self.empty = QLabel(NO_HISTOGRAMS)
        self.empty.setWordWrap(True)
        header = QHBoxLayout()
        header.addWidget(QLabel("Distribution of"))
        header.addWidget(self.quantity)
        header.addWidget(QLabel("over time for layer"))
        header.addWidget(self.layer)
        header.addStretch(1)
        self.over_time, self.per_layer = DistributionOverTime(), DistributionPerLayer()
        plots = QHBoxLayout()
        plots.addWidget(self.per_layer, 1)
        plots.addWidget(self.over_time, 1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(2, 2, 2, 2)
        layout.addLayout(header)
        layout.addWidget(self.empty)
        layout.addLayout(plots, 1)
        self.boxes = {"distribution-per-layer": self.per_layer, "distribution-over-time": self.over_time}
        self.runs: list = []
        self.quantity.currentIndexChanged.connect(lambda _: self.redraw(self.runs))
        self.layer.currentIndexChanged.connect(lambda _: self.redraw(self.runs))

    def _sync_layers(self, runs: list) -> None:
        names = runs[0].display_names if runs else []
        if [self.layer.itemText(i) for i in range(self.layer.count())] != names:
            current = self.layer.currentIndex()
            self.layer.blockSignals(True)
            self.layer.clear()
            self.layer.addItems(names)
            self.layer.setCurrentIndex(min(max(current, 0), len(names) - 1))
            self.layer.blockSignals(False)

    def parts(self, runs: list) -> list:
        self.runs = list(runs)
        self._sync_layers(runs)
        stat = self.quantity.currentData()
        self.over_time.stat = self.per_layer.stat = stat
        self.over_time.layer = max(self.layer.currentIndex(), 0)
        recorded = [r for r in runs if r.num_records]
        self.empty.setText(NO_RECORDS if runs and not recorded else NO_HISTOGRAMS)
        self.empty.setVisible(bool(runs) and not any(stat in r.stat_names and len(r.stat(stat)) for r in recorded))
        return [(self.per_layer, runs), (self.over_time, runs)]

    @property
    def has_data(self) -> bool:
        return self.per_layer.has_data or self.over_time.has_data
