"""Gradient through time for recurrent networks: input time steps (rows, step 1 at the bottom) × training steps
(columns), mean |∂L/∂x_t| on a log colour scale. SimpleRNN's early steps go dark; LSTM/GRU keep them lit."""

from __future__ import annotations

from vg_studio.gui.plots.heatmap import HeatmapGrid, HeatmapPlot


class TimeHeatmapPlot(HeatmapPlot):
    quantity = "log₁₀ mean |∂L/∂xₜ|"
    colormap = "inferno"
    row_axis = "input time step"

    def __init__(self, parent=None):
        super().__init__("time_grad", "Gradient through time", parent)

    def source(self, run):
        return run.time_grad()

    def row_labels(self, run, rows: int) -> list[str]:
        return [str(t + 1) for t in range(rows)]


class TimeHeatmapGrid(HeatmapGrid):
    """One time-step heatmap per shown recurrent run; hidden when no shown run is recurrent."""

    plot_class = TimeHeatmapPlot

    def runs_drawn(self, runs: list) -> list:
        return super().runs_drawn([r for r in runs if r is not None and r.is_recurrent])

    def parts(self, runs: list) -> list:
        self.setVisible(bool(self.runs_drawn(runs)))
        return super().parts(runs)
