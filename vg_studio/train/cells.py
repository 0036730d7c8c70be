"""Training cells: one spec in, one run directory out — run in parallel processes or on a Ray cluster.

A cell is independent of every other cell, so a grid is just a list of them. `run_cells` skips cells whose
report.json already says "completed" (re-running a reproduction resumes it), runs the rest through
`concurrent.futures` with the 'spawn' start method (TensorFlow is not fork-safe) or through `ray.remote` on an
existing cluster, and reports a failing cell without stopping the others. Progress (cells done, the running cells'
epochs, ETA) goes to a `Progress` that draws one line on stderr. A cell may stop after `max_steps` training steps
(fix trials compare runs over the same steps), and a `stop` event ends every running cell after its current batch.
`listeners` are zero-argument factories (e.g. a listener class) called in the worker to attach listeners to each
cell's Trainer — the training layer knows nothing of what they do (`vg_studio.experiments.cells` attaches the
diagnosis this way).
"""

from __future__ import annotations

import concurrent.futures as cf
import logging
import multiprocessing
import os
import queue as queue_module
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from vg_studio.safeio import atomic_write_bytes
from vg_studio.spec import ExperimentSpec
from vg_studio.text import inert, one_line
from vg_studio.train.run_files import read_spec, report_in, write_json
from vg_studio.train.rundir import RUN_FILES, RunStoreError


@dataclass
class Cell:
    key: str  # unique within a grid, also the run directory's name
    spec: ExperimentSpec
    run_dir: Path
    max_steps: int | None = None  # stop after this many training steps (None: train every epoch of the spec)

    @property
    def epochs(self) -> int:
        return self.spec.training.epochs


@dataclass
class CellOutcome:
    key: str
    status: str  # "completed" | "skipped" (finished earlier) | "failed" | "diverged" | "cancelled"
    message: str
    run_dir: Path


def read_report(run_dir: Path) -> dict:
    """The cell's report.json as every reader sees it (run_files.read_report), or {} if it has none usable."""
    return report_in(run_dir) or {}


def is_finished(cell: Cell) -> bool:
    """Finished = completed with the same spec (a changed grid option must not reuse an old run)."""
    report = read_report(cell.run_dir)
    if report.get("status") != "completed":
        return False
    try:
        return read_spec(Path(cell.run_dir) / "spec.json").to_dict() == cell.spec.to_dict()
    except RunStoreError:
        return False


# ---- the cell function: runs in a worker process or a Ray worker ------------------------------------------
def run_cell(key: str, spec_dict: dict, run_dir: str, events=None, threads: int = 0, max_steps: int | None = None,
             stop=None, listeners=()) -> dict:
    """Train one cell into `run_dir`; never raises: a failure is written to report.json and returned.
    `max_steps`: stop after that many steps (the run then counts as completed); `stop`: an Event-like object
    whose `is_set()` ends the run after the current batch (status "cancelled")."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    logging.getLogger("tensorflow").setLevel(logging.ERROR)  # retracing notices would break the progress line
    try:
        _limit_threads(threads)
        from vg_studio.train import events as ev
        from vg_studio.train.trainer import Trainer

        def forward(event):
            if events is not None and isinstance(event, ev.EpochEnd):
                events.put((key, event.epoch + 1))
            if isinstance(event, ev.BatchEnd) and ((max_steps and event.step >= max_steps)
                                                   or (stop is not None and stop.is_set())):
                trainer.cancel()

        trainer = Trainer(ExperimentSpec.from_dict(spec_dict), run_dir,
                          listeners=[make() for make in listeners] + [forward])
        result = trainer.run()
        status = result.status
        if status == "cancelled" and max_steps and result.report.get("steps", 0) >= max_steps \
                and not (stop is not None and stop.is_set()):
            status = "completed"  # it ran the steps it was asked for
        return {"key": key, "status": status, "message": result.message}
    except BaseException as exc:  # noqa: BLE001 - a cell reports every failure, the grid goes on
        message = f"{type(exc).__name__}: {exc}".splitlines()[0]
        try:  # the Trainer records its own failures; this covers those before it starts (e.g. the spec)
            Path(run_dir).mkdir(parents=True, exist_ok=True)
            if not (Path(run_dir) / "report.json").exists():
                write_json(Path(run_dir) / "report.json", {"name": key, "status": "failed", "message": message})
        except OSError:
            pass
        return {"key": key, "status": "failed", "message": message}


def run_cell_packed(key: str, spec_dict: dict, events=None, max_steps: int | None = None, listeners=()) -> dict:
    """Ray's variant: train into a temporary directory on whichever node runs it and return the files, so the
    driver collects the run directory even when the cluster shares no disk with it."""
    tmp = tempfile.mkdtemp(prefix="vg-cell-")
    try:
        outcome = run_cell(key, spec_dict, tmp, events, max_steps=max_steps, listeners=listeners)
        outcome["files"] = {name: (Path(tmp) / name).read_bytes() for name in RUN_FILES
                            if (Path(tmp) / name).is_file()}
        return outcome
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _limit_threads(threads: int) -> None:
    """Parallel cells share the CPU: give each process its share instead of letting each take every core."""
    if threads <= 0:
        return
    import keras

    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        try:
            tf.config.threading.set_intra_op_parallelism_threads(threads)
            tf.config.threading.set_inter_op_parallelism_threads(min(threads, 2))
        except RuntimeError:  # already initialised in this process: keep its setting
            pass


def _unpack(files: dict, run_dir: Path) -> None:
    run_dir.mkdir(parents=True, exist_ok=True)
    for name, data in files.items():
        atomic_write_bytes(run_dir / name, data)


# ---- progress -----------------------------------------------------------------------------------------------
class Progress:
    """One status line on stderr: cells done/total, failed, the running cells' current epoch, ETA.

    The ETA divides the epochs still to run by the epoch rate measured so far in this invocation.
    """

    def __init__(self, cells: list[Cell], stream=None, min_interval: float = 0.5):
        self.stream = stream if stream is not None else sys.stderr
        self.total_cells = len(cells)
        self.epochs_of = {c.key: c.epochs for c in cells}
        self.total_epochs = sum(self.epochs_of.values())
        self.epoch_of: dict[str, int] = {}
        self.finished: set[str] = set()
        self.failed = 0
        self.started = time.perf_counter()
        self.epochs_at_start = 0
        self.min_interval = min_interval
        self._last_draw = 0.0
        self._tty = hasattr(self.stream, "isatty") and self.stream.isatty()

    def skip(self, key: str) -> None:
        self.finished.add(key)
        self.epoch_of[key] = self.epochs_of[key]
        self.epochs_at_start += self.epochs_of[key]

    def epoch(self, key: str, epoch: int) -> None:
        self.epoch_of[key] = epoch
        self.draw()

    def done(self, key: str, status: str, message: str) -> None:
        self.finished.add(key)
        self.epoch_of[key] = self.epochs_of[key]
        if status not in ("completed", "skipped"):
            self.failed += 1
            self._write(f"cell {inert(key)} {status}: {one_line(message)}\n")
        self.draw(force=True)

    @property
    def epochs_done(self) -> int:
        return sum(self.epoch_of.values())

    def eta_seconds(self) -> float | None:
        ran = self.epochs_done - self.epochs_at_start
        if ran <= 0:
            return None
        rate = ran / max(time.perf_counter() - self.started, 1e-9)
        return (self.total_epochs - self.epochs_done) / rate

    def line(self) -> str:
        running = [f"{k} {self.epoch_of.get(k, 0)}/{self.epochs_of[k]}" for k in self.epochs_of
                   if k not in self.finished and self.epoch_of.get(k)]
        width = 20
        filled = int(width * self.epochs_done / max(self.total_epochs, 1))
        eta = self.eta_seconds()
        text = (f"[{'#' * filled}{'.' * (width - filled)}] cells {len(self.finished)}/{self.total_cells}"
                + (f" ({self.failed} failed)" if self.failed else "")
                + f" | epochs {self.epochs_done}/{self.total_epochs}"
                + (f" | ETA {_clock(eta)}" if eta is not None else ""))
        if running:
            text += " | " + ", ".join(running[:3]) + (" …" if len(running) > 3 else "")
        return text

    def draw(self, force: bool = False) -> None:
        now = time.perf_counter()
        if not force and now - self._last_draw < self.min_interval:
            return
        self._last_draw = now
        self._write(self.line())

    def close(self) -> None:
        self.draw(force=True)
        if self._tty:
            self.stream.write("\n")
            self.stream.flush()

    def _write(self, text: str) -> None:
        if self._tty:
            self.stream.write("\r\x1b[2K" + text)  # redraw in place; a message line ends with its own newline
        else:
            self.stream.write(text if text.endswith("\n") else text + "\n")
        self.stream.flush()


def _clock(seconds: float) -> str:
    seconds = int(round(seconds))
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


# ---- running a grid -----------------------------------------------------------------------------------------
def run_cells(cells: list[Cell], jobs: int = 1, ray_address: str | None = None,
              progress: Progress | None = None, stop=None, listeners=()) -> list[CellOutcome]:
    """Run every unfinished cell; return one outcome per cell, in the order given. `stop` (a threading.Event)
    ends the running cells after their current batch and skips those not started (status "cancelled")."""
    progress = progress or Progress(cells)
    outcomes: dict[str, CellOutcome] = {}
    todo = []
    for cell in cells:
        if is_finished(cell):
            progress.skip(cell.key)
            outcomes[cell.key] = CellOutcome(cell.key, "skipped", "finished earlier", cell.run_dir)
        else:
            todo.append(cell)
    progress.draw(force=True)
    if ray_address:
        results = _run_ray(todo, ray_address, progress, stop, listeners)
    elif jobs <= 1:
        results = _run_here(todo, progress, stop, listeners)
    else:
        results = _run_processes(todo, jobs, progress, stop, listeners)
    for cell in todo:
        missing = {"status": "cancelled", "message": "stopped before it started"} if stop is not None \
            and stop.is_set() else {"status": "failed", "message": "no result came back"}
        result = results.get(cell.key, missing)
        outcomes[cell.key] = CellOutcome(cell.key, result["status"], result["message"], cell.run_dir)
    progress.close()
    return [outcomes[c.key] for c in cells]


class _DirectEvents:
    def __init__(self, progress: Progress):
        self.progress = progress

    def put(self, item):
        self.progress.epoch(*item)


def _run_here(todo: list[Cell], progress: Progress, stop=None, listeners=()) -> dict:
    results = {}
    for cell in todo:
        if stop is not None and stop.is_set():
            break
        result = run_cell(cell.key, cell.spec.to_dict(), str(cell.run_dir), _DirectEvents(progress),
                          max_steps=cell.max_steps, stop=stop, listeners=listeners)
        results[cell.key] = result
        progress.done(cell.key, result["status"], result["message"])
    return results


def _drain(events, progress: Progress, empty_errors=(queue_module.Empty,)) -> None:
    while True:
        try:
            item = events.get_nowait()
        except empty_errors:
            return
        progress.epoch(*item)


def _run_processes(todo: list[Cell], jobs: int, progress: Progress, stop=None, listeners=()) -> dict:
    context = multiprocessing.get_context("spawn")
    threads = max(1, (os.cpu_count() or 1) // jobs)
    results = {}
    with context.Manager() as manager, cf.ProcessPoolExecutor(max_workers=jobs, mp_context=context) as pool:
        events = manager.Queue()
        stop_all = manager.Event()  # the workers' view of `stop`
        futures = {pool.submit(run_cell, c.key, c.spec.to_dict(), str(c.run_dir), events, threads, c.max_steps,
                               stop_all, tuple(listeners)): c for c in todo}
        pending = set(futures)
        while pending:
            finished, pending = cf.wait(pending, timeout=0.5, return_when=cf.FIRST_COMPLETED)
            _drain(events, progress)
            if stop is not None and stop.is_set() and not stop_all.is_set():
                stop_all.set()
                for future in pending:
                    future.cancel()  # those not started yet never start
            for future in finished:
                cell = futures[future]
                if future.cancelled():
                    continue
                try:
                    result = future.result()
                except Exception as exc:  # the worker process died (killed, out of memory …)
                    result = {"key": cell.key, "status": "failed",
                              "message": f"worker process failed: {type(exc).__name__}: {exc}"}
                results[cell.key] = result
                progress.done(cell.key, result["status"], result["message"])
        _drain(events, progress)
    return results


def _run_ray(todo: list[Cell], address: str, progress: Progress, stop=None, listeners=()) -> dict:
    import ray
    from ray.util.queue import Empty as RayEmpty
    from ray.util.queue import Queue as RayQueue

    if not ray.is_initialized():
        ray.init(address=address, log_to_driver=False)
    remote = ray.remote(num_cpus=1, max_retries=0)(run_cell_packed)
    events = RayQueue()
    refs = {remote.remote(c.key, c.spec.to_dict(), events, c.max_steps, tuple(listeners)): c for c in todo}
    results = {}
    pending = list(refs)
    try:
        while pending:
            ready, pending = ray.wait(pending, num_returns=1, timeout=0.5)
            if stop is not None and stop.is_set():
                for ref in pending:
                    ray.cancel(ref, force=True)  # a Ray task has no shared event to watch: end it
                pending = []
            _drain(events, progress, (RayEmpty, queue_module.Empty))
            for ref in ready:
                cell = refs[ref]
                try:
                    result = ray.get(ref)
                    _unpack(result.pop("files", {}), cell.run_dir)
                except Exception as exc:  # the task or its node died
                    result = {"key": cell.key, "status": "failed",
                              "message": f"ray task failed: {type(exc).__name__}: {exc}".splitlines()[0]}
                results[cell.key] = result
                progress.done(cell.key, result["status"], result["message"])
    finally:
        events.shutdown()
    return results
