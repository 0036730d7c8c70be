"""The network as a diagram: input → layers → output, one box per layer sized by its width, each filled with the
colour of its current mean |gradient|, so a vanishing gradient shows on the architecture itself (dark near the
input).

Spec runs show h1…hL and out; a user's own Keras model shows its layer names and kinds (`layer_kinds`,
`layer_units`). Compared runs share one colour scale (the figure description's), so a healthy run does not look as
dark as a vanishing one. Before a run there is no gradient: the boxes are drawn in the window's colours.
Painted with QPainter, no pyqtgraph import until a gradient is coloured: it is built with the editor, before the
plots. Laid out left to right, or bottom to top when taller than wide (input at the bottom, as in the heatmap).
"""

from __future__ import annotations

import math

import numpy as np
from PySide6.QtCore import QPointF, QRectF, Qt, QTimer
from PySide6.QtGui import QColor, QPainter, QPen, QPolygonF
from PySide6.QtWidgets import QSizePolicy, QToolTip, QWidget

from vg_studio.report import figures as F

REFRESH_MS = 250


class NetworkDiagram(QWidget):
    def __init__(self, parent=None):
        super().__init__(parent)
        self.setMinimumSize(120, 90)
        self.setSizePolicy(QSizePolicy.Expanding, QSizePolicy.Expanding)
        self.setMouseTracking(True)
        self.names: list[str] = []
        self.kinds: list[str] = []
        self.units: list = []
        self.input_label = "input"
        self.magnitudes: np.ndarray = np.empty(0)  # latest mean |∂L/∂w| per layer (NaN: none yet)
        self.levels: tuple | None = None  # log10 range the colours span
        self.highlighted: set[int] = set()
        self.run = None
        self.compared: list = []  # runs shown beside this one elsewhere: the colour scale spans them all
        self._seen = None
        self._boxes: list[QRectF] = []
        self.timer = QTimer(self)
        self.timer.setInterval(REFRESH_MS)
        self.timer.timeout.connect(self._follow)

    # ---- what to show -------------------------------------------------------------------------------------
    def show_spec(self, spec, num_classes: int | None = None, input_shape=None) -> None:
        """The network an experiment spec describes (no gradients yet)."""
        layers = list(spec.network.layers)
        self.run = None
        self.timer.stop()
        self.names = [f"h{i + 1}" for i in range(len(layers))] + ["out"]
        self.kinds = [layer.kind for layer in layers] + ["dense"]
        self.units = [layer.units for layer in layers] + [num_classes]
        self.input_label = "input" + (f" {'×'.join(str(d) for d in input_shape)}" if input_shape else "")
        self.magnitudes, self.levels = np.full(len(self.names), np.nan), None
        self.update()

    def show_run(self, run, compared=()) -> None:
        """A run's layers, coloured by their latest gradient; follows the run while it trains. The colour scale
        spans `compared` runs too, and the run an "Apply fix and compare" started from."""
        self.run, self._seen = run, None
        self.compared = [r for r in compared if r is not None and r is not run]
        shape = (run.model_summary or {}).get("input_shape") or (run.report.get("dataset") or {}).get("input_shape")
        self.input_label = "input" + (f" {'×'.join(str(d) for d in shape if d)}" if shape else "")
        self._follow()
        self.timer.start()

    def set_highlighted_layers(self, layers: set) -> None:
        self.highlighted = set(layers)
        self.update()

    def _follow(self) -> None:
        run = self.run
        scale_runs = self._scale_runs()
        seen = tuple((id(r), r.revision, len(r.layer_names)) for r in scale_runs)
        if run is None or seen == self._seen:
            return
        self._seen = seen
        self.names = run.display_names
        count = len(self.names)
        self.kinds = (list(run.layer_kinds) + ["dense"] * count)[:count]
        self.units = (list(run.layer_units) + [None] * count)[:count]
        self.magnitudes = F.latest_per_layer(run.stat(F.FIGURES["network"].source), count)
        self.levels = F.network_levels(scale_runs, F.FIGURES["network"].source)
        self.update()

    def _scale_runs(self) -> list:
        run = self.run
        if run is None:
            return []
        others = list(self.compared)
        base = getattr(run, "compare_with", None)
        if base is not None and base not in others:
            others.append(base)
        return [run] + [r for r in others if r is not run]

    # ---- drawing ------------------------------------------------------------------------------------------
    def paintEvent(self, event) -> None:
        painter = QPainter(self)
        painter.setRenderHint(QPainter.Antialiasing)
        palette = self.palette()
        text, base, mid = palette.windowText().color(), palette.base().color(), palette.mid().color()
        painter.fillRect(self.rect(), palette.window())
        count = len(self.names)
        if count == 0:
            painter.setPen(text)
            painter.drawText(self.rect(), Qt.AlignCenter, "No network")
            return
        vertical = self.height() > self.width() * 1.2
        legend = 22 if self.levels is not None else 0
        area = QRectF(self.rect()).adjusted(6, 6, -6, -6 - legend)
        along, across = (area.height(), area.width()) if vertical else (area.width(), area.height())
        slots = count + 1  # the input, then each layer
        slot = along / slots
        gap = min(slot * 0.3, 18)
        widths = [_units_scale(u, self.units) for u in self.units]
        self._boxes = []
        metrics = painter.fontMetrics()
        for i in range(slots):
            size = across * (0.35 if i == 0 else 0.25 + 0.7 * widths[i - 1])
            start = i * slot + gap / 2
            if vertical:
                box = QRectF(area.left() + (across - size) / 2, area.bottom() - start - (slot - gap), size,
                             slot - gap)
            else:
                box = QRectF(area.left() + start, area.top() + (across - size) / 2, slot - gap, size)
            if i > 0:
                self._boxes.append(box)
                layer = i - 1
                fill = self._color(layer) or base
                painter.setBrush(fill)
                pen = QPen(text if layer in self.highlighted else mid, 2.5 if layer in self.highlighted else 1)
                painter.setPen(pen)
                painter.drawRoundedRect(box, 3, 3)
                label = self._label(layer, box, metrics, vertical)
                painter.setPen(_readable_on(fill, text))
                painter.drawText(box, Qt.AlignCenter | Qt.TextWordWrap, label)
                self._arrow(painter, previous, box, vertical, mid)
            else:
                painter.setBrush(base)
                painter.setPen(QPen(mid, 1, Qt.DashLine))
                painter.drawRoundedRect(box, 3, 3)
                painter.setPen(text)
                painter.drawText(box, Qt.AlignCenter, _fitted_input(self.input_label, box, metrics))
            previous = box
        if legend:
            self._legend(painter, QRectF(area.left(), area.bottom() + 6, area.width(), legend - 8), text)
        painter.end()

    def _label(self, layer: int, box: QRectF, metrics, vertical: bool) -> str:
        name = self.names[layer]
        kind = F.kind_label(self.kinds[layer]) if layer < len(self.kinds) else ""
        units = self.units[layer] if layer < len(self.units) else None
        lines = [name, f"{kind} {units}" if units else kind]
        value = self.magnitudes[layer] if layer < len(self.magnitudes) else np.nan
        if np.isfinite(value):
            lines.append(f"{value:.0e}")
        rows = max(int(box.height() // metrics.height()), 0)
        fits = [line for line in lines if metrics.horizontalAdvance(line) <= box.width() - 2]
        return "\n".join(fits[:rows])

    @staticmethod
    def _arrow(painter: QPainter, start: QRectF, end: QRectF, vertical: bool, color: QColor) -> None:
        if vertical:
            a, b = QPointF(start.center().x(), start.top()), QPointF(end.center().x(), end.bottom())
        else:
            a, b = QPointF(start.right(), start.center().y()), QPointF(end.left(), end.center().y())
        painter.setPen(QPen(color, 1.2))
        painter.drawLine(a, b)
        length = math.hypot(b.x() - a.x(), b.y() - a.y())
        if length < 6:
            return
        ux, uy = (b.x() - a.x()) / length, (b.y() - a.y()) / length
        head = QPolygonF([b, QPointF(b.x() - 5 * ux + 3 * uy, b.y() - 5 * uy - 3 * ux),
                          QPointF(b.x() - 5 * ux - 3 * uy, b.y() - 5 * uy + 3 * ux)])
        painter.setBrush(color)
        painter.drawPolygon(head)

    def _legend(self, painter: QPainter, rect: QRectF, text: QColor) -> None:
        low, high = self.levels
        label = f"mean |∂L/∂w| 1e{low:.0f} … 1e{high:.0f}"
        if painter.fontMetrics().horizontalAdvance(label) > rect.width() / 2:
            label = f"1e{low:.0f} … 1e{high:.0f}"
        label_width = painter.fontMetrics().horizontalAdvance(label) + 8
        bar = QRectF(rect.left(), rect.top() + 2, max(rect.width() - label_width, 20), rect.height() - 4)
        steps = 32
        for k in range(steps):
            painter.fillRect(QRectF(bar.left() + bar.width() * k / steps, bar.top(), bar.width() / steps + 1,
                                    bar.height()), _colormap(k / (steps - 1)))
        painter.setPen(text)
        painter.drawText(QRectF(bar.right() + 4, rect.top(), label_width, rect.height()),
                         Qt.AlignVCenter | Qt.AlignLeft, label)

    def _color(self, layer: int) -> QColor | None:
        if self.levels is None or layer >= len(self.magnitudes):
            return None
        value = self.magnitudes[layer]
        if not np.isfinite(value):
            return None
        return _colormap(F.colour_position(value, self.levels))

    # ---- hover --------------------------------------------------------------------------------------------
    def mouseMoveEvent(self, event) -> None:
        position = event.position()
        for layer, box in enumerate(self._boxes):
            if box.contains(position):
                kind = F.kind_label(self.kinds[layer]) if layer < len(self.kinds) else ""
                units = self.units[layer] if layer < len(self.units) else None
                value = self.magnitudes[layer] if layer < len(self.magnitudes) else np.nan
                tip = f"{self.names[layer]}: {kind}" + (f", {units} units" if units else "")
                if np.isfinite(value):
                    tip += f"\nmean |∂L/∂w| now: {value:.3g}"
                QToolTip.showText(event.globalPosition().toPoint(), tip, self)
                return
        QToolTip.hideText()


def _fitted_input(label: str, box: QRectF, metrics) -> str:
    """The input's label whole, or on two lines ("input", "28×28×1"), or "input"/"in": never cut mid-shape."""
    width, rows = box.width() - 2, max(int(box.height() // metrics.height()), 1)
    if metrics.horizontalAdvance(label) <= width:
        return label
    head, _, shape = label.partition(" ")
    if shape and rows >= 2 and max(metrics.horizontalAdvance(head), metrics.horizontalAdvance(shape)) <= width:
        return f"{head}\n{shape}"
    return head if metrics.horizontalAdvance(head) <= width else "in"


def _units_scale(units, all_units: list) -> float:
    """0…1: the box's size across the flow grows with the square root of the layer's width."""
    known = [u for u in all_units if u]
    if not units or not known:
        return 0.5
    return math.sqrt(units) / math.sqrt(max(known))


_VIRIDIS = []


def _colormap(position: float) -> QColor:
    if not _VIRIDIS:
        import pyqtgraph as pg

        _VIRIDIS.append(pg.colormap.get(F.FIGURES["network"].colormap))
    return _VIRIDIS[0].map(position, mode="qcolor")


def _readable_on(fill: QColor, text: QColor) -> QColor:
    """Black or white, whichever reads on the fill (text colour where the box has no gradient colour)."""
    if fill is None:
        return text
    luminance = 0.2126 * fill.redF() + 0.7152 * fill.greenF() + 0.0722 * fill.blueF()
    return QColor("black") if luminance > 0.5 else QColor("white")
