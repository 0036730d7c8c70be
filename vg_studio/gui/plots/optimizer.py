"""SDAGD's own state, drawn only for runs trained with it (Tan & Lim, 2019).

SDAGD takes a phase-I step (a spherical search of radius R, step length μ relative to the gradient) where μ > h,
and a damped diagonal Newton step (phase II) where the curvature h dominates. "μ against h" shows each layer's path
through the (h, μ) plane over training, with the line μ = h where a weight switches phase; beside it, the share of
weights still in phase I over training.

Per-layer μ, h and phase-I share are the optimizer scalars `sdagd_mu[<layer>]`, `sdagd_h[<layer>]` and
`sdagd_phase1_fraction[<layer>]` (medians over the layer's weights; `<layer>` is the history's column name), or
per-layer stats of those names; a run that reports only the global `sdagd_mu` and `sdagd_phase1_fraction` gets its
phase-I share over time.
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QHBoxLayout, QWidget

from vg_studio.gui.plots.base import PlotBox, PlotGroup, fmt, layer_color, line_pen, run_layer_color
from vg_studio.gui.plots.decimate import Overviews
from vg_studio.gui.plots.heatmap import log10_magnitude
from vg_studio.gui.plots.layers import MAX_LINES, chosen_layers


def is_sdagd(run) -> bool:
    spec_says = run.spec is not None and getattr(run.spec.optimizer, "name", "") == "sdagd"
    return spec_says or any(n.startswith("sdagd") for n in run.optimizer_names + run.stat_names)


def per_layer(run, quantity: str):
    """An SDAGD quantity per layer as a function of a first record giving the (records, layers) rows from it on
    (so a frame builds only the new rows), or None when the run does not report it."""
    if quantity in run.stat_names:
        return lambda start: run.stat(quantity)[start:]
    columns = [run.optimizer_series(f"{quantity}[{name}]") for name in run.layer_names]
    if not any(len(c) for c in columns):
        return None
    rows = run.num_records
    columns = [c if len(c) == rows else np.full(rows, np.nan) for c in columns]
    return lambda start: np.column_stack([c[start:] for c in columns])


class MuAgainstH(PlotBox):
    def __init__(self, parent=None):
        super().__init__("SDAGD: μ against h per layer", "curvature h", "relative step length μ", log_y=True,
                         legend=True)
        self.plot.setLogMode(True, True)
        self.overviews = Overviews()
        self.diagonal = pg.InfiniteLine(pos=(0, 0), angle=45, movable=False,
                                        label="μ = h", labelOpts={"position": 0.9})
        self.plot.addItem(self.diagonal, ignoreBounds=True)

    def draw(self, runs: list) -> None:
        self.begin()
        several = len(runs) > 1
        self.shown = {}
        for run in runs:
            mu, h = per_layer(run, "sdagd_mu"), per_layer(run, "sdagd_h")
            if mu is None or h is None or not run.num_records:
                continue
            steps, count = run.record_steps, len(run.layer_names)
            layers = self.shown[id(run)] = chosen_layers(count, set(), max(MAX_LINES // len(runs), 3))
            # geometric means per bucket (a path keeps its shape on log axes), of the drawn layers only
            mu_path = 10.0 ** self.overviews.get((id(run), "mu"), steps, mu, log10_magnitude).means(layers)[1]
            h_path = 10.0 ** self.overviews.get((id(run), "h"), steps, h, log10_magnitude).means(layers)[1]
            now_x, now_y, now_colors = [], [], []
            for n, layer in enumerate(layers):
                ground = self.colors["plot_background"]
                color = run_layer_color(run.color, layer, count, ground) if several else layer_color(layer, count,
                                                                                                     ground)
                x, y = h_path[:, n], mu_path[:, n]
                ok = np.isfinite(x) & np.isfinite(y)
                if ok.any():
                    self.curve((id(run), layer), x[ok], y[ok], line_pen(color, width=1))
                    now_x.append(x[ok][-1])
                    now_y.append(y[ok][-1])
                    now_colors.append(pg.mkBrush(color))
            if now_x:
                self.curve((id(run), "now"), np.array(now_x), np.array(now_y), None, brushes=now_colors,
                           symbol="o", symbolSize=8)
        self.end()
        ink = self.colors["plot_foreground"]
        now = ("now", None, {"symbol": "o", "symbolSize": 7, "symbolBrush": ink})
        if several:
            self.set_legend(self.run_entries(runs) + [("darker: nearer the input", None), now])
        else:
            run = runs[0] if runs else None
            count = len(run.layer_names) if run is not None else 0
            ground = self.colors["plot_background"]
            self.set_legend([(run.display_names[layer], line_pen(layer_color(layer, count, ground), width=2))
                             for layer in reversed(self.shown.get(id(run), []))] + [now])
        self.overviews.keep({(id(r), kind) for r in runs for kind in ("mu", "h")})
        self.diagonal.setPen(line_pen(self.colors["plot_foreground"], style=Qt.DashLine))
        self.diagonal.label.setColor(self.colors["plot_foreground"])

    def describe(self, x: float, y: float) -> str:
        ratio = y / x if x > 0 else float("nan")
        phase = "phase I (μ > h)" if ratio > 1 else "phase II (h ≥ μ)"
        return f"h = {fmt(x)}, μ = {fmt(y)}: {phase}"

    def describe_point(self, x: float, y: float) -> str:
        return self.describe(10 ** x, 10 ** y)  # both axes are log


class PhaseShare(PlotBox):
    def __init__(self, parent=None):
        super().__init__("SDAGD: share of weights in phase I", "training step", "phase-I share", legend=True)
        self.plot.vb.setLimits(yMin=-0.02, yMax=1.02, minYRange=0.05)
        self.overviews = Overviews()
        self.shown: dict = {}

    def draw(self, runs: list) -> None:
        self.begin()
        several, ink = len(runs) > 1, self.colors["plot_foreground"]
        self.shown = {}
        for run in runs:
            steps = run.record_steps
            layers = per_layer(run, "sdagd_phase1_fraction")
            if layers is not None and not several:  # one run: each layer's share, and all weights' dashed
                count = len(run.layer_names)
                overview = self.overviews.get((id(run), "layers"), steps, layers)
                for layer in self.shown.setdefault(id(run), chosen_layers(count, set())):
                    self.curve((id(run), layer), *overview.envelope(layer),
                               line_pen(layer_color(layer, count, self.colors["plot_background"])))
            share = run.optimizer_series("sdagd_phase1_fraction")
            if len(share) and np.isfinite(share).any():
                pen = line_pen(ink if id(run) in self.shown else run.color, width=2,
                               style=Qt.DashLine if id(run) in self.shown else Qt.SolidLine)
                self.curve((id(run), "share"), *self.overviews.envelope((id(run), "share"), steps, share), pen)
        self.end()
        self.overviews.keep({(id(r), kind) for r in runs for kind in ("share", "layers")})
        if several:
            self.set_legend(self.run_entries(runs))
        else:
            run = runs[0] if runs else None
            count = len(run.layer_names) if run is not None else 0
            ground = self.colors["plot_background"]
            self.set_legend([(run.display_names[layer], line_pen(layer_color(layer, count, ground), width=2))
                             for layer in reversed(self.shown.get(id(run), []))]
                            + [("all weights", line_pen(ink if self.shown else (run.color if run else ink),
                                                        width=2, style=Qt.DashLine if self.shown else Qt.SolidLine))])

    def describe(self, x: float, y: float) -> str:
        parts = []
        for run in self.runs[:3]:
            i = self.nearest(run.record_steps, x)
            share = run.optimizer_series("sdagd_phase1_fraction")
            if i is not None and i < len(share):
                parts.append(f"{run.name} step {int(run.record_steps[i])}: phase I {fmt(share[i])} of the weights, "
                             f"μ {fmt(run.optimizer_series('sdagd_mu')[i])}")
        return "   ".join(parts)


class SdagdView(PlotGroup, QWidget):
    """The SDAGD tab: μ against h beside the phase-I share; draws only SDAGD runs."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.mu_h, self.phase = MuAgainstH(), PhaseShare()
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.mu_h, 1)
        layout.addWidget(self.phase, 1)
        self.boxes = {"sdagd-mu-h": self.mu_h, "sdagd-phase": self.phase}

    @staticmethod
    def runs_drawn(runs: list) -> list:
        return [r for r in runs if is_sdagd(r)]

    def parts(self, runs: list) -> list:
        runs = self.runs_drawn(runs)
        return [(box, runs) for box in self.boxes.values()]

    @property
    def has_data(self) -> bool:
        return any(b.has_data for b in self.boxes.values())
