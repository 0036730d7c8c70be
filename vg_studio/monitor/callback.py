"""`GradientMonitor`: VG Studio's probes, run directory and diagnosis on any user's Keras 3 model.

    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    model.fit(x, y, epochs=5, callbacks=[GradientMonitor("runs/mine", probe_data=x[:128])])

At `on_train_begin` the callback turns the model's compiled optimizer into a probed one in place (same object,
same slots and state; `vg_studio.train.probes.install_probes`) and asks Keras for a fresh train function, so the
statistics come from the very gradients the optimizer applies, inside the compiled step, on TensorFlow, JAX and
PyTorch — no second pass over the data. This works from a callback on all three backends because each Keras
trainer calls `self.train_function` anew at every step and builds the optimizer before callbacks start; so no
separate `watch(model)` is needed. At `on_train_end` the optimizer gets its own class and variables back (a
`model.save` afterwards writes a plain Keras optimizer) and the next `fit` traces a plain step again.

The run directory is the one `vg-studio train` writes — model.json (the model's config, optimizer, loss and the
layer table) instead of spec.json, history.h5, report.json with the diagnosis' findings — so
`vg-studio diagnose RUN` and the app (File ▸ Open run, live while it is written) read it unchanged.
"""

from __future__ import annotations

import logging
import time

import keras
import numpy as np

from vg_studio.history import History
from vg_studio.safeio import atomic_path
from vg_studio.monitor.columns import model_columns, unit_taps
from vg_studio.train import events
from vg_studio.train.device import describe_device, versions
from vg_studio.train.probes import install_probes, probed_optimizer, remove_probes
from vg_studio.train.recorder import RunRecorder, run_facts
from vg_studio.train.runstore import RunStore
from vg_studio.train.summary import model_summary

log = logging.getLogger(__name__)

CLASSIFICATION_LOSSES = ("sparse_categorical_crossentropy", "categorical_crossentropy", "binary_crossentropy",
                         "SparseCategoricalCrossentropy", "CategoricalCrossentropy", "BinaryCrossentropy",
                         "categorical_focal_crossentropy", "binary_focal_crossentropy")


class GradientMonitor(RunRecorder):
    """A `keras.callbacks.Callback` recording per-layer gradient statistics of `model.fit` into `run_dir`.

    Args:
        run_dir: the run directory to write (a run already there is replaced once this one has started, unless
            `overwrite=False`).
        record_every: steps between probe records (the first step is always recorded). Records are computed in
            the training step and read by the host once per block of steps, so even 1 costs little.
        probe_data: a few input examples (array, or dict of arrays for a multi-input model) for the dead/saturated
            unit fractions; without it those stay NaN. The first `probe_batch_size` rows are used.
        listeners: callables receiving every event (vg_studio.train.events), as the Trainer's listeners do.
        diagnose: attach the diagnosis (findings printed by `vg-studio diagnose`, shown in the app, and in
            report.json).
        stop_on_nan: stop training when the loss becomes NaN/inf (Keras's TerminateOnNaN does the same).
        name: the run's name in report.json (default: the model's name).
        save_model: also save the trained model as the run's model.keras (so `vg-studio export` works).
        cancel: a threading.Event; once set, training stops after the current batch and the run is "cancelled"
            (its interrupted epoch is not counted as completed).

    `report_extras` (a dict) is merged into report.json; `findings` are the diagnosis' findings; `history` is the
    run's History. One monitor records one `fit`: a second `fit` with it starts a new run in `run_dir`.
    """

    def __init__(self, run_dir, record_every: int = 10, probe_data=None, probe_batch_size: int = 128,
                 listeners=(), diagnose: bool = True, overwrite: bool = True, stop_on_nan: bool = False,
                 name: str | None = None, save_model: bool = False, cancel=None, sync_every: int | None = None):
        if int(record_every) < 1:
            raise ValueError(f"GradientMonitor: record_every must be >= 1 (got {record_every})")
        super().__init__(self._publish, None, None, None, [], int(record_every), sync_every=sync_every)
        self.run_dir = run_dir
        self.probe_data = _first_rows(probe_data, probe_batch_size) if probe_data is not None else None
        self.listeners = list(listeners)
        if diagnose:
            from vg_studio.diagnose.listener import DiagnosisListener

            self.listeners.insert(0, DiagnosisListener())
        self.overwrite = overwrite
        self.stop_on_non_finite = bool(stop_on_nan)
        self.name = name
        self.save_model = save_model
        self.cancel_event = cancel
        self.sample_count = 0  # training examples, when the caller knows them (Keras does not tell callbacks)
        self.report_extras: dict = {}
        self.report: dict | None = None
        self._probed = None
        self._started = 0.0

    @property
    def cancelled(self) -> bool:
        return self.cancel_event is not None and self.cancel_event.is_set()

    def after_batch(self, step: int) -> None:
        if self.cancelled:
            self.model.stop_training = True

    def keep_epoch(self, epoch: int) -> bool:
        steps = (self.params or {}).get("steps")
        complete = bool(steps) and (self.step - self.first_step + 1) % steps == 0
        return self.diverged_at is None and (complete or not self.cancelled)

    # ---- events ---------------------------------------------------------------------------------------------
    def _publish(self, event) -> None:
        for listener in self.listeners:
            try:
                listener(event)
            except Exception:  # a listener's bug must not stop the user's training
                log.exception("listener %r failed on %s", listener, type(event).__name__)

    # ---- Keras hooks ----------------------------------------------------------------------------------------
    def on_train_begin(self, logs=None):
        model = self.model
        if getattr(model, "optimizer", None) is None:
            raise RuntimeError("GradientMonitor: compile the model (model.compile(optimizer=..., loss=...)) "
                               "before fit")
        # the run directory first: a folder that cannot take the run fails before the model is touched
        self.store = RunStore(self.run_dir, overwrite=self.overwrite) if self.run_dir is not None else None
        target = probed_optimizer(model.optimizer)
        install_probes(target, model.trainable_variables, self.record_every)
        first = int(keras.ops.convert_to_numpy(target.iterations)) + 1
        target.vg_start(first)
        self._probed, self.optimizer = target, target
        model.make_train_function(force=True)  # trace the step again, now through the probed optimizer
        self.start_at(first)

        example = _first_rows(self.probe_data, 2) if self.probe_data is not None else None
        self.columns, taps = model_columns(model, example)
        self.units = unit_taps(model, len(self.columns), taps, self.probe_data)
        names = [c.name for c in self.columns]
        activations = [c.activation for c in self.columns]
        kinds, widths = [c.kind for c in self.columns], [c.units for c in self.columns]
        params = self.params or {}
        epochs, steps = int(params.get("epochs") or 0), int(params.get("steps") or 0)
        device, classes = describe_device(), _num_classes(model)
        self.history = History(names, activations, self.record_every, layer_kinds=kinds, layer_units=widths,
                               attrs=run_facts(epochs, steps, model.count_params(), device, self.sample_count,
                                               classes))
        summary = model_summary(model, [{"name": c.name, "kind": c.kind, "units": c.units,
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
                attach(self._publish)
        self._publish(events.RunStarted(str(self.run_dir) if self.run_dir is not None else None, None, names,
                                        activations, epochs, steps, model.count_params(), device,
                                        self.sample_count, classes,
                                        summary, kinds, widths, self.record_every))
        self._started = time.perf_counter()
        super().on_train_begin(logs)

    def on_train_end(self, logs=None):
        super().on_train_end(logs)
        try:
            self._uninstall()  # first: a saved model gets the user's own optimizer
            if self.diverged_at is not None:
                status, message = "diverged", f"the loss became {self.diverged_loss} at step {self.diverged_at}"
            elif self.cancelled:
                status, message = "cancelled", f"stopped by the user after step {self.step}"
            else:
                status, message = "completed", "training finished"
            if self.save_model and self.store is not None:
                try:
                    with atomic_path(self.store.model_path, suffix=".keras") as tmp:
                        self.model.save(tmp)
                except Exception as exc:  # a full disk …: the history and report below are still written
                    log.exception("saving the model failed")
                    status, message = "failed", f"training finished but saving the model failed: {exc}"
            self.report = {"name": self.name or self.model.name, "status": status, "message": message,
                           "wall_time_s": time.perf_counter() - self._started,
                           "epochs_completed": self.history.num_epochs,
                           "steps": max(self.step - self.first_step + 1, 0),
                           "param_count": int(self.model.count_params()), "device": describe_device(),
                           "versions": versions(), "record_every": self.record_every, **self.report_extras}
            for listener in self.listeners:
                items = getattr(listener, "report_items", None)
                if callable(items):
                    self.report.update(items())
            self.history.status = status
            if self.store is not None:
                self.store.write_history(self.history)
                self.store.write_report(self.report)
            self._publish(events.RunFinished(status, message, self.report,
                                             str(self.run_dir) if self.run_dir is not None else None))
        finally:
            self._uninstall()

    def _uninstall(self) -> None:
        if self._probed is not None:
            remove_probes(self._probed)
            self.model.train_function = None  # the next fit traces a plain step
            self._probed = None

    @property
    def findings(self) -> list:
        """The diagnosis' current findings (empty with diagnose=False)."""
        for listener in self.listeners:
            if hasattr(listener, "findings"):
                return list(listener.findings)
        return []


def _first_rows(data, n: int):
    if isinstance(data, dict):
        return {k: np.asarray(v)[:n] for k, v in data.items()}
    if isinstance(data, (list, tuple)):
        return [np.asarray(v)[:n] for v in data]
    return np.asarray(data)[:n]


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
