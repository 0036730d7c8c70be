"""Reading a whole run directory (`open_run` → LoadedRun), and finishing one whose writer died.

Every file is checked (regular file, size, structure, types) by its one reader — history.h5 and history.log in
`history_file`, the JSON files in `run_files` — and any problem is one RunStoreError naming the file. What a reader
should still know about a run it could read (damage skipped in history.log, an interrupted last write) is in
`LoadedRun.notes`, one line each: `vg-studio diagnose` and the app show them.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from vg_studio.history import History
from vg_studio.train import rundir
from vg_studio.train.history_file import read_history, write_h5
from vg_studio.train.run_files import (
    FINISHED,
    read_model_summary,
    read_report,
    read_spec,
    report_in,
    write_json,
)
from vg_studio.train.rundir import RunStoreError


@dataclass
class LoadedRun:
    dir: Path
    spec: object | None  # ExperimentSpec for a spec run
    model_summary: dict | None  # model.json for a run of a user's own model
    history: History
    report: dict  # {} while the run is being written (or if it was killed before it ended)
    notes: list = field(default_factory=list)  # lines a reader must show: damage skipped in the log, a torn write

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
    for attempt in range(3):
        with rundir.pinned(run_dir) as base:
            try:
                run = _read_run(base)
                break
            except RunStoreError as exc:
                # an overwrite swapped a new run in and is deleting the one being read: read the new one
                if attempt < 2 and rundir.replaced(base, run_dir):
                    continue
                raise RunStoreError(str(exc).replace(str(base), str(run_dir))) from None
    run.dir = run_dir
    return run


def _read_run(run_dir: Path) -> LoadedRun:
    from vg_studio.limits import LIMITS

    if not present(run_dir / "history.h5") and not present(run_dir / "history.log"):
        report = report_in(run_dir)
        if report and report.get("status") in FINISHED:
            raise RunStoreError(f"{run_dir}: the run ended before training started ({report['status']}: "
                                f"{report.get('message', 'no message')})")
        raise RunStoreError(f"{run_dir}: not a run directory (no history.h5)")
    spec, summary = read_description(run_dir)
    history, notes = read_history(run_dir / "history.h5", LIMITS.history_bytes, LIMITS.history_layers)
    _check_same_layers(run_dir, spec, summary, history)
    report = read_report(run_dir / "report.json") if present(run_dir / "report.json") else {}
    return LoadedRun(run_dir, spec, summary, history, report, [*report.get("notes", []), *notes])


def present(path: Path) -> bool:
    """Whether the directory has an entry of that name — a link to nothing (or to itself) counts, and reading it
    then says what is wrong, instead of the file being taken as absent."""
    return os.path.lexists(path)


def read_description(run_dir: Path) -> tuple:
    """(spec, model summary): a run has one of them (or neither, for a bare History written by a script)."""
    spec = read_spec(run_dir / "spec.json") if present(run_dir / "spec.json") else None
    summary = read_model_summary(run_dir / "model.json") if present(run_dir / "model.json") else None
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


def end_abandoned_run(run_dir: str | os.PathLike, status: str = "failed", message: str = "",
                      findings: list | None = None) -> LoadedRun:
    """Finish a run whose writer died (a killed training process, a crashed script): fold history.log into
    history.h5 (so h5py alone reads every record), and write report.json saying how it ended, with the completed
    epochs counted and the `findings` a watcher had received (Finding values or their dicts). The app calls this
    when its training child dies. A run that already has its report is left as it is; a run whose writer is still
    alive is refused (RunStoreError)."""
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
        if run.notes:  # what was skipped in the log is said after the log is gone too
            report["notes"] = run.notes
        if findings:
            report["findings"] = [f.to_dict() if hasattr(f, "to_dict") else f for f in findings]
        write_json(run_dir / "report.json", report)
    return open_run(run_dir)


def load_run(run_dir: str | os.PathLike):
    """(spec, history, report) of a spec run — the older form of `open_run`."""
    run = open_run(run_dir)
    if run.spec is None:
        raise RunStoreError(f"{Path(run_dir) / 'spec.json'}: file not found (a run of a user's own model has "
                            "model.json instead; open it with open_run)")
    return run.spec, run.history, run.report
