"""Gradient flow as an image: layers (rows, input at the bottom) × probe records (columns), log colour scale."""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtWidgets import QHBoxLayout, QWidget

from vg_studio.gui.plots.base import PlotBox, fmt


class HeatmapPlot(PlotBox):
    def __init__(self, stat: str = "grad_mean_abs", title: str = "Gradient flow", parent=None,
                 color_bar: bool = True):
        super().__init__(title, "training step", "layer")
        self.stat = stat
        self.image = pg.ImageItem(axisOrder="row-major")
        self.plot.addItem(self.image)
        self.run = None
        self.colour_map = pg.colormap.get("viridis")
        self.image.setColorMap(self.colour_map)
        self.bar = None
        if color_bar:
            self.bar = pg.ColorBarItem(values=(-8, 0), colorMap=self.colour_map, label="log₁₀ mean |∂L/∂w|",
                                       interactive=False, width=12)
            self.bar.setImageItem(self.image, insert_in=self.plot)

    def redraw(self, run, levels: tuple | None = None) -> None:
        self.run = run
        values = run.stat(self.stat) if run is not None else np.empty((0, 0))
        self.has_data = values.size > 0
        if not self.has_data:
            self.image.clear()
            return
        with np.errstate(divide="ignore", invalid="ignore"):
            logs = np.log10(np.where(values > 0, values, np.nan)).T  # (layers, records)
        if levels is None:
            levels = finite_range(logs)
        self.image.setImage(np.nan_to_num(logs, nan=levels[0]), levels=levels, autoLevels=False)
        steps = run.record_steps
        x0, x1 = (steps[0], steps[-1]) if len(steps) > 1 else (0.0, max(steps[0], 1.0))
        width = (x1 - x0) * len(steps) / max(len(steps) - 1, 1) or 1.0
        self.image.setRect(x0 - width / len(steps) / 2, 0.5, width, logs.shape[0])
        names = run.layer_names
        self.plot.getAxis("left").setTicks([[(i + 1, n.replace("hidden_", "h")) for i, n in enumerate(names)]])
        if self.bar is not None:
            self.bar.setLevels(levels)

    def describe(self, x: float, y: float) -> str:
        run = self.run
        if run is None or run.stat(self.stat).size == 0:
            return ""
        values, steps = run.stat(self.stat), run.record_steps
        i, layer = self.nearest(steps, x), int(round(y)) - 1
        if i is None or not 0 <= layer < values.shape[1]:
            return ""
        return f"{run.name}  {run.layer_names[layer]}  step {int(steps[i])}: mean |∂L/∂w| = {fmt(values[i, layer])}"


def finite_range(logs: np.ndarray) -> tuple:
    finite = logs[np.isfinite(logs)]
    if finite.size == 0:
        return (-8.0, 0.0)
    low, high = float(finite.min()), float(finite.max())
    return (low, high) if high > low else (low - 1, high + 1)


class HeatmapRow(QWidget):
    """One heatmap per selected run, side by side, on one shared colour scale (so they compare directly)."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.layout_ = QHBoxLayout(self)
        self.layout_.setContentsMargins(0, 0, 0, 0)
        self.maps: list[HeatmapPlot] = [HeatmapPlot()]
        self.layout_.addWidget(self.maps[0])

    def redraw(self, runs: list) -> None:
        runs = runs or [None]
        while len(self.maps) < len(runs):
            self.maps.append(HeatmapPlot())
            self.layout_.addWidget(self.maps[-1])
        levels = None
        ranges = [finite_range(np.log10(np.where(r.stat("grad_mean_abs") > 0, r.stat("grad_mean_abs"), np.nan)))
                  for r in runs if r is not None and r.stat("grad_mean_abs").size]
        if ranges:
            levels = (min(r[0] for r in ranges), max(r[1] for r in ranges))
        for i, heatmap in enumerate(self.maps):
            heatmap.setVisible(i < len(runs))
            if i < len(runs):
                heatmap.plot.setTitle(f"Gradient flow: {runs[i].name}" if runs[i] is not None and len(runs) > 1
                                      else "Gradient flow")
                heatmap.redraw(runs[i], levels)

    @property
    def has_data(self) -> bool:
        return any(m.has_data for m in self.maps if m.isVisible())
