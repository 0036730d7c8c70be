"""What the app does, without Qt: the window shows it.

The controller holds the session's runs and which one is trained and shown, decides whether Train can run (and
says why not), names run folders, words the progress and the errors, opens run folders, applies fixes, exports
models and histories, suggests file names and keeps the recent files. Everything here is plain Python on top of
the core (spec, edits, run store, diagnose); the window (main_window.py) turns clicks into calls and results into
widgets, so this module is tested without a display and its rules read in one place.

Errors a user can act on are `ActionError`s, worded one way: "Cannot <do what>: <why>."
"""

from __future__ import annotations

import logging
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from vg_studio.gui.findings_text import as_findings
from vg_studio.gui.run_data import RunData
from vg_studio.spec import ExperimentSpec, SpecError
from vg_studio.text import inert

log = logging.getLogger(__name__)

LIVE = ("starting", "running")
RECENT_KEEP = 8


class ActionError(Exception):
    """Something the user asked for cannot be done; str() is the one line the window shows."""

    def __init__(self, action: str, reason: str):
        reason = reason.rstrip(".")
        super().__init__(f"Cannot {action}: {reason}.")
        self.action, self.reason = action, reason


class Settings(Protocol):
    """QSettings' two methods the controller uses (a dict-backed stand-in works in tests)."""

    def value(self, key: str, default=None): ...

    def setValue(self, key: str, value) -> None: ...  # noqa: N802 (QSettings' name)


@dataclass(frozen=True)
class Progress:
    value: int
    maximum: int
    text: str


# ---- recent files ----------------------------------------------------------------------------------------------
class RecentFiles:
    """The experiments and run folders opened lately, newest first, kept in the settings across sessions."""

    KEY = "recent"

    def __init__(self, settings: Settings):
        self.settings = settings

    def entries(self) -> list[tuple[str, Path]]:
        """[(kind, path)] with kind "spec" or "run", newest first; paths that are gone are left out."""
        raw = self.settings.value(self.KEY, []) or []
        raw = [raw] if isinstance(raw, str) else list(raw)
        out = []
        for item in raw:
            kind, _, path = str(item).partition(":")
            if kind in ("spec", "run") and path and Path(path).exists():
                out.append((kind, Path(path)))
        return out

    def add(self, kind: str, path: Path) -> None:
        entry = f"{kind}:{Path(path).resolve()}"
        kept = [f"{k}:{p}" for k, p in self.entries() if f"{k}:{p}" != entry]
        self.settings.setValue(self.KEY, [entry, *kept][:RECENT_KEEP])

    def clear(self) -> None:
        self.settings.setValue(self.KEY, [])


# ---- names -----------------------------------------------------------------------------------------------------
def safe_name(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_" else "-" for c in name).strip("-") or "run"


def unique_dir(path: Path) -> Path:
    candidate, n = path, 2
    while candidate.exists():
        candidate, n = path.with_name(f"{path.name}-{n}"), n + 1
    return candidate


def format_seconds(seconds: float) -> str:
    seconds = int(round(seconds))
    return f"{seconds // 60} min {seconds % 60:02d} s" if seconds >= 60 else f"{seconds} s"


SUGGESTED = {"model": ("{}.keras", ".keras"), "history": ("{}-history.csv", ".csv"),
             "plots": ("{}-plots.png", ".png"), "spec": ("{}.json", ".json")}


def with_suffix(path: str | Path, kind: str, allowed: tuple = ()) -> Path:
    """`path` with the file type `kind` writes (".csv" added to "history", unless it ends in one of `allowed`)."""
    path = Path(path)
    suffix = SUGGESTED[kind][1]
    if path.suffix.lower() == suffix or path.suffix.lower() in allowed:
        return path
    return path.with_name(path.name + suffix)


# ---- the controller ----------------------------------------------------------------------------------------------
class Controller:
    def __init__(self, workspace: str | Path, settings: Settings):
        self.workspace = Path(workspace)
        self.settings = settings
        self.recent = RecentFiles(settings)
        self.spec_path: Path | None = None
        self.runs: list[RunData] = []
        self.current_run: RunData | None = None  # the run trained last (Train and Stop act on it)
        self.shown_run: RunData | None = None  # the run whose findings and network the window shows

    # ---- training ------------------------------------------------------------------------------------------
    @staticmethod
    def train_blocker(spec: ExperimentSpec, field_problems: list[str], training: bool) -> str:
        """Why Train cannot run now ("" when it can): a run in progress, a field whose text is not what would
        train (empty, not a number, refused), or a problem of the spec. The training process still loading is
        no reason: the run then starts as soon as it is ready."""
        if training:
            return "a run is training (Stop it first)"
        problems = list(field_problems) + [str(p) for p in spec.validate()]
        if problems:
            more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
            return f"{problems[0]}{more}"
        return ""

    def new_run(self, spec: ExperimentSpec, compare_with: RunData | None = None) -> RunData:
        """A run of `spec` in a fresh folder of the workspace, named after the spec."""
        stamp = time.strftime("%Y%m%d-%H%M%S")
        run_dir = unique_dir(self.workspace / f"{stamp}-{safe_name(spec.name)}")
        run = RunData(name=f"{spec.name} #{len(self.runs) + 1}", spec=spec, run_dir=run_dir, compare_with=compare_with)
        self.runs.append(run)
        self.current_run = run
        return run

    def progress_run(self) -> RunData | None:
        """The run the toolbar reports: the shown run while it is live (a followed one included), else the run
        trained last."""
        shown = self.shown_run
        if shown is not None and shown.status in LIVE:
            return shown
        return self.current_run or shown

    def progress(self, waiting_since: float | None, now: float | None = None) -> Progress:
        """The toolbar's progress bar. `waiting_since`: when the run asked for a training process that was still
        loading TensorFlow (None when it has one)."""
        run = self.progress_run()
        now = time.monotonic() if now is None else now
        if run is None:
            return Progress(0, 1, "idle")
        total = max(run.total_steps, 1)
        value = min(run.step, total)
        following = "following · " if getattr(run, "followed", False) and run.status in LIVE else ""
        if run.status == "starting":
            if waiting_since is not None:
                text = (f"waiting for the training process to load TensorFlow ({format_seconds(now - waiting_since)}"
                        "); the run starts as soon as it is ready")
            else:
                text = f"{following}starting: preparing data and model…"
            return Progress(0, 1, text)  # nothing to count yet (a busy bar would hide the words)
        if run.status == "running":
            epoch = (run.step - 1) // max(run.steps_per_epoch, 1) + 1 if run.step else 1
            eta = run.eta_seconds(now)
            eta_text = f" · about {format_seconds(eta)} left" if eta is not None else ""
            return Progress(value, total, f"{following}epoch {epoch}/{run.epochs} · step {run.step}/{run.total_steps}"
                                          f"{eta_text}")
        if run.status == "completed":  # every step ran; the last record may be a few steps before the end
            return Progress(total, total, f"completed: step {run.total_steps}/{run.total_steps}")
        return Progress(value, total, f"{run.status}: step {run.step}/{run.total_steps}")

    def device_text(self) -> str:
        run = self.progress_run()
        device = inert(run.device) if run is not None and run.device else ""
        return f"  device: {device}  " if device else "  device: shown when training starts  "

    # ---- runs ------------------------------------------------------------------------------------------------
    def add_run(self, run: RunData) -> None:
        if run not in self.runs:
            self.runs.append(run)

    def rename_run(self, run: RunData, name: str) -> str:
        """The run's name in this session's lists and legends (its folder keeps its name)."""
        name = " ".join(str(name).split())
        if not name:
            raise ActionError("rename the run", "a run needs a name")
        run.name = name
        return name

    def remove_run(self, run: RunData, delete_folder: bool = False) -> None:
        """Take a run off the list; with `delete_folder`, its folder goes from the disk too. Refused while the
        run is live (Stop it, or stop following it, first)."""
        if run.status in LIVE:
            raise ActionError(f"remove {run.name}", "it is still running (Stop it first)")
        if delete_folder and run.run_dir is not None and run.run_dir.is_dir():
            if not _looks_like_a_run(run.run_dir):
                raise ActionError(f"delete {run.run_dir}", "it does not look like a run folder")
            try:
                shutil.rmtree(run.run_dir)
            except OSError as exc:
                raise ActionError(f"delete {run.run_dir}", exc.strerror or str(exc)) from None
        if run in self.runs:
            self.runs.remove(run)
        if self.current_run is run:
            self.current_run = None
        if self.shown_run is run:
            self.shown_run = None
        for other in self.runs:
            if other.compare_with is run:
                other.compare_with = None

    def open_run_folder(self, path: str | Path):
        """(RunData with what the folder holds now, a RunFollower to keep following it — None when the run has
        ended). A finished run is read whole (its notes — skipped or damaged parts — included)."""
        from vg_studio.train.runstore import RunFollower, RunStoreError, read_report

        path = Path(path)
        if not path.is_dir():
            raise ActionError(f"open {inert(path)}", "not a folder" if path.exists() else "no such folder")
        if not any((path / name).is_file() for name in ("spec.json", "model.json", "history.h5", "history.log")):
            raise ActionError(f"open {inert(path)}", "not a run folder (no spec.json, model.json or history.h5 in it)")
        try:
            report_path = path / "report.json"
            finished = report_path.is_file() and read_report(report_path).get("status") in (
                "completed", "cancelled", "diverged", "failed")
            if finished:
                run, follower = RunData.open(path), None
            else:
                follower = RunFollower(path)
                run = RunData(name=path.name, spec=None, run_dir=path)
                for event in follower.poll():
                    run.apply_event(event)
                if follower.finished:
                    follower = None
        except (RunStoreError, SpecError, ValueError, OSError) as exc:
            raise ActionError(f"open {inert(path)}", _first_line(exc) or "the run cannot be read") from None
        reported = run.report.get("findings") if run.report else None
        if reported:
            run.findings = as_findings(reported)
        self.add_run(run)
        self.recent.add("run", path)
        return run, follower

    # ---- fixes -----------------------------------------------------------------------------------------------
    @staticmethod
    def fix_blocker(run: RunData | None) -> str:
        """Why the fixes of a run's findings cannot be applied to it ("" when they can)."""
        if run is not None and run.spec is None:
            return ("This run is a Keras model of your own (no experiment to edit): each fix says what to change in "
                    "your code.")
        return ""

    @staticmethod
    def fixed_spec(fix, run: RunData | None, editor_spec: ExperimentSpec) -> ExperimentSpec:
        """The fix applied to the spec of the run it was found in (the editor's spec when no run is shown)."""
        base = run.spec if run is not None and run.spec is not None else editor_spec
        try:
            return fix.apply(base)
        except (SpecError, ValueError) as exc:
            raise ActionError(f"apply “{getattr(fix, 'title', 'the fix')}”", _first_line(exc)) from None

    @staticmethod
    def trials_blocker(run: RunData | None) -> str:
        if run is None or run.spec is None:
            return "Try fixes needs a run trained from an experiment (it re-trains its network)"
        if run.status in LIVE or run.run_dir is None:
            return "Try fixes re-trains the run's network from its folder: wait until the run has ended"
        return ""

    @staticmethod
    def flags_apply_to_editor(run: RunData | None, editor_spec: ExperimentSpec) -> bool:
        """A finding's layer badges belong on the editor's table only while it holds the network they were found
        in (or when no run is shown)."""
        return run is None or run.spec is not None and run.spec.network == editor_spec.network

    # ---- files -----------------------------------------------------------------------------------------------
    def start_folder(self, kind: str) -> Path:
        return Path(self.settings.value(f"folders/{kind}", str(Path.home())) or Path.home())

    def remember_folder(self, kind: str, path: Path) -> None:
        path = Path(path)
        self.settings.setValue(f"folders/{kind}", str(path if path.is_dir() else path.parent))

    def suggested_path(self, kind: str, run: RunData | None = None) -> Path:
        """Where a save dialog starts: the last folder used for `kind`, and a file named after the run (or the
        experiment)."""
        folder_kind = "spec" if kind == "spec" else "export"
        name = run.name if run is not None else None
        if name is None and self.spec_path is not None and kind == "spec":
            return self.spec_path
        return self.start_folder(folder_kind) / SUGGESTED[kind][0].format(safe_name(name or "experiment"))

    def selected_or_current(self, selected: list) -> RunData | None:
        return selected[-1] if selected else self.current_run

    def load_spec(self, path: str | Path) -> ExperimentSpec:
        try:
            spec = ExperimentSpec.load(path)
        except SpecError as exc:
            raise ActionError(f"open {inert(path)}", _strip_path(_first_line(exc), path)) from None
        self.spec_path = Path(path)
        self.remember_folder("spec", self.spec_path)
        self.recent.add("spec", self.spec_path)
        return spec

    def save_spec(self, spec: ExperimentSpec, path: str | Path) -> Path:
        path = with_suffix(path, "spec")
        try:
            spec.save(path)
        except OSError as exc:
            raise ActionError(f"save {inert(path)}", exc.strerror or str(exc)) from None
        self.spec_path = path
        self.remember_folder("spec", path)
        self.recent.add("spec", path)
        return path

    def export_model(self, run: RunData | None, path: str | Path) -> Path:
        """The run's trained model, copied to `path` (.keras) by the one export path (`vg-studio export` uses it
        too): checked, written atomically, the copy checked again; on any failure nothing is left behind."""
        from vg_studio.keras_file import copy_keras_file
        from vg_studio.safeio import UnreadableFile

        if run is None or run.model_path is None:
            raise ActionError("export the model", "no trained model yet: train a run (or wait for it to finish)")
        path = with_suffix(path, "model")
        try:
            copy_keras_file(run.model_path, path)
        except UnreadableFile as exc:
            raise ActionError("export the model", str(exc)) from None
        except OSError as exc:
            raise ActionError(f"write {inert(path)}", exc.strerror or str(exc)) from None
        self.remember_folder("export", path)
        return path

    def export_history(self, run: RunData | None, path: str | Path) -> Path:
        from vg_studio.safeio import atomic_write_text

        history = finished_history(run) if run is not None else None
        if history is None:
            raise ActionError("export the history", "no run yet: train one (its first record starts the history) "
                                                    "or open a run folder")
        path = with_suffix(path, "history")
        try:
            atomic_write_text(path, history.to_csv())
        except OSError as exc:
            raise ActionError(f"write {inert(path)}", exc.strerror or str(exc)) from None
        self.remember_folder("export", path)
        return path


def finished_history(run: RunData):
    """The history to export: a run that has ended is read back from its folder (what the run store kept, every
    epoch included); a run still training gives what the app has received so far."""
    if run.run_dir is not None and run.status not in LIVE:
        from vg_studio.train.runstore import RunStoreError, open_run

        try:
            return open_run(run.run_dir).history
        except RunStoreError:
            pass
    return run.history


def _looks_like_a_run(path: Path) -> bool:
    names = {p.name for p in path.iterdir()} if path.is_dir() else set()
    return bool(names & {"spec.json", "model.json", "history.h5", "history.log", "report.json"}) and \
        not any((path / n).is_dir() and (path / n / "spec.json").exists() for n in names)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _strip_path(text: str, path) -> str:
    """"PATH: problem" → "problem" (the message's action already names the file)."""
    prefix = f"{path}: "
    return text[len(prefix):] if text.startswith(prefix) else text

