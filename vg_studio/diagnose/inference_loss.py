"""The loss on the probe batch in inference mode, as the loss rules read it.

A network whose layers compute otherwise in training (BatchNormalization under tiny batches, heavy Dropout) logs a
training-mode loss that can scatter far above, and fall far more slowly than, the loss it reaches in inference
mode. Where the records carry that loss (`vg_studio.train.probe_loss`: measured only for such networks, and only
where the probe rows' targets are known), the oscillation, the plateau and the slow convergence judge the network's
progress on it: a loss in inference mode that falls, or that is already good, is no overshoot, no stall and no
slow convergence, whatever the training mode's batches do. Runs without it are judged as before.
"""

from __future__ import annotations

import math
from collections import deque


class InferenceLoss:
    """The measurements (step, loss) of the last `steps` steps, with the latest one before them (the reference a
    window is judged from) and the run's first one."""

    def __init__(self, steps: float):
        self.steps = max(0.0, float(steps))
        self.points: deque = deque()
        self.first: tuple | None = None

    def add(self, step: int, value) -> None:
        try:
            value = float(value)
        except (TypeError, ValueError):
            return
        if not math.isfinite(value):
            return  # not measured at this record
        self.first = self.first or (int(step), value)
        self.points.append((int(step), value))
        while len(self.points) > 2 and step - self.points[1][0] >= self.steps:
            self.points.popleft()

    @property
    def latest(self) -> float | None:
        return self.points[-1][1] if self.points else None

    def since(self, step: int) -> list:
        """(step, loss) measured at or after `step`, led by the latest one before it: a window's start and end."""
        before = [p for p in self.points if p[0] < step]
        return before[-1:] + [p for p in self.points if p[0] >= step]

    def change(self, step: int) -> tuple[float, float] | None:
        """(loss at the window's start, loss now) over the window from `step`; None with fewer than two
        measurements there."""
        points = self.since(step)
        return (points[0][1], points[-1][1]) if len(points) >= 2 else None

    def over_run(self) -> tuple[float, float] | None:
        """(the run's first measurement, the latest); None before a second one."""
        if self.first is None or self.points[-1][0] <= self.first[0]:
            return None
        return self.first[1], self.points[-1][1]

    def words(self, step: int) -> str:
        change = self.change(step)
        if change is None:
            return ""
        return (f"On the probe examples in inference mode (the layers that compute otherwise in training, such as "
                f"BatchNormalization and Dropout, as in use) the loss went from {change[0]:.3g} to {change[1]:.3g}.")
