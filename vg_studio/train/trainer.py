"""The training engine: spec → data → model → `model.fit` with probes → run directory, reporting to listeners.

`Trainer.run()` is synchronous (the GUI calls it from a QThread); `Trainer.cancel()` may be called from any
thread and stops training after the current batch. Whatever happens — completion, cancel, non-finite loss, an
error — the history of every completed epoch is on disk and report.json says how the run ended.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import keras
import numpy as np

from vg_studio.data import Dataset, DatasetError, load_dataset
from vg_studio.history import History
from vg_studio.nn.build import build_models, count_params, layer_groups
from vg_studio.nn.optimizers import make_optimizer
from vg_studio.spec import ExperimentSpec, SpecError
from vg_studio.train import events
from vg_studio.train.device import describe_device, versions
from vg_studio.train.export import export_user_model
from vg_studio.train.metrics import test_metrics
from vg_studio.train.probes import with_probes
from vg_studio.train.recorder import Column, RunRecorder, UnitTaps, run_facts
from vg_studio.train.runstore import RunStore
from vg_studio.train.summary import spec_layer_table, spec_model_summary

log = logging.getLogger(__name__)


@dataclass
class RunResult:
    status: str
    message: str
    report: dict
    history: History
    model: keras.Model | None
    run_dir: Path | None


def prepare_data(spec: ExperimentSpec, dataset: Dataset | None = None) -> Dataset:
    data = dataset if dataset is not None else load_dataset(spec.data.dataset, spec.data.options)
    data = data.with_validation(spec.training.validation_split, int(spec.data.options.get("seed", 0)))
    if data.num_classes < 2:
        raise DatasetError(f"{data.name}: needs at least 2 classes")
    return data


def estimate_memory_bytes(spec: ExperimentSpec, input_shape: tuple, num_classes: int) -> int:
    """Rough training footprint: weights, gradients, up to two optimizer slots and a probe copy (5 × params),
    plus activations and their gradients for one batch."""
    params = count_params(spec, input_shape, num_classes)
    widths = sum(layer.units for layer in spec.network.layers) + int(np.prod(input_shape))
    return 4 * (5 * params + 4 * spec.training.batch_size * widths)


def available_memory_bytes() -> int | None:
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return None


class Trainer:
    """Trains one spec into an optional run directory, telling `listeners` what happens.

    A listener is a callable taking one event (vg_studio.train.events). A listener with `attach(emit)` is attached
    at the start of each run and may publish its own events through `emit` (the diagnosis publishes
    FindingsUpdated); one with `report_items() -> dict` has that merged into report.json at the end (e.g.
    {"findings": [...]}). The engine knows nothing of the diagnosis: the caller attaches
    `vg_studio.diagnose.listener.DiagnosisListener`."""

    def __init__(self, spec: ExperimentSpec, run_dir=None, listeners=(), dataset: Dataset | None = None):
        self.spec = spec.copy().check()
        self.run_dir = Path(run_dir) if run_dir is not None else None
        self.listeners = list(listeners)
        self.dataset = dataset
        self._cancel = threading.Event()

    def cancel(self) -> None:
        self._cancel.set()

    @property
    def cancelled(self) -> bool:
        return self._cancel.is_set()

    def emit(self, event) -> None:
        for listener in self.listeners:
            try:
                listener(event)
            except Exception:  # a drawing bug must not lose a training run
                log.exception("listener %r failed on %s", listener, type(event).__name__)

    def _attach_listeners(self) -> None:
        for listener in self.listeners:
            attach = getattr(listener, "attach", None)
            if callable(attach):
                attach(self.emit)

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

    # ---- the run ----------------------------------------------------------------------------------------
    def run(self) -> RunResult:
        """Train once. Errors before training starts (data, memory, model) are raised after report.json records
        them; errors during and after training end the run as "failed" with everything recorded kept."""
        # The caller decides whether a run may be replaced (the CLI's --overwrite, a grid re-running a cell); the
        # store replaces it atomically, and only once this run has really started.
        store = RunStore(self.run_dir, overwrite=True) if self.run_dir is not None else None
        if store:
            store.write_spec(self.spec)
        try:
            return self._run(store)
        except Exception as exc:
            if store:
                store.write_report({"name": self.spec.name, "status": "failed",
                                    "message": str(exc).splitlines()[0] if str(exc) else type(exc).__name__,
                                    "versions": versions()})
            raise

    def _run(self, store: RunStore | None) -> RunResult:
        spec = self.spec
        data = prepare_data(spec, self.dataset)
        need, have = estimate_memory_bytes(spec, data.input_shape, data.num_classes), available_memory_bytes()
        if have and need > 0.8 * have:
            raise SpecError([f"network.layers: training this network needs about {need / 2**30:.1f} GiB, more "
                             f"than this machine's {have / 2**30:.1f} GiB; use fewer or narrower layers"])
        models = build_models(spec, data.input_shape, data.num_classes)
        model, train_model = models.user, models.train
        optimizer = with_probes(make_optimizer(spec.optimizer, spec.training.batch_size),
                                spec.monitoring.record_every, models.time_probe)
        _compile(train_model, models, spec, optimizer)
        optimizer.build(train_model.trainable_variables)  # the probe accumulators must exist before step one
        groups = layer_groups(train_model, spec)
        columns = _spec_columns(train_model, groups, spec, data.num_classes)
        units = None
        if spec.monitoring.unit_stats:
            taps = [(i, model.get_layer(g.preact_layer).output, g.activation, False)
                    for i, g in enumerate(groups) if g.preact_layer]
            units = UnitTaps.from_graph(model, len(groups), taps, data.x_train[: spec.monitoring.probe_batch_size])
        kinds, widths = [c.kind for c in columns], [c.units for c in columns]
        steps_per_epoch = int(np.ceil(len(data.x_train) / spec.training.batch_size))
        device = describe_device()
        history = History([c.name for c in columns], [c.activation for c in columns], spec.monitoring.record_every,
                          layer_kinds=kinds, layer_units=widths,
                          attrs=run_facts(spec.training.epochs, steps_per_epoch, model.count_params(), device,
                                          len(data.x_train), data.num_classes))
        self._attach_listeners()
        self.emit(events.RunStarted(str(self.run_dir) if self.run_dir else None, spec, history.layer_names,
                                    history.activations, spec.training.epochs, steps_per_epoch,
                                    model.count_params(), device, len(data.x_train), data.num_classes,
                                    spec_model_summary(model, spec, history.layer_names, kinds, widths), kinds,
                                    widths, spec.monitoring.record_every))
        callback = _EngineCallback(self, history, store, optimizer, columns, spec.monitoring.record_every, units)
        started = time.perf_counter()
        status, message = "completed", "training finished"
        try:
            train_model.fit(*_fit_arrays(spec, data, models.aux_outputs),
                            validation_data=_val_arrays(spec, data, models.aux_outputs),
                            epochs=spec.training.epochs, batch_size=spec.training.batch_size,
                            shuffle=spec.training.shuffle, callbacks=[callback], verbose=0)
            if callback.diverged_at is not None:
                status, message = "diverged", (f"the loss became {callback.diverged_loss} at step "
                                               f"{callback.diverged_at}; training stopped (see the diagnostics)")
            elif self.cancelled:
                status, message = "cancelled", f"stopped by the user after step {callback.step}"
        except Exception as exc:  # out of memory, a backend error …: end cleanly, keep what was recorded
            log.exception("training failed")
            status, message = "failed", f"training failed: {type(exc).__name__}: {exc}"
        wall = time.perf_counter() - started
        history.status = status
        report = {"name": spec.name, "status": status, "message": message, "wall_time_s": wall,
                  "epochs_completed": len(history.epochs.get("epoch", [])), "steps": callback.step,
                  "param_count": int(model.count_params()), "device": device, "versions": versions(),
                  "dataset": _dataset_summary(data)}
        if status in ("completed", "cancelled") and callback.step > 0:
            try:
                report["test_metrics"] = test_metrics(model, data.x_test, data.y_test)
                if store:
                    export_user_model(model, spec, store.model_path)
            except Exception as exc:  # a full disk while exporting …: the history below is still written
                log.exception("evaluating or exporting the model failed")
                status = history.status = report["status"] = "failed"
                message = report["message"] = f"training finished but {type(exc).__name__}: {exc}"
        report.update(self._report_items())
        if store:
            store.write_history(history)
            store.write_report(report)
        self.emit(events.RunFinished(status, message, report, str(self.run_dir) if self.run_dir else None))
        return RunResult(status, message, report, history, model, self.run_dir)


def _dataset_summary(data: Dataset) -> dict:
    return {"name": data.name, "train": len(data.x_train), "val": 0 if data.x_val is None else len(data.x_val),
            "test": len(data.x_test), "input_shape": list(data.input_shape), "classes": data.class_names}


def _compile(train_model, models, spec: ExperimentSpec, optimizer) -> None:
    """One loss for the user's network; with auxiliary heads a weighted sum (seed 001 §2.2, as in Inception)."""
    if not models.aux_outputs:
        train_model.compile(optimizer=optimizer, loss=spec.loss, metrics=[_accuracy_metric(spec)])
        return
    losses = {"output": spec.loss, **{name: "sparse_categorical_crossentropy" for name in models.aux_outputs}}
    weights = {"output": 1.0, **dict(zip(models.aux_outputs, models.aux_weights))}
    train_model.compile(optimizer=optimizer, loss=losses, loss_weights=weights,
                        metrics={"output": [_accuracy_metric(spec)]})


def _accuracy_metric(spec: ExperimentSpec):
    if spec.loss == "mse":
        return keras.metrics.CategoricalAccuracy(name="accuracy")
    return keras.metrics.SparseCategoricalAccuracy(name="accuracy")


def _labels(spec: ExperimentSpec, y: np.ndarray, num_classes: int) -> np.ndarray:
    """Seed 003's squared-error loss trains on one-hot targets; cross-entropy on class indices."""
    if spec.loss == "mse":
        return keras.utils.to_categorical(y, num_classes).astype("float32")
    return y


def _targets(spec, y: np.ndarray, num_classes: int, aux_outputs: list):
    main = _labels(spec, y, num_classes)
    if not aux_outputs:
        return main
    return {"output": main, **{name: y for name in aux_outputs}}


def _fit_arrays(spec, data: Dataset, aux_outputs: list):
    return data.x_train, _targets(spec, data.y_train, data.num_classes, aux_outputs)


def _val_arrays(spec, data: Dataset, aux_outputs: list):
    if data.x_val is None or len(data.x_val) == 0:
        return None
    return data.x_val, _targets(spec, data.y_val, data.num_classes, aux_outputs)


def _spec_columns(train_model, groups, spec, num_classes: int) -> list[Column]:
    kinds, widths = spec_layer_table(spec, num_classes)
    return [Column(g.name, g.activation, kind, width,
                   [v for name in g.layer_names for v in train_model.get_layer(name).trainable_variables])
            for g, kind, width in zip(groups, kinds, widths)]


class _EngineCallback(RunRecorder):
    """The recorder plus what only the engine does: a BatchEnd per step, cancel after the current batch, and an
    interrupted epoch that is not recorded as completed."""

    aux_head_logs = True

    def __init__(self, trainer: Trainer, history: History, store: RunStore | None, optimizer, columns,
                 record_every: int, units):
        super().__init__(trainer.emit, history, store, optimizer, columns, record_every, units)
        self.trainer = trainer

    def on_train_batch_begin(self, batch, logs=None):
        super().on_train_batch_begin(batch, logs)
        if self.trainer.cancelled:
            self.model.stop_training = True

    def after_batch(self, step: int) -> None:
        if self.trainer.cancelled:
            self.model.stop_training = True

    def on_step(self, step: int, epoch: int, logs: dict) -> None:
        self.trainer.emit(events.BatchEnd(step, epoch, logs))
        if self.trainer.cancelled:  # a listener may cancel at this very step
            self.model.stop_training = True

    def keep_epoch(self, epoch: int) -> bool:
        # an interrupted epoch is not a completed one: it is not added to the history
        return self.diverged_at is None and not (self.trainer.cancelled and not _epoch_complete(self))


def _epoch_complete(cb: _EngineCallback) -> bool:
    steps = cb.params.get("steps") if cb.params else None
    return bool(steps) and cb.step % steps == 0
