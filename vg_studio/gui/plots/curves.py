"""Loss and accuracy: per-batch running values (thin) and epoch train/validation values (markers)."""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg

from vg_studio.gui.plots.base import PlotBox, fmt, run_pen

TRAIN_COLOR, VAL_COLOR = (31, 119, 180), (255, 127, 14)


class MetricPlot(PlotBox):
    def __init__(self, metric: str, title: str, parent=None):
        super().__init__(title, "training step", metric)
        self.metric = metric
        self.plot.addLegend(offset=(-10, 10))
        self.runs = []

    def redraw(self, runs: list) -> None:
        self.runs = runs
        self.begin()
        for r, run in enumerate(runs):
            tag = f" ({run.name})" if len(runs) > 1 else ""
            batch = np.asarray(run.batch_loss if self.metric == "loss" else run.batch_accuracy, dtype=float)
            steps = np.asarray(run.batch_steps, dtype=float)
            if len(batch) and np.isfinite(batch).any():
                self.curve((id(run), "train"), steps, batch, run_pen(TRAIN_COLOR, r, 1.2), f"train{tag}")
            val = run.epoch_metric(f"val_{self.metric}")
            x_epochs = epoch_steps(run, len(val))
            if len(val):
                self.curve((id(run), "val"), x_epochs, val, run_pen(VAL_COLOR, r, 2), f"validation{tag}",
                           symbol="o", symbolSize=6, symbolBrush=VAL_COLOR)
        self.end()

    def describe(self, x: float, y: float) -> str:
        parts = []
        for run in self.runs[:3]:
            i = self.nearest(run.batch_steps, x)
            if i is not None:
                values = run.batch_loss if self.metric == "loss" else run.batch_accuracy
                parts.append(f"{run.name} step {run.batch_steps[i]}: {self.metric} {fmt(values[i])}")
            val = run.epoch_metric(f"val_{self.metric}")
            j = self.nearest(epoch_steps(run, len(val)), x)
            if j is not None:
                parts.append(f"val (epoch {j + 1}) {fmt(val[j])}")
        return "   ".join(parts)


def epoch_steps(run, count: int) -> np.ndarray:
    """x position (global step) of the end of each epoch."""
    spe = run.steps_per_epoch
    if not spe and run.history is not None and run.history.record_epochs:
        epochs = max(run.history.record_epochs) + 1
        spe = max(run.history.steps) / max(epochs, 1)
    return (np.arange(count) + 1.0) * (spe or 1)


pg.setConfigOptions(antialias=True)
