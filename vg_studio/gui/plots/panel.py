"""All plots, in tabs: Training (loss, accuracy, weight change; gradients per layer, gradient heatmaps, time-step
heatmaps for recurrent runs), Distributions, and SDAGD (only for SDAGD runs).

Events only mark the panel dirty; a 10 Hz timer redraws. A plot redraws only when it is on screen (the current
tab) and something it shows changed; each costs a bounded amount however long the run (see `decimate`), at step
500 and at step 50,000 alike (benchmarks/bench_redraw.py).

A frame is done in units, each a timer event of its own: one plot's redraw (with at most a few new graphics items)
or one plot's new legend. Qt repaints what a unit changed right after it, and the window handles input and its
other timers before the next unit, so the window never waits for several plots at once (what bounds the longest
main-thread stall while training; a repaint of one plot alone costs 10-15 ms on a slow machine).
"""

from __future__ import annotations

import time
from pathlib import Path

import pyqtgraph as pg
from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QGridLayout, QTabWidget, QVBoxLayout, QWidget

from vg_studio.gui.plots.base import FRAME, PlotBox
from vg_studio.gui.plots.curves import MetricPlot
from vg_studio.gui.plots.distributions import DistributionsView
from vg_studio.gui.plots.heatmap import HeatmapGrid
from vg_studio.gui.plots.layers import LayerLinesPlot
from vg_studio.gui.plots.optimizer import SdagdView, is_sdagd
from vg_studio.gui.plots.time_heatmap import TimeHeatmapGrid
from vg_studio.report import figures as F
from vg_studio.safeio import atomic_path

REDRAW_MS = 100
FRAME_BUDGET_MS = 0  # the timer's redraw stops after this much work (and one plot); the rest go first next unit
NEXT_UNIT_MS = 40  # the frame's next unit: the window answers (and repaints the last one) in between
NEW_ITEMS_PER_UNIT = 4  # new curves one unit may make (a plot's first draw of a dozen layers takes a few units)
LEGEND_ENTRIES_PER_UNIT = 3  # legend entries one unit may make (a new legend is shown once it is whole)
pg.setConfigOptions(antialias=True)

# Every view of the panel in drawing order: (attribute, factory, tab, cell on the Training tab's grid as (row,
# column, rows, columns), or None). A new plot is its own module plus one line here. The Training tab's views are
# built with the panel; the other tabs' when first shown. The time-step heatmaps share the layer heatmaps' cell,
# and only while a recurrent run is shown.
VIEWS = (
    ("loss", lambda: MetricPlot(F.FIGURES["loss"]), 0, (0, 0, 1, 1)),
    ("accuracy", lambda: MetricPlot(F.FIGURES["accuracy"]), 0, (0, 1, 1, 1)),
    ("updates", lambda: LayerLinesPlot(F.FIGURES["weight-change"]), 0, (0, 2, 1, 1)),
    ("gradients", lambda: LayerLinesPlot(F.FIGURES["gradients"]), 0, (1, 0, 1, 1)),
    ("heatmap", HeatmapGrid, 0, (1, 1, 1, 2)),
    ("time_heatmap", TimeHeatmapGrid, 0, None),
    ("_distributions", DistributionsView, 1, None),
    ("_sdagd", SdagdView, 2, None),
)
TABS = ("Training", "Distributions", "SDAGD")


class PlotsPanel(QWidget):
    def __init__(self, parent=None):
        super().__init__(parent)
        self.loss = MetricPlot(F.FIGURES["loss"])
        self.accuracy = MetricPlot(F.FIGURES["accuracy"])
        self.gradients = LayerLinesPlot(F.FIGURES["gradients"])
        self.updates = LayerLinesPlot(F.FIGURES["weight-change"])
        self.heatmap = HeatmapGrid()
        self.time_heatmap = TimeHeatmapGrid()  # beside the layer heatmap, for recurrent networks only
        self._distributions = self._sdagd = None  # built when first needed: ~0.3 s of start-up saved

        training = QWidget()
        grid = QGridLayout(training)
        grid.setContentsMargins(2, 2, 2, 2)
        grid.setSpacing(4)
        for column, widget in enumerate((self.loss, self.accuracy, self.updates)):
            grid.addWidget(widget, 0, column)
        grid.addWidget(self.gradients, 1, 0)
        grid.addWidget(self.heatmap, 1, 1, 1, 2)
        for i in range(3):
            grid.setColumnStretch(i, 1)
        for i in range(2):
            grid.setRowStretch(i, 1)
        self.training_grid = grid
        self.time_heatmap.setParent(training)  # placed in the grid only while a recurrent run is shown
        self.time_heatmap.hide()
        self.tabs = QTabWidget()
        self.tabs.setDocumentMode(True)
        self.tabs.addTab(training, TABS[0])
        for title in TABS[1:]:
            self.tabs.addTab(_Page(), title)
        self.tabs.setTabVisible(2, False)  # shown only for runs trained with SDAGD
        self.tabs.currentChanged.connect(self._tab_changed)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.tabs)

        self.runs: list = []
        self._colors = None
        self._dirty = False
        self._drawn_at: dict = {}  # id(view) -> when it last drew
        self.redraw_count = 0
        self._legends: list = []  # plots whose new legend waits for a unit of its own
        self.last_unit_at = 0.0  # time.perf_counter() when the timers last ran a unit
        self.timer = QTimer(self)
        self.timer.setInterval(REDRAW_MS)
        self.timer.timeout.connect(self._frame)
        self.timer.start()
        self._next_unit = QTimer(self)
        self._next_unit.setSingleShot(True)
        self._next_unit.setInterval(NEXT_UNIT_MS)
        self._next_unit.timeout.connect(self._maybe_redraw)

    @property
    def distributions(self) -> DistributionsView:
        self._ensure_views(1)
        return self._distributions

    @property
    def sdagd(self) -> SdagdView:
        self._ensure_views(2)
        return self._sdagd

    optimizer = sdagd  # the name the window and older tests use

    def _build(self, view_class, tab: int):
        view = view_class()
        if self._colors is not None:
            for box in self._boxes_of(view):
                box.apply_theme(self._colors)
        self.tabs.widget(tab).layout().addWidget(view)
        return view

    def _tab_changed(self, index: int) -> None:
        self._ensure_views(index)
        self.redraw(visible_only=True)

    def _ensure_views(self, *tabs: int) -> None:
        """Build the views of these tabs if they do not exist yet."""
        for name, factory, tab, _cell in VIEWS:
            if tab in tabs and tab > 0 and getattr(self, name) is None:
                setattr(self, name, self._build(factory, tab))

    @property
    def views(self) -> list:
        """Everything that redraws from the shown runs, in drawing order (tabs never shown yet: not built)."""
        return [v for v in (getattr(self, name) for name, *_ in VIEWS) if v is not None]

    def show_runs(self, runs: list) -> None:
        """The runs to draw: one, or several overlaid (each in its own colour) with heatmaps side by side."""
        self.runs = [r for r in runs if r is not None]
        self.mark_dirty()

    def set_highlighted_layers(self, layers: set) -> None:
        for plot in (self.gradients, self.updates):
            plot.highlighted = set(layers)
        self.mark_dirty()

    def mark_dirty(self) -> None:
        self._dirty = True

    def _frame(self) -> None:
        if not self._next_unit.isActive():  # else the frame's next unit is due anyway
            self._maybe_redraw()

    def _maybe_redraw(self) -> None:
        if not self.isVisible() or self.window().isMinimized():  # nobody looks: it waits
            return
        working = bool(self._legends or self._dirty or self._spares_wanted())
        if self.draw_unit():
            self._next_unit.start()
        if working:
            self.last_unit_at = time.perf_counter()

    def hold(self) -> None:
        """Another part of the window just did a unit of work of its own (its repaint follows): the next unit of
        the plots waits NEXT_UNIT_MS, so the two are never done back to back in one pass of the event loop."""
        self._next_unit.start()

    def draw_unit(self) -> bool:
        """One unit of the frame: a waiting legend, else the plot drawn longest ago among those that changed, else
        a few curves a plot on screen will soon need (a started run's layers, before its first record). True while
        more waits."""
        if self._legends:
            if self._legends[0].build_pending_legend(LEGEND_ENTRIES_PER_UNIT):
                self._legends.pop(0)
        elif self._dirty:
            self.redraw(visible_only=True, budget_ms=FRAME_BUDGET_MS)
        else:
            for box, wanted in self._spares_wanted()[:1]:
                box.make_spares(min(wanted, NEW_ITEMS_PER_UNIT))
        return bool(self._legends or self._dirty or self._spares_wanted())

    def _spares_wanted(self) -> list:
        wanted = [(box, box.spares_wanted(self.runs)) for box in (self.gradients, self.updates)
                  if box.isVisibleTo(self)]
        return [(box, count) for box, count in wanted if count > 0]

    def redraw(self, visible_only: bool = False, budget_ms: float | None = None) -> int:
        """Redraw the plots whose data changed (`visible_only`: those on screen, as the timer does); returns how
        many drew.

        With a budget, plots are visited from the one drawn longest ago, and the visit stops once the budget is
        spent (after at least one plot drew): a long run's frame then costs about one plot (drawing and its
        repaint), and every plot still follows the data a few times a second."""
        self._dirty = False
        self.redraw_count += 1
        self.tabs.setTabVisible(2, any(is_sdagd(r) for r in self.runs))
        if not visible_only:
            self._ensure_views(1, 2)
        self._place_heatmaps(recurrent=bool(self.time_heatmap.runs_drawn(self.runs)))
        # the time heatmaps decide themselves whether they are shown, so they are always asked
        views = [v for v in self.views if not visible_only or v is self.time_heatmap or v.isVisibleTo(self)]
        parts = [part for view in views for part in view.parts(self.runs)
                 if not visible_only or part[0].isVisibleTo(self)]
        if budget_ms is not None:
            parts.sort(key=lambda part: self._drawn_at.get(id(part[0]), 0))
        start, drew = time.perf_counter(), 0
        FRAME.update(budgeted=budget_ms is not None, new_items=NEW_ITEMS_PER_UNIT)
        try:
            for box, runs in parts:
                if budget_ms is not None and drew and (time.perf_counter() - start) * 1000 >= budget_ms:
                    self._dirty = True  # the rest next unit
                    break
                if box.redraw(runs):
                    drew += 1
                    self._drawn_at[id(box)] = time.perf_counter()
                    if not box.complete:
                        self._dirty = True
                    if box.pending_legend is not None and box not in self._legends:
                        self._legends.append(box)
        finally:
            FRAME["budgeted"] = False
        return drew

    def _place_heatmaps(self, recurrent: bool) -> None:
        """The layer heatmaps take two columns, or share them with the time-step heatmaps of recurrent runs."""
        grid = self.training_grid
        want = ((1, 1, 1, 1), (1, 2, 1, 1)) if recurrent else ((1, 1, 1, 2), None)
        index = grid.indexOf(self.heatmap)
        if index >= 0 and grid.getItemPosition(index) == want[0]:
            return
        grid.addWidget(self.heatmap, *want[0])
        if recurrent:
            grid.addWidget(self.time_heatmap, *want[1])
            self.time_heatmap.show()
        else:
            grid.removeWidget(self.time_heatmap)
            self.time_heatmap.hide()

    def apply_theme(self, colors: dict) -> None:
        """Restyle every plot, legend and colour bar for a theme's colours (resources/themes/*.json)."""
        self._colors = dict(colors)
        for view in self.views:
            for box in self._boxes_of(view):
                box.apply_theme(colors)
        self.heatmap.colors = self.time_heatmap.colors = dict(colors)
        self.mark_dirty()

    set_theme = apply_theme  # the name the shell asked for

    @staticmethod
    def _boxes_of(view) -> list:
        if isinstance(view, PlotBox):
            return [view]
        if isinstance(view, HeatmapGrid):
            return list(view.maps)
        return list(view.boxes.values())

    @property
    def plot_boxes(self) -> dict:
        """Every plot by name: a described figure's key (heatmaps numbered per shown run), or its group's name."""
        boxes = {}
        for view in self.views:
            if isinstance(view, PlotBox):
                boxes[view.figure.key] = view
            elif isinstance(view, HeatmapGrid):
                for i, heatmap in enumerate(view.visible_maps()):
                    boxes[f"{view.plot_class.figure.key}-{i + 1}"] = heatmap
            else:
                boxes.update(view.boxes)
        return boxes

    def export(self, path: str | Path) -> list[Path]:
        """Write every figure that has data as `<stem>-<figure>.png|svg`; returns the files.

        The described figures are drawn from their descriptions by the report's renderer (matplotlib): a landscape
        picture with the runs' names above it, in the window's theme, and SVG that every renderer draws as the PNG
        (pyqtgraph's SVG of these plots put curves and images off their axes). SDAGD's plots use pyqtgraph's
        exporter."""
        from vg_studio.report.draw import render
        from vg_studio.report.figures import FIGURES, has_data
        from vg_studio.report.palette import theme_of

        path = Path(path)
        svg = path.suffix.lower() == ".svg"
        self.redraw()
        runs = [r for r in self.runs if r is not None]
        theme = theme_of((self._colors or {}).get("plot_background", "#ffffff"))
        layer = max(self._distributions.layer.currentIndex(), 0) if self._distributions is not None else 0
        label = " vs ".join(r.name for r in runs)
        written = []
        for key, figure in FIGURES.items():
            if not runs or not has_data(figure, runs):
                continue
            target = path.with_name(f"{path.stem}-{key}{'.svg' if svg else '.png'}")
            data = render(figure, runs, theme, "svg" if svg else "png", layer=layer, label=label,
                          dpi=100 if svg else 150)
            with atomic_path(target, suffix=target.suffix) as tmp:
                Path(tmp).write_bytes(data)
            written.append(target)
        for name, box in (self._sdagd.boxes.items() if self._sdagd is not None else ()):
            if box.has_data:
                target = path.with_name(f"{path.stem}-{name}{'.svg' if svg else '.png'}")
                box.export(target, svg=svg)
                written.append(target)
        return written


class _Page(QWidget):
    """A tab's page; its view is put in when the tab is first shown."""

    def __init__(self):
        super().__init__()
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
