"""Training off the main thread: a QThread runs the engine's Trainer and re-emits its events as Qt signals.

The engine calls listeners on the worker thread; emitting a signal from there queues the event to the main
thread, which only buffers it and redraws on a timer (plots/panel.py), so training never waits for drawing.
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path

from PySide6.QtCore import QThread, Signal

from vg_studio.spec import ExperimentSpec

log = logging.getLogger(__name__)


class TrainWorker(QThread):
    event = Signal(object)  # any vg_studio.train.events object, in order
    failed = Signal(str)  # the run could not start or crashed outside the engine's own handling

    def __init__(self, spec: ExperimentSpec, run_dir: Path, parent=None):
        super().__init__(parent)
        self.spec, self.run_dir = spec.copy(), Path(run_dir)
        self._trainer = None
        self._cancel_requested = threading.Event()

    def run(self) -> None:  # on the worker thread
        try:
            from vg_studio.diagnose.listener import DiagnosisListener
            from vg_studio.train.trainer import Trainer

            self._trainer = Trainer(self.spec, self.run_dir, listeners=[DiagnosisListener(), self.event.emit])
            if self._cancel_requested.is_set():
                self._trainer.cancel()
            self._trainer.run()
        except Exception as exc:  # bad data, spec errors, memory: a message, never a crashed app
            log.exception("training could not run")
            self.failed.emit(f"{type(exc).__name__}: {exc}" if not isinstance(exc, ValueError) else str(exc))

    def cancel(self) -> None:
        """Stop after the current batch (callable from the main thread)."""
        self._cancel_requested.set()
        if self._trainer is not None:
            self._trainer.cancel()

    def stop_and_wait(self, timeout_ms: int = 60_000) -> bool:
        self.cancel()
        return self.wait(timeout_ms)


class KerasLoader(QThread):
    """Imports TensorFlow/Keras and the engine in the background so the window appears at once."""

    ready = Signal(str)  # backend description
    failed = Signal(str)

    def run(self) -> None:
        try:
            import keras  # noqa: F401  (the slow part: TensorFlow)

            import vg_studio.nn.build  # noqa: F401
            import vg_studio.train.runstore  # noqa: F401
            import vg_studio.train.trainer  # noqa: F401

            self.ready.emit(f"Keras {keras.__version__} ({keras.backend.backend()})")
        except Exception as exc:
            self.failed.emit(f"cannot load Keras: {type(exc).__name__}: {exc}")
