"""What the GUI knows about one run: the plots' view-model, built from the engine's events or read from a run
directory.

Live runs, runs followed on disk (`RunFollower` events) and runs opened from disk (`open_run`) fill the same
arrays, so they plot the same. The per-layer statistics live in the engine's own `History` (growable arrays: a
record costs O(its size) to add and `stat(name)` is an O(1) view); the per-record scalars the plots read every frame
(steps, epochs, metrics, optimizer state) are kept here as growable arrays too, since the History keeps lists. The
plots draw training curves from the probe records and, for the loss, from each batch's own loss (which the records
and epoch ends carry, and history.h5 keeps in /batches), so a run opened from disk looks as it did live;
`BatchEnd` events (Keras's running means) only drive the progress bar.
"""

from __future__ import annotations

import logging
import re
import time
from collections import OrderedDict, deque
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from vg_studio import catalog
from vg_studio.gui.plots.series import BATCH_SMOOTHING
from vg_studio.report.palette import next_run_color
from vg_studio.report.run import HIST_EDGES  # the probes' default bins of log10 |g| and log10 |ΔW|
from vg_studio.report.series import Smoother, interval_means
from vg_studio.history import History, Rows

log = logging.getLogger(__name__)
_RECENT_BATCHES = 20_000  # batch logs kept to complete records that carry no metrics of their own
PACE_WINDOW_S = 30.0  # the ETA divides the steps left by the pace over about this long
PACE_MIN_S = 3.0  # … and says nothing before it has seen training go on for this long


def _padded(column: Rows | None, rows: int, row_shape: tuple, dtype) -> Rows:
    """A column first seen at record `rows` is padded with NaN rows, so every column has one row per record."""
    if column is None:
        column = Rows(row_shape, dtype)
        for _ in range(rows):
            column.append(np.nan)
    return column


@dataclass(eq=False)  # runs are compared by identity (lists of them are kept in panels)
class RunData:
    name: str
    spec: object = None  # ExperimentSpec, or None for a user's own Keras model
    run_dir: Path | None = None
    status: str = "starting"
    message: str = ""
    device: str = ""
    epochs: int = 0
    steps_per_epoch: int = 0
    param_count: int = 0
    color: str = field(default_factory=next_run_color)  # "#rrggbb", the same in every plot and the runs list
    model_summary: dict | None = None
    layer_names: list = field(default_factory=list)
    activations: list = field(default_factory=list)
    layer_kinds: list = field(default_factory=list)
    layer_units: list = field(default_factory=list)
    num_classes: int = 0
    hist_edges: np.ndarray = field(default_factory=lambda: HIST_EDGES.copy())
    batch_steps: list = field(default_factory=list)
    batch_loss: list = field(default_factory=list)
    batch_accuracy: list = field(default_factory=list)
    findings: list = field(default_factory=list)
    report: dict = field(default_factory=dict)
    started_at: float = field(default_factory=time.monotonic)
    compare_with: "RunData | None" = None  # the run an "Apply fix and compare" started from
    revision: int = 0  # bumped whenever something the plots draw changed (not per batch)
    notes: list = field(default_factory=list)  # what the run store says a reader must know (skipped parts …)
    followed: bool = False  # written by another process, followed on disk
    clock: object = field(default=time.monotonic, repr=False)  # the ETA's clock

    def __post_init__(self):
        self._history = None  # vg_studio.history.History once the run has started (or was opened)
        self._pace: deque = deque(maxlen=256)  # (time, step) as steps arrive, at most a few a second
        self._reset_records()

    def _reset_records(self) -> None:
        self._steps, self._record_epochs = Rows((), np.int64), Rows((), np.int64)
        self._metrics: dict[str, Rows] = {}  # running epoch means at each record, as Keras reports them
        self._optimizer: dict[str, Rows] = {}
        self._time_grad: Rows | None = None
        self._epochs: dict[str, list] = {}
        self._curves: dict[str, tuple] = {}  # metric -> (records done, interval means, smoothed, Smoother)
        self._recent: OrderedDict = OrderedDict()  # step -> batch logs
        # each training batch's own loss (not Keras's running mean), its epoch and its smoothed line, in step order
        self._batch_rows = (Rows((), np.int64), Rows((), np.int64), Rows((), np.float64))
        self._batch_smooth, self._batch_smoother = Rows((), np.float64), Smoother(BATCH_SMOOTHING)

    # ---- what the plots read ------------------------------------------------------------------------------
    @property
    def total_steps(self) -> int:
        return self.epochs * self.steps_per_epoch

    @property
    def num_records(self) -> int:
        return len(self._steps)

    @property
    def record_steps(self) -> np.ndarray:
        return self._steps.array.astype(np.float64)

    @property
    def record_epochs(self) -> np.ndarray:
        return self._record_epochs.array

    def stat(self, name: str) -> np.ndarray:
        """(records, layers) — or (records, layers, bins) for histograms — view; empty before the first record."""
        if self._history is None:
            return np.empty((0, len(self.layer_names)))
        return self._history.stat(name)

    @property
    def stat_names(self) -> list:
        return list(self._history.stats) if self._history is not None else []

    def record_metric(self, name: str) -> np.ndarray:
        """The running epoch mean Keras reported at each record (all NaN when no record carried it)."""
        column = self._metrics.get(name)
        return column.array if column is not None else np.full(self.num_records, np.nan)

    def training_curve(self, metric: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(record steps, mean over the batches since the previous record, smoothed): no jump at epoch starts."""
        done, means, smooth, smoother = self._curves.get(metric) or (0, Rows((), float), Rows((), float), Smoother())
        n = self.num_records
        if n > done:
            lo = max(done - 1, 0)  # the previous record is needed to difference the first new one
            fresh = interval_means(self._steps.array[lo:n], self._record_epochs.array[lo:n],
                                   self.record_metric(metric)[lo:n], self.steps_per_epoch)[done - lo:]
            for value, value_smooth in zip(fresh, smoother.extend(fresh)):
                means.append(value)
                smooth.append(value_smooth)
            self._curves[metric] = (n, means, smooth, smoother)
        return self.record_steps, means.array, smooth.array

    @property
    def has_batch_losses(self) -> bool:
        """Whether each batch's own loss is known (not for runs recorded before it was kept, nor a custom
        train_step's)."""
        return len(self._batch_rows[0]) > 0

    def batch_loss_curve(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """(steps, epochs, each batch's own loss, its smoothed line — TensorBoard's debiased moving average with
        weight BATCH_SMOOTHING); empty arrays when the run has no batch losses."""
        steps, epochs, losses = self._batch_rows
        done = len(self._batch_smooth)
        if len(losses) > done:
            for value in self._batch_smoother.extend(losses.array[done:]):
                self._batch_smooth.append(value)
        return steps.array.astype(np.float64), epochs.array, losses.array, self._batch_smooth.array

    def epoch_metric(self, name: str) -> np.ndarray:
        return np.asarray(self._epochs.get(name, []), dtype=float)

    def optimizer_series(self, name: str) -> np.ndarray:
        column = self._optimizer.get(name)
        return column.array if column is not None else np.empty(0)

    @property
    def optimizer_names(self) -> list:
        return sorted(self._optimizer)

    def time_grad(self) -> tuple[np.ndarray, np.ndarray]:
        """(record steps, (records, time steps) mean |∂L/∂x_t|); empty for dense networks and before a record."""
        if self._time_grad is None or len(self._time_grad) == 0:
            return np.empty(0), np.empty((0, 0))
        grid = self._time_grad.array
        return self.record_steps[-len(grid):], grid

    @property
    def is_recurrent(self) -> bool:
        return self._time_grad is not None or any(k in catalog.RECURRENT_KINDS for k in self.layer_kinds)

    @property
    def display_names(self) -> list:
        """Column labels as the app shows them: h1…hL, out for spec runs; Keras layer names otherwise."""
        cached = getattr(self, "_display", (None, None))
        if cached[0] != self.layer_names:  # read many times a frame: computed once per change of names
            cached = (list(self.layer_names), [display_name(n) for n in self.layer_names])
            self._display = cached
        return cached[1]

    @property
    def step(self) -> int:
        if self.batch_steps:
            return self.batch_steps[-1]
        return int(self._steps.array[-1]) if self.num_records else 0

    def eta_seconds(self, now: float | None = None) -> float | None:
        """Seconds to the last step at the pace of the last half minute (the first steps' tracing and compiling,
        and a wait for the training process, do not count); None until training has gone on for a few seconds."""
        done, total = self.step, self.total_steps
        if total <= done or not self._pace:
            return None
        now = self.clock() if now is None else now
        recent = [(t, s) for t, s in self._pace if now - t <= PACE_WINDOW_S]
        first_t, first_step = recent[0] if recent else self._pace[-1]
        last_t, last_step = self._pace[-1]
        if last_t - first_t < PACE_MIN_S or last_step <= first_step:
            return None
        return (total - done) * (last_t - first_t) / (last_step - first_step)

    def _paced(self, step: int) -> None:
        now = self.clock()
        if not self._pace or now - self._pace[-1][0] >= 0.2:
            self._pace.append((now, step))
        elif step > self._pace[-1][1]:
            self._pace[-1] = (self._pace[-1][0], step)

    @property
    def model_path(self) -> Path | None:
        if self.run_dir is None:
            return None
        path = self.run_dir / "model.keras"
        return path if path.is_file() else None

    @property
    def history(self):
        """The engine's History of the run (CSV export, the rules); None before the run started."""
        return self._history

    # ---- events (main thread) -----------------------------------------------------------------------------
    def apply_event(self, event) -> None:
        from vg_studio.train import events

        if isinstance(event, events.BatchEnd):
            self._paced(event.step)
            self.batch_steps.append(event.step)
            self.batch_loss.append(event.logs.get("loss", np.nan))
            self.batch_accuracy.append(event.logs.get("accuracy", np.nan))
            self._recent[event.step] = event.logs
            if len(self._recent) > _RECENT_BATCHES:
                self._recent.popitem(last=False)
            return  # nothing drawn changed: the curves come from the records
        if isinstance(event, events.RunStarted):
            self._started(event)
        elif isinstance(event, events.ProbeRecord):
            if not self.batch_steps:  # a followed run has no batch events: its records give the pace
                self._paced(event.step)
            metrics = dict(getattr(event, "metrics", None) or self._recent.get(event.step, {}))
            metrics.setdefault("loss", event.loss)
            self._add_batches(event.epoch, getattr(event, "batch_losses", ()))
            self._add_record(event.step, event.epoch, metrics, event.stats, event.optimizer,
                             getattr(event, "time_grad", None))
        elif isinstance(event, events.EpochEnd):
            self._add_batches(event.epoch, getattr(event, "batch_losses", ()))
            self._add_epoch(event.epoch, event.logs)
        elif isinstance(event, events.FindingsUpdated):
            self.findings = list(event.findings)
            return  # no plot draws findings (the diagnostics panel shows them): nothing is redrawn for them
        elif isinstance(event, events.RunFinished):
            self.status, self.message, self.report = event.status, event.message, dict(event.report)
            if self._history is not None:
                self._history.status = event.status
        self.revision += 1

    def _started(self, event) -> None:
        self.spec = event.spec if event.spec is not None else self.spec
        self.model_summary = getattr(event, "model_summary", None) or self.model_summary
        self.layer_names, self.activations = list(event.layer_names), list(event.activations)
        self.num_classes = _whole(getattr(event, "num_classes", 0))
        self._layer_metadata(getattr(event, "layer_kinds", None), getattr(event, "layer_units", None))
        edges = getattr(event, "hist_edges", None)
        self.hist_edges = np.asarray(edges, dtype=float) if edges is not None else HIST_EDGES.copy()
        self.device, self.epochs = str(_item(event.device) or ""), _whole(event.epochs)
        self.steps_per_epoch, self.param_count = _whole(event.steps_per_epoch), _whole(event.param_count)
        self.status, self.started_at = "running", self.clock()
        self._pace.clear()
        self._reset_records()
        count = len(self.layer_names)
        kinds = self.layer_kinds if len(self.layer_kinds) == count else None  # stored only when whole
        units = self.layer_units if len(self.layer_units) == count and all(
            isinstance(u, (int, np.integer)) for u in self.layer_units) else None
        record_every = getattr(event, "record_every", None) or (
            self.spec.monitoring.record_every if self.spec is not None else 1)
        activations = (list(self.activations) + [""] * count)[:count]
        self._history = History(self.layer_names, activations, record_every, attrs={
            "hist_edges": self.hist_edges, "epochs": self.epochs, "steps_per_epoch": self.steps_per_epoch},
            layer_kinds=kinds, layer_units=units)

    def _layer_metadata(self, kinds, units) -> None:
        """The run's layer_kinds/layer_units; for spec runs that predate them, read off the spec."""
        names = self.layer_names
        layers = list(self.spec.network.layers) if self.spec is not None else []
        if not kinds:
            kinds = [layers[i].kind if i < len(layers) else "dense" for i in range(len(names))] if layers else []
        if not units and layers:
            units = [layers[i].units if i < len(layers) else (self.num_classes or None) for i in range(len(names))]
        self.layer_kinds, self.layer_units = list(kinds or []), list(units or [])

    def _add_record(self, step: int, epoch: int, metrics: dict, stats: dict, optimizer: dict,
                    time_grad=None) -> None:
        if self._history is None:
            return
        try:  # checks every row before it changes anything
            self._history.add_record(step, epoch, metrics.get("loss", np.nan), stats, optimizer, time_grad, metrics)
        except ValueError as exc:  # a malformed record from a file being followed: skipped, said in the log
            log.warning("%s: record at step %s skipped: %s", self.name, step, exc)
            return
        rows = self.num_records
        self._steps.append(step)
        self._record_epochs.append(epoch)
        for group, values in ((self._metrics, metrics), (self._optimizer, optimizer)):
            for name, value in values.items():
                group[name] = _padded(group.get(name), rows, (), np.float64)
                group[name].append(value)
            for column in group.values():
                if len(column) < rows + 1:
                    column.append(np.nan)
        if time_grad is not None:
            time_grad = np.asarray(time_grad, dtype=np.float64)
            self._time_grad = _padded(self._time_grad, rows, time_grad.shape, np.float64)
            self._time_grad.append(time_grad)
        elif self._time_grad is not None:
            self._time_grad.append(np.nan)

    def _add_batches(self, epoch: int, pairs) -> None:
        """Each batch's own loss an event carries ((step, loss), …, all of `epoch`); a step already known (an event
        seen twice) is skipped. The History gets them too (CSV export, the rules), unless whoever shares it (a
        RunFollower) already has them."""
        steps, epochs, losses = self._batch_rows
        last = int(steps.array[-1]) if len(steps) else 0
        fresh = []
        for step, loss in pairs:
            if int(step) > last:
                last = int(step)
                fresh.append((last, int(epoch), float(loss)))
                steps.append(last)
                epochs.append(epoch)
                losses.append(loss)
        if self._history is not None:
            known = self._history.batch_steps[-1] if self._history.batch_steps else 0
            self._history.add_batches(batch for batch in fresh if batch[0] > known)

    def _add_epoch(self, epoch: int, logs: dict) -> None:
        self._epochs.setdefault("epoch", []).append(epoch)
        count = len(self._epochs["epoch"])
        for key, value in logs.items():
            self._epochs.setdefault(key, [np.nan] * (count - 1)).append(float(value))
        for column in self._epochs.values():
            column.extend([np.nan] * (count - len(column)))
        # the engine's History too (CSV export, the rules, the app's close-mid-run path), unless whoever shares it
        # (a RunFollower) already added this epoch
        if self._history is not None and len(self._history.epochs.get("epoch", [])) < count:
            self._history.add_epoch(epoch, logs)

    # ---- opened from disk ----------------------------------------------------------------------------
    @classmethod
    def open(cls, run_dir: str | Path) -> "RunData":
        """A run directory as it is now (finished, or still being written). Raises RunStoreError/SpecError with a
        one-line message naming the file."""
        from vg_studio.train.runstore import open_run

        loaded = open_run(run_dir)
        return cls.from_history(Path(run_dir).name, loaded.history, loaded.spec, loaded.report,
                                loaded.model_summary, run_dir=Path(run_dir), status=loaded.status,
                                notes=[str(note) for note in loaded.notes])

    @classmethod
    def from_history(cls, name: str, history, spec=None, report: dict | None = None, model_summary=None,
                     **fields) -> "RunData":
        """A run from a History already in memory (read from disk, or a RunFollower's), without a copy of its
        statistics; it can go on growing through `apply_event`."""
        report = dict(report or {})
        run = cls(name=name, spec=spec, report=report, model_summary=model_summary,
                  message=report.get("message", ""), **{"status": history.status, **fields})
        run._fill(history, report)
        return run

    def _fill(self, history, report: dict) -> None:
        """The arrays live events would have built, from a History read from disk (bulk, no per-record loop)."""
        attrs = history.attrs
        self._history = history
        self.layer_names, self.activations = list(history.layer_names), list(history.activations)
        classes = (report.get("dataset") or {}).get("classes") or []
        self.num_classes = int(attrs.get("num_classes", 0) or len(classes))
        self._layer_metadata(history.layer_kinds, history.layer_units)
        if attrs.get("hist_edges") is not None:
            self.hist_edges = np.asarray(attrs["hist_edges"], dtype=float)
        self.device = str(attrs.get("device") or report.get("device", ""))
        self.param_count = int(attrs.get("param_count", 0) or report.get("param_count", 0) or 0)
        self._steps = Rows.of(np.asarray(history.steps, dtype=np.int64))
        self._record_epochs = Rows.of(np.asarray(history.record_epochs, dtype=np.int64))
        metrics = {name: np.asarray(v, dtype=float) for name, v in history.record_metrics.items()}
        metrics.setdefault("loss", np.asarray(history.record_loss, dtype=float))
        self._metrics = {name: Rows.of(values) for name, values in metrics.items()}
        self._optimizer = {name: Rows.of(np.asarray(v, dtype=float)) for name, v in history.optimizer.items()}
        if len(history.time_grad):
            self._time_grad = Rows.of(np.vstack(list(history.time_grad)).astype(np.float64))
        self._epochs = {k: [float(x) for x in v] for k, v in history.epochs.items()}
        self._batch_rows = tuple(Rows.of(np.asarray(values, dtype=dtype)) for values, dtype in (
            (history.batch_steps, np.int64), (history.batch_epochs, np.int64), (history.batch_loss, np.float64)))
        self.epochs = int(attrs.get("epochs", 0) or _spec_epochs(self.spec) or len(self._epochs.get("epoch", [])))
        self.steps_per_epoch = int(attrs.get("steps_per_epoch", 0) or _steps_per_epoch(self, report))
        self.revision += 1


def _item(value):
    """A scalar from what a file's attributes give: a plain value, or a NumPy scalar or one-element array."""
    if isinstance(value, np.ndarray):
        return value.reshape(-1)[0].item() if value.size else None
    return value.item() if isinstance(value, np.generic) else value


def _whole(value) -> int:
    try:
        return int(_item(value) or 0)
    except (TypeError, ValueError):
        return 0


def display_name(name: str) -> str:
    """hidden_3 → h3 and output → out (a spec run's columns, as the builder labels its rows); others as named."""
    if re.fullmatch(r"hidden_\d+", name):
        return "h" + name[len("hidden_"):]
    return "out" if name == "output" else name


def _spec_epochs(spec) -> int:
    return spec.training.epochs if spec is not None else 0


def _steps_per_epoch(run: RunData, report: dict) -> int:
    """For run directories whose history does not say: from the dataset size and batch size, else from the
    records (exact when a completed epoch's last step was recorded)."""
    train = (report.get("dataset") or {}).get("train")
    if train and run.spec is not None:
        return -(-int(train) // run.spec.training.batch_size)
    steps, epochs = run._steps.array, run._record_epochs.array
    if len(steps) and epochs.max() > 0:
        return int(steps[epochs == 0].max())
    return 0
