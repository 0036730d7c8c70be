"""The training engine: spec → data → Keras model → `model.fit` with the run recorder → run directory, reporting to
listeners.

`Trainer.run()` is synchronous (the GUI calls it from a QThread); `Trainer.cancel()` may be called from any
thread and stops training after the current batch. Whatever happens — completion, cancel, non-finite loss, an
error — the history of every completed epoch is on disk and report.json says how the run ended.
"""

from __future__ import annotations

import logging
import os
import threading
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
from vg_studio.train.columns import Column, UnitTaps
from vg_studio.train.device import versions
from vg_studio.train.export import export_user_model
from vg_studio.train.metrics import test_metrics
from vg_studio.train.recorder import RunRecorder
from vg_studio.train.runstore import RunStore
from vg_studio.train.summary import spec_layer_table

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

    The spec's network is fitted the way a user's model is: `model.fit(callbacks=[RunRecorder(...)])`; the
    recorder (vg_studio.train.recorder) probes the step, writes the run directory and tells the listeners. What
    only a spec run needs is here: the data, the memory check, building and compiling the network, and, once
    trained, its test metrics and export. A listener is a callable taking one event (vg_studio.train.events); see
    RunRecorder for `attach(emit)` and `report_items()`. The engine knows nothing of the diagnosis: the caller
    attaches `vg_studio.diagnose.listener.DiagnosisListener`."""

    def __init__(self, spec: ExperimentSpec, run_dir=None, listeners=(), dataset: Dataset | None = None):
        self.spec = spec.check()  # frozen: nothing to copy
        self.run_dir = Path(run_dir) if run_dir is not None else None
        self.listeners = list(listeners)
        self.dataset = dataset
        self.cancel_event = threading.Event()

    def cancel(self) -> None:
        """Stop training after the current batch (any thread)."""
        self.cancel_event.set()

    @property
    def cancelled(self) -> bool:
        return self.cancel_event.is_set()

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
        _compile(models.train, models, spec, make_optimizer(spec.optimizer, spec.training.batch_size))

        def columns(train_model, probe_x):
            groups = layer_groups(train_model, spec)
            kinds, widths = spec_layer_table(spec, data.num_classes)
            plan = [Column(g.name, g.activation, kind, width,
                           [v for name in g.layer_names for v in train_model.get_layer(name).trainable_variables])
                    for g, kind, width in zip(groups, kinds, widths)]
            taps = [(i, models.user.get_layer(g.preact_layer).output, g.activation, False)
                    for i, g in enumerate(groups) if g.preact_layer]
            return plan, UnitTaps.from_graph(models.user, len(groups), taps, probe_x)

        def evaluate_and_export(status: str) -> dict:
            if status not in ("completed", "cancelled") or recorder.step < recorder.first_step:
                return {}
            items = {"test_metrics": test_metrics(models.user, data.x_test, data.y_test)}
            if store:
                export_user_model(models.user, spec, store.model_path)
            return items

        def keep_guessing(event) -> None:
            """report.json keeps the measured loss of guessing (a spec run's directory has no model.json)."""
            if isinstance(event, events.RunStarted) and "guessing" in event.model_summary:
                recorder.report_extras["guessing"] = event.model_summary["guessing"]

        # the loss of guessing is measured on the probe rows' targets of the user's network's output: with auxiliary
        # heads the loss the run logs (and the diagnosis reads) is that output's alone (AUX_HEAD_LOG_NAMES)
        probe_rows = spec.monitoring.probe_batch_size
        recorder = RunRecorder(
            record_every=spec.monitoring.record_every, listeners=[keep_guessing, *self.listeners], stop_on_nan=True,
            name=spec.name, cancel=self.cancel_event, spec=spec, store=store, network=models.user,
            probe_data=data.x_train if spec.monitoring.unit_stats else None, probe_batch_size=probe_rows,
            probe_targets=_labels(spec, data.y_train[:probe_rows], data.num_classes), columns=columns,
            log_names=AUX_HEAD_LOG_NAMES if models.aux_outputs else None, time_steps=models.time_probe,
            sample_count=len(data.x_train), num_classes=data.num_classes, on_finish=evaluate_and_export)
        recorder.report_extras["dataset"] = _dataset_summary(data)
        try:
            models.train.fit(*_fit_arrays(spec, data, models.aux_outputs),
                             validation_data=_val_arrays(spec, data, models.aux_outputs),
                             epochs=spec.training.epochs, batch_size=spec.training.batch_size,
                             shuffle=spec.training.shuffle, callbacks=[recorder], verbose=0)
        except Exception as exc:  # out of memory, a backend error …: end cleanly, keep what was recorded
            log.exception("training failed")
            if recorder.history is None:
                raise
            recorder.finish(exc)
            if store is not None and not recorder.report_written:
                raise  # not even report.json could be written: say so, as one line (CLI: exit 2)
        report = recorder.report_data
        return RunResult(report["status"], report["message"], report, recorder.history, models.user,
                         self.run_dir)


def _dataset_summary(data: Dataset) -> dict:
    return {"name": data.name, "train": len(data.x_train), "val": 0 if data.x_val is None else len(data.x_val),
            "test": len(data.x_test), "input_shape": list(data.input_shape), "classes": data.class_names}


# With auxiliary heads Keras prefixes the main output's metrics with its name; a run always reports the user's
# network under the plain names.
AUX_HEAD_LOG_NAMES = {"output_accuracy": "accuracy", "val_output_accuracy": "val_accuracy"}


def _compile(train_model, models, spec: ExperimentSpec, optimizer) -> None:
    """One loss for the user's network; with auxiliary heads a weighted sum (the auxiliary classifiers of
    "Causes & Solutions" §2.2, as in Inception)."""
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
    """A squared-error loss (Tan & Lim's SDAGD experiments) trains on one-hot targets; cross-entropy on class indices."""
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


