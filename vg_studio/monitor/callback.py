"""`GradientMonitor`: VG Studio's probes, run directory and diagnosis on any user's Keras 3 model.

    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    model.fit(x, y, epochs=5, callbacks=[GradientMonitor("runs/mine", probe_data=x[:128])])

It is the run recorder every training in VG Studio goes through (`vg_studio.train.recorder.RunRecorder`: the app
and `vg-studio train` fit the builder's networks with it too) with the diagnosis attached: its findings are printed
by `vg-studio diagnose`, shown in the app and written to report.json. The run directory is the one
`vg-studio train` writes — model.json (the model's config, optimizer, loss and the layer table) instead of
spec.json, history.h5, report.json — so `vg-studio diagnose RUN` and the app (File ▸ Open run, live while it is
written) read it unchanged. docs/architecture.md says how a step is probed.
"""

from __future__ import annotations

from vg_studio.train.recorder import RunRecorder


class GradientMonitor(RunRecorder):
    """A `keras.callbacks.Callback` recording per-layer gradient statistics of `model.fit` into `run_dir`.

    Args:
        run_dir: the run directory to write (a run already there is replaced once this one has started, unless
            `overwrite=False`); None records in memory only (`history`).
        record_every: steps between probe records (the first step is always recorded). Records are computed in
            the training step and read by the host once per block of steps, so even 1 costs little.
        probe_data: a few input examples (array, or dict of arrays for a multi-input model) for the dead/saturated
            unit fractions; without it those stay NaN. The first `probe_batch_size` rows are used.
        listeners: callables receiving every event (vg_studio.train.events).
        diagnose: attach the diagnosis (findings printed by `vg-studio diagnose`, shown in the app, and in
            report.json).
        stop_on_nan: stop training when the loss becomes NaN/inf (Keras's TerminateOnNaN does the same).
        name: the run's name in report.json (default: the model's name).
        save_model: also save the trained model as the run's model.keras (so `vg-studio export` works).
        cancel: a threading.Event; once set, training stops after the current batch and the run is "cancelled"
            (its interrupted epoch is not counted as completed).
        sync_every: steps between two reads of the device's records (default 32).
        **options: the recorder's keyword options (vg_studio.train.recorder.RunRecorder).

    `report_extras` (a dict) is merged into report.json; `findings` are the diagnosis' findings; `history` is the
    run's History; `report` its report once training ended. One monitor records one `fit`: a second `fit` with it
    starts a new run in `run_dir`.
    """

    def __init__(self, run_dir, record_every: int = 10, probe_data=None, probe_batch_size: int = 128,
                 listeners=(), diagnose: bool = True, overwrite: bool = True, stop_on_nan: bool = False,
                 name: str | None = None, save_model: bool = False, cancel=None, sync_every: int | None = None,
                 **options):
        listeners = list(listeners)
        if diagnose:
            from vg_studio.diagnose.listener import DiagnosisListener

            listeners.insert(0, DiagnosisListener())
        super().__init__(run_dir, record_every=record_every, probe_data=probe_data,
                         probe_batch_size=probe_batch_size, listeners=listeners, overwrite=overwrite,
                         stop_on_nan=stop_on_nan, name=name, save_model=save_model, cancel=cancel,
                         sync_every=sync_every, **options)
