"""Optimizer-reported scalars over training, e.g. SDAGD's μ_k and the share of phase-I (descent) steps."""

from __future__ import annotations

import numpy as np

from vg_studio.gui.plots.base import PlotBox, fmt, run_pen

COLORS = ((44, 160, 44), (214, 39, 40), (148, 103, 189), (140, 86, 75))


class OptimizerPlot(PlotBox):
    def __init__(self, parent=None):
        super().__init__("Optimizer state (SDAGD)", "training step", "value", log_y=False)
        self.plot.addLegend(offset=(-10, 10))
        self.runs = []

    def redraw(self, runs: list) -> None:
        self.runs = runs
        self.begin()
        for r, run in enumerate(runs):
            names = sorted(run.history.optimizer) if run.history is not None else []
            for k, name in enumerate(names):
                values = run.optimizer_series(name)
                steps = run.record_steps[: len(values)]
                if len(values) and np.isfinite(values).any():
                    self.curve((id(run), name), steps, values, run_pen(COLORS[k % len(COLORS)], r, 1.8),
                               name if r == 0 else None)
        self.end()

    def describe(self, x: float, y: float) -> str:
        parts = []
        for run in self.runs[:2]:
            i = self.nearest(run.record_steps, x)
            if i is not None and run.history is not None:
                vals = ", ".join(f"{k} {fmt(v[i])}" for k, v in sorted(run.history.optimizer.items()) if i < len(v))
                parts.append(f"{run.name} step {int(run.record_steps[i])}: {vals}")
        return "   ".join(parts)
