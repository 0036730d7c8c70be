"""One line per layer over training steps: mean |gradient| (Gowda et al.'s Table 1, live) or weight change.

A single run colours its layers by depth; overlaid runs each keep their own colour, darker near the input and
lighter near the output. Beyond a dozen layers only an even selection is drawn (the heatmap shows them all)."""

from __future__ import annotations

import numpy as np

from vg_studio.gui.plots.base import PlotBox, fmt, layer_color, line_pen, run_layer_color
from vg_studio.gui.plots.decimate import Overviews
from vg_studio.report import figures as F
from vg_studio.report.figures import MAX_LINES, chosen_layers, positive  # noqa: F401  (used by other plots)


class LayerLinesPlot(PlotBox):
    def __init__(self, figure: F.Figure, parent=None):
        super().__init__(figure.title, figure.x_label, figure.y_label, log_y=figure.log_y, legend=True)
        self.figure = figure
        self.stat = figure.source
        self.highlighted: set[int] = set()  # spec layer indices flagged by the diagnostics: drawn thicker
        self.overviews = Overviews()
        self.shown: dict = {}  # id(run) -> layer indices drawn

    def signature(self, runs: list) -> tuple:
        return super().signature(runs) + (tuple(sorted(self.highlighted)),)

    def draw(self, runs: list) -> None:
        self.begin()
        zoom, several, subset = self.zoomed_range(), len(runs) > 1, None
        self.shown = {}
        for run in runs:
            values, steps = run.stat(self.stat), run.record_steps
            count = values.shape[1] if values.size else len(run.layer_names)
            if count == 0:
                continue
            layers = chosen_layers(count, self.highlighted, F.lines_per_run(runs))
            if len(layers) < count:
                subset = (len(layers), count)
            self.shown[id(run)] = layers
            if values.size == 0:  # a run that started: its legend is built before its first record arrives
                continue
            overview = self.overviews.view((id(run), self.stat), steps, values, zoom, positive)
            ground = self.colors["plot_background"]
            for layer in layers:
                color = run_layer_color(run.color, layer, count, ground) if several else layer_color(layer, count,
                                                                                                     ground)
                width = 3.2 if layer in self.highlighted else 1.6
                self.curve((id(run), layer), *overview.envelope(layer), line_pen(color, width=width))
        self.end()
        if several:
            entries = self.run_entries(runs) + [(F.DEPTH_NOTE, None)]
        else:
            run = runs[0] if runs else None
            count = len(run.layer_names) if run is not None else 0
            ground = self.colors["plot_background"]
            entries = [(run.display_names[layer], line_pen(layer_color(layer, count, ground), width=2))
                       for layer in reversed(self.shown.get(id(run), []))]  # output first, as drawn
        self.set_legend(entries)
        self.overviews.keep({(id(r), self.stat) for r in runs})
        self.set_title(F.layers_title(self.figure, subset))

    def spares_wanted(self, runs: list) -> int:
        lines = sum(len(chosen_layers(len(run.layer_names), self.highlighted, F.lines_per_run(runs)))
                    for run in runs)
        return max(0, lines - len(self._curves) - len(self._spare_curves.get(repr({}), [])))

    def describe(self, x: float, y: float) -> str:
        best = None
        for run in self.runs:
            values, steps = run.stat(self.stat), run.record_steps
            i = self.nearest(steps, x)
            if i is None:
                continue
            layers = self.shown.get(id(run), [])
            row = positive(values[i, layers])
            with np.errstate(divide="ignore", invalid="ignore"):
                distance = np.abs(np.log10(row) - np.log10(max(y, 1e-300)))
            if np.isfinite(distance).any():
                k = int(np.nanargmin(distance))
                if best is None or distance[k] < best[0]:
                    best = (distance[k], run, int(steps[i]), layers[k], values[i, layers[k]])
        if best is None:
            return ""
        _, run, step, layer, value = best
        return f"{run.name}  {run.display_names[layer]}  step {step}: {fmt(value)}"
