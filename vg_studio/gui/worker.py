"""The app's training and following threads. Each streams a run's events to the main thread as batches.

`TrainWorker` supervises a training child process (vg_studio.runner): it takes the warm child, sends it the run,
forwards its events, passes Stop on, and turns a child that dies or does not answer into a "failed" (or
"cancelled") run recorded on disk. `FollowWorker` tails a run directory that any process writes (RunFollower).
Both emit `events(list)` at most every BATCH_S, so the main thread handles a few batches a second, not one
signal per training step; it only buffers the events and redraws on a timer (plots/panel.py).
"""

from __future__ import annotations

import logging
import threading
import time
from pathlib import Path

from PySide6.QtCore import QObject, QThread, Signal

from vg_studio import runner

log = logging.getLogger(__name__)

BATCH_S = 0.03  # events reach the main thread in batches at most this often
CANCEL_ANSWER_S = 3.0  # a child that does not acknowledge Stop within this long is terminated
CLOSE_GRACE_S = 1.0  # closing the window: how long the child may take to stop by itself before it is killed


def finished_event(status: str, message: str, report: dict | None, run_dir: Path | None):
    from vg_studio.train.events import RunFinished

    return RunFinished(status, message, dict(report or {"status": status, "message": message}),
                       str(run_dir) if run_dir else None)


class TrainingService(QObject):
    """The process-wide warm training child, as Qt signals (windows come and go; the child stays warm)."""

    ready = Signal(object)  # the child's info: pid, keras, backend, import_s
    failed = Signal(str)

    _instance: "TrainingService | None" = None

    def __init__(self):
        super().__init__()
        self.pool = runner.shared_pool()
        self.info: dict | None = None
        self.pool.ready_callbacks.append(self._ready)  # called from a pool thread: signals queue to the GUI
        self.pool.failed_callbacks.append(self.failed.emit)

    def _ready(self, info: dict) -> None:
        self.info = info
        self.ready.emit(info)

    @classmethod
    def instance(cls) -> "TrainingService":
        if cls._instance is None:
            cls._instance = cls()
        return cls._instance

    def warm_up(self) -> None:
        self.pool.warm_up()
        info = self.pool.ready_info
        if info is not None:  # already warm (started for another window, or given back after a run)
            self._ready(info)


class TrainWorker(QThread):
    events = Signal(list)  # vg_studio.train.events objects, in order; the run ends with a RunFinished

    def __init__(self, spec, run_dir: Path, parent=None, pool: runner.ProcessPool | None = None):
        super().__init__(parent)
        self.spec, self.run_dir = spec, Path(run_dir)
        self.pool = pool or runner.shared_pool()
        self.child: runner.TrainingProcess | None = None
        self._stop_requests = 0
        self._kill = threading.Event()
        self._lock = threading.Lock()
        self.waiting_for_child = True  # until the warm child has taken the run
        self.findings: list = []  # the latest findings seen, for a report the app has to write itself

    # ---- main thread ---------------------------------------------------------------------------------------
    def cancel(self) -> None:
        """Stop after the current batch; a second call stops the process at once."""
        with self._lock:
            self._stop_requests += 1
            if self._stop_requests >= 2:
                self._kill.set()

    @property
    def stop_requested(self) -> bool:
        return self._stop_requests > 0

    def stop_and_wait(self, grace_s: float = CLOSE_GRACE_S, timeout_ms: int = 5000) -> bool:
        """Stop now: ask the child, give it `grace_s` to finish by itself, then terminate it. The run directory
        keeps every completed epoch and says "cancelled" either way."""
        self.cancel()
        if self.wait(int(grace_s * 1000)):
            return True
        self._kill.set()
        return self.wait(timeout_ms)

    # ---- worker thread -------------------------------------------------------------------------------------
    def run(self) -> None:
        try:
            self._run()
        except Exception as exc:  # never let a supervisor bug reach the terminal as a crash
            log.exception("training supervisor failed")
            self.events.emit([finished_event("failed", f"training could not run: {exc}", None, None)])

    def _run(self) -> None:
        try:
            child = self.pool.take(cancelled=lambda: self.stop_requested)
        except runner.TrainingProcessError as exc:
            self.events.emit([finished_event("failed", str(exc), None, None)])
            return
        if child is None:  # stopped while TensorFlow was still loading: nothing ran, nothing to record
            self.events.emit([finished_event("cancelled", "stopped before training started", None, None)])
            return
        self.child, self.waiting_for_child = child, False
        try:
            self._supervise(child)
        finally:
            self.pool.release(child, hurry=self._kill.is_set)

    def _supervise(self, child: runner.TrainingProcess) -> None:
        from vg_studio.train.events import EpochEnd, FindingsUpdated, RunFinished

        child.start_run(self.spec.to_json(), self.run_dir, exit_after=not self.pool.reuse)
        batch, last_flush = [], time.monotonic()
        finished = done = killed = False
        cancel_sent_at = answered = None
        epochs = 0
        while not done:
            if self._stop_requests and cancel_sent_at is None:
                child.cancel()
                cancel_sent_at = time.monotonic()
            unanswered = cancel_sent_at is not None and not answered and \
                time.monotonic() - cancel_sent_at > CANCEL_ANSWER_S
            if self._kill.is_set() or unanswered:
                child.kill()
                killed = True
                break
            for kind, payload in child.receive(0.02):
                if kind == "event":
                    batch.append(payload)
                    if isinstance(payload, FindingsUpdated):
                        self.findings = list(payload.findings)
                    elif isinstance(payload, EpochEnd):
                        epochs += 1
                        if epochs == 1:
                            self.pool.warm_up()  # the next run's child imports TensorFlow meanwhile
                    finished = finished or isinstance(payload, RunFinished)
                elif kind == "cancelling":
                    answered = True
                elif kind == "done":
                    done = True
                    if payload and not finished:  # the run could not start: the trainer's report says why
                        batch.append(finished_event("failed", payload, _read_report(self.run_dir), self.run_dir))
                        finished = True
            if child.dead:
                break
            now = time.monotonic()
            if batch and (now - last_flush >= BATCH_S or done):
                self.events.emit(batch)
                batch, last_flush = [], now
        if not done and not finished:  # the child died or was stopped by force: the app records the end
            batch.append(self._abnormal_end(child, killed, epochs))
        if batch:
            self.events.emit(batch)

    def _abnormal_end(self, child: runner.TrainingProcess, killed: bool, epochs: int):
        if not child.wait_exit(2.0):  # its end of the socket closed: the process is going; reap it to say why
            child.kill()
        if killed or (self.stop_requested and not child.dead):
            status, message = "cancelled", "stopped by the user (the training process was ended)"
        else:
            status = "failed"
            message = f"training failed: {child.death_message()}; every completed epoch is kept"
            tail = child.log_tail(4)
            if tail:
                log.warning("training process output before it ended:\n%s", tail)
        report = runner.record_abnormal_end(self.run_dir, self.spec.name, status, message, self.findings)
        return finished_event(status, message, report or _read_report(self.run_dir), self.run_dir)


def _read_report(run_dir: Path) -> dict:
    """The run's report.json through the run store's reader (its size limits and checks), {} when unreadable."""
    from vg_studio.train.runstore import RunStoreError, read_report

    path = Path(run_dir) / "report.json"
    try:
        return read_report(path) if path.is_file() else {}
    except RunStoreError:
        return {}


class FollowWorker(QThread):
    """Follows a run directory that another process may still be writing (or a finished one): polls the files
    helper's RunFollower every POLL_S and forwards what was appended. Diagnoses the run live as it arrives."""

    events = Signal(list)
    failed = Signal(str)  # the directory cannot be read (a one-line message naming the file)
    POLL_S = 0.5

    def __init__(self, run_dir: Path, parent=None, follower=None, diagnose: bool = True):
        super().__init__(parent)
        self.run_dir = Path(run_dir)
        self.follower = follower  # a RunFollower that already delivered the first events (open_run_folder)
        self.diagnose = diagnose
        self._stop = threading.Event()

    def stop(self) -> None:
        self._stop.set()

    def run(self) -> None:
        try:
            from vg_studio.train.runstore import RunFollower

            follower = self.follower
            listener, emitted = self._listener()
            if follower is None:
                follower = RunFollower(self.run_dir)
            elif listener is not None:  # diagnose what was read before this thread started
                for event in _replay(self.run_dir):
                    _feed(listener, event)
                if emitted:  # each FindingsUpdated holds every finding so far: the last one says it all
                    self.events.emit(emitted[-1:])
                    emitted.clear()
            while not self._stop.is_set():
                batch = []
                for event in follower.poll():
                    batch.append(event)
                    if listener is not None:
                        _feed(listener, event)
                        batch.extend(emitted)
                        emitted.clear()
                if batch:
                    self.events.emit(batch)
                if any(type(e).__name__ == "RunFinished" for e in batch):
                    return
                self._stop.wait(self.POLL_S)
        except Exception as exc:  # unreadable or vanished files: a message, never a crash
            log.info("following %s stopped: %s", self.run_dir, exc)
            self.failed.emit(str(exc).splitlines()[0] if str(exc) else type(exc).__name__)

    def _listener(self):
        """A DiagnosisListener fed with the followed events gives findings while the run is written (the
        writer's own findings arrive with its report at the end)."""
        emitted: list = []
        if not self.diagnose:
            return None, emitted
        from vg_studio.diagnose.listener import DiagnosisListener

        listener = DiagnosisListener()
        listener.attach(emitted.append)
        return listener, emitted


def _replay(run_dir: Path) -> list:
    """The events of what a run directory holds now, from a fresh follower (for a diagnosis that starts late)."""
    from vg_studio.train.runstore import RunFollower

    return RunFollower(run_dir).poll()


def _feed(listener, event) -> None:
    try:
        listener(event)
    except Exception:  # a diagnosis bug must not stop the following
        log.exception("diagnosing a followed run failed")

