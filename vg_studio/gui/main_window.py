"""The main window: wires the spec document, panels, plots and the training worker together.

The spec document is the single source of truth; panels edit it through undoable commands and re-render from
it. Training runs in a TrainWorker thread whose events land in RunData; the plots redraw from RunData on a
timer, so the main thread never does more than a few milliseconds of work per event.
"""

from __future__ import annotations

import logging
import shutil
import time
from pathlib import Path

from PySide6.QtCore import QSettings, Qt, QTimer
from PySide6.QtGui import QAction, QActionGroup, QKeySequence
from PySide6.QtWidgets import (QDockWidget, QFileDialog, QLabel, QMainWindow, QMessageBox, QProgressBar,
                               QSizePolicy, QToolBar)

from vg_studio import __version__
from vg_studio.gui.commands import SpecDocument
from vg_studio.gui.panels.builder import BuilderPanel
from vg_studio.gui.panels.data import DataPanel
from vg_studio.gui.panels.diagnostics import DiagnosticsPanel
from vg_studio.gui.panels.optimizer import OptimizerPanel
from vg_studio.gui.panels.runs import RunsPanel
from vg_studio.gui.run_data import RunData
from vg_studio.gui.theme import RESOURCES, THEMES, apply_theme, configure_pyqtgraph, load_theme, \
    style_plot_widget
from vg_studio.gui.worker import KerasLoader, TrainWorker
from vg_studio.safeio import atomic_write_text
from vg_studio.spec import ExperimentSpec, SpecError, example_spec

log = logging.getLogger(__name__)
DEFAULT_WORKSPACE = Path.home() / "VGStudio" / "runs"


class MainWindow(QMainWindow):
    def __init__(self, spec: ExperimentSpec | None = None, workspace: str | Path | None = None):
        super().__init__()
        self.settings = QSettings()
        self.workspace = Path(workspace or self.settings.value("workspace", str(DEFAULT_WORKSPACE)))
        self.document = SpecDocument(spec or example_spec(), self)
        self.spec_path: Path | None = None
        self.keras_ready = False
        self.worker: TrainWorker | None = None
        self.current_run: RunData | None = None
        self.last_error = ""
        self._worker_active = False

        # The plots (pyqtgraph: ~0.4 s to import and build) are made right after the first paint, see `plots`.
        self._plots = None
        placeholder = QLabel("Preparing the plots…")
        placeholder.setAlignment(Qt.AlignCenter)
        placeholder.setSizePolicy(QSizePolicy.Expanding, QSizePolicy.Expanding)  # the docks keep their widths
        self.setCentralWidget(placeholder)
        self.builder = BuilderPanel(self.document)
        self.optimizer_panel = OptimizerPanel(self.document)
        self.data_panel = DataPanel(self.document)
        self.diagnostics = DiagnosticsPanel()
        self.runs = RunsPanel()
        self.docks = {}
        self._dock("Network", self.builder, Qt.LeftDockWidgetArea)
        self._dock("Training", self.optimizer_panel, Qt.LeftDockWidgetArea)
        self._dock("Data", self.data_panel, Qt.LeftDockWidgetArea)
        self.tabifyDockWidget(self.docks["Training"], self.docks["Data"])
        self.docks["Training"].raise_()
        self._dock("Diagnostics", self.diagnostics, Qt.RightDockWidgetArea)
        self._dock("Runs", self.runs, Qt.RightDockWidgetArea)

        self._make_actions()
        self._make_menus_and_toolbar()
        self.data_panel.dataset_ready.connect(
            lambda d: self.builder.set_data_shape(d.input_shape, d.num_classes))
        self.diagnostics.layers_flagged.connect(self._flag_layers)
        self.diagnostics.apply_fix.connect(self.apply_fix)
        self.diagnostics.apply_fix_and_compare.connect(self.apply_fix_and_compare)
        self.runs.selection_changed.connect(self._runs_selected)
        self.document.changed.connect(self._update_title)
        self.document.undo_stack.cleanChanged.connect(self._update_title)

        self.progress_timer = QTimer(self)  # progress text is redrawn at 10 Hz, not per batch
        self.progress_timer.setInterval(100)
        self.progress_timer.timeout.connect(self._update_progress)
        self.progress_timer.start()

        self.theme = self.settings.value("theme", "light")
        self.set_theme(self.theme if self.theme in THEMES else "light")
        self.resize(1500, 920)
        self._restored = self.settings.value("geometry") is not None
        if self._restored:
            self.restoreGeometry(self.settings.value("geometry"))
            self.restoreState(self.settings.value("state"))
        self._update_title()
        self._update_actions()

        self.keras_loader = KerasLoader(self)
        self.keras_loader.ready.connect(self._keras_ready)
        self.keras_loader.failed.connect(self.show_error)
        self._background_started = False
        self.exit_without_waiting = False

    @property
    def plots(self):
        """The plots panel, built on first use (normally just after the first paint)."""
        if self._plots is None:
            configure_pyqtgraph(load_theme(self.theme))
            from vg_studio.gui.plots.panel import PlotsPanel

            self._plots = PlotsPanel()
            self.setCentralWidget(self._plots)
            self.set_theme(self.theme)
            QTimer.singleShot(0, self._size_docks)  # once the layout knows the plots' size hints
        return self._plots

    def _size_docks(self) -> None:
        if not self._restored:  # first launch: room for the builder's columns, the rest to the plots
            self.resizeDocks([self.docks["Network"], self.docks["Diagnostics"]], [500, 250], Qt.Horizontal)

    def showEvent(self, event) -> None:
        super().showEvent(event)
        if not self._background_started:  # after the first paint: imports in threads still compete for the GIL
            self._background_started = True
            self._size_docks()
            QTimer.singleShot(50, lambda: self.plots)
            QTimer.singleShot(150, self.start_background_work)

    def start_background_work(self) -> None:
        self._background_started = True
        if not self.keras_loader.isRunning() and not self.keras_ready:
            self.keras_loader.start()
        self.data_panel.start_loading()

    # ---- construction -------------------------------------------------------------------------------------
    def _dock(self, title: str, widget, area) -> None:
        dock = QDockWidget(title, self)
        dock.setObjectName(title)
        dock.setWidget(widget)
        self.addDockWidget(area, dock)
        self.docks[title] = dock

    def _action(self, text: str, slot, shortcut=None, tip: str = "") -> QAction:
        action = QAction(text, self)
        action.triggered.connect(lambda checked=False: slot())
        if shortcut is not None:
            action.setShortcuts(shortcut if isinstance(shortcut, list) else [shortcut])
        action.setStatusTip(tip or text.replace("&", "").replace("…", ""))
        return action

    def _make_actions(self) -> None:
        a = self.actions_ = {}
        a["new"] = self._action("&New experiment", self.new_spec, QKeySequence.New)
        a["open"] = self._action("&Open experiment…", self.open_spec, QKeySequence.Open)
        a["save"] = self._action("&Save experiment", self.save_spec, QKeySequence.Save)
        a["save_as"] = self._action("Save experiment &as…", self.save_spec_as, QKeySequence("Ctrl+Shift+S"))
        a["open_run"] = self._action("Open &run folder…", self.open_run, QKeySequence("Ctrl+Shift+O"))
        a["export_model"] = self._action("Export trained &model (.keras)…", self.export_model)
        a["export_plots"] = self._action("Export &plots (PNG/SVG)…", self.export_plots)
        a["export_history"] = self._action("Export &history (CSV)…", self.export_history)
        a["quit"] = self._action("&Quit", self.close, QKeySequence.Quit)
        a["undo"] = self.document.undo_stack.createUndoAction(self, "&Undo")
        a["undo"].setShortcut(QKeySequence.Undo)
        a["redo"] = self.document.undo_stack.createRedoAction(self, "&Redo")
        a["redo"].setShortcuts([QKeySequence("Ctrl+Shift+Z"), QKeySequence("Ctrl+Y")])
        a["train"] = self._action("▶ Train", self.train, [QKeySequence("Ctrl+Return"), QKeySequence("Ctrl+Enter")],
                                  "Train the network (Ctrl+Return)")
        a["stop"] = self._action("■ Stop", self.stop, QKeySequence(Qt.Key_Escape), "Stop after this batch (Esc)")

    def _make_menus_and_toolbar(self) -> None:
        a = self.actions_
        bar = self.menuBar()
        files = bar.addMenu("&File")
        for key in ("new", "open", "save", "save_as", None, "open_run", None, "export_model", "export_plots",
                    "export_history", None, "quit"):
            files.addSeparator() if key is None else files.addAction(a[key])
        edit = bar.addMenu("&Edit")
        edit.addAction(a["undo"])
        edit.addAction(a["redo"])
        run = bar.addMenu("&Run")
        run.addAction(a["train"])
        run.addAction(a["stop"])
        self.presets_menu = bar.addMenu("&Presets")
        groups = {}
        for path in preset_paths():
            group = next((title for prefix, title in PRESET_GROUPS.items() if path.stem.startswith(prefix)), None)
            if group is not None and group not in groups:
                groups[group] = self.presets_menu.addMenu(group)
            menu = groups[group] if group is not None else self.presets_menu
            menu.addAction(self._action(preset_title(path), lambda p=path: self.load_preset(p)))
        view = bar.addMenu("&View")
        themes = QActionGroup(self)
        for name in THEMES:
            action = QAction(f"{name.capitalize()} theme", self, checkable=True)
            action.setChecked(name == self.settings.value("theme", "light"))
            action.triggered.connect(lambda checked, n=name: self.set_theme(n))
            themes.addAction(action)
            view.addAction(action)
        view.addSeparator()
        for dock in self.docks.values():
            view.addAction(dock.toggleViewAction())
        tools = QToolBar("Training")
        tools.setObjectName("training-toolbar")
        tools.addAction(a["train"])
        tools.addAction(a["stop"])
        tools.addSeparator()
        self.progress = QProgressBar()
        self.progress.setMinimumWidth(380)
        self.progress.setFormat("idle")
        self.progress.setValue(0)
        tools.addWidget(self.progress)
        tools.addSeparator()
        self.device_label = QLabel("  device: shown when training starts  ")
        tools.addWidget(self.device_label)
        self.addToolBar(tools)
        self.keras_label = QLabel("Loading TensorFlow… (Train is enabled when it is ready)")
        self.statusBar().addPermanentWidget(self.keras_label)

    # ---- state ------------------------------------------------------------------------------------------
    @property
    def training(self) -> bool:
        # true until the worker's queued `finished` arrives, i.e. after every event it sent has been handled
        return self.worker is not None and (self.worker.isRunning() or self._worker_active)

    def _update_actions(self) -> None:
        self.actions_["train"].setEnabled(self.keras_ready and not self.training)
        self.actions_["stop"].setEnabled(self.training)

    def _update_title(self) -> None:
        spec = self.document.spec
        dirty = "" if self.document.undo_stack.isClean() else " *"
        where = f" — {self.spec_path.name}" if self.spec_path else ""
        self.setWindowTitle(f"VG Studio {__version__} — {spec.name}{where}{dirty}")

    def _keras_ready(self, text: str) -> None:
        from vg_studio.nn.build import count_params

        self.keras_ready = True
        self.keras_label.setText(text)
        self.builder.params_counter = count_params
        self.builder.update_params()
        self._update_actions()

    def set_theme(self, name: str) -> None:
        from PySide6.QtWidgets import QApplication

        colors = apply_theme(QApplication.instance(), name)
        self.theme = name
        self.settings.setValue("theme", name)
        if self._plots is not None:
            for box in self._plots.findChildren(__import__("pyqtgraph").PlotWidget):
                style_plot_widget(box, colors)

    def show_error(self, message: str) -> None:
        """A clear message that does not block (a modal dialog would stall tests and the event loop)."""
        self.last_error = message
        self.statusBar().showMessage(message, 15000)
        box = QMessageBox(QMessageBox.Warning, "VG Studio", message, QMessageBox.Ok, self)
        box.setAttribute(Qt.WA_DeleteOnClose)
        box.open()

    # ---- training -----------------------------------------------------------------------------------------
    def train(self, compare_with: RunData | None = None) -> RunData | None:
        if self.training or not self.keras_ready:
            return None
        spec = self.document.spec
        problems = spec.validate()
        if problems:
            self.show_error("Cannot train yet: " + "; ".join(problems))
            return None
        stamp = time.strftime("%Y%m%d-%H%M%S")
        run_dir = unique_dir(self.workspace / f"{stamp}-{safe_name(spec.name)}")
        run = RunData(name=f"{spec.name} #{len(self.runs.runs) + 1}", spec=spec, run_dir=run_dir,
                      compare_with=compare_with)
        self.current_run = run
        self.worker = TrainWorker(spec, run_dir, self)
        self.worker.event.connect(lambda event, run=run: self._on_event(run, event))
        self.worker.failed.connect(lambda message, run=run: self._on_failed(run, message))
        self.worker.finished.connect(self._worker_finished)
        self.runs.add_run(run, select=False)
        self.runs.select([compare_with, run] if compare_with is not None else [run])
        self.diagnostics.show_findings([], [])
        self._worker_active = True
        self.worker.start()
        self._update_actions()
        self.statusBar().showMessage(f"Training {spec.name} → {run_dir}", 5000)
        return run

    def stop(self) -> None:
        if self.training:
            self.worker.cancel()
            self.statusBar().showMessage("Stopping after the current batch…", 5000)

    def _on_event(self, run: RunData, event) -> None:
        from vg_studio.train import events

        run.apply_event(event)
        if isinstance(event, events.RunStarted):
            self.device_label.setText(f"  device: {event.device}  ")
            self.runs.refresh(run)
        elif isinstance(event, events.FindingsUpdated):
            if run in self.plots.runs:
                self.diagnostics.show_findings(run.findings, run.layer_names)
        elif isinstance(event, events.EpochEnd):
            self.runs.refresh(run)
        elif isinstance(event, events.RunFinished):
            self.runs.refresh(run)
            if event.status in ("failed", "diverged"):
                self.show_error(event.message)
            else:
                self.statusBar().showMessage(f"{run.name}: {event.message}", 10000)
        if run in self.plots.runs:
            self.plots.mark_dirty()

    def _on_failed(self, run: RunData, message: str) -> None:
        run.status, run.message = "failed", message
        self.runs.refresh(run)
        self.show_error(message)

    def _worker_finished(self) -> None:
        self._worker_active = False
        self._update_actions()
        self._update_progress()
        self.plots.mark_dirty()

    def _update_progress(self) -> None:
        run = self.current_run
        if run is None:
            return
        total = max(run.total_steps, 1)
        self.progress.setMaximum(total)
        self.progress.setValue(min(run.step, total))
        if run.status in ("starting",):
            self.progress.setFormat("preparing data and model…")
        elif run.status == "running":
            epoch = run.batch_steps and ((run.step - 1) // max(run.steps_per_epoch, 1) + 1) or 1
            eta = run.eta_seconds()
            eta_text = f" · ETA {format_seconds(eta)}" if eta is not None else ""
            self.progress.setFormat(f"epoch {epoch}/{run.epochs} · step {run.step}/{run.total_steps}{eta_text}")
        else:
            self.progress.setFormat(f"{run.status}: step {run.step}/{run.total_steps}")

    # ---- runs, diagnostics ----------------------------------------------------------------------------------
    def _runs_selected(self, runs: list) -> None:
        self.plots.show_runs(runs)
        primary = runs[-1] if runs else None
        self.diagnostics.show_findings(primary.findings if primary else [], primary.layer_names if primary else [])

    def _flag_layers(self, layers: set) -> None:
        self.builder.set_flagged_layers(layers)
        self.plots.set_highlighted_layers(layers)

    def apply_fix(self, fix) -> bool:
        title = getattr(fix, "title", "fix")
        try:
            self.document.edit(f"Fix: {title}", lambda spec: fix.apply(spec))
        except (SpecError, ValueError) as exc:
            self.show_error(f"Cannot apply {title!r}: {exc}")
            return False
        return True

    def apply_fix_and_compare(self, fix) -> RunData | None:
        before = self.runs.selected_runs()[-1] if self.runs.selected_runs() else self.current_run
        if self.training:
            self.show_error("Stop the current run first (Esc), then compare.")
            return None
        if not self.apply_fix(fix):
            return None
        return self.train(compare_with=before)

    # ---- files ----------------------------------------------------------------------------------------------
    def _ask_path(self, kind: str, title: str, filters: str, save: bool, folder: bool = False) -> str:
        start = self.settings.value(f"folders/{kind}", str(Path.home()))
        if folder:
            return QFileDialog.getExistingDirectory(self, title, start)
        ask = QFileDialog.getSaveFileName if save else QFileDialog.getOpenFileName
        return ask(self, title, start, filters)[0]

    def _remember(self, kind: str, path: Path) -> None:
        self.settings.setValue(f"folders/{kind}", str(path if path.is_dir() else path.parent))

    def new_spec(self) -> None:
        self.document.reset(example_spec())
        self.spec_path = None
        self._update_title()

    def open_spec(self, path: str | None = None) -> bool:
        path = path or self._ask_path("spec", "Open experiment", "Experiment JSON (*.json)", save=False)
        if not path:
            return False
        try:
            spec = ExperimentSpec.load(path)
        except SpecError as exc:
            self.show_error(str(exc))
            return False
        self.spec_path = Path(path)
        self._remember("spec", self.spec_path)
        self.document.reset(spec)
        self._update_title()
        return True

    def save_spec(self) -> bool:
        return self.save_spec_as(self.spec_path) if self.spec_path else self.save_spec_as()

    def save_spec_as(self, path: str | Path | None = None) -> bool:
        path = path or self._ask_path("spec", "Save experiment", "Experiment JSON (*.json)", save=True)
        if not path:
            return False
        path = Path(path).with_suffix(".json") if not str(path).endswith(".json") else Path(path)
        try:
            self.document.spec.save(path)
        except OSError as exc:
            self.show_error(f"{path}: cannot save ({exc.strerror or exc})")
            return False
        self.spec_path = path
        self._remember("spec", path)
        self.document.undo_stack.setClean()
        self._update_title()
        return True

    def load_preset(self, path: Path) -> bool:
        try:
            spec = ExperimentSpec.load(path)
        except SpecError as exc:
            self.show_error(str(exc))
            return False
        self.document.replace(spec, f"Preset {preset_title(path)}")
        return True

    def open_run(self, path: str | None = None) -> RunData | None:
        path = path or self._ask_path("runs", "Open run folder", "", save=False, folder=True)
        if not path:
            return None
        try:
            run = RunData.open(path)
        except (SpecError, ValueError, OSError) as exc:
            self.show_error(str(exc))
            return None
        self._remember("runs", Path(path))
        self.runs.add_run(run)
        return run

    def _selected_run(self) -> RunData | None:
        selected = self.runs.selected_runs()
        return selected[-1] if selected else self.current_run

    def export_model(self, path: str | None = None) -> bool:
        run = self._selected_run()
        if run is None or run.model_path is None:
            self.show_error("No trained model yet: train a run (or wait for it to finish), then export.")
            return False
        path = path or self._ask_path("export", "Export trained model", "Keras model (*.keras)", save=True)
        if not path:
            return False
        path = Path(path) if str(path).endswith(".keras") else Path(f"{path}.keras")
        try:
            tmp = path.with_name(f".{path.name}.tmp")
            shutil.copyfile(run.model_path, tmp)
            tmp.replace(path)
        except OSError as exc:
            self.show_error(f"{path}: cannot write ({exc.strerror or exc})")
            return False
        self._remember("export", path)
        self.statusBar().showMessage(f"Model written to {path}", 8000)
        return True

    def export_plots(self, path: str | None = None) -> list:
        path = path or self._ask_path("export", "Export plots", "PNG images (*.png);;SVG drawings (*.svg)", True)
        if not path:
            return []
        self.plots.redraw()
        try:
            files = self.plots.export(path)
        except OSError as exc:
            self.show_error(f"{path}: cannot write ({exc.strerror or exc})")
            return []
        self._remember("export", Path(path))
        self.statusBar().showMessage(f"{len(files)} plots written next to {path}", 8000)
        return files

    def export_history(self, path: str | None = None) -> bool:
        run = self._selected_run()
        if run is None or run.history is None:
            self.show_error("No run to export: train one or open a run folder first.")
            return False
        path = path or self._ask_path("export", "Export history", "CSV (*.csv)", save=True)
        if not path:
            return False
        try:
            atomic_write_text(path, run.history.to_csv())
        except OSError as exc:
            self.show_error(f"{path}: cannot write ({exc.strerror or exc})")
            return False
        self._remember("export", Path(path))
        return True

    # ---- closing --------------------------------------------------------------------------------------------
    def closeEvent(self, event) -> None:
        """Stop the worker and wait for it (it writes the run's files), so Qt never destroys a running QThread.

        An import of TensorFlow cannot be interrupted: the application (`exit_without_waiting`, set by app.main)
        ends the process instead of waiting for it; an embedding (tests) waits."""
        if self.training:
            self.statusBar().showMessage("Stopping training…")
            self.worker.stop_and_wait()
        self._background_started = True  # a window closed before it was shown starts nothing
        self.settings.setValue("geometry", self.saveGeometry())
        self.settings.setValue("state", self.saveState())
        self.settings.sync()
        if not self.exit_without_waiting:
            self.wait_for_background_work()
        if self._plots is not None:
            self._plots.timer.stop()
        self.progress_timer.stop()
        super().closeEvent(event)

    def wait_for_background_work(self) -> None:
        self.keras_loader.wait()
        self.data_panel.wait_for_loaders()

    @property
    def background_work_running(self) -> bool:
        return self.keras_loader.isRunning() or self.data_panel.loading


# Presets meant to be trained one after the other and compared share a submenu.
PRESET_GROUPS = {"teach-rnn-": "SimpleRNN vs LSTM vs GRU on the adding problem"}


def preset_paths() -> list[Path]:
    return sorted((RESOURCES / "presets").glob("*.json"))


PRESET_TITLES = {"teach-rnn-simple": "SimpleRNN", "teach-rnn-lstm": "LSTM", "teach-rnn-gru": "GRU",
                 "teach-deep-sigmoid-aux": "teach deep sigmoid with auxiliary heads"}


def preset_title(path: Path) -> str:
    if path.stem in PRESET_TITLES:
        return PRESET_TITLES[path.stem]
    return path.stem.replace("-", " ").replace("_", " ")


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
