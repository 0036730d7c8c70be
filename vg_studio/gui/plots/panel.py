"""All live plots in one grid. Events only mark the panel dirty; a 10 Hz timer redraws (throttled drawing)."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QHBoxLayout, QVBoxLayout, QWidget

from vg_studio.gui.plots.curves import MetricPlot
from vg_studio.gui.plots.heatmap import HeatmapRow
from vg_studio.gui.plots.layers import LayerLinesPlot
from vg_studio.gui.plots.optimizer import OptimizerPlot
from vg_studio.gui.plots.time_heatmap import TimeHeatmapRow

REDRAW_MS = 100


class PlotsPanel(QWidget):
    def __init__(self, parent=None):
        super().__init__(parent)
        self.loss = MetricPlot("loss", "Loss")
        self.accuracy = MetricPlot("accuracy", "Accuracy")
        self.gradients = LayerLinesPlot("grad_mean_abs", "Mean |∂L/∂w| per layer", "mean |∂L/∂w|")
        self.heatmap = HeatmapRow()
        self.time_heatmap = TimeHeatmapRow()  # beside the layer heatmap, for recurrent networks only
        self.updates = LayerLinesPlot("update_ratio", "Weight change ‖Δw‖/‖w‖", "relative update")
        self.optimizer = OptimizerPlot()
        layout = QVBoxLayout(self)
        layout.setContentsMargins(2, 2, 2, 2)
        self.rows = []
        for row in ((self.loss, self.accuracy, self.optimizer),
                    (self.gradients, self.heatmap, self.time_heatmap, self.updates)):
            line = QHBoxLayout()
            for widget in row:
                line.addWidget(widget, 1)
            layout.addLayout(line, 1)
            self.rows.append(line)
        self.optimizer.hide()  # shown only for optimizers that report state (SDAGD)
        self.time_heatmap.hide()
        self.runs: list = []
        self._dirty = False
        self.redraw_count = 0
        self.timer = QTimer(self)
        self.timer.setInterval(REDRAW_MS)
        self.timer.timeout.connect(self._maybe_redraw)
        self.timer.start()

    def show_runs(self, runs: list) -> None:
        """The runs to draw: one, or several overlaid (line styles) with heatmaps side by side."""
        self.runs = [r for r in runs if r is not None]
        self.mark_dirty()

    def set_highlighted_layers(self, layers: set) -> None:
        for plot in (self.gradients, self.updates):
            plot.highlighted = set(layers)
        self.mark_dirty()

    def mark_dirty(self) -> None:
        self._dirty = True

    def _maybe_redraw(self) -> None:
        if self._dirty:
            self.redraw()

    def redraw(self) -> None:
        self._dirty = False
        self.redraw_count += 1
        for plot in (self.loss, self.accuracy, self.gradients, self.updates, self.heatmap, self.time_heatmap,
                     self.optimizer):
            plot.redraw(self.runs)
        self.optimizer.setVisible(self.optimizer.has_data)
        for box in self.plot_boxes.values():
            box.fit_minimum_width()
        self._arrange(recurrent=self.time_heatmap.isVisibleTo(self))

    def _arrange(self, recurrent: bool) -> None:
        """Recurrent runs: the weight-change plot moves up, so the time heatmap has room beside the layer one."""
        top, bottom = self.rows
        target = top if recurrent else bottom
        if target.indexOf(self.updates) < 0:
            (bottom if recurrent else top).removeWidget(self.updates)
            target.insertWidget(2 if recurrent else target.count(), self.updates, 1)

    @property
    def plot_boxes(self) -> dict:
        boxes = {"loss": self.loss, "accuracy": self.accuracy, "gradients": self.gradients,
                 "weight-change": self.updates, "optimizer": self.optimizer}
        for i, heatmap in enumerate(m for m in self.heatmap.maps if m.isVisibleTo(self)):
            boxes[f"heatmap-{i + 1}"] = heatmap
        for i, heatmap in enumerate(m for m in self.time_heatmap.maps if m.isVisibleTo(self)):
            boxes[f"time-heatmap-{i + 1}"] = heatmap
        return boxes

    def export(self, path: str | Path) -> list[Path]:
        """Write every plot as `<stem>-<plot>.png|svg` with pyqtgraph's exporters; returns the files."""
        import pyqtgraph.exporters as exporters

        path = Path(path)
        kind = exporters.SVGExporter if path.suffix.lower() == ".svg" else exporters.ImageExporter
        written = []
        for name, box in self.plot_boxes.items():
            target = path.with_name(f"{path.stem}-{name}{path.suffix or '.png'}")
            exporter = kind(box.plot)
            if kind is exporters.ImageExporter:
                exporter.parameters()["width"] = max(int(box.plot.sceneBoundingRect().width()), 400)
            exporter.export(str(target))
            written.append(target)
        return written
