"""Shared pieces of the plots: a titled plot with its legend beside the data, a hover read-out, a log axis that
labels only powers of ten, theme colours, and redrawing only what changed."""

from __future__ import annotations

import functools
import math
from pathlib import Path

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt, QTimer
from PySide6.QtGui import QBrush, QColor, QFont, QFontMetrics, QPainterPath, QPen
from PySide6.QtWidgets import QGraphicsPathItem, QLabel, QSizePolicy, QVBoxLayout, QWidget

from vg_studio.report import figures as F
from vg_studio.report.palette import LAYER_COLORMAP, line_color
from vg_studio.safeio import atomic_path
from vg_studio.text import inert_html

_LAYER_MAP = pg.colormap.get(LAYER_COLORMAP)
MIN_WIDTH, MIN_HEIGHT = 170, 130  # a plot never asks for more: the window must fit a laptop screen
LEGEND_SAMPLE_PX = 60  # a legend entry's width beyond its label's text (its line sample and margins; measured)
THIN_ABOVE = 256  # points: Qt draws antialiased lines wider than one pixel ~40× slower (570 vs 13 ms a frame)
_SUPERSCRIPT = str.maketrans("-0123456789", "⁻⁰¹²³⁴⁵⁶⁷⁸⁹")


def layer_color(index: int, count: int, background: str = "#ffffff"):
    """Early layers at one end of the colour map, late layers at the other: the depth of a layer reads off its
    colour; the stretch of the map used keeps every line readable on `background` (the figure descriptions')."""
    return _LAYER_MAP.map(F.layer_color_position(index, count, background), mode="qcolor")


def run_layer_color(run_color: str, index: int, count: int, background: str = "#ffffff") -> str:
    """Overlaid runs: the run's own hue, darker near the input and lighter near the output."""
    return F.run_layer_color(run_color, index, count, background)


def run_line_color(run_color: str, background: str = "#ffffff") -> str:
    """A run's colour as a line, readable on `background`."""
    return line_color(run_color, background)


@functools.lru_cache(maxsize=4096)
def _pen(rgba: str, width: float, style: int) -> QPen:
    return pg.mkPen(QColor(rgba), width=width, style=Qt.PenStyle(style))


def line_pen(color, width: float = 1, style=Qt.SolidLine) -> QPen:
    """pg.mkPen, cached (building pens was a tenth of a plot's redraw). The pen is shared: do not change it."""
    return _pen(pg.mkColor(color).name(QColor.HexArgb), float(width), int(style.value))


def fmt(value: float) -> str:
    if value is None or not math.isfinite(value):
        return "—"
    return f"{value:.4g}" if 1e-3 <= abs(value) < 1e4 or value == 0 else f"{value:.3e}"


def power_of_ten(exponent: float) -> str:
    """10ᵉ as a label: 10⁻³, 1, 10, and 5·10⁻³ between powers."""
    whole = math.floor(exponent + 1e-9)
    mantissa = round(10 ** (exponent - whole), 1)
    power = {0: "1", 1: "10"}.get(whole, "10" + str(whole).translate(_SUPERSCRIPT))
    if abs(mantissa - 1) < 1e-6:
        return power
    digits = f"{mantissa:g}"
    return {-1: f"{mantissa / 10:g}", 0: digits, 1: f"{mantissa * 10:g}"}.get(whole, f"{digits}·{power}")


class LogAxis(pg.AxisItem):
    """A log axis labelled at powers of ten only, with unlabelled minor ticks between them.

    pyqtgraph labels every minor tick (0.009, 0.008, …) when less than a few decades are visible, and the labels
    crowd; where not even one power of ten is in view, 1-2-5 steps are labelled instead."""

    def logTickValues(self, minVal, maxVal, size, stdTicks):
        if not (math.isfinite(minVal) and math.isfinite(maxVal)) or maxVal <= minVal:
            return []
        decades = list(range(math.ceil(minVal), math.floor(maxVal) + 1))
        room = max(int(size / (28 if self.orientation in ("left", "right") else 55)), 2)  # px a label needs
        every = max(1, math.ceil(len(decades) / room))
        major = [d for d in decades if d % every == 0]
        minor = []
        if maxVal - minVal < 2:
            minor = [d + math.log10(m) for d in range(math.floor(minVal), math.ceil(maxVal)) for m in range(2, 10)]
            minor = [v for v in minor if minVal < v < maxVal]
        if len(major) < 2:  # less than a decade in view: label 1, 2 and 5 times powers of ten
            major = sorted(set(major) | {v for v in minor
                                         if round(10 ** (v - math.floor(v + 1e-9))) in (2, 5)})
        return [(float(every), major), (None, [v for v in minor if v not in major])]

    def tickValues(self, minVal, maxVal, size):
        """Linear axes: the major level only. Every tick level is also a level of grid lines, and replaying the
        minor ones cost ~8 ms per axis on each repaint of a growing plot (its range changes every frame)."""
        levels = super().tickValues(minVal, maxVal, size)
        return levels if self.logMode else levels[:1]

    def tickSpacing(self, minVal, maxVal, size):
        """Linear horizontal axes: a 1-2-5 step wide enough for the labels (pyqtgraph's own step ignores their
        width, and in narrow side-by-side plots "12000 14000 16000" ran together)."""
        if self.logMode or self.orientation not in ("bottom", "top") or not maxVal > minVal:
            return super().tickSpacing(minVal, maxVal, size)
        digits = max(len(f"{v:.0f}") for v in (minVal, maxVal))
        font = self.style.get("tickFont") or QFont()
        label_px = QFontMetrics(font).horizontalAdvance("0" * digits + "0")
        return [(F.tick_step(maxVal - minVal, size, label_px), 0)]

    def tickStrings(self, values, scale, spacing):
        if not self.logMode:
            return super().tickStrings(values, scale, spacing)
        if spacing is None:
            return [""] * len(values)
        return [power_of_ten(v) for v in values]


def _no_minimum_width(label: pg.LabelItem) -> None:
    """pyqtgraph makes a title's minimum width the width of its text, so a long title (a run's name) widened the
    whole window; the title may be cut instead."""
    def update_min():
        height = label.itemRect().height()
        label.setMinimumWidth(0)
        label.setMinimumHeight(height)
        label._sizeHint = {Qt.SizeHint.MinimumSize: (0, height),
                           Qt.SizeHint.PreferredSize: (label.itemRect().width(), height),
                           Qt.SizeHint.MaximumSize: (-1, -1), Qt.SizeHint.MinimumDescent: (0, 0)}
        label.updateGeometry()
    label.updateMin = update_min
    update_min()


class PlotBox(QWidget):
    """A titled pyqtgraph plot, its legend to the right of the data (never over it), and a one-line read-out of
    the exact value under the mouse. Subclasses implement `draw(runs)`; `redraw(runs)` skips it when nothing the
    plot shows has changed since the last time."""

    def __init__(self, title: str, x_label: str, y_label: str, log_y: bool = False, legend: bool = False,
                 parent=None):
        super().__init__(parent)
        self.widget = pg.GraphicsLayoutWidget()
        self.widget.ci.setContentsMargins(2, 2, 14, 2)  # room on the right for the last x tick label
        self.widget.ci.setSpacing(0)
        # title, legend, plot from top to bottom: the legend sits between the title and the data, never on it
        self.title_label = pg.LabelItem(title, size="11pt")
        _no_minimum_width(self.title_label)
        self.widget.addItem(self.title_label, row=0, col=0)
        self.plot: pg.PlotItem = self.widget.addPlot(row=2, col=0, axisItems={side: LogAxis(side)
                                                                                  for side in ("left", "bottom")})
        self.title = self.full_title = title
        self.swatch: str | None = None
        self.plot.setLabel("bottom", x_label)
        self.plot.setLabel("left", y_label)
        self.plot.showGrid(x=True, y=True, alpha=0.25)
        self.plot.setLogMode(False, log_y)
        for side in ("left", "bottom"):
            self.plot.getAxis(side).enableAutoSIPrefix(False)  # "(x0.001)" on a gradient axis misleads
        self.log_y = log_y
        self.legend = None  # a LegendItem, made by set_legend
        self.has_legend = legend
        self._legend_entries: list = []
        self.readout = QLabel(" ")
        self.readout.setObjectName("readout")
        self.readout.setTextInteractionFlags(Qt.TextSelectableByMouse)
        self.readout.setTextFormat(Qt.PlainText)  # run and layer names shown as they are
        self.readout.setSizePolicy(QSizePolicy.Ignored, QSizePolicy.Fixed)  # long read-outs must not widen
        self.readout.setWordWrap(True)  # nor be cut: two lines, always reserved (the plot never jumps)
        self.readout.setFixedHeight(2 * QFontMetrics(self.readout.font()).lineSpacing() + 2)
        self._mouse_at = None  # data coordinates of the last hover, to refresh the read-out after a redraw
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(0)
        layout.addWidget(self.widget, 1)
        layout.addWidget(self.readout)
        self.widget.setMinimumSize(MIN_WIDTH, MIN_HEIGHT)
        self.plot.scene().sigMouseMoved.connect(self._mouse_moved)
        self.plot.vb.sigResized.connect(self._fit_to_width)
        # zoomed in, the curves show the records in view rather than the whole run's overview: redraw after a
        # zoom or pan settles (a drag emits many range changes)
        self._zoom_timer = QTimer(self)
        self._zoom_timer.setSingleShot(True)
        self._zoom_timer.setInterval(60)
        self._zoom_timer.timeout.connect(self._zoom_settled)
        # bound methods, not lambdas holding `self`: a graphics item dropping its slot while Qt deletes this
        # widget must not release the widget's last reference mid-deletion (a crash at exit)
        self.plot.vb.sigRangeChangedManually.connect(self._zoom_changed)
        self.plot.vb.sigStateChanged.connect(self._zoom_changed)
        self.colors = current_colors()  # the theme's, as the window configured pyqtgraph before building us
        self.has_data = False
        self.draw_count = 0  # how often the plot really redrew (tests: an unchanged plot is not redrawn)
        self._signature = None
        self._drawn_zoom = None
        self._curves: dict = {}
        self._spare_curves: dict = {}  # style -> hidden curves to reuse (making and removing items is costly)
        self._shapes: dict = {}
        self._used: set = set()
        self._legend_key = None
        self.pending_legend = None  # (entries, columns) of a legend the panel builds in a unit of its own
        self.complete = True  # False after a draw that left curves for a later unit
        self.runs: list = []

    # ---- redrawing only what changed ----------------------------------------------------------------------
    def redraw(self, runs: list, force: bool = False) -> bool:
        """Draw `runs` if anything this plot shows changed; True when it drew."""
        signature = self.signature(runs)
        if not force and signature == self._signature:
            return False
        self._signature = signature
        self._drawn_zoom = self.zoomed_range()
        self.runs = list(runs)
        self.draw_count += 1
        self.complete = True
        self.draw(self.runs)
        self._refresh_readout()
        # the view range and its transform settle now: left to the paint (pyqtgraph's prepareForPaint), they
        # changed during it and Qt painted the whole plot a second time, in the same event-loop pass
        self.plot.vb.prepareForPaint()
        if not self.complete:  # curves left for a later unit of the panel's frame (see FRAME)
            self._signature = None
        return True

    def parts(self, runs: list) -> list:
        """(plot, runs) pairs a panel redraws one by one: a plot is its own only part."""
        return [(self, runs)]

    def _zoom_changed(self, *_) -> None:
        self._zoom_timer.start()

    def _zoom_settled(self) -> None:
        """Only a change of zoom redraws here; new data waits for the panel's frame budget."""
        zoom = self.zoomed_range()
        if zoom != self._drawn_zoom and self.runs:
            self.redraw(self.runs, force=True)

    def signature(self, runs: list) -> tuple:
        """What the picture depends on: the runs, their data revisions, the view range when zoomed in."""
        return tuple((id(r), r.revision, r.color) for r in runs) + (self.zoomed_range(),
                                                                    self.colors["plot_foreground"])

    def invalidate(self) -> None:
        self._signature = None

    def draw(self, runs: list) -> None:
        raise NotImplementedError

    def zoomed_range(self) -> tuple | None:
        """The x range the user zoomed to, or None while the plot follows the data."""
        return None if self.plot.vb.autoRangeEnabled()[0] else tuple(self.plot.vb.viewRange()[0])

    # ---- curves kept between redraws (re-creating them at 10 Hz costs ~100 ms a time) ------------------------
    def begin(self) -> None:
        self._used = set()
        self.has_data = False

    def curve(self, key, x, y, pen, brushes=None, **style) -> pg.PlotDataItem:
        """Set the data of the curve `key` (made on first use with `style`, e.g. symbols; `brushes`: one symbol
        brush per point)."""
        item = self._curves.get(key)
        if item is None:
            spares = self._spare_curves.get(repr(style))
            if spares:  # a curve another run or layer no longer uses: ~10x cheaper than a new item
                item = spares.pop()
                item.show()
            elif FRAME["budgeted"] and FRAME["new_items"] <= 0:  # enough new items for this unit: next one
                self.complete = False
                return None
            else:
                FRAME["new_items"] -= 1
                item = self._new_curve(style)
            self._curves[key] = item
        if len(x) > THIN_ABOVE and pen is not None and pen.widthF() > 1:
            pen = line_pen(pen.color(), 1, pen.style())
        pen_key = _pen_key(pen)
        if getattr(item, "_pen_key", 0) != pen_key:  # setPen alone costs ~1 ms: only when it changed
            item.setPen(pen)
            item._pen_key = pen_key
        if "symbol" not in style and pen is not None:
            self._mark_lone_point(item, x, y, pen)
        # dense curves (a long run's envelopes) without antialiasing: a quarter less to paint, no visible loss
        extra = {} if brushes is None else {"symbolBrush": brushes}
        item.setData(x, y, antialias=bool(pg.getConfigOption("antialias")) and len(x) <= THIN_ABOVE, **extra)
        self._used.add(key)
        self.has_data = self.has_data or len(x) > 0
        return item

    @staticmethod
    def _mark_lone_point(item: pg.PlotDataItem, x, y, pen) -> None:
        """A line through a single point draws nothing: a lone record gets a marker (and loses it once a second
        record makes a line)."""
        lone = len(x) <= 2 and F.marker_needed(int(np.sum(np.isfinite(np.asarray(x, float))
                                                          & np.isfinite(np.asarray(y, float)))))
        want = "o" if lone else None
        if item.opts.get("symbol") != want:
            item.setSymbol(want)
            if lone:
                item.setSymbolSize(7)
                item.setSymbolPen(pen)
                item.setSymbolBrush(pen.color())

    def _new_curve(self, style: dict) -> pg.PlotDataItem:
        item = pg.PlotDataItem(**style)
        item.setDownsampling(auto=True, method="peak")  # to the plot's width in pixels, on what is visible
        item.setClipToView(True)
        self.plot.addItem(item)
        item._style_key = repr(style)
        return item

    def spares_wanted(self, runs: list) -> int:
        """How many plain curves drawing `runs` will soon need beyond those this plot has (made ahead by the
        panel while the window is idle, e.g. while a run's first step is traced)."""
        return 0

    def make_spares(self, count: int) -> None:
        for _ in range(count):
            item = self._new_curve({})
            item.hide()
            self._spare_curves.setdefault(item._style_key, []).append(item)

    def shape(self, key, path: QPainterPath, pen=None, brush=None) -> QGraphicsPathItem:
        """A filled or outlined path in data coordinates (log10 units on a log axis), kept between redraws: one
        item for many polygons (bands, ridges) costs far less than a pyqtgraph curve or fill per polygon."""
        item = self._shapes.get(key)
        if item is None:
            item = self._shapes[key] = QGraphicsPathItem()
            self.plot.addItem(item)
        item.setPath(path)
        item.setPen(pen if pen is not None else QPen(Qt.NoPen))  # pyqtgraph's pens are cosmetic: 1 px wide
        item.setBrush(brush if brush is not None else QBrush(Qt.NoBrush))
        self._used.add(key)
        self.has_data = self.has_data or not path.isEmpty()
        return item

    def end(self) -> None:
        for key in [k for k in self._curves if k not in self._used]:  # kept hidden for the next new curve
            item = self._curves.pop(key)
            item.setData([], [])
            item.hide()
            self._spare_curves.setdefault(item._style_key, []).append(item)
        for key in [k for k in self._shapes if k not in self._used]:
            self.plot.removeItem(self._shapes.pop(key))

    # ---- legend: above the data in as many columns as fit, rebuilt only when its entries or columns change ----
    def set_legend(self, entries: list) -> None:
        """entries: (label, pen) or (label, pen, symbol style dict); a pen of None gives a line of text alone."""
        if not self.has_legend:
            return
        self._legend_entries = list(entries)
        key = ([(e[0], _pen_key(e[1]), repr(e[2:])) for e in entries], int(self.widget.width()),
               self.colors["plot_foreground"])
        if key == self._legend_key:
            return
        self._legend_key = key
        if not entries:
            self._replace_legend(None)
            return
        # as many columns as fit the plot's width, from the labels' text widths (building a legend only to
        # measure it doubled the cost of a run's first frame)
        font = QFont(self.font())
        font.setPointSizeF(8)
        text = max(QFontMetrics(font).horizontalAdvance(elide(e[0])) for e in entries)
        entry = LEGEND_SAMPLE_PX + text + 14
        columns = max(1, min(len(entries), int((self.widget.width() - 24) // max(entry, 1))))
        if FRAME["budgeted"]:  # in the panel's frame: the panel builds the legend in a unit of its own
            self.pending_legend = (entries, columns)
            return
        self.pending_legend = None
        self._replace_legend(self._make_legend(entries, columns))

    def build_pending_legend(self, most: int | None = None) -> bool:
        """Build the waiting legend, `most` entries at a time (None: all at once), out of sight until it is whole
        (an entry costs a few ms: a dozen layers' legend takes a few of the panel's units); True once it is in
        place or none waits."""
        pending = self.pending_legend
        if pending is None:
            return True
        entries, columns, legend = (tuple(pending) + (None,))[:3]
        try:
            legend = legend if legend is not None else self._new_legend(columns)
            self._add_entries(legend, entries[len(legend.items):][:most])
            if len(legend.items) < len(entries):
                self.pending_legend = (entries, columns, legend)
                return False
            self.pending_legend = None
            self._replace_legend(legend)
        except RuntimeError:  # the plot was deleted meanwhile
            self.pending_legend = None
        return True

    def _make_legend(self, entries: list, columns: int) -> pg.LegendItem:
        legend = self._new_legend(columns)
        self._add_entries(legend, entries)
        return legend

    def _new_legend(self, columns: int) -> pg.LegendItem:
        # a fresh item each time: pyqtgraph's LegendItem does not reflow its grid when the columns change
        legend = pg.LegendItem(offset=None, labelTextSize="8pt", colCount=columns, frame=False, horSpacing=14,
                               verSpacing=-8, labelTextColor=pg.mkColor(self.colors["plot_foreground"]))
        legend._styled_for = self.colors["plot_foreground"]  # its labels need no second setText
        return legend

    @staticmethod
    def _add_entries(legend: pg.LegendItem, entries: list) -> None:
        for label, pen, *rest in entries:
            legend.addItem(pg.PlotDataItem(pen=pen, **(rest[0] if rest else {})), inert_html(elide(label)))

    def _replace_legend(self, legend) -> None:
        if self.legend is not None:
            self.widget.ci.removeItem(self.legend)
        self.legend = legend
        if legend is not None:
            self.widget.addItem(legend, row=1, col=0)
            if getattr(legend, "_styled_for", None) != self.colors["plot_foreground"]:
                self._style_legend()

    def run_entries(self, runs: list) -> list:
        """One legend line per run, in its colour (as drawn on this background)."""
        ground = self.colors["plot_background"]
        return [(run.name, line_pen(run_line_color(run.color, ground), width=3)) for run in runs]

    # ---- theme --------------------------------------------------------------------------------------------
    def apply_theme(self, colors: dict) -> None:
        """Every text and line of the plot in the theme's colours (pyqtgraph's config options only reach plots
        created later, and a legend's labels keep the colour they were drawn with until their text is set)."""
        self.colors = dict(colors)
        foreground = colors["plot_foreground"]
        self.widget.setBackground(colors["plot_background"])
        for side in ("left", "bottom", "right", "top"):
            style_axis(self.plot.getAxis(side), foreground)
        self.title_label.setText(self.title_label.text, color=foreground)
        self._style_legend()
        self.invalidate()

    def _style_legend(self) -> None:
        if self.legend is None:
            return
        foreground = self.colors["plot_foreground"]
        for _sample, label in self.legend.items:
            label.setText(label.text, color=foreground)
        self.legend.opts["labelTextColor"] = pg.mkColor(foreground)

    def set_title(self, text: str, swatch: str | None = None) -> None:
        """The title (plain text: a run's name is shown as it is, never as markup), after a square of the run's
        colour `swatch` when runs are compared side by side."""
        self.full_title = text
        self.swatch = swatch
        self._fit_to_width()

    def resizeEvent(self, event) -> None:
        super().resizeEvent(event)
        self._fit_to_width()

    def _fit_to_width(self) -> None:
        """The title cut with "…" where the plot is narrower than its text (it may not widen the window), and
        the legend in as many columns as fit."""
        room = max(int(self.widget.width()) - 12 - (16 if self.swatch else 0), 40)
        text = inert_html(QFontMetrics(_font(self.font(), 11)).elidedText(self.full_title, Qt.ElideRight, room))
        if self.swatch:
            text = f"<span style=\"color:{self.swatch}\">■</span>&nbsp;{text}"
        if text != self.title_label.text:
            self.title_label.setText(text, color=self.colors["plot_foreground"])
        if self._legend_entries:
            self.set_legend(self._legend_entries)

    # ---- read-out -----------------------------------------------------------------------------------------
    def _mouse_moved(self, scene_pos) -> None:
        if not self.plot.vb.sceneBoundingRect().contains(scene_pos):
            self._mouse_at = None  # off the data: a read-out of where the mouse was would be stale
            self.readout.setText(" ")
            return
        point = self.plot.vb.mapSceneToView(scene_pos)
        self._mouse_at = (point.x(), point.y())
        self._refresh_readout()

    def _refresh_readout(self) -> None:
        """The read-out of the point under the mouse, for the data drawn now (after a redraw too)."""
        if self._mouse_at is None:
            if self.readout.text() != " ":
                self.readout.setText(" ")
            return
        text = self.describe_point(*self._mouse_at) or " "
        self.readout.setToolTip(text if text.strip() else "")
        self.readout.setText(text)
        width, metrics = max(self.readout.width(), 60), self.readout.fontMetrics()
        room = 2 * width - 4 * metrics.averageCharWidth()
        while self.readout.heightForWidth(width) > self.readout.height() and room > width // 2:
            # longer than its two lines: cut with "…" (the whole text is the tooltip), never clipped unseen
            self.readout.setText(metrics.elidedText(text, Qt.ElideRight, room))
            room -= 4 * metrics.averageCharWidth()

    def describe_point(self, x: float, y: float) -> str:
        """The read-out at view coordinates (log10 units on a log axis)."""
        return self.describe(x, 10 ** y if self.log_y else y)

    def describe(self, x: float, y: float) -> str:
        """Text for the read-out at data coordinates (x, y); subclasses name the nearest point."""
        return ""

    @staticmethod
    def nearest(xs: np.ndarray, x: float) -> int | None:
        """Index of the value of sorted `xs` nearest to x (O(log n))."""
        xs = np.asarray(xs, dtype=float)
        if len(xs) == 0:
            return None
        i = int(np.clip(np.searchsorted(xs, x), 1, len(xs) - 1)) if len(xs) > 1 else 0
        return i - 1 if i > 0 and abs(xs[i - 1] - x) <= abs(xs[i] - x) else i

    # ---- export -------------------------------------------------------------------------------------------
    def export(self, path, svg: bool = False) -> None:
        """The whole plot (title, axes, legend, colour bar) with pyqtgraph's exporters, written atomically."""
        import pyqtgraph.exporters as exporters

        path = Path(path)
        scene = self.widget.scene()
        with atomic_path(path, suffix=path.suffix) as tmp:
            if not svg:
                exporter = exporters.ImageExporter(scene)
                exporter.parameters()["width"] = max(int(self.widget.width()), 600)
                exporter.export(str(tmp))
                return
            try:
                exporters.SVGExporter(scene).export(str(tmp))
            except ValueError:  # pyqtgraph 0.14's SVG exporter cannot parse Qt ≥ 6.10's paths (pyqtgraph#3485)
                _render_svg(scene, tmp)


def _render_svg(scene, path) -> None:
    """Qt's own SVG writer, for where pyqtgraph's fails."""
    from PySide6.QtGui import QPainter
    from PySide6.QtSvg import QSvgGenerator

    rect = scene.sceneRect()
    generator = QSvgGenerator()
    generator.setFileName(str(path))
    generator.setSize(rect.size().toSize())
    generator.setViewBox(rect)
    painter = QPainter(generator)
    scene.render(painter, rect, rect)
    painter.end()


class PlotGroup:
    """A widget of several plots. `parts(runs)` does the group's cheap bookkeeping and says which plot draws which
    runs; the panel then redraws them one plot at a time, so one frame never pays for a whole group."""

    def parts(self, runs: list) -> list:
        raise NotImplementedError

    def redraw(self, runs: list, force: bool = False) -> bool:
        drew = False
        for box, box_runs in self.parts(runs):
            drew = box.redraw(box_runs, force) or drew
        return drew


def polygons_path(polygons: list) -> QPainterPath:
    """One path of closed polygons, each an (x, y) pair of arrays; NaN points are dropped."""
    xs, ys = [], []
    for x, y in polygons:
        keep = np.isfinite(x) & np.isfinite(y)
        if keep.sum() >= 2:
            xs += [x[keep], [np.nan]]
            ys += [y[keep], [np.nan]]
    if not xs:
        return QPainterPath()
    return pg.arrayToQPath(np.concatenate(xs), np.concatenate(ys), connect="finite")


def _font(base: QFont, points: float) -> QFont:
    font = QFont(base)
    font.setPointSizeF(points)
    return font


def current_colors() -> dict:
    """The plot colours pyqtgraph is configured with now (theme.configure_pyqtgraph sets them)."""
    return {"plot_background": pg.mkColor(pg.getConfigOption("background")).name(),
            "plot_foreground": pg.mkColor(pg.getConfigOption("foreground")).name()}


def elide(text: str, length: int = 24) -> str:
    return text if len(text) <= length else text[: length - 1] + "…"


# The panel's budgeted frame is done in units, each a timer event of its own (so the window answers between them):
# while it draws a plot, "budgeted" is on, a plot makes at most "new_items" new graphics items (the rest of its
# curves in its next unit: a new curve costs ~2 ms and its first paint more), and a new legend waits, in
# `pending_legend`, for a unit of its own.
FRAME = {"budgeted": False, "new_items": 0}


def _pen_key(pen) -> tuple | None:
    if pen is None:
        return None
    return pen.color().name(QColor.HexArgb), pen.widthF(), int(pen.style().value)


def style_axis(axis: pg.AxisItem, color: str) -> None:
    axis.setPen(color)
    axis.setTextPen(color)
    if axis.labelText:
        axis.setLabel(axis.labelText, units=axis.labelUnits or None, color=color)
