"""The main window: wires the spec document, panels, plots and the training/following workers together.

The spec document is the single source of truth; panels edit it through undoable commands and re-render from
it. Training runs in a child process supervised by a TrainWorker thread; runs written by other processes are
followed by a FollowWorker. Both deliver events in batches that land in RunData; the plots redraw from RunData on
a timer, so the main thread never does more than a few milliseconds of work at a time.
"""

from __future__ import annotations

import functools
import logging
import shutil
import time
from pathlib import Path

from PySide6.QtCore import QSettings, Qt, QTimer
from PySide6.QtGui import QAction, QActionGroup, QKeySequence
from PySide6.QtWidgets import (QApplication, QDockWidget, QFileDialog, QFrame, QLabel, QMainWindow, QMessageBox,
                               QProgressBar, QScrollArea, QSizePolicy, QSplitter, QToolBar)

from vg_studio import __version__
from vg_studio.gui import dialogs
from vg_studio.gui.commands import SpecDocument
from vg_studio.gui.panels.builder import BuilderPanel
from vg_studio.gui.panels.data import DataPanel
from vg_studio.gui.panels.diagnostics import DiagnosticsPanel, as_findings
from vg_studio.gui.panels.optimizer import OptimizerPanel
from vg_studio.gui.panels.runs import RunsPanel
from vg_studio.gui.plots.network import NetworkDiagram
from vg_studio.gui.run_data import RunData
from vg_studio.gui.theme import RESOURCES, THEMES, apply_theme, configure_pyqtgraph, load_theme
from vg_studio.gui.worker import FollowWorker, TrainingService, TrainWorker, finished_event
from vg_studio.safeio import atomic_write_text
from vg_studio.spec import ExperimentSpec, SpecError, example_spec

log = logging.getLogger(__name__)
DEFAULT_WORKSPACE = Path.home() / "VGStudio" / "runs"
LAYOUT_VERSION = 2  # bump when the docks change: a state saved by an older layout is not restored
DIAGNOSTICS_AFTER_MS = 30  # a live run's new findings are shown this long after the events, or after a plot's unit
MIN_PLOTS_SHARE = 0.4  # a restored layout that leaves the plots less than this share of the window is reset


class MainWindow(QMainWindow):
    def __init__(self, spec: ExperimentSpec | None = None, workspace: str | Path | None = None):
        super().__init__()
        self.settings = QSettings()
        self.workspace = Path(workspace or self.settings.value("workspace", str(DEFAULT_WORKSPACE)))
        self.document = SpecDocument(spec or example_spec(), self)
        self.spec_path: Path | None = None
        self.keras_ready = False  # the training process has imported TensorFlow and waits for a run
        self._process_ready = False
        self.backend = ""
        self.worker: TrainWorker | None = None
        self.followers: dict = {}  # RunData -> FollowWorker, for runs other processes write
        self.current_run: RunData | None = None
        self.shown_run: RunData | None = None  # the run whose findings the diagnostics panel shows
        self.last_error = ""
        self._worker_active = False
        self._closing_confirmed = False
        self._closed = False  # set once the window has really closed: deferred start-up work is skipped
        # Every thread this window starts. A window deleted without closing (its close was refused to ask about
        # unsaved changes, then its owner deleted it) must still stop them: Qt aborts the process when a running
        # QThread is destroyed with its parent.
        self._threads: list = []

        # The plots (pyqtgraph: ~0.4 s to import and build) are made right after the first paint, see `plots`.
        # They live in a scroll area: however wide side-by-side heatmaps need to be, the window never grows
        # beyond the screen and never pushes the docks off it; the plots scroll instead.
        self._plots = None
        self.plots_area = QScrollArea()
        self.plots_area.setObjectName("plots-area")
        self.plots_area.setWidgetResizable(True)
        self.plots_area.setFrameShape(QFrame.NoFrame)
        self.plots_area.setSizePolicy(QSizePolicy.Expanding, QSizePolicy.Expanding)
        placeholder = QLabel("Preparing the plots…")
        placeholder.setAlignment(Qt.AlignCenter)
        self.plots_area.setWidget(placeholder)
        self.setCentralWidget(self.plots_area)
        self.builder = BuilderPanel(self.document)
        self.optimizer_panel = OptimizerPanel(self.document)
        self.data_panel = DataPanel(self.document)
        self.diagnostics = DiagnosticsPanel()
        self.runs = RunsPanel()
        # The network as a diagram beside its table: the editor's network while it is edited, the shown run's
        # layers coloured by their current gradient while it trains or once it is selected.
        self.diagram = NetworkDiagram()
        self.diagram.setToolTip("The network, each layer coloured by its current mean |gradient|")
        self.network_split = QSplitter(Qt.Vertical)
        self.network_split.setObjectName("network-split")
        self.network_split.setChildrenCollapsible(False)
        self.network_split.addWidget(self.builder)
        self.network_split.addWidget(self.diagram)
        self.network_split.setStretchFactor(0, 3)
        self.network_split.setStretchFactor(1, 1)
        self.network_split.setSizes([520, 150])  # the table first; the diagram reads at a glance
        self.docks = {}
        self._dock("Network", self.network_split, Qt.LeftDockWidgetArea)
        self._dock("Training", self.optimizer_panel, Qt.LeftDockWidgetArea)
        self._dock("Data", self.data_panel, Qt.LeftDockWidgetArea)
        self.tabifyDockWidget(self.docks["Training"], self.docks["Data"])
        self.docks["Training"].raise_()
        self._dock("Diagnostics", self.diagnostics, Qt.RightDockWidgetArea)
        self._dock("Runs", self.runs, Qt.RightDockWidgetArea)
        self.trials = None  # the "Try fixes" table, docked on first use

        self._make_actions()
        self._make_menus_and_toolbar()
        self.data_panel.dataset_ready.connect(self._dataset_ready)
        self.diagnostics.layers_flagged.connect(self._flag_layers)
        self.diagnostics.apply_fix.connect(self.apply_fix)
        self.diagnostics.apply_fix_and_compare.connect(self.apply_fix_and_compare)
        self.diagnostics.try_fixes.connect(self.try_fixes)
        self.runs.selection_changed.connect(self._runs_selected)
        self.document.changed.connect(self._update_title)
        self.document.changed.connect(self._show_editor_network)
        self.document.undo_stack.cleanChanged.connect(self._update_title)
        self._show_editor_network()

        self._diagnostics_later = QTimer(self)  # a live run's new findings, after the event batch and its repaint
        self._diagnostics_later.setSingleShot(True)
        self._diagnostics_later.setInterval(DIAGNOSTICS_AFTER_MS)
        self._diagnostics_later.timeout.connect(self._show_shown_diagnostics)
        self.progress_timer = QTimer(self)  # progress text is redrawn at 10 Hz, not per batch
        self.progress_timer.setInterval(100)
        self.progress_timer.timeout.connect(self._update_progress)
        self.progress_timer.start()

        self.theme = self.settings.value("theme", "light")
        self.set_theme(self.theme if self.theme in THEMES else "light")
        self.resize(1500, 920)
        self._restored = False
        if self.settings.value("layout_version", 0, int) == LAYOUT_VERSION and self.settings.value("geometry"):
            self.restoreGeometry(self.settings.value("geometry"))
            self._restored = bool(self.restoreState(self.settings.value("state"), LAYOUT_VERSION))
        self._fit_to_screen()
        self._update_title()

        self.service = TrainingService.instance()
        self.service.ready.connect(self._training_process_ready)
        self.service.failed.connect(self._training_process_failed)
        self._background_started = False
        self.exit_without_waiting = False
        self._param_loader = None
        self._update_actions()
        self.destroyed.connect(functools.partial(stop_threads, self._threads, self.data_panel))

    @property
    def plots(self):
        """The plots panel, built on first use (normally just after the first paint)."""
        if self._plots is None:
            configure_pyqtgraph(load_theme(self.theme))
            from vg_studio.gui.plots.panel import PlotsPanel

            self._plots = PlotsPanel()
            self.plots_area.setWidget(self._plots)
            self._apply_plot_theme(load_theme(self.theme))
            QTimer.singleShot(0, self._size_docks)  # once the layout knows the plots' size hints
        return self._plots

    def _size_docks(self) -> None:
        """First launch: room for the builder's columns, the rest to the plots. A restored layout that leaves the
        plots only a strip (it was saved while some compare made the docks wide) gets the same sizes."""
        central = self.plots_area.width()
        if not self._restored or central < MIN_PLOTS_SHARE * self.width():
            left = min(560, int(0.36 * self.width()))
            right = min(300, int(0.2 * self.width()))
            self.resizeDocks([self.docks["Network"], self.docks["Diagnostics"]], [left, right], Qt.Horizontal)

    def _fit_to_screen(self) -> None:
        screen = self.screen().availableGeometry() if self.screen() is not None else None
        if screen is None:
            return
        width, height = min(self.width(), screen.width()), min(self.height(), screen.height())
        if (width, height) != (self.width(), self.height()):
            self.resize(width, height)

    def showEvent(self, event) -> None:
        super().showEvent(event)
        if not self._background_started:  # after the first paint: imports in threads still compete for the GIL
            self._background_started = True
            QTimer.singleShot(50, lambda: None if self._closed else self.plots)
            QTimer.singleShot(150, lambda: None if self._closed else self.start_background_work())

    def start_background_work(self) -> None:
        self._background_started = True
        self.service.warm_up()
        self.data_panel.start_loading()
        self._load_param_counter()
        self.diagnostics.warm_up()

    def _load_param_counter(self) -> None:
        """The builder's live parameter count. Keras-free where the engine offers it (the app's own process never
        needs TensorFlow); otherwise vg_studio.nn.build (and TensorFlow) is imported in a background thread."""
        try:
            from vg_studio.nn.params import count_params
        except ImportError:
            from vg_studio.gui.worker import ParamCounterLoader

            if self._param_loader is None:
                self._param_loader = ParamCounterLoader(self)
                self._param_loader.ready.connect(self._set_param_counter)
                self._track(self._param_loader)
                self._param_loader.start()
            return
        self._set_param_counter(count_params)

    def _set_param_counter(self, counter) -> None:
        self.builder.params_counter = counter
        self.builder.update_params()
        self._update_ready()

    def _update_ready(self) -> None:
        """Ready to train: a training process waits with TensorFlow loaded (and the builder counts parameters)."""
        self.keras_ready = self._process_ready and self.builder.params_counter is not None
        self.keras_label.setText(f"{self.backend} ready in the training process" if self.keras_ready else
                                 "Starting TensorFlow in the training process… (Train is enabled when it is ready)")
        self._update_actions()

    # ---- construction -------------------------------------------------------------------------------------
    def _dock(self, title: str, widget, area) -> QDockWidget:
        """A dock whose panel scrolls when the dock is narrower than the panel would like: a small screen or a
        restored layout never pushes another dock (or the plots) off the window."""
        dock = QDockWidget(title, self)
        dock.setObjectName(title)
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QFrame.NoFrame)
        scroll.setWidget(widget)
        dock.setWidget(scroll)
        self.addDockWidget(area, dock)
        self.docks[title] = dock
        return dock

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
        a["open_run"] = self._action("Open &run folder…", self.open_run, QKeySequence("Ctrl+Shift+O"),
                                     "Open a run folder — a finished run, or one another program is still writing")
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
        a["stop"] = self._action("■ Stop", self.stop, QKeySequence(Qt.Key_Escape),
                                 "Stop after this batch (Esc); press again to stop at once")
        a["reading"] = self._action("&Background reading", self.show_background_reading)
        a["about"] = self._action("&About VG Studio", self.show_about)

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
        self.presets_menu.setToolTipsVisible(True)
        fill_presets_menu(self.presets_menu, self._action, self.load_preset)
        view = bar.addMenu("&View")
        themes = QActionGroup(self)
        self.theme_actions = {}
        for name in THEMES:
            action = QAction(f"{name.capitalize()} theme", self, checkable=True)
            action.setChecked(name == self.settings.value("theme", "light"))
            action.triggered.connect(lambda checked, n=name: self.set_theme(n))
            themes.addAction(action)
            view.addAction(action)
            self.theme_actions[name] = action
        view.addSeparator()
        for dock in self.docks.values():
            view.addAction(dock.toggleViewAction())
        self.view_menu = view
        help_menu = bar.addMenu("&Help")
        help_menu.addAction(a["reading"])
        help_menu.addAction(a["about"])
        tools = QToolBar("Training")
        tools.setObjectName("training-toolbar")
        tools.addAction(a["train"])
        tools.addAction(a["stop"])
        tools.addSeparator()
        self.progress = QProgressBar()
        self.progress.setMinimumWidth(220)
        self.progress.setMaximumWidth(460)
        self.progress.setFormat("idle")
        self.progress.setValue(0)
        tools.addWidget(self.progress)
        tools.addSeparator()
        self.device_label = QLabel("  device: shown when training starts  ")
        tools.addWidget(self.device_label)
        self.addToolBar(tools)
        self.keras_label = QLabel("Starting TensorFlow in the training process… (Train is enabled when it is ready)")
        self.statusBar().addPermanentWidget(self.keras_label)

    # ---- state ------------------------------------------------------------------------------------------
    @property
    def training(self) -> bool:
        # true until the worker's queued `finished` arrives, i.e. after every event it sent has been handled
        return self.worker is not None and (self.worker.isRunning() or self._worker_active)

    def _update_actions(self) -> None:
        self.actions_["train"].setEnabled(self.keras_ready and not self.training)
        self.actions_["stop"].setEnabled(self.training)
        stopping = self.training and self.worker.stop_requested
        self.actions_["stop"].setText("■ Stop now" if stopping else "■ Stop")

    def _update_title(self) -> None:
        spec = self.document.spec
        dirty = "" if self.document.undo_stack.isClean() else " *"
        where = f" — {self.spec_path.name}" if self.spec_path else ""
        self.setWindowTitle(f"VG Studio {__version__} — {spec.name}{where}{dirty}")

    def _track(self, thread) -> None:
        """Remember a thread this window started (see `_threads`); the finished ones are forgotten."""
        self._threads[:] = [t for t in self._threads if _running(t)] + [thread]

    def _dataset_ready(self, data) -> None:
        self.builder.set_data_shape(data.input_shape, data.num_classes)
        if self.diagram.run is None:
            self._show_editor_network()

    def _show_editor_network(self) -> None:
        builder = self.builder
        self.diagram.show_spec(self.document.spec, builder.num_classes, builder.input_shape)

    def _training_process_ready(self, info: dict) -> None:
        self._process_ready = True
        self.backend = f"Keras {info.get('keras', '?')} ({info.get('backend', '?')})"
        self._update_ready()

    def _training_process_failed(self, message: str) -> None:
        self.keras_label.setText("The training process could not start (see the message)")
        self.show_error(message)

    def set_theme(self, name: str) -> None:
        colors = apply_theme(QApplication.instance(), name)
        self.theme = name
        self.settings.setValue("theme", name)
        if getattr(self, "theme_actions", None) and name in self.theme_actions:
            self.theme_actions[name].setChecked(True)
        if self._plots is not None:
            self._apply_plot_theme(colors)

    def _apply_plot_theme(self, colors: dict) -> None:
        """Every plot, legend and colour bar re-coloured (the plots' own API; the diagram follows the palette)."""
        self._plots.apply_theme(colors)

    def show_error(self, message: str) -> None:
        """A clear message that does not block (a modal dialog would stall tests and the event loop)."""
        self.last_error = message
        self.statusBar().showMessage(message, 15000)
        box = QMessageBox(QMessageBox.Warning, "VG Studio", message, QMessageBox.Ok, self)
        box.setAttribute(Qt.WA_DeleteOnClose)
        box.open()

    # ---- training -----------------------------------------------------------------------------------------
    def train(self, compare_with: RunData | None = None) -> RunData | None:
        """Train the spec in the editor in the warm training process. Refused (quietly: the action is disabled)
        until a training process has loaded TensorFlow once; after that, a run clicked while the next process
        still loads starts as soon as it is ready."""
        if self.training:
            return None
        spec = self.document.spec
        problems = spec.validate()
        if problems:  # said whether or not the training process is ready yet
            self.show_error("Cannot train yet: " + "; ".join(problems))
            return None
        if not self.keras_ready:
            return None
        stamp = time.strftime("%Y%m%d-%H%M%S")
        run_dir = unique_dir(self.workspace / f"{stamp}-{safe_name(spec.name)}")
        run = RunData(name=f"{spec.name} #{len(self.runs.runs) + 1}", spec=spec, run_dir=run_dir,
                      compare_with=compare_with)
        self.current_run = run
        self.worker = TrainWorker(spec, run_dir, self)  # the shared pool: the service's warm process
        self.worker.events.connect(lambda batch, run=run: self._on_events(run, batch))
        self.worker.finished.connect(self._worker_finished)
        self.runs.add_run(run, select=False)
        self.runs.select([compare_with, run] if compare_with is not None else [run])
        self._worker_active = True
        self._track(self.worker)
        self.worker.start()
        self._update_actions()
        self.statusBar().showMessage(f"Training {spec.name} → {run_dir}", 5000)
        return run

    def stop(self) -> None:
        if self.training:
            self.worker.cancel()
            self._update_actions()
            self.statusBar().showMessage("Stopping after the current batch… (Esc again stops at once)", 5000)

    def _on_events(self, run: RunData, batch: list) -> None:
        """A batch of events from a training or following worker (main thread; cheap: no drawing here)."""
        from vg_studio.train import events

        findings_changed = False
        for event in batch:
            run.apply_event(event)
            if isinstance(event, events.RunStarted):
                if run is self.current_run:
                    self.device_label.setText(f"  device: {event.device}  ")
                self.runs.refresh(run)
            elif isinstance(event, events.FindingsUpdated):
                run.findings = as_findings(run.findings)
                findings_changed = True
            elif isinstance(event, events.EpochEnd):
                self.runs.refresh(run)
            elif isinstance(event, events.RunFinished):
                self._run_finished(run, event)
                findings_changed = True
        if findings_changed and run is self.shown_run:
            if run.status in ("starting", "running"):  # new findings mid-run: shown in an event of their own
                self._diagnostics_later.start()  # (rebuilding the panel and its layout is ~30 ms on a slow machine)
            else:
                self._diagnostics_later.stop()
                self._show_diagnostics(run)
        if self._plots is not None and run in self._plots.runs:
            self._plots.mark_dirty()

    def _run_finished(self, run: RunData, event) -> None:
        reported = event.report.get("findings") if isinstance(event.report, dict) else None
        if reported:  # the writer's own final findings (a followed run, or the engine's report)
            run.findings = as_findings(reported)
        self.runs.refresh(run)
        if event.status == "failed" and run is self.current_run:
            self.show_error(f"{run.name}: {event.message}")
        elif event.status == "diverged":
            self.show_error(f"{run.name}: {event.message}")
        else:
            self.statusBar().showMessage(f"{run.name}: {event.message}", 10000)

    def _worker_finished(self) -> None:
        self._worker_active = False
        run = self.current_run
        if run is not None and run.status in ("starting", "running"):  # no RunFinished arrived: never leave a
            self._on_events(run, [finished_event("failed", "training ended without a report", None,
                                                 run.run_dir)])  # run that looks alive
        self._update_actions()
        self._update_progress()
        if self._plots is not None:
            self._plots.mark_dirty()

    def _update_progress(self) -> None:
        run = self.current_run
        if run is None:
            return
        total = max(run.total_steps, 1)
        self.progress.setMaximum(total)
        self.progress.setValue(min(run.step, total))
        if run.status == "starting":
            waiting = self.worker is not None and self.worker.waiting_for_child and not self.keras_ready
            self.progress.setFormat("starting TensorFlow in the training process…" if waiting
                                    else "preparing data and model…")
        elif run.status == "running":
            epoch = (run.step - 1) // max(run.steps_per_epoch, 1) + 1 if run.step else 1
            eta = run.eta_seconds()
            eta_text = f" · ETA {format_seconds(eta)}" if eta is not None else ""
            self.progress.setFormat(f"epoch {epoch}/{run.epochs} · step {run.step}/{run.total_steps}{eta_text}")
        else:
            self.progress.setFormat(f"{run.status}: step {run.step}/{run.total_steps}")

    # ---- runs, diagnostics ----------------------------------------------------------------------------------
    def _runs_selected(self, runs: list) -> None:
        self.plots.show_runs(runs)
        self.shown_run = runs[-1] if runs else None
        self._show_diagnostics(self.shown_run)
        if self.shown_run is not None:
            self.diagram.show_run(self.shown_run)
        else:
            self._show_editor_network()

    def _show_shown_diagnostics(self) -> None:
        """A live run's new findings, in a unit of work of their own: never right after a unit of the plots, and
        the plots' next unit waits for this one (each is followed by Qt's layout and repaint of what it changed)."""
        plots = self._plots
        if plots is not None and (time.perf_counter() - plots.last_unit_at) * 1000 < DIAGNOSTICS_AFTER_MS:
            self._diagnostics_later.start()
            return
        self._show_diagnostics(self.shown_run)
        if plots is not None:
            plots.hold()

    def _show_diagnostics(self, run: RunData | None) -> None:
        if run is None:
            self.diagnostics.show_findings([], [], "", "")
            return
        self.diagnostics.show_findings(run.findings, run.layer_names, run.status, fix_blocker(run))

    def _flag_layers(self, layers: set) -> None:
        self.builder.set_flagged_layers(layers)
        self.diagram.set_highlighted_layers(layers)
        if self._plots is not None:
            self._plots.set_highlighted_layers(layers)

    def _fixed_spec(self, fix, run: RunData | None) -> ExperimentSpec | None:
        """The fix applied to the spec of the run it was found in (the editor's spec when no run is shown)."""
        base = run.spec if run is not None and run.spec is not None else self.document.spec
        title = getattr(fix, "title", "fix")
        try:
            return fix.apply(base)
        except (SpecError, ValueError) as exc:
            self.show_error(f"Cannot apply {title!r}: {exc}")
            return None

    def apply_fix(self, fix, run: RunData | None = None) -> bool:
        """Put the fixed network (the run's spec with the fix) in the editor, as one undoable step."""
        spec = self._fixed_spec(fix, run or self.shown_run)
        if spec is None:
            return False
        self.document.replace(spec, f"Fix: {getattr(fix, 'title', 'fix')}")
        return True

    def apply_fix_and_compare(self, fix, run: RunData | None = None) -> RunData | None:
        """Train the run being compared with the fix applied, and overlay the two runs."""
        before = run or self.shown_run or self.current_run
        if self.training:
            self.show_error("Stop the current run first (Esc), then compare.")
            return None
        if not self.apply_fix(fix, before):
            return None
        return self.train(compare_with=before)

    def try_fixes(self, finding) -> None:
        """Short trials of every fix of `finding`, ranked by measured outcome (in the background)."""
        run = self.shown_run
        if run is None or run.spec is None:
            self.show_error("Try fixes needs a run trained from an experiment (it re-trains its network).")
            return
        if run.status in ("starting", "running") or run.run_dir is None:
            self.show_error("Try fixes re-trains the run's network from its folder: wait until the run has ended.")
            return
        from vg_studio.gui.panels.trials import TrialsPanel

        if self.trials is None:
            self.trials = TrialsPanel()
            self.trials.apply_fix.connect(self.apply_fix)
            self.trials.compare_fix.connect(self.apply_fix_and_compare)
            dock = self._dock("Fix trials", self.trials, Qt.RightDockWidgetArea)
            self.tabifyDockWidget(self.docks["Runs"], dock)
            self.view_menu.addAction(dock.toggleViewAction())
        self.docks["Fix trials"].show()
        self.docks["Fix trials"].raise_()
        self.trials.start(run, finding)
        self._track(self.trials.worker)

    # ---- files ----------------------------------------------------------------------------------------------
    def _ask_path(self, kind: str, title: str, filters: str, save: bool, folder: bool = False) -> str:
        start = self.settings.value(f"folders/{kind}", str(Path.home()))
        if folder:
            return QFileDialog.getExistingDirectory(self, title, start)
        ask = QFileDialog.getSaveFileName if save else QFileDialog.getOpenFileName
        return ask(self, title, start, filters)[0]

    def _remember(self, kind: str, path: Path) -> None:
        self.settings.setValue(f"folders/{kind}", str(path if path.is_dir() else path.parent))

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
        def load() -> None:
            try:
                spec = ExperimentSpec.load(path)
            except SpecError as exc:
                self.show_error(str(exc))
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
        path = Path(path)
        try:
            run, pending = open_run_folder(path)
        except (SpecError, ValueError, OSError) as exc:
            self.show_error(str(exc).splitlines()[0] if str(exc) else f"{path}: cannot read the run")
            return None
        except Exception as exc:  # a file this version cannot make sense of: a message, never a traceback
            log.warning("%s: cannot read the run: %s", path, exc, exc_info=True)
            self.show_error(f"{path}: cannot read the run ({type(exc).__name__}: {exc})")
            return None
        self._remember("runs", path)
        self.runs.add_run(run)
        if pending is not None:  # still being written: follow it
            self._follow(run, pending)
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
        self.show_error(f"Stopped following {run.name}: {message}")

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
        history = finished_history(run) if run is not None else None
        if history is None:
            self.show_error("No run to export: train one (its first epoch writes the history) or open a run folder.")
            return False
        path = path or self._ask_path("export", "Export history", "CSV (*.csv)", save=True)
        if not path:
            return False
        try:
            atomic_write_text(path, history.to_csv())
        except OSError as exc:
            self.show_error(f"{path}: cannot write ({exc.strerror or exc})")
            return False
        self._remember("export", Path(path))
        return True

    # ---- help -----------------------------------------------------------------------------------------------
    def show_background_reading(self) -> dialogs.TextDialog:
        dialog = dialogs.TextDialog("Background reading", dialogs.background_reading_html(), self)
        dialog.show()
        return dialog

    def show_about(self) -> dialogs.TextDialog:
        dialog = dialogs.TextDialog("About VG Studio", dialogs.about_html(self.backend), self)
        dialog.resize(460, 260)
        dialog.show()
        return dialog

    # ---- closing --------------------------------------------------------------------------------------------
    def closeEvent(self, event) -> None:
        """Ask about unsaved changes; then stop training (within ~1.5 s: the child gets a second to stop by
        itself, then it is ended and the run recorded as cancelled) and the followers, and save the layout."""
        if not self._closing_confirmed and not self.document.undo_stack.isClean():
            event.ignore()
            self.unsaved_then("quitting", self._close_confirmed)
            return
        self._closed = True
        if self.training:
            self.statusBar().showMessage("Stopping training…")
            self.worker.stop_and_wait()
        for worker in list(self.followers.values()):
            worker.stop()
            worker.wait(2000)
        self._background_started = True  # a window closed before it was shown starts nothing
        self.settings.setValue("geometry", self.saveGeometry())
        self.settings.setValue("state", self.saveState(LAYOUT_VERSION))
        self.settings.setValue("layout_version", LAYOUT_VERSION)
        self.settings.sync()
        self.data_panel.release_loaders()  # a dataset still loading finishes (or not) without the window
        if not self.exit_without_waiting and self._param_loader is not None:
            self._param_loader.wait()
        if self._plots is not None:
            self._plots.timer.stop()
        self.progress_timer.stop()
        if self.trials is not None:
            self.trials.stop()
        super().closeEvent(event)

    def _close_confirmed(self) -> None:
        self._closing_confirmed = True
        self.close()



def _running(thread) -> bool:
    try:
        return thread.isRunning()
    except RuntimeError:  # its C++ object is gone
        return False


def stop_threads(threads: list, data_panel) -> None:
    """Stop and wait for the threads of a window that is being deleted (see MainWindow._threads)."""
    for thread in threads:
        try:
            if not thread.isRunning():
                continue
            for stop in ("stop_and_wait", "stop"):
                if hasattr(thread, stop):
                    getattr(thread, stop)()
                    break
            if hasattr(thread, "cancel_event"):
                thread.cancel_event.set()
            thread.wait()
        except RuntimeError:  # already deleted
            continue
    try:
        data_panel.release_loaders()
    except RuntimeError:
        pass


def finished_history(run: RunData):
    """The history to export: a run that has ended is read back from its folder (what the run store kept, every
    epoch included); a run still training gives what the app has received so far."""
    if run.run_dir is not None and run.status not in ("starting", "running"):
        from vg_studio.train.runstore import RunStoreError, open_run

        try:
            return open_run(run.run_dir).history
        except RunStoreError:
            pass
    return run.history


def fix_blocker(run: RunData) -> str:
    """Why the fixes of a run's findings cannot be applied to it ("" when they can)."""
    if run.spec is None:
        return ("This run is a Keras model of your own (no experiment to edit): each fix says what to change in "
                "your code.")
    return ""


def open_run_folder(path: Path):
    """(RunData filled with what the folder holds now, a RunFollower to keep following it — None when the run
    has ended). Raises RunStoreError/SpecError/OSError with one line naming the file."""
    if not path.is_dir():
        raise OSError(f"{path}: not a directory" if path.exists() else f"{path}: no such folder")
    try:
        from vg_studio.train.runstore import RunFollower
    except ImportError:  # a run store without a follower: read it once
        return RunData.open(path), None
    follower = RunFollower(path)
    first = follower.poll()
    if not first and not any((path / name).is_file() for name in ("spec.json", "model.json", "history.h5")):
        raise OSError(f"{path}: not a run folder (no spec.json, model.json or history.h5 in it)")
    run = RunData(name=path.name, spec=None, run_dir=path)
    for event in first:
        run.apply_event(event)
    reported = run.report.get("findings") if run.report else None
    if reported:
        run.findings = as_findings(reported)
    finished = any(type(e).__name__ == "RunFinished" for e in first)
    return run, None if finished else follower


# ---- presets ---------------------------------------------------------------------------------------------------
# Presets meant to be trained one after the other and compared share a submenu.
PRESET_GROUPS = {"teach-rnn-": "SimpleRNN vs LSTM vs GRU on the adding problem",
                 "seed003-": "Tan & Lim (2019): SGD vs SDAGD (Table I)",
                 "seed000-": "Wu: attention in every hidden layer"}
PRESET_TITLES = {
    "teach-deep-sigmoid": "Deep sigmoid network (the gradient vanishes)",
    "teach-deep-relu": "Deep ReLU network (the gradient flows)",
    "teach-deep-sigmoid-aux": "Deep sigmoid network with auxiliary heads",
    "teach-deep-sigmoid-sdagd": "Deep sigmoid network trained with SDAGD",
    "teach-dnn": "Small sigmoid network",
    "teach-dnn-attention": "Small sigmoid network with attention",
    "teach-rnn-simple": "SimpleRNN", "teach-rnn-lstm": "LSTM", "teach-rnn-gru": "GRU",
    "seed003-hl5-sigmoid-sgd": "5 sigmoid layers, SGD", "seed003-hl5-sigmoid-sdagd": "5 sigmoid layers, SDAGD",
    "seed003-hl5-relu-sgd": "5 ReLU layers, SGD", "seed003-hl5-relu-sdagd": "5 ReLU layers, SDAGD",
    "seed000-plain": "Without attention", "seed000-attention": "With attention",
}


def preset_paths() -> list[Path]:
    return sorted((RESOURCES / "presets").glob("*.json"))


def preset_title(path: Path) -> str:
    return PRESET_TITLES.get(path.stem) or path.stem.replace("-", " ").replace("_", " ").capitalize()


def preset_description(path: Path) -> str:
    """The preset's own description (the spec's `description`), "" when it has none or does not load."""
    try:
        return str(getattr(ExperimentSpec.load(path), "description", "") or "")
    except (SpecError, OSError):
        return ""


def fill_presets_menu(menu, make_action, load) -> None:
    groups = {}
    for path in preset_paths():
        group = next((title for prefix, title in PRESET_GROUPS.items() if path.stem.startswith(prefix)), None)
        if group is not None and group not in groups:
            groups[group] = menu.addMenu(group)
            groups[group].setToolTipsVisible(True)
        target = groups[group] if group is not None else menu
        title, description = preset_title(path), preset_description(path)
        action = make_action(title, lambda p=path: load(p), None, description or title)
        action.setToolTip(description or title)  # shown on hover, and in the status bar
        target.addAction(action)


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
