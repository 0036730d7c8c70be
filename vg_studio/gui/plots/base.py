"""Shared pieces of the plots: a plot with a hover read-out line, layer colours and run line styles."""

from __future__ import annotations

import math

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLabel, QVBoxLayout, QWidget

RUN_STYLES = (Qt.SolidLine, Qt.DashLine, Qt.DotLine, Qt.DashDotLine)  # run 1, 2, … of an overlay
_LAYER_MAP = pg.colormap.get("plasma")


def layer_color(index: int, count: int):
    """Early layers dark, late layers bright: the depth of a layer reads off its colour."""
    return _LAYER_MAP.map(0.05 + 0.8 * index / max(count - 1, 1), mode="qcolor")


def run_pen(color, run_index: int, width: float = 1.6):
    return pg.mkPen(color, width=width, style=RUN_STYLES[run_index % len(RUN_STYLES)])


def fmt(value: float) -> str:
    if value is None or not math.isfinite(value):
        return "—"
    return f"{value:.4g}" if 1e-3 <= abs(value) < 1e4 or value == 0 else f"{value:.3e}"


class PlotBox(QWidget):
    """A titled pyqtgraph plot with a one-line read-out of the exact value under the mouse."""

    def __init__(self, title: str, x_label: str, y_label: str, log_y: bool = False, parent=None):
        super().__init__(parent)
        self.widget = pg.PlotWidget()
        self.plot: pg.PlotItem = self.widget.getPlotItem()
        self.plot.setTitle(title)
        self.plot.setLabel("bottom", x_label)
        self.plot.setLabel("left", y_label)
        self.plot.showGrid(x=True, y=True, alpha=0.25)
        self.plot.setLogMode(False, log_y)
        for side in ("left", "bottom"):
            self.plot.getAxis(side).enableAutoSIPrefix(False)  # "(x0.001)" on a gradient axis misleads
        self.log_y = log_y
        self.readout = QLabel(" ")
        self.readout.setObjectName("readout")
        self.readout.setTextInteractionFlags(Qt.TextSelectableByMouse)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(0)
        layout.addWidget(self.widget, 1)
        layout.addWidget(self.readout)
        self.plot.scene().sigMouseMoved.connect(self._mouse_moved)
        self.has_data = False
        self._curves: dict = {}
        self._used: set = set()

    # Curves are kept between redraws and only get new data: re-creating them at 10 Hz costs ~100 ms a time.
    def begin(self) -> None:
        self._used = set()
        self.has_data = False

    def curve(self, key, x, y, pen, name: str | None = None, **style) -> None:
        item = self._curves.get(key)
        if item is None or item.name() != name:
            if item is not None:
                self.plot.removeItem(item)
            item = self.plot.plot(name=name, **style)
            self._curves[key] = item
        item.setPen(pen)
        item.setData(x, y)
        self._used.add(key)
        self.has_data = True

    def end(self) -> None:
        for key in [k for k in self._curves if k not in self._used]:
            self.plot.removeItem(self._curves.pop(key))

    def fit_minimum_width(self) -> None:
        """Keep the view at least as wide as the plot's title, axes and colour bar need: pyqtgraph lays them
        out wider than a narrow view otherwise, and the right-hand part (the colour bar) is cut off."""
        need = int(self.plot.effectiveSizeHint(Qt.MinimumSize).width()) + 2
        if self.widget.minimumWidth() != need:
            self.widget.setMinimumWidth(need)

    def _mouse_moved(self, scene_pos) -> None:
        if not self.plot.vb.sceneBoundingRect().contains(scene_pos):
            return
        point = self.plot.vb.mapSceneToView(scene_pos)
        y = 10 ** point.y() if self.log_y else point.y()
        self.readout.setText(self.describe(point.x(), y) or " ")

    def describe(self, x: float, y: float) -> str:
        """Text for the read-out at data coordinates (x, y); subclasses name the nearest point."""
        return ""

    @staticmethod
    def nearest(xs: np.ndarray, x: float) -> int | None:
        if len(xs) == 0:
            return None
        return int(np.argmin(np.abs(np.asarray(xs, dtype=float) - x)))
