"""Gradient through time for recurrent networks: input time steps (rows, step 1 at the bottom) × training steps
(columns), mean |∂L/∂x_t| on a log colour scale. SimpleRNN's early steps go dark; LSTM/GRU keep them lit."""

from __future__ import annotations

from vg_studio.gui.plots.heatmap import HeatmapGrid, HeatmapPlot
from vg_studio.report import figures as F


class TimeHeatmapPlot(HeatmapPlot):
    figure = F.FIGURES["time-heatmap"]


class TimeHeatmapGrid(HeatmapGrid):
    """One time-step heatmap per shown recurrent run; hidden when no shown run is recurrent."""

    plot_class = TimeHeatmapPlot

    def runs_drawn(self, runs: list) -> list:
        return super().runs_drawn([r for r in runs if r is not None and r.is_recurrent])

    def parts(self, runs: list) -> list:
        self.setVisible(bool(self.runs_drawn(runs)))
        return super().parts(runs)
