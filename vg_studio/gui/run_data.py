"""What the GUI knows about one run: built live from engine events, or read from a run directory.

The probe/epoch history is the engine's own `History` (so CSV export and overlays use the same arrays the CLI
writes); batch-level loss/accuracy are kept here because the history holds records and epochs only.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from vg_studio.spec import ExperimentSpec


@dataclass(eq=False)  # runs are compared by identity (lists of them are kept in panels)
class RunData:
    name: str
    spec: ExperimentSpec
    run_dir: Path | None = None
    history: object = None  # vg_studio.train.runstore.History once the run has started (or was opened)
    status: str = "starting"
    message: str = ""
    device: str = ""
    epochs: int = 0
    steps_per_epoch: int = 0
    param_count: int = 0
    batch_steps: list = field(default_factory=list)
    batch_loss: list = field(default_factory=list)
    batch_accuracy: list = field(default_factory=list)
    findings: list = field(default_factory=list)
    report: dict = field(default_factory=dict)
    started_at: float = field(default_factory=time.monotonic)
    compare_with: "RunData | None" = None  # the run an "Apply fix and compare" started from

    @property
    def layer_names(self) -> list:
        return list(self.history.layer_names) if self.history is not None else []

    @property
    def total_steps(self) -> int:
        return self.epochs * self.steps_per_epoch

    def stat(self, name: str) -> np.ndarray:
        """(records, layers) array, empty before the first record."""
        if self.history is None:
            return np.empty((0, 0))
        return self.history.stat(name)

    @property
    def record_steps(self) -> np.ndarray:
        return np.asarray(self.history.steps if self.history is not None else [], dtype=float)

    @property
    def is_recurrent(self) -> bool:
        return any(layer.kind != "dense" for layer in self.spec.network.layers)

    def time_grad(self) -> tuple[np.ndarray, np.ndarray]:
        """(record steps, (records, time steps) mean |∂L/∂x_t|); empty for dense networks and before a record."""
        rows = self.history.time_grad if self.history is not None else []
        if not rows:
            return np.empty(0), np.empty((0, 0))
        width = max(len(r) for r in rows)
        grid = np.full((len(rows), width), np.nan)
        for i, row in enumerate(rows):
            grid[i, : len(row)] = row
        return self.record_steps[-len(rows):], grid

    def epoch_metric(self, name: str) -> np.ndarray:
        if self.history is None:
            return np.empty(0)
        return np.asarray(self.history.epochs.get(name, []), dtype=float)

    def optimizer_series(self, name: str) -> np.ndarray:
        if self.history is None:
            return np.empty(0)
        return np.asarray(self.history.optimizer.get(name, []), dtype=float)

    # ---- live events (main thread) -----------------------------------------------------------------------
    def apply_event(self, event) -> None:
        from vg_studio.train import events
        from vg_studio.train.runstore import History

        if isinstance(event, events.RunStarted):
            self.history = History(list(event.layer_names), list(event.activations),
                                   event.spec.monitoring.record_every)
            self.device, self.epochs = event.device, event.epochs
            self.steps_per_epoch, self.param_count = event.steps_per_epoch, event.param_count
            self.status, self.started_at = "running", time.monotonic()
        elif isinstance(event, events.BatchEnd):
            self.batch_steps.append(event.step)
            self.batch_loss.append(event.logs.get("loss", np.nan))
            self.batch_accuracy.append(event.logs.get("accuracy", np.nan))
        elif isinstance(event, events.ProbeRecord) and self.history is not None:
            self.history.add_record(event.step, event.epoch, event.loss, event.stats, event.optimizer,
                                    getattr(event, "time_grad", None))
        elif isinstance(event, events.EpochEnd) and self.history is not None:
            self.history.add_epoch(event.epoch, event.logs)
        elif isinstance(event, events.FindingsUpdated):
            self.findings = list(event.findings)
        elif isinstance(event, events.RunFinished):
            self.status, self.message, self.report = event.status, event.message, dict(event.report)
            if self.history is not None:
                self.history.status = event.status

    @property
    def step(self) -> int:
        return self.batch_steps[-1] if self.batch_steps else 0

    def eta_seconds(self) -> float | None:
        done, total = self.step, self.total_steps
        if done < 2 or total <= done:
            return None
        return (time.monotonic() - self.started_at) / done * (total - done)

    @property
    def model_path(self) -> Path | None:
        if self.run_dir is None:
            return None
        path = self.run_dir / "model.keras"
        return path if path.is_file() else None

    # ---- opened from disk ----------------------------------------------------------------------------
    @classmethod
    def open(cls, run_dir: str | Path) -> "RunData":
        """Raises RunStoreError/SpecError with a one-line message naming the file."""
        from vg_studio.train.runstore import load_run

        spec, history, report = load_run(run_dir)
        run = cls(name=Path(run_dir).name, spec=spec, run_dir=Path(run_dir), history=history,
                  status=history.status, report=report, message=report.get("message", ""))
        run.device = str(report.get("device", ""))
        steps = history.steps
        run.batch_steps, run.batch_loss = list(steps), list(history.record_loss)
        run.batch_accuracy = [np.nan] * len(steps)
        run.findings = list(report.get("findings", []))
        return run
