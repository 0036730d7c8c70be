"""The one recorder of a training run: a Keras callback that probes the step, writes the run directory and tells
listeners what happens. A user's script (`vg_studio.monitor.GradientMonitor`), `vg-studio train` and the app's
training child (`vg_studio.train.trainer.Trainer`) all record through it: the builder's networks are trained the
way a user's model is, `model.fit(callbacks=[recorder])`.

No per-step host sync. Keras hands `on_train_batch_end` the step's logs as device tensors and converts them to
Python floats before calling the callbacks (`CallbackList._on_train_batch_end` → `pythonify_logs`): for any
callback that implements it, that is a device→host wait every step — unless the callback declares
`async_safe`, in which case Keras (on the thread-safe JAX and PyTorch backends) does the conversion and the call
on a worker thread while the main thread dispatches the next step. This callback is `async_safe`:
`on_train_batch_end` only queues (step, logs) and sets `stop_training`; everything else — reading the ring, the
unit statistics, events, the history — happens on the main thread in `on_train_batch_begin` and `on_epoch_end`,
in step order. (TensorFlow's backend is not thread-safe, so Keras calls every callback in line and converts the
logs each step for plain `model.fit` too: there is nothing to avoid.)

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
from pathlib import Path

import keras
import numpy as np

from vg_studio.history import History
from vg_studio.safeio import atomic_path
from vg_studio.train import events
from vg_studio.train.columns import Column, UnitTaps, first_rows, model_columns_and_taps
from vg_studio.train.device import describe_device, versions
from vg_studio.train.probes import HIST_BINS, HIST_EDGES, HIST_STATS, LAYER_STATS, ProbeReader, column_stats, \
    count_records, install_probes, probed_optimizer, remove_probes
from vg_studio.train.runstore import RunStore
from vg_studio.train.summary import model_summary, spec_model_summary

log = logging.getLogger(__name__)

SYNC_EVERY = 32  # steps between two reads of the ring (it holds probes.RING_SIZE records)
SYNC_SECONDS = 1.0  # ... or this long, so a slow network still draws live
UNIT_BUDGET = 50.0  # measure unit statistics when the time since the last measurement ≥ 50 × its cost

CLASSIFICATION_LOSSES = ("sparse_categorical_crossentropy", "categorical_crossentropy", "binary_crossentropy",
                         "SparseCategoricalCrossentropy", "CategoricalCrossentropy", "BinaryCrossentropy",
                         "categorical_focal_crossentropy", "binary_focal_crossentropy")


class RunRecorder(keras.callbacks.Callback):
    """Records one `fit`: probes in the step, the History, the run directory, events to `listeners`, the report.

    Args:
        run_dir: the run directory to write (None: nothing written). A run already there is replaced once this one
            has started, unless `overwrite=False`.
        record_every: steps between probe records (the first step is always recorded).
        probe_data: a few input examples for the dead/saturated unit fractions (the first `probe_batch_size`
            rows); without it those stay NaN.
        listeners: callables receiving every event (vg_studio.train.events). A listener with `attach(emit)` is
            attached at the start and may publish its own events through `emit`; one with `report_items() -> dict`
            has that merged into report.json.
        stop_on_nan: stop training when the loss stops being finite (the run is then "diverged").
        name: the run's name in report.json (default: the network's name).
        save_model: also save the trained network as the run's model.keras.
        cancel: a threading.Event; once set, training stops after the current batch and the run is "cancelled"
            (its interrupted epoch is not counted as completed).
        sync_every, sync_seconds: how often the host reads the device's ring of records (see the module).

    What a caller that knows the network better than its Keras layers say passes (the spec builder):
        spec: the ExperimentSpec the network was built from: written as spec.json (instead of model.json) and
            carried by RunStarted.
        store: an open RunStore to write into instead of opening `run_dir`.
        network: the network the run describes when the fitted model wraps it (a training graph with auxiliary
            heads): its parameters are counted, summarised and saved.
        columns: the probe columns: a list of Column, or a callable `(model, probe_x) -> (columns, UnitTaps or
            None)`; default: one column per layer with trainable weights.
        log_names: renames of Keras's log keys (auxiliary heads: {"output_accuracy": "accuracy", …}); with
            auxiliary heads "loss" becomes the main output's loss and the weighted sum `total_loss`.
        time_probe: the TimeStepProbe layer of a recurrent training graph (vg_studio.nn.build): the gradient per
            input time step is recorded from it.
        sample_count, num_classes: facts Keras does not tell callbacks (training examples, classes).
        on_finish: called as `on_finish(status)` when training ended, before report.json is written; the dict it
            returns is merged into the report (an exception ends the run as "failed", saying why).

    `history`, `report`, `status`, `step` are the run's; `report_extras` (a dict) is merged into report.json.
    One recorder records one `fit`: a second `fit` with it starts a new run in `run_dir`.
    """

    async_safe = True  # see the module docstring: Keras converts the logs off the main thread (JAX, torch)

    def __init__(self, run_dir=None, record_every: int = 10, probe_data=None, probe_batch_size: int = 128,
                 listeners=(), overwrite: bool = True, stop_on_nan: bool = False, name: str | None = None,
                 save_model: bool = False, cancel=None, sync_every: int | None = None,
                 sync_seconds: float | None = None, *, spec=None, store: RunStore | None = None, network=None,
                 columns=None, log_names: dict | None = None, time_probe=None, sample_count: int = 0,
                 num_classes: int | None = None, on_finish=None):
        super().__init__()
        if int(record_every) < 1:
            raise ValueError(f"record_every: must be >= 1 (got {record_every})")
        self.run_dir = Path(run_dir) if run_dir is not None else (store.dir if store is not None else None)
        self.record_every = int(record_every)
        self.probe_data = first_rows(probe_data, probe_batch_size) if probe_data is not None else None
        self.listeners = list(listeners)
        self.overwrite = overwrite
        self.stop_on_non_finite = bool(stop_on_nan)
        self.name = name
        self.save_model = save_model
        self.cancel_event = cancel
        self.sync_every = int(SYNC_EVERY if sync_every is None else sync_every)
        self.sync_seconds = float(SYNC_SECONDS if sync_seconds is None else sync_seconds)
        self.spec, self.store, self.network = spec, store, network
        self.columns_plan = columns
        self.log_names = dict(log_names or {})
        self.time_probe = time_probe
        self.sample_count, self.num_classes = int(sample_count), num_classes
        self.on_finish = on_finish
        self.report_extras: dict = {}
        self.report: dict | None = None
        self.history: History | None = None
        self.status: str | None = None
        self.columns: list[Column] = []
        self.units: UnitTaps | None = None
        self.optimizer = None
        self._probed = None
        self._finished = True
        self._started = 0.0
        self._reset(1)

    @property
    def cancelled(self) -> bool:
        return self.cancel_event is not None and self.cancel_event.is_set()

    @property
    def findings(self) -> list:
        """The diagnosis' current findings (empty without a diagnosis listener)."""
        for listener in self.listeners:
            if hasattr(listener, "findings"):
                return list(listener.findings)
        return []

    def _reset(self, first_step: int) -> None:
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

    # ---- events ---------------------------------------------------------------------------------------------
    def emit(self, event) -> None:
        for listener in self.listeners:
            try:
                listener(event)
            except Exception:  # a listener's bug (a drawing bug …) must not lose the training run
                log.exception("listener %r failed on %s", listener, type(event).__name__)

    def _report_items(self) -> dict:
        items = {}
        for listener in self.listeners:
            report_items = getattr(listener, "report_items", None)
            if callable(report_items):
                try:
                    items.update(report_items())
                except Exception:  # a listener's bug must not cost the run its report
                    log.exception("listener %r failed to report", listener)
        return items

    # ---- Keras hooks ----------------------------------------------------------------------------------------
    def on_train_begin(self, logs=None):
        model = self.model
        if getattr(model, "optimizer", None) is None:
            raise RuntimeError("GradientMonitor: compile the model (model.compile(optimizer=..., loss=...)) "
                               "before fit")
        network = self.network if self.network is not None else model
        # the run directory first: a folder that cannot take the run fails before the model is touched
        if self.store is None and self.run_dir is not None:
            self.store = RunStore(self.run_dir, overwrite=self.overwrite)
            if self.spec is not None:
                self.store.write_spec(self.spec)
        target = probed_optimizer(model.optimizer)
        install_probes(target, model.trainable_variables, self.record_every, time_probe=self.time_probe)
        first = int(keras.ops.convert_to_numpy(target.iterations)) + 1
        target.vg_start(first)
        self._probed, self.optimizer = target, target
        self._finished = False
        model.make_train_function(force=True)  # trace the step again, now through the probed optimizer
        self._reset(first)

        self.columns, self.units = self._plan_columns(model)
        names = [c.name for c in self.columns]
        activations = [c.activation for c in self.columns]
        kinds, widths = [c.kind for c in self.columns], [c.units for c in self.columns]
        params = self.params or {}
        epochs, steps = int(params.get("epochs") or 0), int(params.get("steps") or 0)
        device = describe_device()
        classes = self.num_classes if self.num_classes is not None else _num_classes(model)
        self.history = History(names, activations, self.record_every, layer_kinds=kinds, layer_units=widths,
                               attrs=run_facts(epochs, steps, network.count_params(), device, self.sample_count,
                                               classes))
        if self.spec is not None:
            summary = spec_model_summary(network, self.spec, names, kinds, widths)
        else:
            summary = model_summary(network, [{"name": c.name, "kind": c.kind, "units": c.units,
                                               "activation": c.activation,
                                               "keras_layers": sorted({v.path.split("/")[0] for v in c.variables}),
                                               "params": int(sum(np.prod(v.shape) for v in c.variables))}
                                              for c in self.columns], target, getattr(model, "loss", None))
            summary["record_every"] = self.record_every
            if self.store is not None:
                self.store.write_model_summary(summary)
        for listener in self.listeners:
            attach = getattr(listener, "attach", None)
            if callable(attach):
                attach(self.emit)
        self.emit(events.RunStarted(str(self.run_dir) if self.run_dir is not None else None, self.spec, names,
                                    activations, epochs, steps, network.count_params(), device, self.sample_count,
                                    classes, summary, kinds, widths, self.record_every))
        self._started = time.perf_counter()
        self._main = threading.get_ident()
        slot_of = self.optimizer._vg_slot_of
        self._column_vars = [[slot_of[id(v)] for v in c.variables if id(v) in slot_of] for c in self.columns]
        self._sizes = np.asarray(self.optimizer.vg_sizes, dtype=np.float64)

    def _plan_columns(self, model) -> tuple[list[Column], UnitTaps | None]:
        plan = self.columns_plan
        if plan is None:
            plan = model_columns_and_taps
        if callable(plan):
            return plan(model, self.probe_data)
        return list(plan), None

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch
        self.epoch_started = time.perf_counter()

    def on_train_batch_begin(self, batch, logs=None):
        self._done = max(self._done, self._epoch_base + batch)
        self._drain()
        if self.cancelled:
            self.model.stop_training = True

    def on_train_batch_end(self, batch, logs=None):
        step = self._epoch_base + batch + 1
        logs = logs or {}
        self._logged.append((step, self.epoch, logs))
        loss = logs.get("loss")
        if isinstance(loss, (int, float)) and not math.isfinite(loss) and self.stop_on_non_finite:
            self.model.stop_training = True
        if self.cancelled:
            self.model.stop_training = True
        if threading.get_ident() == self._main:  # TensorFlow, or Keras chose to call in line
            self._done = max(self._done, step)
            self._drain()

    def on_epoch_end(self, epoch, logs=None):
        # Keras has run every queued on_train_batch_end before this.
        self._done = max([self._done] + [s for s, _, _ in self._logged])
        self._drain(final=True)
        self._epoch_base = self._done
        logs = self._floats(logs)
        logs["epoch_time"] = time.perf_counter() - self.epoch_started
        if self._keep_epoch():
            self.history.add_epoch(epoch, logs)
            if self.store is not None:
                self.store.write_history(self.history)
            self.emit(events.EpochEnd(epoch, logs))

    def on_train_end(self, logs=None):
        self._done = max([self._done] + [s for s, _, _ in self._logged])
        self._drain(final=True)
        self.finish()

    def _keep_epoch(self) -> bool:
        """Whether an ending epoch is a completed one (recorded in the history): not after a non-finite loss, and
        not one a cancel interrupted."""
        steps = (self.params or {}).get("steps")
        complete = bool(steps) and (self.step - self.first_step + 1) % steps == 0
        return self.diverged_at is None and (complete or not self.cancelled)

    # ---- the end of a run -----------------------------------------------------------------------------------
    def finish(self, error: BaseException | None = None) -> None:
        """End the run: the model gets its own optimizer back, then the history and report.json are written and
        RunFinished is emitted. Called by `on_train_end`; a caller whose `fit` raised calls it with the error (the
        run is then "failed", with everything recorded kept). Calling it again does nothing."""
        if self._finished:
            return
        self._finished = True
        try:
            self._uninstall()  # first: a saved model gets the user's own optimizer
            status, message = self._outcome(error)
            network = self.network if self.network is not None else self.model
            if self.save_model and self.store is not None and error is None:
                try:
                    with atomic_path(self.store.model_path, suffix=".keras") as tmp:
                        network.save(tmp)
                except Exception as exc:  # a full disk …: the history and report below are still written
                    log.exception("saving the model failed")
                    status, message = "failed", f"training finished but saving the model failed: {exc}"
            report = {"name": self.name or network.name, "status": status, "message": message,
                      "wall_time_s": time.perf_counter() - self._started,
                      "epochs_completed": self.history.num_epochs if self.history is not None else 0,
                      "steps": max(self.step - self.first_step + 1, 0),
                      "param_count": int(network.count_params()), "device": describe_device(),
                      "versions": versions(), "record_every": self.record_every, **self.report_extras}
            self.status = status
            if self.on_finish is not None and error is None:
                try:
                    report.update(self.on_finish(status) or {})
                except Exception as exc:  # a full disk while exporting …: the history below is still written
                    log.exception("finishing the run failed")
                    status = report["status"] = "failed"
                    message = report["message"] = f"training finished but {type(exc).__name__}: {exc}"
            report.update(self._report_items())
            self.report, self.status = report, status
            if self.history is not None:
                self.history.status = status
            if self.store is not None:
                if self.history is not None:
                    self.store.write_history(self.history)
                self.store.write_report(report)
            self.emit(events.RunFinished(status, message, report,
                                         str(self.run_dir) if self.run_dir is not None else None))
        finally:
            self._uninstall()

    def _outcome(self, error) -> tuple[str, str]:
        if error is not None:
            return "failed", f"training failed: {type(error).__name__}: {error}"
        if self.diverged_at is not None:
            stopped = "; training stopped (see the diagnostics)" if self.stop_on_non_finite else ""
            return "diverged", f"the loss became {self.diverged_loss} at step {self.diverged_at}{stopped}"
        if self.cancelled:
            return "cancelled", f"stopped by the user after step {self.step}"
        return "completed", "training finished"

    def _uninstall(self) -> None:
        if self._probed is not None:
            remove_probes(self._probed)
            self.model.train_function = None  # the next fit traces a plain step
            self._probed = None

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
            logs = self._floats(logs)
            self.step = step
            self.last_logs = logs
            self.last_loss = logs.get("loss", float("nan"))
            if count_records(step - 1, step, self.record_every, self.first_step):
                self._record_logs[step] = logs
            self.emit(events.BatchEnd(step, epoch, logs))
            if self.cancelled:  # a listener may cancel at this very step
                self.model.stop_training = True
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
        self._pending.append(events.ProbeRecord(step, epoch, float("nan"), blank_stats(len(self.columns))))

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

    def _floats(self, logs) -> dict:
        """Keras's logs as floats, renamed by `log_names`; with auxiliary heads "loss" is the main output's loss
        and the weighted sum is `total_loss`."""
        out = {}
        for key, value in (logs or {}).items():
            key = self.log_names.get(key, key)
            try:
                out[key] = float(np.asarray(keras.ops.convert_to_numpy(value)))
            except (TypeError, ValueError):
                continue
        for prefix in ("", "val_") if self.log_names else ():
            if f"{prefix}output_loss" in out:
                out[f"{prefix}total_loss"] = out.get(f"{prefix}loss", float("nan"))
                out[f"{prefix}loss"] = out.pop(f"{prefix}output_loss")
        return out


def blank_stats(n_columns: int) -> dict:
    stats = {name: np.full(n_columns, np.nan) for name in LAYER_STATS}
    stats.update({name: np.full((n_columns, HIST_BINS), np.nan) for name in HIST_STATS})
    return stats


def _loss(logs) -> float:
    try:
        return float(logs.get("loss", 0.0))
    except (TypeError, ValueError):
        return 0.0


def _num_classes(model) -> int | None:
    """The output width of a classifier (its loss is a cross-entropy), else None."""
    loss = getattr(model, "loss", None)
    name = loss if isinstance(loss, str) else type(loss).__name__ if loss is not None else ""
    name = getattr(loss, "__name__", name) if callable(loss) and not isinstance(loss, keras.losses.Loss) else name
    if name not in CLASSIFICATION_LOSSES:
        return None
    try:
        width = int(model.outputs[0].shape[-1]) if getattr(model, "outputs", None) else None
    except (AttributeError, TypeError, IndexError):
        width = None
    if width == 1 and "binary" in name.lower():
        return 2
    return width if width and width >= 2 else None


def run_facts(epochs: int, steps_per_epoch: int, param_count: int, device: str, sample_count: int,
              num_classes: int | None) -> dict:
    """history.attrs a follower of the run directory needs to rebuild RunStarted, and the histogram bin edges."""
    return {"hist_edges": HIST_EDGES.copy(), "epochs": int(epochs), "steps_per_epoch": int(steps_per_epoch),
            "param_count": int(param_count), "device": str(device), "sample_count": int(sample_count),
            "num_classes": int(num_classes or 0)}
