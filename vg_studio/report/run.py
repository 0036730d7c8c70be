"""A run directory as the figures read it, without Qt: the same accessors as the app's `RunData` (record steps,
per-layer statistics, training curves without epoch jumps, each batch's own loss, epoch metrics, display names),
read once from disk.

The figure descriptions (`vg_studio.report.figures`) take any object with these accessors, so the app's plots
(live `RunData`) and the report (`RunView`) select the same data.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from vg_studio.catalog import HIST_EDGES, RECURRENT_KINDS
from vg_studio.diagnose.findings import findings_from_report, layer_label
from vg_studio.report.palette import run_color
from vg_studio.report.series import BATCH_SMOOTHING, interval_means, smoothed


class RunView:
    """One run read from its directory (`RunView.open(path)`), or from a History already in memory."""

    def __init__(self, name: str, history, spec=None, report: dict | None = None, model_summary=None,
                 run_dir: Path | None = None, color: str | None = None, notes=()):
        self.name = name
        self.history = history
        self.spec = spec
        self.report = dict(report or {})
        self.model_summary = model_summary
        self.run_dir = run_dir
        self.color = color or run_color(0)
        self.notes = list(notes)
        self.layer_names = list(history.layer_names)
        self.activations = list(history.activations)
        count = len(self.layer_names)
        kinds = list(getattr(history, "layer_kinds", None) or [])
        units = list(getattr(history, "layer_units", None) or [])
        layers = list(spec.network.layers) if spec is not None else []
        if not kinds and layers:
            kinds = [layers[i].kind if i < len(layers) else "dense" for i in range(count)]
        if not units and layers:
            units = [layers[i].units if i < len(layers) else None for i in range(count)]
        self.layer_kinds = (kinds + [""] * count)[:count]
        self.layer_units = (units + [None] * count)[:count]
        edges = history.attrs.get("hist_edges")
        self.hist_edges = np.asarray(edges, dtype=float) if edges is not None else HIST_EDGES.copy()
        self._steps = np.asarray(history.steps, dtype=np.float64)
        self._epochs_of_records = np.asarray(history.record_epochs, dtype=np.int64)
        self._metrics = {k: np.asarray(v, dtype=float) for k, v in history.record_metrics.items()}
        self._metrics.setdefault("loss", np.asarray(history.record_loss, dtype=float))
        self._epochs = {k: np.asarray(v, dtype=float) for k, v in history.epochs.items()}
        self.steps_per_epoch = int(_number(history.attrs.get("steps_per_epoch")) or self._guess_steps_per_epoch())
        self.epochs = int(_number(history.attrs.get("epochs")) or (spec.training.epochs if spec is not None else 0)
                          or len(self._epochs.get("epoch", [])))
        self.revision = 0
        self._batch_curve: tuple | None = None

    @classmethod
    def open(cls, run_dir, name: str | None = None, color: str | None = None) -> "RunView":
        """Read a run directory (finished or still written). Raises RunStoreError/SpecError naming the file."""
        from vg_studio.train.runstore import open_run

        loaded = open_run(run_dir)
        return cls(name or Path(run_dir).name, loaded.history, loaded.spec, loaded.report, loaded.model_summary,
                   Path(run_dir), color, getattr(loaded, "notes", ()))

    # ---- what the figures read (the same names as the app's RunData) ------------------------------------------
    @property
    def num_records(self) -> int:
        return len(self._steps)

    @property
    def record_steps(self) -> np.ndarray:
        return self._steps

    @property
    def record_epochs(self) -> np.ndarray:
        return self._epochs_of_records

    def stat(self, name: str) -> np.ndarray:
        if name not in self.history.stats:
            return np.empty((0, len(self.layer_names)))
        return np.asarray(self.history.stat(name))

    @property
    def stat_names(self) -> list:
        return list(self.history.stats)

    def record_metric(self, name: str) -> np.ndarray:
        values = self._metrics.get(name)
        return values if values is not None and len(values) == self.num_records else np.full(self.num_records, np.nan)

    def training_curve(self, metric: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        means = interval_means(self._steps, self._epochs_of_records, self.record_metric(metric), self.steps_per_epoch)
        return self._steps, means, smoothed(means)

    @property
    def has_batch_losses(self) -> bool:
        """Whether the run kept each batch's own loss (history.h5's /batches; not runs recorded before it was kept,
        nor a custom train_step's)."""
        return len(self.history.batch_steps) > 0

    def batch_loss_curve(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """(steps, epochs, each batch's own loss, its smoothed line — TensorBoard's debiased moving average with
        weight BATCH_SMOOTHING), as the app's RunData gives them; empty arrays when the run has none."""
        if self._batch_curve is None:
            losses = np.asarray(self.history.batch_loss, dtype=np.float64)
            self._batch_curve = (np.asarray(self.history.batch_steps, dtype=np.float64),
                                 np.asarray(self.history.batch_epochs, dtype=np.int64), losses,
                                 smoothed(losses, BATCH_SMOOTHING))
        return self._batch_curve

    def epoch_metric(self, name: str) -> np.ndarray:
        return np.asarray(self._epochs.get(name, []), dtype=float)

    def optimizer_series(self, name: str) -> np.ndarray:
        return np.asarray(self.history.optimizer.get(name, []), dtype=float)

    @property
    def optimizer_names(self) -> list:
        return sorted(self.history.optimizer)

    def time_grad(self) -> tuple[np.ndarray, np.ndarray]:
        rows = [np.asarray(r, dtype=float) for r in getattr(self.history, "time_grad", [])]
        rows = [r for r in rows if r.ndim == 1 and r.size]
        if not rows:
            return np.empty(0), np.empty((0, 0))
        width = max(len(r) for r in rows)
        grid = np.full((len(rows), width), np.nan)
        for i, r in enumerate(rows):
            grid[i, :len(r)] = r
        return self._steps[-len(rows):], grid

    @property
    def is_recurrent(self) -> bool:
        return bool(len(getattr(self.history, "time_grad", []))) or any(k in RECURRENT_KINDS
                                                                        for k in self.layer_kinds)

    @property
    def display_names(self) -> list:
        return [layer_label(n) for n in self.layer_names]

    @property
    def status(self) -> str:
        return self.report.get("status") or self.history.status

    @property
    def findings(self) -> list:
        """The run's findings: those its report.json holds, else the rules replayed on its history."""
        if "findings" in self.report:
            return findings_from_report(self.report)
        try:
            from vg_studio.diagnose.engine import Diagnoser

            return list(Diagnoser.from_history(self.history, self.spec, None, None, self.model_summary).findings)
        except Exception:  # noqa: BLE001 - a history the rules cannot replay still has its figures
            return []

    def _guess_steps_per_epoch(self) -> int:
        train = (self.report.get("dataset") or {}).get("train")
        if train and self.spec is not None:
            return -(-int(train) // self.spec.training.batch_size)
        if len(self._steps) and self._epochs_of_records.max() > 0:
            return int(self._steps[self._epochs_of_records == 0].max())
        return 0


def _number(value):
    if isinstance(value, np.ndarray):
        return value.reshape(-1)[0].item() if value.size else 0
    return value.item() if isinstance(value, np.generic) else (value or 0)
