"""`GradientMonitor`: VG Studio's probes, run directory and diagnosis on any user's Keras 3 model.

    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    model.fit(x, y, epochs=5, callbacks=[GradientMonitor("runs/mine", probe_data=x[:128])])

It is the run recorder every training in VG Studio goes through (`vg_studio.train.recorder.RunRecorder`: the app
and `vg-studio train` fit the builder's networks with it too) with the diagnosis attached: each new warning is said
once while `fit` runs, and the findings are printed by `vg-studio diagnose`, shown in the app and written to
report.json. The run directory is the one `vg-studio train` writes — model.json (the model's config, optimizer,
loss and the layer table) instead of spec.json, history.h5, report.json — so `vg-studio diagnose RUN` and the app
(File ▸ Open run, live while it is written) read it unchanged. docs/architecture.md says how a step is probed.
"""

from __future__ import annotations

import logging

import numpy as np

from vg_studio.monitor.arguments import check_init_arguments, check_probe_data
from vg_studio.train.recorder import RunRecorder

log = logging.getLogger(__name__)


class GradientMonitor(RunRecorder):
    """A `keras.callbacks.Callback` recording per-layer gradient statistics of `model.fit` into `run_dir`.

    Args:
        run_dir: the run directory to write (a run already there is replaced once this one has started, unless
            `overwrite=False`); None records in memory only (`history`).
        record_every: steps between probe records (the first step is always recorded). Records are computed in
            the training step and read by the host once per block of steps, so even 1 costs little.
        probe_data: a few input examples (array, or list or dict of arrays for a multi-input model, or a tf.data
            Dataset / PyDataset: its first batch's inputs) for the dead/saturated unit fractions and the pre-flight
            check; without it those stay NaN and the check is skipped. The first `probe_batch_size` rows are used.
        probe_targets: the targets of those examples (an array, or a list / dict by output name), as `fit` gets
            them (a dataset's come with its first batch): the diagnosis measures the loss of guessing on them — the
            label prior's entropy, a regression's target variance — so that a network that learned nothing but the
            prior or the mean is not taken for one that learned. Give a sample of the data (the first rows of data
            sorted by class are not).
        listeners: callables receiving every event (vg_studio.train.events).
        diagnose: attach the diagnosis (findings said while training, printed by `vg-studio diagnose`, shown in
            the app, and in report.json).
        stop_on_nan: stop training when the loss becomes NaN/inf (Keras's TerminateOnNaN does the same).
        name: the run's name in report.json (default: the model's name).
        save_model: also save the trained model as the run's model.keras (so `vg-studio export` works).
        cancel: a threading.Event; once set, training stops after the current batch and the run is "cancelled"
            (its interrupted epoch is not counted as completed).
        sync_every: steps between two reads of the device's records (default 32).
        warnings: where each new warning-or-worse finding is said, once, while `fit` runs: "warnings" (Python
            warnings, category `vg_studio.diagnose.live.DiagnosisWarning`; a notebook shows them in the cell's
            output), "logging" (the "vg_studio.diagnose" logger) or a `logging.Logger`, a text stream such as
            `sys.stdout`; None or False: quiet.
        on_finding: None; "stop": end training at the first warning-or-worse finding (as TerminateOnNaN does at
            a NaN; the run is "cancelled", saying which finding stopped it); or a callable taking each new such
            `Finding`.
        tensorboard_dir: also write TensorBoard event files there as the model trains (per-layer scalars and
            histograms, the loss, the findings as text); needs the `tensorboard` package
            (`pip install 'vg-studio[tensorboard]'`).
        preflight: before training spends its budget, one forward pass of `probe_data` checks whether the initial
            weights let the signal through (a poor-initialisation finding); needs `probe_data` and the diagnosis.
        **options: the recorder's keyword options (vg_studio.train.recorder.RunRecorder).

    Every argument is checked here (one line naming it: ValueError or TypeError); `probe_data` is checked against
    the model's inputs when training starts, before the model is touched.

    `findings` are the diagnosis' findings; `history` is the run's History; `report_data` the content of
    report.json once training ended (`report_extras`, a dict, is merged into it); `report()` the run's report as a
    page (shown inline in a notebook); `open_app()` opens the app on the run. One monitor records one `fit`: a
    second `fit` with it starts a new run in `run_dir`.
    """

    def __init__(self, run_dir, record_every: int = 10, probe_data=None, probe_batch_size: int = 128,
                 listeners=(), diagnose: bool = True, overwrite: bool = True, stop_on_nan: bool = False,
                 name: str | None = None, save_model: bool = False, cancel=None, sync_every: int | None = None, *,
                 warnings="warnings", on_finding=None, tensorboard_dir=None, preflight: bool = True,
                 probe_targets=None, **options):
        values = check_init_arguments(
            run_dir=run_dir, record_every=record_every, probe_data=probe_data, probe_batch_size=probe_batch_size,
            probe_targets=probe_targets,
            listeners=listeners, diagnose=diagnose, overwrite=overwrite, stop_on_nan=stop_on_nan, name=name,
            save_model=save_model, cancel=cancel, sync_every=sync_every, warnings=warnings, on_finding=on_finding,
            tensorboard_dir=tensorboard_dir, preflight=preflight, **options)
        said, on_finding = values.pop("warnings"), values.pop("on_finding")
        tensorboard_dir, self.preflight = values.pop("tensorboard_dir"), values.pop("preflight")
        if on_finding is not None and not values["diagnose"]:
            raise ValueError("GradientMonitor: on_finding: needs diagnose=True (the findings come from the diagnosis)")
        listeners = values.pop("listeners")
        self.diagnosis = self.live_warnings = None
        if values["diagnose"]:
            from vg_studio.diagnose.listener import DiagnosisListener
            from vg_studio.diagnose.live import LiveWarnings

            self.diagnosis = DiagnosisListener()
            listeners.insert(0, self.diagnosis)
            if said is not None or on_finding is not None:
                self.live_warnings = LiveWarnings(stream=None if said == "warnings" else said, on_finding=on_finding,
                                                  stop=self._stop_for_finding, quiet=said is None)
                listeners.insert(1, self.live_warnings)
        if tensorboard_dir is not None:
            from vg_studio.report.tensorboard import TensorBoardMissing, TensorBoardWriter

            try:
                listeners.append(TensorBoardWriter(tensorboard_dir))
            except TensorBoardMissing:
                raise TensorBoardMissing("GradientMonitor: tensorboard_dir: needs the tensorboard package: pip "
                                         "install 'vg-studio[tensorboard]'") from None
        self.stopped_by = None  # the finding on_finding="stop" ended training at
        del values["diagnose"]
        super().__init__(listeners=listeners, **values)

    # ---- training ---------------------------------------------------------------------------------------------
    def on_train_begin(self, logs=None):
        self.probe_data = check_probe_data(self.model, self.probe_data)  # before the model is touched
        self.stopped_by = None
        super().on_train_begin(logs)

    @property
    def cancelled(self) -> bool:
        return super().cancelled or self.stopped_by is not None

    def _stop_for_finding(self) -> None:
        said = self.live_warnings.said if self.live_warnings is not None else []
        self.stopped_by = said[-1] if said else True
        self.model.stop_training = True

    def _outcome(self, error) -> tuple[str, str]:
        status, message = super()._outcome(error)
        if status == "cancelled" and self.stopped_by is not None and not super().cancelled:
            from vg_studio.diagnose.live import line

            found = line(self.stopped_by) if self.stopped_by is not True else "a finding"
            message = f"stopped after step {self.step} by on_finding='stop': {found.removeprefix('vg-studio: ')}"
        return status, message

    def _start_run(self) -> None:
        super()._start_run()
        if self.preflight and self.diagnosis is not None and self.probe_data is not None:
            self._preflight()

    def _preflight(self) -> None:
        """The pre-flight check on the probe batch: once the model is built (at on_train_begin, or after the first
        batch for a model that batch builds). A subclassed model is checked by watching its layers' calls."""
        from vg_studio.diagnose.preflight import preflight

        data = self.probe_data
        if isinstance(data, np.ndarray) and len(getattr(self.model, "inputs", None) or ()) == 1:
            data = [data]  # the check's side model takes its inputs as the list model.inputs is
        try:
            found = preflight(self.model, data)
        except Exception:  # the check is advice: a model it cannot run on still trains and is recorded
            log.info("the pre-flight check could not run on %s; skipped", self.model.name, exc_info=True)
            return
        if found:
            self.diagnosis.add_preflight(found)

    # ---- after training ---------------------------------------------------------------------------------------
    def report(self, title: str | None = None, theme: str = "light"):
        """The run's report (`vg_studio.report(run_dir)`): shown inline as the last expression of a notebook cell,
        `.save("report.html")` writes it as one self-contained page. Reads the run directory, also while the run
        is still being written."""
        from vg_studio.report.html import report_for

        return report_for(self._written_run("report"), title, theme)

    def open_app(self):
        """Open the app on the run in a process of its own (`vg_studio.open(run_dir)`); it follows the run while it
        trains. Returns the process."""
        from vg_studio.report.notebook import open_app

        return open_app(self._written_run("open_app"))

    def _written_run(self, what: str):
        if self.run_dir is None:
            raise ValueError(f"GradientMonitor.{what}(): this monitor records in memory only (run_dir=None); give "
                             "it a run directory")
        return self.run_dir
