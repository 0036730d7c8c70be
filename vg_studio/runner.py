"""The app's training process: the engine's `Trainer` in a child process, its events streamed to the parent.

Why a process and not a thread: TensorFlow holds the GIL while it traces and compiles, which froze the window for
hundreds of milliseconds (seconds with XLA); a crash or an out-of-memory kill took the whole app with it; and
TensorFlow frees GPU memory only when its process exits. Here the child imports TensorFlow once (a *warm* child
waits, ready, for the next run), runs one run, and exits.

Qt-free on both sides: `TrainingProcess` is the parent's handle on one child (the GUI's QThread drives it);
`ProcessPool` keeps one warm child; `python -m vg_studio.runner FD` is the child. They talk over a socketpair with
`multiprocessing.connection` (pickled plain data):

    child → parent   ("ready", info) · ("event", event) · ("cancelling", None) · ("done", error or None)
    parent → child   ("run", job) · ("cancel", None) · ("quit", None)

The child is started with `subprocess` (fork+exec of a fresh interpreter: nothing of the parent's Qt state is
inherited, and nothing of the parent's `__main__` is re-imported), in its own session so a Ctrl-C in the terminal
reaches only the app, which decides what to do with the run.

Priority: a child started while nothing trains (the app's start, or after a run) imports TensorFlow at normal
priority, so it is ready as soon as a plain `python -c "import keras"` would be; it says "ready" right after Keras
is imported and loads the trainer while it waits. A child lowers its priority when it starts training, and one
started while another trains (the next run's warm child) starts lowered, so the window keeps the CPU it needs.
"""

from __future__ import annotations

import faulthandler
import json
import logging
import os
import queue
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from multiprocessing.connection import Connection
from pathlib import Path

log = logging.getLogger(__name__)

# Set (to "1") by the GUI tests: one warm child serves every run of the session instead of one fresh process per
# run, because each fresh child pays the TensorFlow import (~10 s on a 2-core machine). The app never sets it.
REUSE_ENV = "VG_STUDIO_REUSE_TRAINING_PROCESS"
NICE_AT_START_ENV = "VG_STUDIO_TRAINING_NICE_AT_START"  # set for a child started while another one trains
FINAL_STATUSES = ("completed", "cancelled", "diverged", "failed")


class TrainingProcessError(RuntimeError):
    """The training process could not start or died; the message says why in one line."""


@dataclass(frozen=True)
class Job:
    spec_json: str
    run_dir: str
    exit_after: bool = True  # a fresh process per run frees every byte (GPU memory included) when it ends


TRAINING_NICE = 10  # the training child's niceness (POSIX): CPU weight about a tenth of the window's

# ---- parent side ---------------------------------------------------------------------------------------------
def child_command(fd: int) -> list[str]:
    if getattr(sys, "frozen", False):  # a PyInstaller bundle has no `-m`: its entry point dispatches this flag
        return [sys.executable, "--vg-studio-runner", str(fd)]
    return [sys.executable, "-m", "vg_studio.runner", str(fd)]


def _child_env(nice_at_start: bool = False) -> dict:
    env = dict(os.environ)
    env.pop(NICE_AT_START_ENV, None)
    if nice_at_start:
        env[NICE_AT_START_ENV] = "1"
    # the child imports the same vg_studio as the parent (a source checkout, not some other installed copy)
    root = str(Path(__file__).resolve().parents[1])
    env["PYTHONPATH"] = os.pathsep.join([root, *filter(None, [env.get("PYTHONPATH")])])
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    env.pop("QT_QPA_PLATFORM", None)  # the child never imports Qt; keep its environment plain
    return env


class TrainingProcess:
    """The parent's handle on one training child. `receive` and `wait_ready` belong to one thread at a time (the
    pool's warm-up thread, then the GUI's worker thread); `cancel` may be called from any thread."""

    def __init__(self, nice_at_start: bool = False):
        self.log_file = tempfile.TemporaryFile(prefix="vg-studio-training-")  # the child's stdout/stderr
        parent_end, child_end = socket.socketpair()
        try:
            self.process = subprocess.Popen(child_command(child_end.fileno()), pass_fds=(child_end.fileno(),),
                                            stdin=subprocess.DEVNULL, stdout=self.log_file, stderr=subprocess.STDOUT,
                                            env=_child_env(nice_at_start), start_new_session=True)
        finally:
            child_end.close()
        if nice_at_start:  # a run trains meanwhile: lowered from its first instant (it nices itself too)
            _nice_autogroup(self.process.pid)
        self.conn = Connection(parent_end.detach())
        self._send_lock = threading.Lock()
        self.info: dict | None = None  # from the child's "ready" message: pid, keras version, backend
        self.started_at = time.monotonic()
        self.ready_after: float | None = None  # seconds from start to ready (the import the warm child saves)
        self.dead = False

    @property
    def pid(self) -> int:
        return self.process.pid

    @property
    def alive(self) -> bool:
        return not self.dead and self.process.poll() is None

    def wait_ready(self, timeout: float | None = None, cancelled=lambda: False) -> bool:
        """Block until the child has imported TensorFlow; False if it died (see `death_message`) or timed out."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while self.info is None:
            if cancelled() or (deadline is not None and time.monotonic() > deadline):
                return False
            for kind, payload in self.receive(0.1):
                if kind == "ready":
                    self.info = payload
                    self.ready_after = time.monotonic() - self.started_at
            if self.dead:
                return False
        return True

    def receive(self, timeout: float) -> list[tuple]:
        """Every message available now, waiting up to `timeout` for the first; [] and `dead` once the child is
        gone (its end of the socket closes when it exits, however it exits)."""
        messages = []
        if self.dead:
            return messages
        try:
            if not self.conn.poll(timeout):
                return messages
            while True:
                messages.append(self.conn.recv())
                if not self.conn.poll(0):
                    return messages
        except (EOFError, OSError):
            self.dead = True
        except Exception:  # a message that cannot be unpickled: say so, keep the others
            log.exception("unreadable message from the training process")
        return messages

    def send(self, kind: str, payload=None) -> bool:
        with self._send_lock:
            try:
                self.conn.send((kind, payload))
                return True
            except (OSError, ValueError):
                return False

    def start_run(self, spec_json: str, run_dir: str | os.PathLike, exit_after: bool = True) -> bool:
        return self.send("run", Job(spec_json, str(run_dir), exit_after))

    def cancel(self) -> bool:
        """Ask the child to stop after the current batch (it answers "cancelling" at once)."""
        return self.send("cancel")

    def kill(self, grace: float = 0.5) -> None:
        """SIGTERM, then SIGKILL after `grace` seconds; returns once the process is gone."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(grace)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.dead = True

    def wait_exit(self, timeout: float) -> bool:
        try:
            self.process.wait(timeout)
            return True
        except subprocess.TimeoutExpired:
            return False

    def close(self) -> None:
        """Ask an idle child to quit (it is killed if it has not exited within 2 s), and free the parent's ends."""
        if self.process.poll() is None:
            self.send("quit")
            if not self.wait_exit(2.0):
                self.kill()
        self.dead = True
        self.conn.close()
        self.log_file.close()

    def log_tail(self, lines: int = 6) -> str:
        try:
            self.log_file.flush()
            self.log_file.seek(0)
            text = self.log_file.read()[-20000:].decode("utf-8", "replace")
        except (OSError, ValueError):
            return ""
        return "\n".join(text.strip().splitlines()[-lines:])

    def death_message(self) -> str:
        """One line saying how the child ended, for a message box and report.json."""
        code = self.process.poll()
        if code is None and self.dead:  # its end of the socket closed: it is exiting; let it finish saying why
            try:
                code = self.process.wait(2.0)
            except subprocess.TimeoutExpired:
                code = None
        if code is None:
            return "the training process stopped answering"
        if code < 0:
            try:
                name = signal.Signals(-code).name
            except ValueError:
                name = f"signal {-code}"
            why = {"SIGKILL": " (killed: out of memory, or by another program)",
                   "SIGSEGV": " (a crash in native code)", "SIGABRT": " (aborted by a library)",
                   "SIGBUS": " (a crash in native code)", "SIGTERM": " (terminated)"}.get(name, "")
            return f"the training process was ended by {name}{why}"
        last = self.log_tail(1)
        return f"the training process exited with code {code}" + (f": {last}" if last else "")

    def start_failure(self) -> str:
        return f"the training process could not start: {self.death_message()}"


class ProcessPool:
    """At most one warm child, started in the background. `take` hands it over (waiting if it is still importing
    TensorFlow); `release` takes it back after a run: a fresh-process pool lets it exit and starts a new warm
    child, a reusing pool (tests) keeps it for the next run."""

    def __init__(self, reuse: bool | None = None):
        self.reuse = os.environ.get(REUSE_ENV, "") not in ("", "0") if reuse is None else reuse
        self._lock = threading.Lock()
        self._spare: TrainingProcess | None = None
        self._spare_ready = threading.Event()
        self._busy = 0
        self.ready_callbacks: list = []  # called (from a pool thread) with the child's info once it is ready
        self.failed_callbacks: list = []  # called with a one-line message when a warm-up fails
        self._threads: list[threading.Thread] = []  # warm-up waiters and closers, joined by `shutdown`
        self._closed = False

    @property
    def ready(self) -> bool:
        return self.ready_info is not None

    @property
    def ready_info(self) -> dict | None:
        """The warm child's info when one waits, ready, for a run (else None)."""
        spare = self._spare
        return spare.info if spare is not None and spare.info is not None and spare.alive else None

    def warm_up(self) -> None:
        """Start a warm child in the background unless one exists (or, reusing, one is busy)."""
        with self._lock:
            if self._closed:
                return
            if self._spare is not None and self._spare.process.poll() is None:
                return
            if self.reuse and self._busy:
                return
            self._start_spare()

    def _start_spare(self) -> None:  # with the lock held
        old = self._spare
        try:
            spare = TrainingProcess(nice_at_start=self._busy > 0)
        except OSError as exc:
            self._spare = None
            message = f"cannot start the training process: {exc.strerror or exc}"
            for callback in list(self.failed_callbacks):
                callback(message)
            return
        self._spare, self._spare_ready = spare, threading.Event()
        ready_event = self._spare_ready
        if old is not None:
            self._thread(old.close, "vg-studio-close")
        self._thread(self._wait_for, "vg-studio-warm-up", spare, ready_event)

    def _thread(self, target, name: str, *args) -> None:
        self._threads = [t for t in self._threads if t.is_alive()]
        thread = threading.Thread(target=target, args=args, name=name, daemon=True)
        self._threads.append(thread)
        thread.start()

    def _wait_for(self, spare: TrainingProcess, ready_event: threading.Event) -> None:
        ok = spare.wait_ready(cancelled=lambda: spare.dead or self._closed)
        ready_event.set()
        if self._closed:  # ended with the app: nobody is told (the GUI objects may be gone already)
            return
        callbacks = self.ready_callbacks if ok else self.failed_callbacks
        argument = spare.info if ok else spare.start_failure()
        for callback in list(callbacks):
            try:
                callback(argument)
            except Exception:
                log.exception("pool callback failed")

    def take(self, cancelled=lambda: False) -> TrainingProcess | None:
        """The warm child, ready to run (None if `cancelled()` turned true while waiting for it)."""
        while True:
            with self._lock:
                self._closed = False  # asked for a child after a shutdown: the pool works again
                if self._spare is None or self._spare.process.poll() is not None:
                    self._start_spare()
                    if self._spare is None:
                        raise TrainingProcessError("cannot start the training process")
                spare, ready_event = self._spare, self._spare_ready
            while not ready_event.wait(0.1):
                if cancelled():
                    return None
            with self._lock:
                if self._spare is not spare:
                    continue  # replaced meanwhile (it had died): wait for the new one
                if spare.info is None or not spare.alive:
                    self._spare = None
                    raise TrainingProcessError(spare.start_failure())
                self._spare = None
                self._busy += 1
                return spare

    def release(self, child: TrainingProcess, hurry=lambda: False) -> None:
        """After a run (from the worker thread). A fresh-process pool waits (briefly) for the child to exit, so
        its memory is free before the next child imports TensorFlow; once `hurry()` turns true (the app is
        closing) the child is ended instead of waited for."""
        with self._lock:
            self._busy -= 1
            if self.reuse and child.alive and self._spare is None:
                self._spare, self._spare_ready = child, threading.Event()
                self._spare_ready.set()
                return
        deadline = time.monotonic() + 10.0
        while child.alive and not child.wait_exit(0.05):
            if hurry() or time.monotonic() > deadline:
                child.kill()
        child.close()
        self.warm_up()

    def shutdown(self) -> None:
        """End the warm child now (it holds nothing worth waiting for: an idle interpreter with TensorFlow), and
        the pool's threads with it: nothing of the pool outlives the app (at exit, a thread still calling back into
        the GUI could crash the interpreter's teardown)."""
        with self._lock:
            self._closed = True
            spare, self._spare = self._spare, None
        if spare is not None:
            spare.kill(grace=0.3)
            spare.close()
        for thread in list(self._threads):
            if thread is not threading.current_thread():
                thread.join(5.0)
        self._threads = []


_POOL: ProcessPool | None = None


def shared_pool() -> ProcessPool:
    """The process-wide pool (windows come and go; the warm child stays). Its children end with the app."""
    global _POOL
    if _POOL is None:
        import atexit

        _POOL = ProcessPool()
        atexit.register(_POOL.shutdown)
    return _POOL


def record_abnormal_end(run_dir: str | os.PathLike, name: str, status: str, message: str,
                        findings: list | None = None) -> dict | None:
    """Finish the run directory of a training process that could not (killed, crashed): the run store takes the
    dead writer's place (every completed epoch into history.h5, a report.json saying how the run ended), and the
    findings the app had received are added to that report. A report the process wrote itself is kept. Returns
    the report written, or None when the process's own report stands (or the run never got a directory)."""
    from vg_studio.safeio import atomic_write_text
    from vg_studio.train.runstore import RunStoreError, end_abandoned_run, read_report

    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        return None
    report_path = run_dir / "report.json"
    try:
        if report_path.is_file() and read_report(report_path).get("status") in FINAL_STATUSES:
            return None
    except RunStoreError:
        pass  # half a report from a process killed while writing it: replaced below
    try:
        report = dict(end_abandoned_run(run_dir, status, message).report)
    except RunStoreError as exc:  # died before its first record: nothing to fold, only the end to say
        log.info("%s: %s", run_dir, exc)
        report = {"name": name, "status": status, "message": message, "epochs_completed": 0, "steps": 0}
    else:
        if not findings:  # the run store's report stands as it wrote it
            return report
    if findings:
        report["findings"] = [f.to_dict() if hasattr(f, "to_dict") else f for f in findings]
    atomic_write_text(report_path, json.dumps(report, indent=2, default=str) + "\n")
    return report


# ---- child side ----------------------------------------------------------------------------------------------
class _Child:
    def __init__(self, conn: Connection):
        self.conn = conn
        self.jobs: queue.Queue = queue.Queue()
        self.trainer = None
        self.cancel_requested = False
        self.parent_gone = False
        self.lowered = False
        self._send_lock = threading.Lock()

    def send(self, kind: str, payload=None) -> None:
        if self.parent_gone:
            return
        with self._send_lock:
            try:
                self.conn.send((kind, payload))
            except (OSError, ValueError):
                self.parent_gone = True

    def send_event(self, event) -> None:
        """The trainer's listener: every event goes to the parent as it happens (events are plain, picklable data;
        a finding pickles by its fix ids)."""
        self.send("event", event)

    def listen(self) -> None:
        """The control thread: runs go to the main thread's queue; cancel reaches the trainer at once."""
        while True:
            try:
                kind, payload = self.conn.recv()
            except (EOFError, OSError):  # the app is gone: stop what runs (recorded as cancelled) and exit
                self.parent_gone = True
                self._cancel()
                self.jobs.put(None)
                return
            if kind == "run":
                self.cancel_requested = False
                self.jobs.put(payload)
            elif kind == "cancel":
                self._cancel()
                self.send("cancelling")
            elif kind == "quit":
                self._cancel()
                self.jobs.put(None)
                return

    def _cancel(self) -> None:
        self.cancel_requested = True
        trainer = self.trainer
        if trainer is not None:
            trainer.cancel()

    def serve(self) -> int:
        started = time.monotonic()
        from vg_studio.startup import Interrupted, quiet_backend_startup

        try:  # the slow part, paid once per process before the user clicks Train; TensorFlow's chatter dropped
            quiet_backend_startup()
        except Interrupted:  # ended (the app closed) while TensorFlow loaded: nothing ran, nothing to say
            return 0
        import keras

        self.send("ready", {"pid": os.getpid(), "keras": keras.__version__, "backend": keras.backend.backend(),
                            "import_s": round(time.monotonic() - started, 2)})
        import vg_studio.train.trainer  # noqa: F401  (while the app shows "ready": a run waits for it if need be)

        while True:
            job = self.jobs.get()
            if job is None:
                return 0
            if not self.lowered:  # training yields the CPU to the window: its main thread is served first
                lower_priority(TRAINING_NICE)
                self.lowered = True
            self.run(job)
            if job.exit_after or self.parent_gone:
                return 0

    def run(self, job: Job) -> None:
        from vg_studio.spec import ExperimentSpec
        from vg_studio.train.trainer import Trainer

        error = None
        try:
            spec = ExperimentSpec.from_json(job.spec_json)
            self.trainer = Trainer(spec, job.run_dir, listeners=[self.send_event, *_diagnosis_listeners()])
            if self.cancel_requested:
                self.trainer.cancel()
            self.trainer.run()
        except Exception as exc:  # could not start (data, memory, spec): report.json already says why
            log.warning("the run could not start: %s: %s", type(exc).__name__, exc)
            error = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        finally:
            self.trainer = None
        self.send("done", error)


def _diagnosis_listeners() -> list:
    """The findings of the run as it trains (the trainer reports them to the app like every other event)."""
    from vg_studio.diagnose.listener import DiagnosisListener

    return [DiagnosisListener()]


def _nice_autogroup(pid: int) -> None:
    """The child's own session's autogroup (Linux) at TRAINING_NICE, set by the parent right after the start:
    the interpreter's start-up is not niced otherwise (a new warm child starts while a run trains)."""
    try:
        with open(f"/proc/{pid}/autogroup", "w") as file:
            file.write(str(TRAINING_NICE))
    except OSError:
        pass


def lower_priority(nice: int, autogroup: str = "/proc/self/autogroup") -> None:
    """This process's niceness raised by `nice`, and (Linux) its autogroup's niceness set to it.

    The child runs in a session of its own (start_new_session), and a Linux kernel with autogroups (the default on
    desktop distributions) shares the CPU first between sessions, then between the processes of a session: there
    the process's niceness alone does nothing against the app, which is in another session. Measured on a 2-core
    machine: the window's main thread waited ~100 ms for the CPU in the middle of a frame, 13 ms of it its own
    work, until the autogroup was niced too. Training still gets every cycle the window does not use."""
    try:
        os.nice(nice)
    except (AttributeError, OSError):  # Windows has no nice; an already maximal niceness is fine
        pass
    if not hasattr(os, "getsid") or os.getsid(0) != os.getpid():  # only a session of its own: never the app's
        return
    try:
        with open(autogroup, "w") as file:
            file.write(str(nice))
    except OSError:  # no autogroups (another kernel, another system): the niceness above is what there is
        pass


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 1 or not argv[0].isdigit():
        print("usage: python -m vg_studio.runner FD  (started by the app, not by hand)", file=sys.stderr)
        return 2
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the app decides when a run stops
    faulthandler.enable()  # a native crash leaves its stack in the log the parent reads
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    child = _Child(Connection(int(argv[0])))
    if os.environ.get(NICE_AT_START_ENV) == "1":  # another run trains: this start-up waits for the window too
        lower_priority(TRAINING_NICE)
        child.lowered = True
    threading.Thread(target=child.listen, name="vg-studio-control", daemon=True).start()
    return child.serve()


if __name__ == "__main__":
    sys.exit(main())
