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
each epoch's end. Unit statistics (dead / saturated fractions) need activations, and a network that computes
otherwise in training (BatchNorm, Dropout) gets its loss in inference mode measured where the probe rows' targets
are known (`vg_studio.train.probe_loss`): both are measured on the fixed probe batch at such a read when the time
since the last measurement is at least UNIT_BUDGET times what that measurement cost (≤ 2 % of training time), and
always at an epoch's end; they go on the newest record read. That record is emitted only once a newer one is, or
at the epoch's end, so an epoch's end is always measured on the weights it ended with. The records in between carry
NaN for them (not measured, as opposed to 0).
"""

from __future__ import annotations

import collections
import logging
import math
import threading
import time
import warnings
from pathlib import Path

import keras
import numpy as np

from vg_studio.history import History
from vg_studio.safeio import atomic_path
from vg_studio.text import inert
from vg_studio.train import events
from vg_studio.train.columns import Column, UnitTaps, first_recurrent_layer, first_rows, model_columns_and_taps
from vg_studio.train.device import describe_device, versions
from vg_studio.train.layer_optimizers import name_layer_optimizers
from vg_studio.train.model_facts import num_classes_of as _num_classes, param_count as _param_count, run_facts
from vg_studio.train.probes import CannotWatch, ColumnIndex, ProbeReader, StepProbe, blank_stats, column_stats, \
    count_records
from vg_studio.train.probe_loss import ProbeBatch, ProbeLoss
from vg_studio.train.probes.optimizer_probe import steps_taken
from vg_studio.train.runstore import RunStore
from vg_studio.train.step_loss import BatchLosses, in_step_order, keras_train_step, loss_of, non_finite
from vg_studio.train.summary import model_summary, spec_model_summary

log = logging.getLogger(__name__)

SYNC_EVERY = 32  # steps between two reads of the ring (it holds probes.RING_SIZE records)
SYNC_SECONDS = 1.0  # ... or this long, so a slow network still draws live



class RunRecorder(keras.callbacks.Callback):
    """Records one `fit`: probes in the step, the History, the run directory, events to `listeners`, the report.

    Args:
        run_dir: the run directory to write (None: nothing written). A run already there is replaced once this one
            has started, unless `overwrite=False`.
        record_every: steps between probe records (the first step is always recorded).
        probe_data: a few input examples for the dead/saturated unit fractions (the first `probe_batch_size`
            rows); without it those stay NaN.
        probe_targets: those rows' targets, or None: model.json then holds the loss of guessing measured on them
            (`vg_studio.train.summary.guessing_levels`).
        listeners: callables receiving every event (vg_studio.train.events). A listener with `attach(emit)` is
            attached at the start and may publish its own events through `emit`; one with `report_items() -> dict`
            has that merged into report.json.
        stop_on_nan: stop training when the loss stops being finite (the run is then "diverged").
        name: the run's name in report.json (default: the network's name).
        save_model: also save the trained network as the run's model.keras.
        cancel: a threading.Event; once set, training stops after the current batch and the run is "cancelled"
            (its interrupted epoch is not counted as completed).
        sync_every, sync_seconds: how often the host reads the device's records (see the module).
        expand_nested: one column per layer that owns weights, inside nested models and custom blocks too
            (`generator/conv2d_transpose_1`, grouped by the outer layer's name); False: one column per top-level
            layer, a nested model or block under its own name.
        time_steps: where the gradient per input time step is recorded: "auto" (the input of the model's first
            recurrent layer, if it has one), a layer (its input), or None.

    What a caller that knows the network better than its Keras layers say passes (the spec builder):
        spec: the ExperimentSpec the network was built from: written as spec.json (instead of model.json) and
            carried by RunStarted.
        store: an open RunStore to write into instead of opening `run_dir`.
        network: the network the run describes when the fitted model wraps it (a training graph with auxiliary
            heads): its parameters are counted, summarised and saved.
        columns: the probe columns: a list of Column, or a callable `(model, probe_x) -> (columns, UnitTaps or
            None)`; only their variables are measured. Default: `expand_nested` decides.
        log_names: renames of Keras's log keys (auxiliary heads: {"output_accuracy": "accuracy", …}); with
            auxiliary heads "loss" becomes the main output's loss and the weighted sum `total_loss`.
        sample_count, num_classes: facts Keras does not tell callbacks (training examples, classes).
        on_finish: called as `on_finish(status)` when training ended, before report.json is written; the dict it
            returns is merged into the report (an exception ends the run as "failed", saying why).

    The loss of a step is Keras's "loss" log, or — for a custom train_step that returns none (a GAN's d_loss and
    g_loss) — the sum of its `*_loss` logs; a step that returns neither has an unknown loss (NaN in the history,
    `loss_source` "" in its attributes), never a non-finite one. `history`, `report_data` (report.json's content
    once the run ended), `status`, `step` are the run's; `report_extras` (a dict) is merged into report.json. One recorder records one `fit`: a second `fit`
    with it starts a new run in `run_dir`.
    """

    async_safe = True  # see the module docstring: Keras converts the logs off the main thread (JAX, torch)

    def __init__(self, run_dir=None, record_every: int = 10, probe_data=None, probe_batch_size: int = 128,
                 listeners=(), overwrite: bool = True, stop_on_nan: bool = False, name: str | None = None,
                 save_model: bool = False, cancel=None, sync_every: int | None = None,
                 sync_seconds: float | None = None, *, expand_nested: bool = True, time_steps="auto", spec=None,
                 store: RunStore | None = None, network=None, columns=None, log_names: dict | None = None,
                 sample_count: int = 0, num_classes: int | None = None, on_finish=None, probe_targets=None):
        super().__init__()
        if int(record_every) < 1:
            raise ValueError(f"GradientMonitor: record_every: must be >= 1, got {record_every}")
        self.run_dir = Path(run_dir) if run_dir is not None else (store.dir if store is not None else None)
        self.record_every = int(record_every)
        self.probe_data = first_rows(probe_data, probe_batch_size) if probe_data is not None else None
        self.probe_targets = first_rows(probe_targets, probe_batch_size) if probe_targets is not None else None
        self.listeners = list(listeners)
        self.overwrite = overwrite
        self.stop_on_non_finite = bool(stop_on_nan)
        self.name = name
        self.save_model = save_model
        self.cancel_event = cancel
        self.sync_every = int(SYNC_EVERY if sync_every is None else sync_every)
        self.sync_seconds = float(SYNC_SECONDS if sync_seconds is None else sync_seconds)
        self.expand_nested, self.time_steps = bool(expand_nested), time_steps
        self.spec, self.store, self.network = spec, store, network
        self._own_store = False  # the store was made here (a new one for each fit), not handed in
        self.columns_plan = columns
        self.log_names = dict(log_names or {})
        self.sample_count, self.num_classes = int(sample_count), num_classes
        self.on_finish = on_finish
        self.report_extras: dict = {}
        self.report_data: dict | None = None  # report.json's content, once the run ended
        self.model_summary: dict | None = None  # RunStarted's (model.json's), corrected once the step ran
        self.report_written = False  # report.json is on disk
        self.history: History | None = None
        self.status: str | None = None
        self.columns: list[Column] = []
        self.units: UnitTaps | None = None
        self.step_probe: StepProbe | None = None
        self.loss_source: str | None = None
        self._finished = True
        self._started = 0.0
        self._counted = True
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
        self._count_from(first_step)
        self.reader = None
        self._index = None
        self._logged = collections.deque()  # (step, epoch, logs) from on_train_batch_end, maybe another thread
        self._main = threading.get_ident()
        self._ends_off_thread = False  # batch ends handed to Keras's thread pool (JAX, torch): they may come unordered
        self._pending: list = []  # ProbeRecords waiting for their step's logs
        # the logs of the steps whose record may still come: a record read a block later still carries its own
        # step's loss and metrics, not those of the step at which the records were read
        self._step_logs: dict[int, dict] = {}
        self._synced_at = time.perf_counter()
        self.probe_batch = ProbeBatch(None, None, None)  # what is measured on the probe batch (known at the start)
        self.epoch = 0
        self.last_loss = float("nan")
        self.last_logs: dict = {}
        self.diverged_at = None
        self.diverged_loss = None
        self.epoch_started = 0.0
        self._run_started = False
        self.batch_losses: BatchLosses | None = None  # each batch's own loss, where the logs allow it
        self._optimizers_named = False  # model.json names each layer's optimizer (known once the step ran)

    def _count_from(self, first_step: int) -> None:
        self.first_step = int(first_step)
        self.step = first_step - 1  # the last step whose logs were handled
        self._done = first_step - 1  # the last step known finished
        self._epoch_base = first_step - 1
        self._synced_upto = first_step - 1
        self._recorded_upto = first_step - 1  # the step of the newest record read

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
        self._refuse_second_recorder(model)
        built = bool(model.built and model.trainable_variables)
        if built:
            self.columns, self.units = self._plan_columns(model)
        if self.columns_plan is not None and built:
            watched = {id(v) for c in self.columns for v in c.variables}
            watch = lambda variable: id(variable) in watched  # noqa: E731
        else:
            watch = _everything
        time_layer = first_recurrent_layer(model) if self.time_steps == "auto" else self.time_steps
        # refuses (one line) what it cannot watch, before the model or the run directory is touched
        probe = StepProbe.attach(model, watch, time_layer)
        # the run directory next: a folder that cannot take the run fails before the model is probed
        if self.run_dir is not None and (self.store is None or self._own_store):  # each fit of its own a new run
            if self._own_store:  # said, since the run it replaces was recorded
                warnings.warn(f"GradientMonitor: {inert(str(self.run_dir))} already holds the run of this monitor's "
                              "previous fit; this fit's run replaces it (give each fit its own run_dir, or fit once "
                              "with epochs=N)", UserWarning, stacklevel=2)
            self.store, self._own_store = RunStore(self.run_dir, overwrite=self.overwrite), True
            if self.spec is not None:
                self.store.write_spec(self.spec)
        first = self._next_step()
        self._reset(first)
        self.batch_losses = BatchLosses() if keras_train_step(model) else None
        self.report_data, self.report_written = None, False
        self.step_probe = probe
        self._finished = False
        probe.start(self, first, self.record_every)
        self.reader = ProbeReader(probe, first)
        self._counted = False  # the count is checked again once every callback has begun (see on_epoch_begin)
        for listener in self.listeners:
            attach = getattr(listener, "attach", None)
            if callable(attach):
                attach(self.emit)
        self._started = time.perf_counter()
        self._main = threading.get_ident()
        if built:
            self._start_run()

    def _refuse_second_recorder(self, model) -> None:
        """A model has one probed step: two recorders in one fit (or one listed twice) would share its counter and
        records. Refused in one line; the one that already began ends its run saying why."""
        other = StepProbe.owner_of(model)
        if other is None or not self.params or getattr(other, "params", None) is not self.params:
            return  # none, or one left behind by an earlier fit that raised (attach ends its run)
        where = lambda recorder: str(recorder.run_dir) if recorder.run_dir is not None else "in memory"  # noqa: E731
        if other is self:
            what = f"the same GradientMonitor ({where(self)}) twice; pass it once"
        else:
            what = f"two GradientMonitors ({where(other)}, {where(self)}); pass one (it records every layer)"
        error = CannotWatch(f"GradientMonitor: fit's callbacks hold {what}")
        other.finish(error)
        raise error

    def _plan_columns(self, model) -> tuple[list[Column], UnitTaps | None]:
        plan = self.columns_plan
        if plan is None:
            return model_columns_and_taps(model, self.probe_data, self.expand_nested)
        if callable(plan):
            return plan(model, self.probe_data)
        return list(plan), None

    def _start_run(self) -> None:
        """The History, model.json and RunStarted: at on_train_begin, or — for a model built by its first batch —
        once that batch has run."""
        self._run_started = True
        model = self.model
        network = self.network if self.network is not None else model
        if not self.columns:
            self.columns, self.units = self._plan_columns(model)
        names = [c.name for c in self.columns]
        activations = [c.activation for c in self.columns]
        kinds, widths = [c.kind for c in self.columns], [c.units for c in self.columns]
        groups = [c.group or c.name for c in self.columns]
        params = self.params or {}
        epochs, steps = int(params.get("epochs") or 0), int(params.get("steps") or 0)
        device = describe_device()
        classes = self.num_classes if self.num_classes is not None else _num_classes(model)
        self.history = History(names, activations, self.record_every, layer_kinds=kinds, layer_units=widths,
                               layer_groups=groups, attrs=run_facts(epochs, steps, _param_count(network), device,
                                                                    self.sample_count, classes))
        self.probe_batch = ProbeBatch(model, self.units, ProbeLoss.of(model, self.probe_data, self.probe_targets))
        optimizers = {p.label: p.optimizer for p in self.step_probe.probes}
        owners = self._column_optimizers()
        if self.spec is not None:
            summary = spec_model_summary(network, self.spec, names, kinds, widths, self.probe_targets)
        else:
            rows = [{"name": c.name, "kind": c.kind, "units": c.units, "activation": c.activation,
                     "group": group, "keras_layers": sorted({v.path.split("/")[0] for v in c.variables}),
                     "params": int(sum(np.prod(v.shape) for v in c.variables))}
                    for c, group in zip(self.columns, groups)]
            for row, owner in zip(rows, owners):
                if owner:
                    row["optimizer"] = owner
            summary = model_summary(network, rows, getattr(model, "optimizer", None), getattr(model, "loss", None),
                                    targets=self.probe_targets)
            if len(optimizers) > 1:
                summary["optimizers"] = {label: model_summary(network, [], opt)["optimizer"]
                                         for label, opt in optimizers.items()}
            summary["record_every"] = self.record_every
            if self.store is not None:
                self.store.write_model_summary(summary)
        self.model_summary = summary
        self.emit(events.RunStarted(str(self.run_dir) if self.run_dir is not None else None, self.spec, names,
                                    activations, epochs, steps, _param_count(network), device, self.sample_count,
                                    classes, summary, kinds, widths, self.record_every, layer_groups=groups))

    def _column_optimizers(self) -> list[str]:
        """Per column, the optimizer that updates its variables ("" before the step has been traced, where the
        optimizers build lazily)."""
        labels = {}
        for probe in self.step_probe.probes:
            for variable in probe.variables or []:
                labels.setdefault(id(variable), probe.label)
        several = len(self.step_probe.probes) > 1
        return [next((labels[id(v)] for v in c.variables if id(v) in labels), "") if several else ""
                for c in self.columns]

    def on_epoch_begin(self, epoch, logs=None):
        if not self._counted:
            self._recount()
        self.epoch = epoch
        self.epoch_started = time.perf_counter()

    def _next_step(self) -> int:
        """The step the model's next batch is: its optimizer's iterations + 1 (1 without an optimizer)."""
        optimizer = getattr(self.model, "optimizer", None)
        return steps_taken(optimizer) + 1 if optimizer is not None else 1

    def _recount(self) -> None:
        """Steps are counted from the optimizer's iterations as the first epoch begins: a callback listed after this
        one may have restored a checkpoint in its on_train_begin (BackupAndRestore resuming a fit)."""
        self._counted = True
        first = self._next_step()
        if first != self.first_step and self.step_probe is not None and self._done < self.first_step:
            self._count_from(first)
            self.step_probe.start(self, first, self.record_every)
            self.reader = ProbeReader(self.step_probe, first)

    def on_train_batch_begin(self, batch, logs=None):
        self._done = max(self._done, self._epoch_base + batch)
        self._drain()
        if self.cancelled:
            self.model.stop_training = True
        if self.step_probe is not None:
            self.step_probe.arm()

    def on_train_batch_end(self, batch, logs=None):
        # with steps_per_execution > 1 Keras reports an epoch's last execution as if it were full
        step = self._epoch_base + min(batch + 1, (self.params or {}).get("steps") or math.inf)
        logs = logs or {}
        self._ends_off_thread = self._ends_off_thread or threading.get_ident() != self._main  # (before it is queued)
        self._logged.append((step, self.epoch, logs))
        loss = loss_of(logs)[0]
        if isinstance(loss, float) and not math.isfinite(loss) and self.stop_on_non_finite:
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
        tail = self.batch_losses.take() if self.batch_losses is not None else []  # after the epoch's last record
        if self._keep_epoch() and self.history is not None:
            self.history.add_batches(tail)
            self.history.add_epoch(epoch, logs)
            self._write_history()
            self.emit(events.EpochEnd(epoch, logs, tuple((s, v) for s, _, v in tail)))

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
        """End the run: the model gets its own train function back, then the history and report.json are written
        and RunFinished is emitted. Called by `on_train_end`, and with the error when `fit` raised inside the step
        (the run is then "failed", with everything recorded kept). Calling it again does nothing."""
        if self._finished:
            return
        self._finished = True
        try:
            self._uninstall()  # first: whatever happens below, the model is the user's again
            if error is not None and self.history is not None:  # the records of the steps that ran, the held one too
                self._emit_pending(self.step, hold=False, write=False)
            if error is not None and not self._run_started and self.model.trainable_variables:
                try:
                    self._start_run()
                except Exception:  # a model that cannot even be described: the report still says why
                    log.exception("describing the run failed")
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
                      "param_count": _param_count(network), "device": describe_device(),
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
            self.report_data, self.status = report, status
            if self.history is not None:
                self.history.status = status
            if self.store is not None:
                if self.history is not None:
                    try:
                        self.store.write_history(self.history)
                    except OSError as exc:  # a full disk: the records and epochs already on disk stay readable
                        if error is None:  # (else the error that ended the run says it, once, out of fit)
                            log.exception("writing the history failed")
                        if status != "failed":
                            status, message = "failed", f"training finished but writing the history failed: {exc}"
                        report["status"], report["message"] = status, message
                        self.status = self.history.status = status
                self.store.write_report(report)  # written into the space kept in reserve for it
                self.report_written = True
            self.emit(events.RunFinished(status, message, report,
                                         str(self.run_dir) if self.run_dir is not None else None))
        finally:
            self._uninstall()

    def _outcome(self, error) -> tuple[str, str]:
        if error is not None:
            text = " ".join(str(error).split())
            return "failed", f"training failed: {type(error).__name__}: {text}"
        if self.diverged_at is not None:
            stopped = "; training stopped (see the diagnostics)" if self.stop_on_non_finite else ""
            return "diverged", f"the loss became {self.diverged_loss} at step {self.diverged_at}{stopped}"
        if self.cancelled:
            return "cancelled", f"stopped by the user after step {self.step}"
        return "completed", "training finished"

    def _uninstall(self) -> None:
        if self.step_probe is not None:
            self.step_probe.detach()

    # ---- the work, on the main thread ---------------------------------------------------------------------
    def _drain(self, final: bool = False) -> None:
        items = []
        while self._logged:
            items.append(self._logged.popleft())
        if not items and not final:
            return
        if not self._run_started:
            self._start_run()  # a model built by its first batch: its columns exist now
        items.sort(key=lambda item: item[0])
        if not final and self._ends_off_thread:  # Keras's thread pool may finish batch ends out of order
            items, waiting = in_step_order(items, self.step, getattr(self.model, "steps_per_execution", 1))
            self._logged.extendleft(reversed(waiting))
            if not items:
                return
        diverging = any(non_finite(logs) for _, _, logs in items)
        if self.reader is not None and (final or diverging or self._sync_due()):
            self._sync(final)
        for step, epoch, logs in items:
            logs = self._floats(logs)
            loss, source = loss_of(logs)
            if self.loss_source is None:
                self.loss_source = self.history.attrs["loss_source"] = source
            if self.batch_losses is not None and source == "loss":  # batches done in the epoch, with this one
                self.batch_losses.add(step, epoch, step - self._epoch_base, loss)
            self.step = step
            self.last_logs = logs
            self.last_loss = float("nan") if loss is None else loss
            self._step_logs[step] = logs
            self.emit(events.BatchEnd(step, epoch, logs))
            if self.cancelled:  # a listener may cancel at this very step
                self.model.stop_training = True
            if loss is not None and not math.isfinite(loss) and self.diverged_at is None:
                self.diverged_at, self.diverged_loss = step, loss
                self._diverged_record(step, epoch)
            self._emit_pending(step)
        if not self._optimizers_named and items:
            self._name_layer_optimizers()
        if final:
            self._emit_pending(math.inf)
            self._step_logs.clear()
        else:  # a step read and still without its record will not get one
            held = {r.step for r in self._pending}
            for step in [s for s in self._step_logs if s <= min(self._synced_upto, self.step) and s not in held]:
                del self._step_logs[step]

    def _name_layer_optimizers(self) -> None:
        self._optimizers_named = True
        if self.spec is not None or self.step_probe is None or self.model_summary is None:
            return
        network = self.network if self.network is not None else self.model
        summary = name_layer_optimizers(self.model_summary, self.step_probe.probes, self.columns, network, self.store)
        if summary is not None:  # the live diagnosis advises for the optimizer that steps the layers from now on
            self.model_summary = summary
            self.emit(events.ModelSummaryUpdated(summary))

    def _sync_due(self) -> bool:
        waiting = count_records(self._recorded_upto, self._done, self.record_every, self.first_step)
        if waiting == 0 or self._done <= self._synced_upto:
            return False
        if self._recorded_upto < self.first_step:
            return True  # the very first record: a broken initialization is found at once
        return (self._done - self._synced_upto >= self.sync_every
                or time.perf_counter() - self._synced_at >= self.sync_seconds)

    def _sync(self, final: bool) -> None:
        raws = self.reader.read()
        self._synced_upto, self._synced_at = self._done, time.perf_counter()
        if raws:
            self._recorded_upto = max(self._recorded_upto, raws[-1].step)
        if self._index is None and raws:
            self._index = ColumnIndex(self.columns, self.step_probe.probes)
        self._pending.extend(self._record(raw) for raw in raws)
        newest = max(self._pending, key=lambda r: r.step, default=None)  # read now, or held back since the last read
        if newest is not None and self.probe_batch.due(final):
            self.probe_batch.measure(newest)

    def _record(self, raw) -> events.ProbeRecord:
        stats = column_stats(raw, self._index)
        return events.ProbeRecord(raw.step, self.epoch, float("nan"), stats, dict(raw.scalars), raw.time_grad)

    def _diverged_record(self, step: int, epoch: int) -> None:
        """A non-finite loss always ends with a record at that step (its statistics NaN unless the ring has it)."""
        if any(r.step == step for r in self._pending):
            return
        self._pending.append(events.ProbeRecord(step, epoch, float("nan"), blank_stats(len(self.columns))))

    def _emit_pending(self, upto, hold: bool = True, write: bool = True) -> None:
        """Emit the records whose step's logs have been handled (all of them with `upto` infinite: an epoch's end).
        The newest record read is held back until a newer one is ready or the epoch ends, so that the final read
        of an epoch or run always has a record to carry the unit statistics measured there (the run's first
        record is not held: a network broken at initialization is diagnosed at once)."""
        ready = [r for r in self._pending if r.step <= upto]
        newest = max(ready, key=lambda r: r.step, default=None)
        if hold and upto != math.inf and newest is not None and newest.step == self._recorded_upto > self.first_step:
            ready.remove(newest)
        if not ready:
            return
        emitted = {id(r) for r in ready}
        self._pending = [r for r in self._pending if id(r) not in emitted]
        for record in sorted(ready, key=lambda r: r.step):
            logs = self._step_logs.get(record.step)
            logs = self.last_logs if logs is None else logs
            loss = loss_of(logs)[0]
            record.epoch = self.epoch
            record.loss = float("nan") if loss is None else loss
            record.metrics = dict(logs)
            batches = self.batch_losses.take(record.step) if self.batch_losses is not None else []
            record.batch_losses = tuple((s, v) for s, _, v in batches)
            self.history.add_batches(batches)
            self.history.add_record(record.step, record.epoch, record.loss, record.stats, record.optimizer,
                                    record.time_grad, record.metrics, record.probe_loss)
            self.emit(record)
        if write:  # O(new records): lets any process follow the run, and a killed epoch's records survive
            self._write_history()

    def _write_history(self) -> None:
        """Append what is new to the run directory while training runs. A write that fails (a full disk) ends the
        run there — "failed", saying which file, every record and epoch written before kept — and the error goes
        on out of `fit`."""
        if self.store is None or self.history is None:
            return
        try:
            self.store.write_history(self.history)
        except OSError as exc:
            self.finish(exc)
            raise

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


def _everything(variable) -> bool:
    return True
