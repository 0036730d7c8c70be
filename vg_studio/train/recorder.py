"""The host side of the in-step probes: a Keras callback that turns the device's ring buffer into ProbeRecords,
epochs into EpochEnd events and both into the run's History — shared by the Trainer and GradientMonitor.

No per-step host sync. Keras hands `on_train_batch_end` the step's logs as device tensors and converts them to
Python floats before calling the callbacks (`CallbackList._on_train_batch_end` → `pythonify_logs`): for any
callback that implements it, that is a device→host wait every step — unless the callback declares
`async_safe`, in which case Keras (on the thread-safe JAX and PyTorch backends) does the conversion and the call
on a worker thread while the main thread dispatches the next step. This callback is `async_safe`:
`on_train_batch_end` only queues (step, logs) and sets `stop_training` when the loss is not finite; everything
else — reading the ring, the unit statistics, events, the history — happens on the main thread in
`on_train_batch_begin` and `on_epoch_end`, in step order. (TensorFlow's backend is not thread-safe, so Keras
calls every callback in line and converts the logs each step for plain `model.fit` too: there is nothing to
avoid.)

The ring is read once at least `sync_every` steps (or `sync_seconds`) have passed with records waiting, at the
first record (a network broken at initialization is diagnosed at once), when the loss stops being finite, and at
each epoch's end. Unit statistics (dead / saturated fractions) need activations: they are measured on the fixed
probe batch at such a read when the time since the last measurement is at least UNIT_BUDGET times what that
measurement cost (≤ 2 % of training time), and always at an epoch's end; they go on the newest record of the
read. The records in between carry NaN for them (not measured, as opposed to 0).
"""

from __future__ import annotations

import collections
import logging
import math
import threading
import time
from dataclasses import dataclass

import keras
import numpy as np

from vg_studio.train import events
from vg_studio.train.probes import HIST_BINS, HIST_EDGES, HIST_STATS, LAYER_STATS, ProbeReader, column_stats, \
    count_records
from vg_studio.train.units import dead_fraction, saturated_fraction

log = logging.getLogger(__name__)

SYNC_EVERY = 32  # steps between two reads of the ring (it holds probes.RING_SIZE records)
SYNC_SECONDS = 1.0  # ... or this long, so a slow network still draws live
UNIT_BUDGET = 50.0  # measure unit statistics when the time since the last measurement ≥ 50 × its cost


@dataclass
class Column:
    """One probe column: a spec layer group or one of a user model's top-level layers with trainable weights."""

    name: str
    activation: str  # "" when not known (then its unit statistics stay NaN)
    kind: str  # "dense", "conv2d", "lstm", "batch_normalization", …
    units: int  # output width: units / filters / features
    variables: list  # the Keras variables it groups (host side only; never sent in an event)


class UnitTaps:
    """Dead/saturated fractions per column from a probe batch. `taps`: (column index, activation, post) where the
    tapped values are pre-activations (post False) or the activation's outputs (post True)."""

    def __init__(self, n_columns: int, taps: list, probe_x, predict):
        self.n_columns, self.taps, self.probe_x, self.predict = n_columns, taps, probe_x, predict

    @classmethod
    def from_graph(cls, model: keras.Model, n_columns: int, taps: list, probe_x):
        """`taps`: (column index, symbolic tensor of `model`'s graph, activation, post)."""
        if not taps or probe_x is None:
            return None
        side = keras.Model(model.input, [t for _, t, _, _ in taps])
        if len(taps) == 1:
            def predict(x):
                return [side.predict_on_batch(x)]  # the compiled predict step, not eager
        else:
            def predict(x):
                return list(side.predict_on_batch(x))
        return cls(n_columns, [(c, a, p) for c, _, a, p in taps], probe_x, predict)

    def measure(self) -> dict:
        values = self.predict(self.probe_x)
        saturated, dead = np.full(self.n_columns, np.nan), np.full(self.n_columns, np.nan)
        for (column, activation, post), z in zip(self.taps, values):
            z = np.asarray(keras.ops.convert_to_numpy(z), dtype=np.float32)
            saturated[column] = saturated_fraction(activation, z, post)
            dead[column] = dead_fraction(activation, z, post)
        return {"saturated_fraction": saturated, "dead_fraction": dead}


class RunRecorder(keras.callbacks.Callback):
    """Records a run: ProbeRecords from the ring, EpochEnd, the History and its store; `emit` gets every event.

    Subclasses add what only they need (the Trainer: BatchEnd, cancel; the monitor: installing the probes)."""

    async_safe = True  # see the module docstring: Keras converts the logs off the main thread (JAX, torch)
    aux_head_logs = False  # the Trainer's auxiliary heads: report the user's network's output under plain names

    def __init__(self, emit, history, store, optimizer, columns: list[Column], record_every: int,
                 units: UnitTaps | None = None, sync_every: int | None = None, sync_seconds: float | None = None,
                 first_step: int = 1):
        super().__init__()
        self.emit, self.history, self.store = emit, history, store
        self.optimizer, self.columns, self.record_every = optimizer, columns, int(record_every)
        self.units = units
        self.sync_every = int(SYNC_EVERY if sync_every is None else sync_every)
        self.sync_seconds = float(SYNC_SECONDS if sync_seconds is None else sync_seconds)
        self.stop_on_non_finite = True  # stop training at a NaN/inf loss (the monitor leaves that to the user)
        self.start_at(first_step)

    def start_at(self, first_step: int) -> None:
        """Count steps from `first_step` (1-based: the optimizer's iterations + 1 when training starts)."""
        self.first_step = int(first_step)
        self.reader = ProbeReader(self.optimizer) if self.optimizer is not None else None
        self._column_vars: list = []
        self._sizes = None
        self._logged = collections.deque()  # (step, epoch, logs) from on_train_batch_end, maybe another thread
        self._main = threading.get_ident()
        self._pending: list = []  # ProbeRecords waiting for their step's logs
        # the logs of record steps whose record has not been read yet: a record read a block later still carries
        # its own step's loss and metrics, not those of the step at which the ring was read
        self._record_logs: dict[int, dict] = {}
        self.step = first_step - 1  # the last step whose logs were handled
        self._done = first_step - 1  # the last step known finished
        self._epoch_base = first_step - 1
        self._synced_upto = first_step - 1
        self._synced_at = time.perf_counter()
        self._units_at, self._units_cost = -math.inf, 0.0
        self.epoch = 0
        self.last_loss = float("nan")
        self.last_logs: dict = {}
        self.diverged_at = None
        self.diverged_loss = None
        self.epoch_started = 0.0

    # ---- Keras hooks --------------------------------------------------------------------------------------
    def on_train_begin(self, logs=None):
        self._main = threading.get_ident()
        if self.reader is not None and self._sizes is None:
            slot_of = self.optimizer._vg_slot_of
            self._column_vars = [[slot_of[id(v)] for v in c.variables if id(v) in slot_of] for c in self.columns]
            self._sizes = np.asarray(self.optimizer.vg_sizes, dtype=np.float64)

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch
        self.epoch_started = time.perf_counter()

    def on_train_batch_begin(self, batch, logs=None):
        self._done = max(self._done, self._epoch_base + batch)
        self._drain()

    def on_train_batch_end(self, batch, logs=None):
        step = self._epoch_base + batch + 1
        logs = logs or {}
        self._logged.append((step, self.epoch, logs))
        loss = logs.get("loss")
        if isinstance(loss, (int, float)) and not math.isfinite(loss) and self.stop_on_non_finite:
            self.model.stop_training = True
        self.after_batch(step)
        if threading.get_ident() == self._main:  # TensorFlow, or Keras chose to call in line
            self._done = max(self._done, step)
            self._drain()

    def on_epoch_end(self, epoch, logs=None):
        # Keras has run every queued on_train_batch_end before this.
        self._done = max([self._done] + [s for s, _, _ in self._logged])
        self._drain(final=True)
        self._epoch_base = self._done
        logs = _floats(logs, self.aux_head_logs)
        logs["epoch_time"] = time.perf_counter() - self.epoch_started
        if self.keep_epoch(epoch):
            self.history.add_epoch(epoch, logs)
            if self.store is not None:
                self.store.write_history(self.history)
            self.emit(events.EpochEnd(epoch, logs))

    def on_train_end(self, logs=None):
        self._done = max([self._done] + [s for s, _, _ in self._logged])
        self._drain(final=True)

    # ---- hooks for subclasses -----------------------------------------------------------------------------
    def after_batch(self, step: int) -> None:
        """Called from on_train_batch_end (possibly on Keras's worker thread)."""

    def on_step(self, step: int, epoch: int, logs: dict) -> None:
        """A step's logs, in order, on the main thread."""

    def keep_epoch(self, epoch: int) -> bool:
        """Whether an ending epoch is a completed one (recorded in the history)."""
        return self.diverged_at is None

    # ---- the work, on the main thread ---------------------------------------------------------------------
    def _drain(self, final: bool = False) -> None:
        items = []
        while self._logged:
            items.append(self._logged.popleft())
        items.sort(key=lambda item: item[0])
        diverging = any(not math.isfinite(_loss(logs)) for _, _, logs in items)
        if self.reader is not None and (final or diverging or self._sync_due()):
            self._sync(final)
        for step, epoch, logs in items:
            logs = _floats(logs, self.aux_head_logs)
            self.step = step
            self.last_logs = logs
            self.last_loss = logs.get("loss", float("nan"))
            if count_records(step - 1, step, self.record_every, self.first_step):
                self._record_logs[step] = logs
            self.on_step(step, epoch, logs)
            if not math.isfinite(self.last_loss) and self.diverged_at is None:
                self.diverged_at, self.diverged_loss = step, self.last_loss
                self._diverged_record(step, epoch)
            self._emit_pending(step)
        if final:
            self._emit_pending(math.inf)
            self._record_logs.clear()

    def _sync_due(self) -> bool:
        waiting = count_records(self._synced_upto, self._done, self.record_every, self.first_step)
        if waiting == 0:
            return False
        if self._synced_upto < self.first_step <= self._done:
            return True  # the very first record: a broken initialization is found at once
        return (self._done - self._synced_upto >= self.sync_every
                or time.perf_counter() - self._synced_at >= self.sync_seconds)

    def _sync(self, final: bool) -> None:
        sync = getattr(self.model, "jax_state_sync", None)  # JAX keeps the state outside the variables mid-epoch
        if callable(sync):
            sync()
        raws = self.reader.read()
        self._synced_upto, self._synced_at = self._done, time.perf_counter()
        records = [self._record(raw) for raw in raws]
        if records and self.units is not None and (final or self._units_due()):
            started = time.perf_counter()
            try:
                records[-1].stats.update(self.units.measure())
            except Exception:  # a model whose probe batch cannot run: keep the gradient records
                log.exception("unit statistics failed; they are left out")
                self.units = None
            self._units_cost = time.perf_counter() - started
            self._units_at = time.perf_counter()
        self._pending.extend(records)

    def _units_due(self) -> bool:
        return time.perf_counter() - self._units_at >= UNIT_BUDGET * self._units_cost

    def _record(self, raw) -> events.ProbeRecord:
        stats = column_stats(raw, self._column_vars, self._sizes)
        return events.ProbeRecord(raw.step, self.epoch, float("nan"), stats, dict(raw.scalars), raw.time_grad)

    def _diverged_record(self, step: int, epoch: int) -> None:
        """A non-finite loss always ends with a record at that step (its statistics NaN unless the ring has it)."""
        if any(r.step == step for r in self._pending):
            return
        blank = column_stats_blank(len(self.columns))
        self._pending.append(events.ProbeRecord(step, epoch, float("nan"), blank))

    def _emit_pending(self, upto) -> None:
        ready = [r for r in self._pending if r.step <= upto]
        if not ready:
            return
        self._pending = [r for r in self._pending if r.step > upto]
        for record in sorted(ready, key=lambda r: r.step):
            logs = self._record_logs.pop(record.step, None)
            logs = self.last_logs if logs is None else logs
            record.epoch = self.epoch
            record.loss = logs.get("loss", float("nan"))
            record.metrics = dict(logs)
            self.history.add_record(record.step, record.epoch, record.loss, record.stats, record.optimizer,
                                    record.time_grad, record.metrics)
            self.emit(record)
        if self.store is not None:  # O(new records): lets any process follow the run, and a killed epoch's
            self.store.write_history(self.history)  # records survive

def column_stats_blank(n_columns: int) -> dict:
    stats = {name: np.full(n_columns, np.nan) for name in LAYER_STATS}
    stats.update({name: np.full((n_columns, HIST_BINS), np.nan) for name in HIST_STATS})
    return stats


def _loss(logs) -> float:
    try:
        return float(logs.get("loss", 0.0))
    except (TypeError, ValueError):
        return 0.0


# With auxiliary heads Keras prefixes the main output's metrics with its name; the engine always reports the
# user's network under the plain names.
_LOG_NAMES = {"output_accuracy": "accuracy", "val_output_accuracy": "val_accuracy"}


def _floats(logs, aux_head_logs: bool = False) -> dict:
    out = {}
    for key, value in (logs or {}).items():
        key = _LOG_NAMES.get(key, key) if aux_head_logs else key
        try:
            out[key] = float(np.asarray(keras.ops.convert_to_numpy(value)))
        except (TypeError, ValueError):
            continue
    for prefix in ("", "val_") if aux_head_logs else ():  # auxiliary heads: "loss" stays the user's network's loss, the sum is total_loss
        if f"{prefix}output_loss" in out:
            out[f"{prefix}total_loss"] = out.get(f"{prefix}loss", float("nan"))
            out[f"{prefix}loss"] = out.pop(f"{prefix}output_loss")
    return out


def run_facts(epochs: int, steps_per_epoch: int, param_count: int, device: str, sample_count: int,
              num_classes: int | None) -> dict:
    """history.attrs a follower of the run directory needs to rebuild RunStarted, and the histogram bin edges."""
    return {"hist_edges": HIST_EDGES.copy(), "epochs": int(epochs), "steps_per_epoch": int(steps_per_epoch),
            "param_count": int(param_count), "device": str(device), "sample_count": int(sample_count),
            "num_classes": int(num_classes or 0)}
