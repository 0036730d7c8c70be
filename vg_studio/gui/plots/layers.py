"""One line per layer over training steps: mean |gradient| (seed 000 Table 1, live) or weight change."""

from __future__ import annotations

import numpy as np

from vg_studio.gui.plots.base import PlotBox, fmt, layer_color, run_pen


class LayerLinesPlot(PlotBox):
    def __init__(self, stat: str, title: str, y_label: str, parent=None):
        super().__init__(title, "training step", y_label, log_y=True)
        self.stat = stat
        self.legend = self.plot.addLegend(offset=(-10, 10), labelTextSize="8pt")
        self.runs = []
        self.highlighted: set[int] = set()

    def redraw(self, runs: list) -> None:
        self.runs = runs
        self.begin()
        for r, run in enumerate(runs):
            values, steps = run.stat(self.stat), run.record_steps
            if values.size == 0:
                continue
            names = run.layer_names
            for layer in range(values.shape[1]):
                column = values[:, layer]
                ok = np.isfinite(column) & (column > 0)  # a log axis cannot show 0 or NaN
                if not ok.any():
                    continue
                width = 3.2 if layer in self.highlighted else 1.6
                self.curve((id(run), layer), steps[ok], column[ok], run_pen(layer_color(layer, len(names)), r, width),
                           names[layer] if r == 0 else None)
        self.end()

    def describe(self, x: float, y: float) -> str:
        best = None
        for run in self.runs:
            values, steps = run.stat(self.stat), run.record_steps
            i = self.nearest(steps, x)
            if i is None:
                continue
            row = values[i]
            with np.errstate(divide="ignore", invalid="ignore"):
                distance = np.abs(np.log10(np.where(row > 0, row, np.nan)) - np.log10(max(y, 1e-300)))
            if np.isfinite(distance).any():
                layer = int(np.nanargmin(distance))
                if best is None or distance[layer] < best[0]:
                    best = (distance[layer], run, int(steps[i]), layer, row)
        if best is None:
            return ""
        _, run, step, layer, row = best
        return f"{run.name}  {run.layer_names[layer]}  step {step}: {fmt(row[layer])}"
