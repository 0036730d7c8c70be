"""Gradient through time for recurrent networks: input time steps (rows, step 1 at the bottom) × probe records
(columns), mean |∂L/∂x_t| on a log colour scale. SimpleRNN's early steps go dark; LSTM/GRU keep them lit."""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtWidgets import QHBoxLayout, QWidget

from vg_studio.gui.plots.base import PlotBox, fmt
from vg_studio.gui.plots.heatmap import finite_range


def log_grid(grid: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.log10(np.where(grid > 0, grid, np.nan))


class TimeHeatmapPlot(PlotBox):
    def __init__(self, parent=None):
        super().__init__("Gradient through time", "training step", "input time step")
        self.image = pg.ImageItem(axisOrder="row-major")
        self.plot.addItem(self.image)
        self.colour_map = pg.colormap.get("inferno")
        self.image.setColorMap(self.colour_map)
        self.bar = pg.ColorBarItem(values=(-8, 0), colorMap=self.colour_map, label="log₁₀ mean |∂L/∂xₜ|",
                                   interactive=False, width=12)
        self.bar.setImageItem(self.image, insert_in=self.plot)
        self.run = None

    def redraw(self, run, levels: tuple | None = None) -> None:
        self.run = run
        steps, grid = run.time_grad() if run is not None else (np.empty(0), np.empty((0, 0)))
        self.has_data = grid.size > 0
        if not self.has_data:
            self.image.clear()
            return
        logs = log_grid(grid).T  # (time steps, records)
        levels = levels or finite_range(logs)
        self.image.setImage(np.nan_to_num(logs, nan=levels[0]), levels=levels, autoLevels=False)
        x0, x1 = (steps[0], steps[-1]) if len(steps) > 1 else (0.0, max(steps[0], 1.0))
        width = (x1 - x0) * len(steps) / max(len(steps) - 1, 1) or 1.0
        self.image.setRect(x0 - width / len(steps) / 2, 0.5, width, logs.shape[0])
        self.bar.setLevels(levels)

    def describe(self, x: float, y: float) -> str:
        if self.run is None:
            return ""
        steps, grid = self.run.time_grad()
        i, t = self.nearest(steps, x), int(round(y)) - 1
        if i is None or not 0 <= t < grid.shape[1]:
            return ""
        return f"{self.run.name}  time step {t + 1}/{grid.shape[1]}  training step {int(steps[i])}: " \
               f"mean |∂L/∂xₜ| = {fmt(grid[i, t])}"


class TimeHeatmapRow(QWidget):
    """One time-step heatmap per selected recurrent run, side by side, on a shared colour scale; hidden when
    no selected run is recurrent."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.layout_ = QHBoxLayout(self)
        self.layout_.setContentsMargins(0, 0, 0, 0)
        self.maps: list[TimeHeatmapPlot] = [TimeHeatmapPlot()]  # made up front: laid out with its colour bar
        self.layout_.addWidget(self.maps[0])

    def redraw(self, runs: list) -> None:
        runs = [r for r in runs if r is not None and r.is_recurrent]
        self.setVisible(bool(runs))
        while len(self.maps) < len(runs):
            self.maps.append(TimeHeatmapPlot())
            self.layout_.addWidget(self.maps[-1])
        ranges = [finite_range(log_grid(grid)) for grid in (r.time_grad()[1] for r in runs) if grid.size]
        levels = (min(r[0] for r in ranges), max(r[1] for r in ranges)) if ranges else None
        for i, heatmap in enumerate(self.maps):
            heatmap.setVisible(i < len(runs))
            if i < len(runs):
                heatmap.plot.setTitle(f"Gradient through time: {runs[i].name}" if len(runs) > 1
                                      else "Gradient through time")
                heatmap.redraw(runs[i], levels)

    @property
    def has_data(self) -> bool:
        return any(m.has_data for m in self.maps if m.isVisibleTo(self))
