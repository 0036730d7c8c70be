"""The run directory: spec.json (or model.json), history.h5 (+ history.log while it runs), report.json, model.keras.

Writing (`RunStore`): spec, model summary and report are written atomically; the history is appended — each call
of `write_history` adds only the records and epochs that are new, as frames at the end of history.log (O(new
data)), and when the run ends everything is folded into history.h5 and the log removed. A `kill -9` at any moment
leaves every completed epoch readable; another process may read the run while it is written (`open_run`,
`RunFollower`). Reading (`open_run`) is strict: a file VG Studio did not write is one `RunStoreError` line naming
the file and the problem. The layout is docs/file-formats.md.
"""

from __future__ import annotations

import dataclasses
import json
import os
import secrets
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from vg_studio import catalog
from vg_studio.history import History
from vg_studio.safeio import UnreadableFile, atomic_write_text, read_json_file, strict_json
from vg_studio.train.history_file import (HISTORY_SCHEMA, RunStoreError, attrs_frame, epoch_frame,  # noqa: F401
                                          read_h5, read_history, record_frame, start_frame, write_h5)
from vg_studio.train import rundir
from vg_studio.train.history_log import LogWriter

FINISHED = ("completed", "cancelled", "diverged", "failed")
RUN_FILES = rundir.RUN_FILES

__all__ = ["History", "RunStore", "RunStoreError", "LoadedRun", "open_run", "load_run", "RunFollower",
           "end_abandoned_run", "HISTORY_SCHEMA", "RUN_FILES"]


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
        _write_json(self.model_summary_path, summary)

    def write_report(self, report: dict) -> None:
        """report.json, which says how the run ended; the last write of a run (the store closes after it).
        Written after the space kept in reserve is given back, so that a run that failed because the disk is full
        can still say so. An overwrite whose new run never started writes nothing: the old run stays."""
        try:
            if self._mode == "new" or (self._history is not None and self._has_data(self._history)):
                self._commit()
                self._release_space()
                _write_json(self.report_path, report)
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
        if new_epochs:
            self._log.sync()  # a completed epoch survives a power cut too, not only a killed process
        if history.status in FINISHED:
            self._compact(history)

    def _begin(self, history: History) -> None:
        self._history = history
        log_id = secrets.token_bytes(16)
        self._log = LogWriter(self.log_path, log_id)
        self._log.append([start_frame(history)])
        # history.h5 exists from the start (readable with h5py alone; status "running", records in the log)
        write_h5(History(history.layer_names, history.activations, history.record_every, "running",
                         attrs=history.attrs), self.history_path, log_id, 0)

    def _new_frames(self, history: History) -> list[bytes]:
        frames = []
        key = _attrs_key(history.attrs)
        if key != self._attrs_key:
            frames.append(attrs_frame(history.attrs))
            self._attrs_key = key
        epochs = history.epochs.get("epoch", [])
        e = self._epochs
        for r in range(self._records, history.num_records):
            while e < history.num_epochs and epochs[e] < history.record_epochs[r]:
                frames.append(epoch_frame(history, e))
                e += 1
            frames.append(record_frame(history, r))
        frames.extend(epoch_frame(history, i) for i in range(e, history.num_epochs))
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


def _write_json(path: Path, value: dict) -> None:
    text = json.dumps(strict_json(_plain(value)), indent=2, allow_nan=False, ensure_ascii=False)
    atomic_write_text(path, text + "\n")


def _plain(value):
    """numpy values and objects with to_dict() as plain JSON data."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if hasattr(value, "to_dict"):
        return _plain(value.to_dict())
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


# ---- reading -----------------------------------------------------------------------------------------------
@dataclass
class LoadedRun:
    dir: Path
    spec: object | None  # ExperimentSpec for a spec run
    model_summary: dict | None  # model.json for a run of a user's own model
    history: History
    report: dict  # {} while the run is being written (or if it was killed before it ended)
    notes: list = field(default_factory=list)  # what a reader should know, e.g. an interrupted last write

    @property
    def status(self) -> str:
        return self.report.get("status") or ("running" if self.history.status == "running" else
                                             self.history.status)


def open_run(run_dir: str | os.PathLike) -> LoadedRun:
    """Read a run directory — written by `vg-studio train`, the app, a user's script with the monitor, a
    reproduction cell, or still being written by one of them. No code from it is executed; every file is
    checked (regular file, size, structure, types); any problem is one RunStoreError naming the file. All files
    are read from the same folder even if an overwrite replaces the run meanwhile: never a mix of two runs."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise RunStoreError(f"{run_dir}: {'not a directory' if run_dir.exists() else 'no such run directory'}")
    with rundir.pinned(run_dir) as base:
        try:
            run = _read_run(base)
        except RunStoreError as exc:
            raise RunStoreError(str(exc).replace(str(base), str(run_dir))) from None
    run.dir = run_dir
    return run


def _read_run(run_dir: Path) -> LoadedRun:
    from vg_studio.limits import LIMITS

    if not _present(run_dir / "history.h5") and not _present(run_dir / "history.log"):
        report = _quiet(read_report, run_dir / "report.json")
        if report and report.get("status") in FINISHED:
            raise RunStoreError(f"{run_dir}: the run ended before training started ({report['status']}: "
                                f"{report.get('message', 'no message')})")
        raise RunStoreError(f"{run_dir}: not a run directory (no history.h5)")
    spec, summary = _read_description(run_dir)
    history, notes = read_history(run_dir / "history.h5", LIMITS.history_bytes, LIMITS.history_layers)
    _check_same_layers(run_dir, spec, summary, history)
    report = read_report(run_dir / "report.json") if _present(run_dir / "report.json") else {}
    return LoadedRun(run_dir, spec, summary, history, report, notes)


def _present(path: Path) -> bool:
    """Whether the directory has an entry of that name — a link to nothing (or to itself) counts, and reading it
    then says what is wrong, instead of the file being taken as absent."""
    return os.path.lexists(path)


def _read_description(run_dir: Path) -> tuple:
    """(spec, model summary): a run has one of them (or neither, for a bare History written by a script)."""
    spec = read_spec(run_dir / "spec.json") if _present(run_dir / "spec.json") else None
    summary = read_model_summary(run_dir / "model.json") if _present(run_dir / "model.json") else None
    if spec is not None and summary is not None:
        raise RunStoreError(f"{run_dir}: holds both spec.json and model.json; a run has one of them (files of "
                            "two runs mixed?)")
    return spec, summary


def _check_same_layers(run_dir: Path, spec, summary: dict | None, history: History) -> None:
    """The spec or model.json must describe the network whose columns the history holds."""
    names = history.layer_names
    if spec is not None and len(spec.network.layers) + 1 != len(names):
        raise RunStoreError(f"{run_dir / 'spec.json'}: describes {len(spec.network.layers)} hidden layers + output, "
                            f"but history.h5 has {len(names)} layer columns (files of two runs mixed?)")
    layers = (summary or {}).get("layers") or []
    if layers and [layer.get("name") for layer in layers] != names:
        raise RunStoreError(f"{run_dir / 'model.json'}: its layers ({', '.join(str(layer.get('name')) for layer in layers)[:80]}) "
                            f"are not history.h5's columns ({', '.join(names)[:80]})")


def end_abandoned_run(run_dir: str | os.PathLike, status: str = "failed", message: str = "") -> LoadedRun:
    """Finish a run whose writer died (a killed training process, a crashed script): fold history.log into
    history.h5 (so h5py alone reads every record), and write report.json saying how it ended, with the completed
    epochs counted. The app calls this when its training child dies. A run that already has its report is left
    as it is; a run whose writer is still alive is refused (RunStoreError)."""
    if status not in FINISHED:
        raise ValueError(f"status: one of {', '.join(FINISHED)}")
    run_dir = Path(run_dir)
    run = open_run(run_dir)
    if run.report.get("status") in FINISHED:
        return run
    with rundir.locked(run_dir):  # refused if the writer is alive after all
        h = run.history
        h.status = status
        log = run_dir / "history.log"
        if log.exists():
            from vg_studio.limits import LIMITS
            from vg_studio.train.history_log import LogReader

            with LogReader(log, LIMITS.history_bytes) as reader:  # a reader holding the log must find it in h5
                log_id = reader.log_id if reader.header() else b""
            write_h5(h, run_dir / "history.h5", log_id, log.stat().st_size)
            log.unlink()
        (run_dir / ".reserve").unlink(missing_ok=True)
        name = (run.spec.name if run.spec is not None else (run.model_summary or {}).get("name")) or run_dir.name
        report = {"name": name, "status": status, "message": message or f"the run's process ended without a "
                  f"report after {h.num_epochs} completed epoch(s)", "epochs_completed": h.num_epochs,
                  "steps": h.steps[-1] if h.steps else 0}
        _write_json(run_dir / "report.json", report)
    return open_run(run_dir)


def _quiet(read, path: Path):
    try:
        return read(path) if _present(path) else None
    except RunStoreError:
        return None


def load_run(run_dir: str | os.PathLike):
    """(spec, history, report) of a spec run — the older form of `open_run`."""
    run = open_run(run_dir)
    if run.spec is None:
        raise RunStoreError(f"{Path(run_dir) / 'spec.json'}: file not found (a run of a user's own model has "
                            "model.json instead; open it with open_run)")
    return run.spec, run.history, run.report


def read_spec(path: Path):
    from vg_studio.spec import ExperimentSpec, SpecError

    data = _json_object(path, "spec")
    try:
        return ExperimentSpec.from_dict(data)
    except SpecError as exc:
        text = str(exc).splitlines()[0] if str(exc) else "not a valid spec"
        raise RunStoreError(text if str(path) in text else f"{path}: {text}") from None
    except Exception as exc:  # noqa: BLE001 - a file we did not write must never become a traceback
        raise RunStoreError(f"{path}: not a valid spec ({type(exc).__name__})") from None


def read_model_summary(path: Path) -> dict:
    """model.json (a user's own model's run): its layer table, optimizer, loss and Keras config, checked."""
    data = _json_object(path, "model summary")
    if data.get("format", SUMMARY_FORMAT) != SUMMARY_FORMAT:
        raise RunStoreError(f"{path}: not a VG Studio model summary (format {str(data['format'])[:40]!r})")
    _check_fields(path, data, MODEL_SCHEMA, "")
    if data.get("version", 1) > SUMMARY_VERSION:
        raise RunStoreError(f"{path}: version {data['version']} is newer than this VG Studio understands "
                            f"({SUMMARY_VERSION}); upgrade VG Studio")
    for i, layer in enumerate(data.get("layers", [])):
        if not isinstance(layer, dict):
            raise RunStoreError(f"{path}: layers[{i}]: must be an object, got {_json_kind(layer)}")
        _check_fields(path, layer, LAYER_SCHEMA, f"layers[{i}].")
    if isinstance(data.get("optimizer"), dict):
        _check_fields(path, data["optimizer"], {"class_name": str, "config": dict}, "optimizer.")
    _check_fields(path, data.get("dataset", {}), DATASET_SCHEMA, "dataset.")
    return data


def _json_object(path: Path, what: str, nan_as_none: bool = False) -> dict:
    try:
        data = read_json_file(path, what=what, nan_as_none=nan_as_none)
    except UnreadableFile as exc:
        raise RunStoreError(str(exc)) from None
    if not isinstance(data, dict):
        raise RunStoreError(f"{path}: must be a JSON object, got {_json_kind(data)}")
    return data


def _json_kind(value) -> str:
    return {dict: "an object", list: "a list", str: "a string", bool: "true/false",
            type(None): "null"}.get(type(value), "a number")


SUMMARY_FORMAT, SUMMARY_VERSION = rundir.SUMMARY_FORMAT, 1  # what train/summary.py writes

# The fields VG Studio reads from report.json and model.json, each with what it must be: a type (a tuple: one of
# them; None in it: may be null), or a Field with a range. Other keys (a listener's report items) are kept as they
# are. A file that breaks one is refused: the app and `diagnose` would otherwise show nonsense or fail later.
@dataclass(frozen=True)
class Field:
    kind: type | tuple
    low: float | None = None
    high: float | str | None = None  # a number, or the name of a limit in vg_studio.limits
    items: object = None  # for a list: what each item must be (a type or a Field)
    choices: tuple = ()


_NUMBER = (int, float)
_COUNT = Field(int, 0, 2**63 - 1)
_TEXTS = Field(list, items=str)
_FRACTION = Field((int, float, type(None)), 0, 1)
FINISHED_OR_RUNNING = (*FINISHED, "running")
REPORT_SCHEMA = {
    "status": Field(str, choices=FINISHED_OR_RUNNING), "message": str, "name": str, "device": str,
    "wall_time_s": Field((int, float, type(None)), 0), "epochs_completed": _COUNT, "steps": _COUNT,
    "param_count": _COUNT, "record_every": Field(int, 1, 2**31 - 1), "num_classes": Field(int, 0, "classes"),
    "versions": dict, "dataset": dict, "test_metrics": dict, "findings": Field(list, items=dict),
}
DATASET_SCHEMA = {"name": str, "train": _COUNT, "val": _COUNT, "test": _COUNT,
                  "input_shape": Field(list, items=Field(int, 0, 2**31 - 1)), "classes": _TEXTS}
TEST_METRICS_SCHEMA = {"accuracy": _FRACTION, "recall_macro": _FRACTION, "f1_macro": _FRACTION,
                       "misclassification_rate": _FRACTION, "images_per_second": Field((int, float, type(None)), 0),
                       "test_examples": _COUNT, "confusion_matrix": Field(list, items=Field(list, items=_COUNT))}
TEST_METRICS = tuple(TEST_METRICS_SCHEMA)
FINDING_SCHEMA = {"kind": Field(str, choices=catalog.FINDING_KINDS),
                  "severity": Field(str, choices=catalog.FINDING_SEVERITIES), "step": _COUNT,
                  "epoch": Field(int, 0, 2**31 - 1), "layers": _TEXTS, "labels": _TEXTS, "details": _TEXTS,
                  "advice": _TEXTS, "evidence": dict, "message": str,
                  "fixes": Field(list, items=(str, dict))}
MODEL_SCHEMA = {"format": str, "version": Field(int, 1, None), "name": str, "class_name": str,
                "param_count": Field((int, type(None)), 0, None), "trainable_param_count": Field((int, type(None)), 0),
                "layers": Field(list, items=dict), "optimizer": (dict, type(None)), "config": (dict, type(None)),
                "record_every": Field(int, 1, 2**31 - 1), "num_classes": Field(int, 0, "classes"),
                "input_shape": Field(list, items=Field((int, type(None)), 0, 2**31 - 1)), "dataset": dict}
LAYER_SCHEMA = {"name": str, "kind": str, "units": Field((int, type(None)), 0, 2**31 - 1),
                "activation": (str, type(None)), "keras_layers": _TEXTS, "params": Field((int, type(None)), 0)}


def read_report(path: Path) -> dict:
    report = _json_object(path, "report", nan_as_none=True)
    if "status" not in report:
        raise RunStoreError(f"{path}: no 'status' (not a VG Studio report)")
    _check_fields(path, report, REPORT_SCHEMA, "")
    _check_fields(path, report.get("dataset", {}), DATASET_SCHEMA, "dataset.")
    metrics = report.get("test_metrics", {})
    _check_fields(path, metrics, TEST_METRICS_SCHEMA, "test_metrics.")
    matrix = metrics.get("confusion_matrix")
    if matrix is not None and any(len(row) != len(matrix) for row in matrix):
        raise RunStoreError(f"{path}: test_metrics.confusion_matrix: must be square (one row and column per class)")
    for i, finding in enumerate(report.get("findings", [])):
        for key in ("kind", "severity"):
            if key not in finding:
                raise RunStoreError(f"{path}: findings[{i}]: no {key!r}")
        _check_fields(path, finding, FINDING_SCHEMA, f"findings[{i}].")
        for j, fix in enumerate(finding.get("fixes", [])):
            if isinstance(fix, dict) and not isinstance(fix.get("id"), str):
                raise RunStoreError(f"{path}: findings[{i}].fixes[{j}]: a fix without an 'id'")
        if not all(v is None or isinstance(v, (int, float, str)) for v in finding.get("evidence", {}).values()):
            raise RunStoreError(f"{path}: findings[{i}].evidence: must map names to numbers or texts")
    return report


def _check_fields(path: Path, data: dict, schema: dict, prefix: str) -> None:
    for key, rule in schema.items():
        if key in data:
            problem = _problem(data[key], rule if isinstance(rule, Field) else Field(rule))
            if problem:
                raise RunStoreError(f"{path}: {prefix}{key}: {problem}")


def _problem(value, rule: Field) -> str:
    """What is wrong with `value` under `rule` ('' if nothing)."""
    from vg_studio.limits import LIMITS

    kinds = rule.kind if isinstance(rule.kind, tuple) else (rule.kind,)
    if (isinstance(value, bool) and bool not in kinds) or not isinstance(value, kinds):
        names = {str: "text", int: "an integer", dict: "an object", list: "a list", float: "a number",
                 type(None): "null"}
        expected = " or ".join(dict.fromkeys(names[k] for k in kinds if not (k is float and int in kinds)))
        return f"must be {expected}, got {_json_kind(value)}"
    if rule.choices and value not in rule.choices:
        return f"{str(value)[:40]!r} is not one of {', '.join(rule.choices)}"
    if isinstance(value, _NUMBER) and not isinstance(value, bool):
        if rule.low is not None and value < rule.low:
            return f"must be >= {rule.low:g}, got {value:g}"
        high = getattr(LIMITS, rule.high) if isinstance(rule.high, str) else rule.high
        if high is not None and value > high:
            return f"must be <= {high:g}, got {value:g}"
    if isinstance(value, list):
        if len(value) > max(LIMITS.classes, LIMITS.history_layers):
            return f"{len(value):,} items"
        if rule.items is not None:
            item = rule.items if isinstance(rule.items, Field) else Field(rule.items)
            for i, v in enumerate(value):
                problem = _problem(v, item)
                if problem:
                    return f"[{i}] {problem}"
    if isinstance(value, str) and not value and rule.choices:
        return "empty"
    return ""


# ---- following a run that another process writes -------------------------------------------------------------
class RunFollower:
    """Turns what was appended to a run directory since the last `poll()` into the events the trainer emits:
    RunStarted once, then ProbeRecord and EpochEnd in order, and RunFinished when report.json says the run
    ended. Works for a run written by any process (`vg-studio train`, a user's script with the monitor, a
    reproduction cell) and for a finished run (everything at the first poll). Qt-free; poll it from a timer."""

    def __init__(self, run_dir: str | os.PathLike):
        self.dir = Path(run_dir)
        self.history: History | None = None
        self.finished = False
        self._reader = None
        self._h5_signature = None
        self._log_position = (b"", 0)
        self._started = False
        self._records = self._epochs = 0

    def close(self) -> None:
        if self._reader is not None:
            self._reader.close()
            self._reader = None

    def poll(self) -> list:
        """New events since the last poll. Raises RunStoreError (one line) if a file is not a usable run file."""
        from vg_studio.train import events

        if self.finished:
            return []
        report = read_report(self.dir / "report.json") if _present(self.dir / "report.json") else None
        self._refresh()  # after the report: everything the report follows is already in the files
        out = []
        if self.history is None:
            if report is not None and report.get("status") in FINISHED:  # ended before its first record
                self.finished = True
                out.append(events.RunFinished(report["status"], report.get("message", ""), report, str(self.dir)))
            return out
        if not self._started:
            out.append(self._run_started(report))
            self._started = True
        out.extend(self._new_events())
        if report is None and not rundir.writer_alive(self.dir) and not (self.dir / "report.json").exists():
            # the writer is gone without a report (killed): nothing more will come
            report = {"status": "failed", "message": "the run's process ended without a report (killed?); its "
                      f"{self.history.num_epochs} completed epoch(s) are kept"}
        if report is not None and report.get("status") in FINISHED:
            self.finished = True
            self.history.status = report["status"]
            out.append(events.RunFinished(report["status"], report.get("message", ""), report, str(self.dir)))
            self.close()
        return out

    def _refresh(self) -> None:
        from vg_studio.limits import LIMITS
        from vg_studio.train.history_file import LogReplay
        from vg_studio.train.history_log import LogError, LogReader

        h5, log = self.dir / "history.h5", self.dir / "history.log"
        try:
            if self._reader is None:
                reader = None
                try:
                    reader = LogReader(log, LIMITS.history_bytes)  # before the h5: see read_history
                except FileNotFoundError:
                    pass
                log_id, log_bytes = self._read_h5_if_changed(h5)
                if reader is not None:
                    if not reader.header() or (self.history is not None and reader.log_id != log_id):
                        reader.close()  # not written yet, or the h5 we hold is not its run's: next poll
                        return
                    reader.skip_to(log_bytes if self.history is not None else 0)
                    self._reader = reader
            if self._reader is not None:
                replay = LogReplay(self.history, str(log))
                for meta, arrays in self._reader.frames():
                    replay.apply(meta, arrays)
                self.history = replay.history
        except LogError as exc:
            raise RunStoreError(str(exc)) from None
        except OSError as exc:
            raise RunStoreError(f"{self.dir}: cannot read ({exc.strerror or exc})") from None

    def _read_h5_if_changed(self, h5: Path) -> tuple[bytes, int]:
        from vg_studio.limits import LIMITS

        try:
            info = os.stat(h5)
        except FileNotFoundError:
            return b"", 0
        signature = (info.st_ino, info.st_mtime_ns, info.st_size)
        if signature == self._h5_signature:
            return self._log_position
        history, log_id, log_bytes = read_h5(h5, LIMITS.history_bytes, LIMITS.history_layers)
        self._h5_signature, self._log_position = signature, (log_id, log_bytes)
        if self.history is None or history.num_records >= self.history.num_records:
            self.history = history  # append-only: a newer h5 holds at least what we had
        return log_id, log_bytes

    def _run_started(self, report: dict | None):
        from vg_studio.train import events

        spec, summary = _read_description(self.dir)
        h, attrs = self.history, self.history.attrs
        known = {"run_dir": str(self.dir), "spec": spec, "model_summary": summary, "layer_names": h.layer_names,
                 "activations": h.activations, "epochs": spec.training.epochs if spec is not None else 0,
                 "steps_per_epoch": 0, "param_count": 0, "device": "", "sample_count": 0, "num_classes": 0,
                 "layer_kinds": h.layer_kinds, "layer_units": h.layer_units}
        for key in ("epochs", "steps_per_epoch", "param_count", "device", "sample_count", "num_classes"):
            if key in attrs:  # (app helper) h5 gives one-element arrays back: the event carries plain scalars
                value = attrs[key]
                known[key] = value.reshape(-1)[0].item() if getattr(value, "size", 0) == 1 else value
        return _event(events.RunStarted, known)

    def _new_events(self) -> list:
        from vg_studio.train import events

        h, out = self.history, []
        epochs = h.epochs.get("epoch", [])
        stats = h.stats
        while self._records < h.num_records:
            r = self._records
            while self._epochs < h.num_epochs and epochs[self._epochs] < h.record_epochs[r]:
                out.append(self._epoch_end(self._epochs))
                self._epochs += 1
            out.append(_event(events.ProbeRecord, {
                "step": h.steps[r], "epoch": h.record_epochs[r], "loss": h.record_loss[r],
                "stats": {name: column[r] for name, column in stats.items()},
                "optimizer": {k: v[r] for k, v in h.optimizer.items()},
                "time_grad": h.time_grad[r] if r < len(h.time_grad) else None,
                "metrics": {k: v[r] for k, v in h.record_metrics.items()}}))
            self._records += 1
        while self._epochs < h.num_epochs:
            out.append(self._epoch_end(self._epochs))
            self._epochs += 1
        return out

    def _epoch_end(self, i: int):
        from vg_studio.train import events

        h = self.history
        return events.EpochEnd(h.epochs["epoch"][i], {k: v[i] for k, v in h.epochs.items() if k != "epoch"})


def _event(cls, values: dict):
    """An event with the fields its class has (the event classes grow; a follower fills what it knows)."""
    names = {f.name for f in dataclasses.fields(cls)}
    return cls(**{k: v for k, v in values.items() if k in names})
