"""Gradient flow as an image: layers (rows, input at the bottom) × training steps (columns), log colour scale.

The image is an `Overview` of the run — at most 512 columns, each the geometric mean over its records — that
grows by folding in new records, so drawing it costs the same at step 50,000 as at step 500. Zoomed in, the
columns are the records in view. The colour scale spans the 2nd–98th percentile of the values (of this run, or of
all shown runs when the scale is shared), so one extreme record or run does not wash the rest out; the colour bar
says which.
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtWidgets import QComboBox, QGridLayout, QHBoxLayout, QLabel, QVBoxLayout, QWidget

from vg_studio.gui.plots.base import PlotBox, PlotGroup, fmt, style_axis
from vg_studio.gui.plots.decimate import Overviews
from vg_studio.report import figures as F
from vg_studio.report.figures import MAX_MAPS, PERCENTILES, log10_magnitude, robust_levels  # noqa: F401

SCALES = ("shared", "per run")  # compared runs share one scale unless asked otherwise
ROW_LABEL_PX = 13  # height a layer's tick label needs


class HeatmapPlot(PlotBox):
    """One run's image: rows are the columns of `stat` (layers)."""

    figure = F.FIGURES["heatmap"]

    def __init__(self, parent=None):
        figure = self.figure
        self.quantity, self.colormap, self.row_axis = figure.quantity, figure.colormap, figure.y_label
        super().__init__(figure.title, figure.x_label, figure.y_label)
        self.stat = figure.source
        self.image = pg.ImageItem(axisOrder="row-major")
        self.plot.addItem(self.image)
        self.bar = pg.ColorBarItem(values=(-8, 0), colorMap=pg.colormap.get(self.colormap), label=self.quantity,
                                   interactive=False, width=12)
        self.bar.setImageItem(self.image, insert_in=self.plot)
        self.overviews = Overviews()
        self.shared_levels: tuple | None = None  # set by the grid when the scale is shared
        # invisible: widens the step axis to the longest compared run, so compared heatmaps line up
        self.span = pg.PlotDataItem(pen=pg.mkPen((0, 0, 0, 0)))
        self.plot.addItem(self.span)
        self.shared_steps: tuple | None = None
        self.logs = np.empty((0, 0))  # the image drawn: (rows, columns) of log10 values
        self._columns = None  # the Overview the image's columns come from
        self.run = None

    def source(self, run) -> tuple[np.ndarray, np.ndarray]:
        """(record steps, (records, rows) values)."""
        return F.heatmap_source(self.figure, run)

    def row_labels(self, run, rows: int) -> list[str]:
        return F.heatmap_row_labels(self.figure, run, rows)

    def signature(self, runs: list) -> tuple:
        return super().signature(runs) + (self.shared_levels, self.shared_steps)

    def image_of(self, run) -> np.ndarray:
        """The (rows, columns) log10 image of `run` as it would be drawn now."""
        steps, values = self.source(run)
        if values.size == 0:
            return np.empty((0, 0), dtype=np.float32)
        overview = self.overviews.view(id(run), steps, values, self.zoomed_range(), log10_magnitude)
        centres, means = overview.means()
        self._columns = overview
        return means.T

    def draw(self, runs: list) -> None:
        run = self.run = runs[0] if runs else None
        self.logs = self.image_of(run) if run is not None else np.empty((0, 0))
        self.has_data = self.logs.size > 0 and np.isfinite(self.logs).any()
        if not self.has_data:
            self.image.clear()
            return
        levels = self.shared_levels or robust_levels([self.logs]) or (-8.0, 0.0)
        self.image.setImage(np.maximum(self.logs, levels[0] - 1), levels=levels, autoLevels=False)
        self.span.setData(list(self.shared_steps or ()), [1] * len(self.shared_steps or ()))
        overview = self._columns
        n = overview.used
        x0, x1 = overview.x_first[0], overview.x_last[n - 1]
        width = max(x1 - x0, 1.0) * n / max(n - 1, 1) if n > 1 else max(x1 - x0, 1.0)
        self.image.setRect(x0 - width / n / 2 if n > 1 else x0 - 0.5, 0.5, width, self.logs.shape[0])
        self.bar.setLevels(levels)
        label = F.scale_label(self.quantity, bool(self.shared_levels)).replace(", ", "<br>", 1)
        title = self.bar.getAxis("left")  # pyqtgraph puts a colour bar's label on its left axis
        if title.labelText != label:
            title.setLabel(label, color=self.colors["plot_foreground"])
        labels = self.row_labels(run, self.logs.shape[0])
        room = self.plot.vb.height() or self.widget.height() * 0.6  # before the first layout: an estimate
        self.plot.getAxis("left").setTicks([[(i + 1, labels[i]) for i in F.labelled_rows(len(labels), room,
                                                                                          ROW_LABEL_PX)]])
        self.overviews.keep({id(run)})

    def apply_theme(self, colors: dict) -> None:
        super().apply_theme(colors)
        style_bar(self.bar, colors["plot_foreground"])

    def describe(self, x: float, y: float) -> str:
        run = self.run
        if run is None:
            return ""
        steps, values = self.source(run)
        i, row = self.nearest(steps, x), int(round(y)) - 1
        if i is None or not 0 <= row < values.shape[1]:
            return ""
        label = self.row_labels(run, values.shape[1])[row]
        return f"{run.name}  {label}  step {int(steps[i])}: {self.quantity.split(' ', 1)[1]} = {fmt(values[i, row])}"


def style_bar(bar: pg.ColorBarItem, color: str) -> None:
    """The bar's frame, tick values and label (on its left axis) in the theme's colour."""
    for side in ("left", "right", "top", "bottom"):
        style_axis(bar.getAxis(side), color)


class HeatmapGrid(PlotGroup, QWidget):
    """One heatmap per shown run (up to MAX_MAPS): stacked for two, two columns beyond. The grid asks for the same
    minimum size whatever the number of runs: comparing runs must not widen the window past the screen."""

    plot_class = HeatmapPlot

    def __init__(self, parent=None):
        super().__init__(parent)
        self.scale = QComboBox()
        self.scale.addItems(list(SCALES))
        self.scale.setToolTip("Per run: each heatmap spans its own run's values (2nd–98th percentile), so a run "
                              "with extreme gradients does not wash the others out.\nShared: one scale over all "
                              "shown runs, so colours compare between runs.")
        self.scale.currentIndexChanged.connect(lambda _: self.redraw(self.runs))
        self.note = QLabel("")
        header = QHBoxLayout()
        header.setContentsMargins(4, 0, 4, 0)
        header.addWidget(QLabel("Colour scale:"))
        header.addWidget(self.scale)
        header.addWidget(self.note, 1)
        self.header = QWidget()
        self.header.setLayout(header)
        self.header.hide()
        self.grid = QGridLayout()
        self.grid.setContentsMargins(0, 0, 0, 0)
        self.grid.setSpacing(2)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(0)
        layout.addWidget(self.header)
        layout.addLayout(self.grid, 1)
        self.maps: list[HeatmapPlot] = []
        self.runs: list = []
        self.colors = None
        self._add_map()
        self.setMinimumSize(170, 130)

    def _add_map(self) -> HeatmapPlot:
        heatmap = self.plot_class()
        heatmap.widget.setMinimumSize(60, 50)  # the grid's own minimum counts, not each map's
        if self.colors is not None:
            heatmap.apply_theme(self.colors)
        self.maps.append(heatmap)
        self.grid.addWidget(heatmap, len(self.maps) - 1, 0)  # owned by the grid at once (`parts` places it)
        return heatmap

    def runs_drawn(self, runs: list) -> list:
        return [r for r in runs if r is not None][:MAX_MAPS]

    def parts(self, runs: list) -> list:
        self.runs = list(runs)
        shown = self.runs_drawn(runs)
        while len(self.maps) < len(shown):
            self._add_map()
        columns = 1 if len(shown) <= 2 else 2
        for i, heatmap in enumerate(self.maps):
            if self.grid.indexOf(heatmap) < 0 or self.grid.getItemPosition(self.grid.indexOf(heatmap))[:2] != (
                    i // columns, i % columns):
                self.grid.addWidget(heatmap, i // columns, i % columns)
            heatmap.setVisible(i < max(len(shown), 1))
        several = len(shown) > 1
        self.header.setVisible(several)
        titles = F.run_titles(self.plot_class.figure.title, shown)
        extra = len([r for r in runs if r is not None]) - len(shown)
        self.note.setText(f"  {extra} more selected run(s) not shown" if extra > 0 else "")
        ends = [self.maps[0].source(r)[0] for r in shown]
        ends = [e[-1] for e in ends if len(e)]
        steps = (0.0, float(max(ends))) if several and ends else None
        shared = None
        if several and self.scale.currentText() == "shared":
            shared = robust_levels([m.image_of(r) for m, r in zip(self.maps, shown)])
        out = []
        for i, run in enumerate(shown or [None]):
            heatmap = self.maps[i]
            heatmap.shared_levels, heatmap.shared_steps = shared, steps
            if run is not None:
                heatmap.set_title(titles[i], run.color if several else None)
            out.append((heatmap, [run] if run is not None else []))
        return out

    def apply_theme(self, colors: dict) -> None:
        self.colors = dict(colors)
        for heatmap in self.maps:
            heatmap.apply_theme(colors)

    def visible_maps(self) -> list:
        return [m for m in self.maps if not m.isHidden()]

    @property
    def has_data(self) -> bool:
        return any(m.has_data for m in self.visible_maps())
