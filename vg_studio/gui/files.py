"""The window's file commands: experiments (new, open, save, presets, recent files), run folders (opened, and
followed while another process writes them) and exports (the trained model, the plots, the history). The rules
are the controller's; this part asks for paths, calls it and shows what came of it."""

from __future__ import annotations

import logging
from pathlib import Path

from PySide6.QtWidgets import QFileDialog

from vg_studio.gui import dialogs
from vg_studio.gui.controller import ActionError
from vg_studio.gui.presets import preset_title
from vg_studio.gui.run_data import RunData
from vg_studio.gui.worker import FollowWorker
from vg_studio.spec import ExperimentSpec, example_spec

log = logging.getLogger(__name__)


class FilesMixin:
    """Mixed into MainWindow (it provides controller, document, runs, show_error …)."""

    def _ask_path(self, kind: str, title: str, filters: str, save: bool, folder: bool = False,
                  run: RunData | None = None) -> str:
        if folder:
            return QFileDialog.getExistingDirectory(self, title, str(self.controller.start_folder(kind)))
        if save:
            start = str(self.controller.suggested_path(kind, run))
            return QFileDialog.getSaveFileName(self, title, start, filters)[0]
        return QFileDialog.getOpenFileName(self, title, str(self.controller.start_folder(kind)), filters)[0]

    def unsaved_then(self, doing: str, then) -> bool:
        """Run `then` now when the experiment has no unsaved changes, else after asking Save / Discard / Cancel.
        Returns True when `then` ran at once."""
        if self.document.undo_stack.isClean():
            then()
            return True
        dialogs.ask_unsaved(self, self.document.spec.name, doing, self.save_spec, then)
        return False

    def new_spec(self) -> bool:
        def new() -> None:
            self.document.reset(example_spec())
            self.spec_path = None
            self._update_title()
        return self.unsaved_then("starting a new experiment", new)

    def open_spec(self, path: str | None = None) -> bool:
        if not self.document.undo_stack.isClean():
            return self.unsaved_then("opening another experiment", lambda: self.open_spec_file(path))
        return self.open_spec_file(path)

    def open_spec_file(self, path: str | None = None) -> bool:
        path = path or self._ask_path("spec", "Open experiment", "Experiment JSON (*.json)", save=False)
        if not path:
            return False
        try:
            spec = self.controller.load_spec(path)
        except ActionError as exc:
            self.show_error(str(exc))
            return False
        self.document.reset(spec)
        self._update_title()
        return True

    def save_spec(self) -> bool:
        return self.save_spec_as(self.spec_path) if self.spec_path else self.save_spec_as()

    def save_spec_as(self, path: str | Path | None = None) -> bool:
        path = path or self._ask_path("spec", "Save experiment", "Experiment JSON (*.json)", save=True)
        if not path:
            return False
        try:
            self.controller.save_spec(self.document.spec, path)
        except ActionError as exc:
            self.show_error(str(exc))
            return False
        self.document.undo_stack.setClean()
        self._update_title()
        return True

    def load_preset(self, path: Path) -> bool:
        def load() -> None:
            try:
                spec = ExperimentSpec.load(path)
            except Exception as exc:  # a broken install: a message, never a traceback
                self.show_error(str(ActionError(f"load the preset {path.name}", str(exc).splitlines()[0])))
                return
            self.document.reset(spec)  # a preset is a new document (File ▸ Save names it)
            self.spec_path = None
            self._update_title()
        return self.unsaved_then(f"loading the preset “{preset_title(path)}”", load)

    def open_run(self, path: str | None = None) -> RunData | None:
        """Open a run folder: a finished run, or one another process (`vg-studio train`, a script with the
        monitor callback, a reproduction cell) is still writing — it is then followed live."""
        path = path or self._ask_path("runs", "Open run folder", "", save=False, folder=True)
        if not path:
            return None
        try:
            run, follower = self.controller.open_run_folder(path)
        except ActionError as exc:
            self.show_error(str(exc))
            return None
        except Exception as exc:  # a file this version cannot make sense of: a message, never a traceback
            log.warning("%s: cannot read the run: %s", path, exc, exc_info=True)
            self.show_error(str(ActionError(f"open {path}", f"{type(exc).__name__}: {exc}")))
            return None
        self.controller.remember_folder("runs", Path(path))
        if follower is not None:  # still being written: follow it
            self._follow(run, follower)
        self.runs.add_run(run)
        return run

    def _follow(self, run: RunData, follower) -> None:
        run.followed = True
        worker = FollowWorker(run.run_dir, self, follower=follower)
        worker.events.connect(lambda batch, run=run: self._on_events(run, batch))
        worker.failed.connect(lambda message, run=run: self._follow_failed(run, message))
        worker.finished.connect(lambda run=run: self.followers.pop(run, None))
        self.followers[run] = worker
        self._track(worker)
        worker.start()
        self.statusBar().showMessage(f"Following {run.run_dir}: it updates as the run is written", 8000)

    def _follow_failed(self, run: RunData, message: str) -> None:
        run.message = message
        self.runs.refresh(run)
        self.show_error(str(ActionError(f"follow {run.name} any further", message)))

    def _selected_run(self) -> RunData | None:
        return self.controller.selected_or_current(self.runs.selected_runs())

    def export_model(self, path: str | None = None) -> bool:
        run = self._selected_run()
        if run is None or run.model_path is None:
            self.show_error(str(ActionError("export the model", "no trained model yet: train a run (or wait for it "
                                                               "to finish)")))
            return False
        path = path or self._ask_path("model", "Export trained model", "Keras model (*.keras)", True, run=run)
        if not path:
            return False
        try:
            written = self.controller.export_model(run, path)
        except ActionError as exc:
            self.show_error(str(exc))
            return False
        self.statusBar().showMessage(f"Model written to {written}", 8000)
        return True

    def export_plots(self, path: str | None = None) -> list:
        run = self._selected_run()
        path = path or self._ask_path("plots", "Export plots", "PNG images (*.png);;SVG drawings (*.svg)", True,
                                      run=run)
        if not path:
            return []
        self.plots.redraw()
        try:
            files = self.plots.export(path)
        except OSError as exc:
            self.show_error(str(ActionError(f"write {path}", exc.strerror or str(exc))))
            return []
        self.controller.remember_folder("export", Path(path))
        self.statusBar().showMessage(f"{len(files)} plots written next to {path}", 8000)
        return files

    def export_history(self, path: str | None = None) -> bool:
        run = self._selected_run()
        if run is None or run.history is None:
            self.show_error(str(ActionError("export the history", "no run yet: train one or open a run folder")))
            return False
        path = path or self._ask_path("history", "Export history", "CSV (*.csv)", True, run=run)
        if not path:
            return False
        try:
            written = self.controller.export_history(run, path)
        except ActionError as exc:
            self.show_error(str(exc))
            return False
        self.statusBar().showMessage(f"History written to {written}", 8000)
        return True
