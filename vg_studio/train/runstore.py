"""The run directory: spec.json (or model.json), history.h5 (+ history.log while it runs), report.json, model.keras.

Writing (`RunStore`, here): spec, model summary and report are written atomically; the history is appended — each
call of `write_history` adds only the records and epochs that are new, as frames at the end of history.log (O(new
data)), and when the run ends everything is folded into history.h5 and the log removed. A `kill -9` at any moment
leaves every completed epoch readable; another process may read the run while it is written. Reading is strict:
`open_run` (run_reader), `RunFollower` (follower), one reader per file (history_file, run_files). The layout is
docs/file-formats.md; this module is also where the rest of VG Studio imports all of it from.
"""

from __future__ import annotations

import json
import os
import secrets
from pathlib import Path

import numpy as np

from vg_studio.history import History
from vg_studio.train import rundir
from vg_studio.train.follower import RunFollower
from vg_studio.train.history_file import (
    HISTORY_SCHEMA,
    attrs_payload,
    epoch_payload,
    record_payload,
    start_payload,
    write_h5,
)
from vg_studio.train.history_log import LogWriter
from vg_studio.train.run_files import (
    FINISHED,
    SUMMARY_FORMAT,
    SUMMARY_VERSION,
    read_model_summary,
    read_report,
    read_spec,
    report_in,
    write_json,
)
from vg_studio.train.run_reader import LoadedRun, end_abandoned_run, load_run, open_run
from vg_studio.train.rundir import RUN_FILES, RunStoreError
from vg_studio.train.step_loss import BatchCursor

__all__ = ["History", "RunStore", "RunStoreError", "LoadedRun", "open_run", "load_run", "RunFollower",
           "end_abandoned_run", "read_report", "read_model_summary", "read_spec", "report_in", "HISTORY_SCHEMA",
           "RUN_FILES", "FINISHED", "SUMMARY_FORMAT", "SUMMARY_VERSION"]


class RunStore:
    """Writes one run directory, holding its writer lock (a second writer gets a RunStoreError).

    `run_dir` must be new or empty, or hold a run and `overwrite` be true; a folder with other files is refused,
    so a run never mixes with the user's files (e.g. `train --spec DIR/spec.json --out DIR`). An overwrite builds
    the new run in a hidden folder beside the old one and swaps them in one step when the new run has really
    started (its first record or epoch) — a run that fails before that (a missing dataset) leaves the old run as
    it was. The Trainer and the monitor use it unchanged either way."""

    def __init__(self, run_dir: str | os.PathLike, overwrite: bool = False):
        if not str(run_dir).strip():
            raise RunStoreError("run directory: an empty path (give a folder name)")
        target = Path(run_dir)
        self.dir = target.resolve() if target.is_symlink() else target
        self.overwrite = overwrite
        self._history: History | None = None
        self._log: LogWriter | None = None
        self._records = self._epochs = 0
        self._batches = self._batches_framed = 0  # the history's batch losses written to the log, and framed
        self._attrs_key = None
        self._compacted = False
        self._closed = True  # until the directory is ours
        self._write_dir = self.dir
        rundir.acquire(self.dir, store=True)
        self._closed = False
        try:
            self._mode = rundir.check_writable_target(self.dir, overwrite)
            if self._mode == "replace":
                self._write_dir = rundir.staging_folder(self.dir)
            if not os.access(self._write_dir, os.W_OK):
                raise RunStoreError(f"{self.dir}: the run directory is not writable")
        except BaseException:
            self.close()
            raise
        self._reserve_space()

    @property
    def committed(self) -> bool:
        """Whether the files are at `dir` (for an overwrite: whether the new run has replaced the old one)."""
        return self._write_dir == self.dir

    def _commit(self) -> None:
        if not self.committed:
            rundir.swap_in(self._write_dir, self.dir)
            self._write_dir = self.dir
            if self._log is not None:
                self._log.path = self.log_path

    def close(self) -> None:
        """Give up the directory: an overwrite that never started is discarded (the old run stays), and the
        writer lock is released. Called by write_report; safe to call again."""
        if getattr(self, "_closed", False):
            return
        self._closed = True
        if self._log is not None:
            self._log.close()
        self._release_space()
        if not self.committed:
            rundir.discard(self._write_dir)
            self._write_dir = self.dir
        rundir.release(self.dir, store=True)

    def __del__(self):
        try:
            self.close()
        except Exception:  # noqa: BLE001 - interpreter shutdown
            pass

    @property
    def spec_path(self) -> Path:
        return self._write_dir / "spec.json"

    @property
    def model_summary_path(self) -> Path:
        return self._write_dir / "model.json"

    @property
    def model_path(self) -> Path:
        return self._write_dir / "model.keras"

    @property
    def history_path(self) -> Path:
        return self._write_dir / "history.h5"

    @property
    def log_path(self) -> Path:
        return self._write_dir / "history.log"

    @property
    def report_path(self) -> Path:
        return self._write_dir / "report.json"

    def write_spec(self, spec) -> None:
        spec.save(self.spec_path)

    def write_model_summary(self, summary: dict) -> None:
        """model.json: what a run of a user's own Keras model has instead of a spec (config, optimizer, layers)."""
        write_json(self.model_summary_path, summary)

    def write_report(self, report: dict) -> None:
        """report.json, which says how the run ended; the last write of a run (the store closes after it).
        Written after the space kept in reserve is given back, so that a run that failed because the disk is full
        can still say so. An overwrite whose new run never started writes nothing: the old run stays."""
        try:
            if self._mode == "new" or (self._history is not None and self._has_data(self._history)):
                self._commit()
                self._release_space()
                write_json(self.report_path, report)
        finally:
            self.close()

    @staticmethod
    def _has_data(history: History) -> bool:
        return history.num_records > 0 or history.num_epochs > 0

    # A run that fills the disk must still be able to write its report (a few KB): keep that much in reserve,
    # as much of it as the disk has room for when the run starts.
    RESERVE_BYTES = (64 * 1024, 16 * 1024, 4 * 1024)

    @property
    def _reserve_path(self) -> Path:
        return self._write_dir / ".reserve"

    def _reserve_space(self) -> None:
        for size in self.RESERVE_BYTES:
            try:
                fd = os.open(self._reserve_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | getattr(os, "O_CLOEXEC", 0),
                             0o600)
            except OSError:
                return  # no room even for that: the first real write will say which file could not be written
            try:
                os.posix_fallocate(fd, 0, size)
                return
            except AttributeError:  # no fallocate here (macOS): zeros do the same
                try:
                    os.write(fd, bytes(size))
                    return
                except OSError:
                    pass
            except OSError:
                pass
            finally:
                os.close(fd)
        self._release_space()

    def _release_space(self) -> None:
        try:
            os.unlink(self._reserve_path)
        except OSError:
            pass

    # ---- the history: appended ------------------------------------------------------------------------------
    def write_history(self, history: History) -> None:
        """Append what is new in `history` since the last call (the same History object each time); once its
        status says the run ended, fold the log into history.h5. Raises OSError naming the file (a full disk):
        what was written before stays readable."""
        if self._closed:
            raise ValueError("RunStore: written after its report (a store writes one run)")
        if self._history is None:
            self._begin(history)
        elif history is not self._history:
            raise ValueError("RunStore.write_history: one store writes one History object")
        if history.num_records < self._records or history.num_epochs < self._epochs:
            raise ValueError("RunStore.write_history: the history lost records since the last write")
        if self._compacted:
            if history.num_records > self._records or history.num_epochs > self._epochs:
                self._compact(history)  # written again after the end: rare, rewrite whole
            return
        frames = self._new_frames(history)
        new_epochs = history.num_epochs > self._epochs
        self._log.append(frames)
        if self._has_data(history):
            self._commit()  # the new run has really started: it replaces the old one now
        self._records, self._epochs = history.num_records, history.num_epochs
        self._batches = self._batches_framed
        if new_epochs:
            self._log.sync()  # a completed epoch survives a power cut too, not only a killed process
        if history.status in FINISHED:
            self._compact(history)

    def _begin(self, history: History) -> None:
        self._history = history
        log_id = secrets.token_bytes(16)
        self._log = LogWriter(self.log_path, log_id)
        self._log.append([start_payload(history)])
        # history.h5 exists from the start (readable with h5py alone; status "running", records in the log)
        write_h5(History(history.layer_names, history.activations, history.record_every, "running",
                         attrs=history.attrs), self.history_path, log_id, 0)

    def _new_frames(self, history: History) -> list[bytes]:
        frames = []
        key = _attrs_key(history.attrs)
        if key != self._attrs_key:
            frames.append(attrs_payload(history.attrs))
            self._attrs_key = key
        epochs = history.epochs.get("epoch", [])
        e = self._epochs
        batches = BatchCursor(history, self._batches)  # each frame carries the batch losses that came with it
        for r in range(self._records, history.num_records):
            while e < history.num_epochs and epochs[e] < history.record_epochs[r]:
                frames.append(epoch_payload(history, e, batches.for_epoch(e)))
                e += 1
            frames.append(record_payload(history, r, batches.for_record(r)))
        frames.extend(epoch_payload(history, i, batches.for_epoch(i)) for i in range(e, history.num_epochs))
        self._batches_framed = batches.at
        return frames

    def _compact(self, history: History) -> None:
        """history.h5 gets everything (written whole, atomically); then the log goes. Until the h5 is in place
        the log holds every record, so a failure here (a full disk) loses nothing."""
        write_h5(history, self.history_path, self._log.log_id, self._log.size)
        self._log.close()
        try:
            self.log_path.unlink()
        except OSError:
            pass
        self._records, self._epochs, self._compacted = history.num_records, history.num_epochs, True


def _attrs_key(attrs: dict) -> str:
    return json.dumps({k: np.asarray(v).tolist() if isinstance(v, np.ndarray) else v for k, v in attrs.items()},
                      sort_keys=True, default=str)
