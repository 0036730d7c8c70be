"""The main window: shows the spec document, the panels, the plots and the runs, and turns clicks into calls of the
controller (controller.py, Qt-free), which holds the session's rules.

The spec document is the single source of truth; panels edit it through undoable commands and re-render from
it. Training runs in a child process supervised by a TrainWorker thread; runs written by other processes are
followed by a FollowWorker. Both deliver events in batches that land in RunData; the plots redraw from RunData on
a timer, so the main thread never does more than a few milliseconds of work at a time.
"""

from __future__ import annotations

import functools
import logging
import time
from pathlib import Path

from PySide6.QtCore import QSettings, Qt, QTimer
from PySide6.QtWidgets import (QAbstractSpinBox, QApplication, QFrame, QLabel, QMainWindow,
                               QScrollArea, QSizePolicy, QSplitter, QVBoxLayout, QWidget)

from vg_studio import __version__
from vg_studio.gui import dialogs, layout, menus
from vg_studio.gui.commands import SpecDocument
from vg_studio.gui.controller import ActionError, Controller
from vg_studio.gui.files import FilesMixin
from vg_studio.gui.findings_text import as_findings
from vg_studio.gui.panels.builder import BuilderPanel
from vg_studio.gui.panels.data import DataPanel
from vg_studio.gui.panels.diagnostics import DiagnosticsPanel
from vg_studio.gui.panels.optimizer import OptimizerPanel
from vg_studio.gui.panels.runs import RunsPanel
from vg_studio.gui.plots.network import NetworkDiagram
from vg_studio.gui.run_data import RunData
from vg_studio.gui.theme import THEMES, apply_theme, configure_pyqtgraph, load_theme
from vg_studio.gui.worker import TrainingService, TrainWorker, finished_event, running, stop_threads
from vg_studio.spec import ExperimentSpec, example_spec

log = logging.getLogger(__name__)
DEFAULT_WORKSPACE = Path.home() / "VGStudio" / "runs"
LAYOUT_VERSION = 3  # bump when the docks change: a state saved by an older layout is not restored
DIAGNOSTICS_AFTER_MS = 30  # a live run's new findings are shown this long after the events, or after a plot's unit
FIRST_SIZE = (1500, 920)


class MainWindow(FilesMixin, QMainWindow):
    def __init__(self, spec: ExperimentSpec | None = None, workspace: str | Path | None = None):
        super().__init__()
        self.settings = QSettings()
        self.controller = Controller(workspace or self.settings.value("workspace", str(DEFAULT_WORKSPACE)),
                                     self.settings)
        self.document = SpecDocument(spec or example_spec(), self)
        self.keras_ready = False  # the training process has imported TensorFlow and waits for a run
        self.backend = ""
        self.worker: TrainWorker | None = None
        self.followers: dict = {}  # RunData -> FollowWorker, for runs other processes write
        self.last_error = ""
        self._worker_active = False
        self._waiting_since: float | None = None  # a Train click waits for the training process since then
        self._flagged: set = set()  # layers the selected finding names
        self._closing_confirmed = False
        self._closed = False  # set once the window has really closed: deferred start-up work is skipped
        # Every thread this window starts. A window deleted without closing (its close was refused to ask about
        # unsaved changes, then its owner deleted it) must still stop them: Qt aborts the process when a running
        # QThread is destroyed with its parent.
        self._threads: list = []
        self.theme = self.settings.value("theme", "light")
        self.theme = self.theme if self.theme in THEMES else "light"

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
        self.message_bar = dialogs.MessageBar()
        centre = QWidget()
        centre.setObjectName("centre")
        column = QVBoxLayout(centre)
        column.setContentsMargins(0, 0, 0, 0)
        column.setSpacing(2)
        column.addWidget(self.message_bar)
        column.addWidget(self.plots_area, 1)
        self.setCentralWidget(centre)
        self.builder = BuilderPanel(self.document)
        self.optimizer_panel = OptimizerPanel(self.document)
        self.data_panel = DataPanel(self.document)
        self.diagnostics = DiagnosticsPanel()
        self.runs = RunsPanel(self.controller.runs)
        # The network as a diagram beside its table: the editor's network while it is edited, the shown run's
        # layers coloured by their current gradient while it trains or once it is selected.
        self.diagram = NetworkDiagram()
        self.diagram.setToolTip("The network, each layer coloured by its current mean |gradient|")
        self.diagram.setMinimumHeight(60)  # a laptop-sized dock keeps its height for the layer table
        self.network_split = QSplitter(Qt.Vertical)
        self.network_split.setObjectName("network-split")
        self.network_split.setChildrenCollapsible(False)
        self.network_split.addWidget(self.builder)
        self.network_split.addWidget(self.diagram)
        self.network_split.setStretchFactor(0, 4)
        self.network_split.setStretchFactor(1, 1)
        self.network_split.setSizes([520, 110])  # the table first; the diagram reads at a glance
        self.docks = {}
        layout.make_dock(self, "Network", self.network_split, Qt.LeftDockWidgetArea)
        layout.make_dock(self, "Training", self.optimizer_panel, Qt.LeftDockWidgetArea)
        layout.make_dock(self, "Data", self.data_panel, Qt.LeftDockWidgetArea)
        layout.make_dock(self, "Diagnostics", self.diagnostics, Qt.RightDockWidgetArea)
        layout.make_dock(self, "Runs", self.runs, Qt.RightDockWidgetArea)
        self.trials = None  # the "Try fixes" table, docked on first use

        self.actions_ = menus.make_actions(self)
        menus.make_menus(self)
        menus.make_toolbar(self)
        self.data_panel.dataset_ready.connect(self._dataset_ready)
        self.diagnostics.layers_flagged.connect(self._flag_layers)
        self.diagnostics.apply_fix.connect(self.apply_fix)
        self.diagnostics.apply_fix_and_compare.connect(self.apply_fix_and_compare)
        self.diagnostics.try_fixes.connect(self.try_fixes)
        self.runs.selection_changed.connect(self._runs_selected)
        self.runs.rename_requested.connect(self._rename_run)
        self.runs.remove_requested.connect(self.remove_run)
        for panel in (self.builder, self.optimizer_panel, self.data_panel):
            panel.fields_changed.connect(self._update_actions)
        self.document.changed.connect(self._update_title)
        self.document.changed.connect(self._show_editor_network)
        self.document.changed.connect(self._update_actions)
        self.document.changed.connect(self._apply_flags)
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

        self.set_theme(self.theme)
        self.resize(*FIRST_SIZE)
        self._fit_to_screen()
        layout.apply_default_layout(self)
        self._restored = False
        if self.settings.value("layout_version", 0, int) == LAYOUT_VERSION and self.settings.value("geometry"):
            self.restoreGeometry(self.settings.value("geometry"))
            self._fit_to_screen()
            self._restored = bool(self.restoreState(self.settings.value("state"), LAYOUT_VERSION))
        self._update_title()

        self.service = TrainingService.instance()
        self.service.ready.connect(self._training_process_ready)
        self.service.failed.connect(self._training_process_failed)
        self._background_started = False
        self._update_actions()
        self.destroyed.connect(functools.partial(stop_threads, self._threads, self.data_panel))

    # ---- what other modules and tests read ---------------------------------------------------------------
    @property
    def spec_path(self) -> Path | None:
        return self.controller.spec_path

    @spec_path.setter
    def spec_path(self, path) -> None:
        self.controller.spec_path = Path(path) if path is not None else None

    @property
    def workspace(self) -> Path:
        return self.controller.workspace

    @property
    def current_run(self) -> RunData | None:
        return self.controller.current_run

    @property
    def shown_run(self) -> RunData | None:
        return self.controller.shown_run

    @property
    def plots(self):
        """The plots panel, built on first use (normally just after the first paint)."""
        if self._plots is None:
            configure_pyqtgraph(load_theme(self.theme))
            from vg_studio.gui.plots.panel import PlotsPanel

            self._plots = PlotsPanel()
            self.plots_area.setWidget(self._plots)
            self._plots.apply_theme(load_theme(self.theme))
            QTimer.singleShot(0, self._check_layout)  # once the layout knows the plots' size hints
        return self._plots

    # ---- layout ------------------------------------------------------------------------------------------
    def _fit_to_screen(self) -> None:
        screen = self.screen().availableGeometry() if self.screen() is not None else None
        if screen is None:
            return
        width, height = min(self.width(), screen.width()), min(self.height(), screen.height())
        if (width, height) != (self.width(), self.height()):
            self.resize(width, height)

    def _check_layout(self) -> None:
        """First launch: the default sizes for the window. A restored layout is kept only while every dock in it
        is readable and the plots keep their share."""
        if self._closed:
            return
        problems = layout.unreadable(self) if self._restored else ["first launch"]
        if problems:
            log.info("layout reset: %s", "; ".join(problems))
            layout.apply_default_layout(self)

    def resizeEvent(self, event) -> None:  # noqa: N802 (Qt's name)
        """A window made smaller (un-maximized, moved to a laptop screen) keeps the plots their half."""
        super().resizeEvent(event)
        central = self.centralWidget()
        if self.isVisible() and central.width() < layout.MIN_PLOTS_SHARE * self.width() - 2 and \
                event.size().width() < event.oldSize().width():
            layout.size_docks(self)

    def reset_layout(self) -> None:
        """View ▸ Reset layout."""
        layout.apply_default_layout(self)

    def focus_dock(self, title: str) -> None:
        layout.focus_dock(self.docks[title])

    def focus_plots(self) -> None:
        self.plots.tabs.setFocus(Qt.ShortcutFocusReason)

    # ---- start-up ----------------------------------------------------------------------------------------
    def showEvent(self, event) -> None:  # noqa: N802 (Qt's name)
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
        """The builder's live parameter count, Keras-free (the app's own process never needs TensorFlow)."""
        from vg_studio.nn.params import count_params

        self.builder.params_counter = count_params
        self.builder.update_params()

    def _training_process_ready(self, info: dict) -> None:
        self.keras_ready = True
        self.backend = f"Keras {info.get('keras', '?')} ({info.get('backend', '?')})"
        self.keras_label.setText(f"{self.backend} ready in the training process")
        self._update_actions()

    def _training_process_failed(self, message: str) -> None:
        self.keras_label.setText("The training process could not start (see the message)")
        self.show_error(str(ActionError("start the training process", message)))

    # ---- state ------------------------------------------------------------------------------------------
    @property
    def training(self) -> bool:
        # true until the worker's queued `finished` arrives, i.e. after every event it sent has been handled
        return self.worker is not None and (self.worker.isRunning() or self._worker_active)

    def field_problems(self) -> list[str]:
        """What the fields show that a run would not train with (empty, not a number, refused)."""
        return self.builder.field_problems() + self.optimizer_panel.field_problems() + \
            self.data_panel.field_problems()

    def train_blocker(self) -> str:
        return self.controller.train_blocker(self.document.spec, self.field_problems(), self.training)

    def _update_actions(self) -> None:
        blocker = self.train_blocker()
        train = self.actions_["train"]
        train.setEnabled(not blocker)
        shown = "" if not blocker or self.training else f"Train is off: {blocker}"
        train.setToolTip("Train the network (Ctrl+Return)" if not blocker else f"Train is off: {blocker}")
        self.train_reason.setText(shown)
        self.train_reason.setVisible(bool(shown))
        self.actions_["stop"].setEnabled(self.training)
        stopping = self.training and self.worker.stop_requested
        self.actions_["stop"].setText("■ Stop &now" if stopping else "■ &Stop")
        selected = bool(self.runs.selected_runs())
        self.actions_["rename_run"].setEnabled(selected)
        self.actions_["remove_run"].setEnabled(selected)

    def _update_title(self) -> None:
        spec = self.document.spec
        dirty = "" if self.document.undo_stack.isClean() else " *"
        where = f" — {self.spec_path.name}" if self.spec_path else ""
        self.setWindowTitle(f"VG Studio {__version__} — {spec.name}{where}{dirty}")

    def _track(self, thread) -> None:
        """Remember a thread this window started (see `_threads`); the finished ones are forgotten."""
        self._threads[:] = [t for t in self._threads if running(t)] + [thread]

    def _dataset_ready(self, data) -> None:
        self.builder.set_data_shape(data.input_shape, data.num_classes)
        if self.diagram.run is None:
            self._show_editor_network()

    def _show_editor_network(self) -> None:
        builder = self.builder
        self.diagram.show_spec(self.document.spec, builder.num_classes, builder.input_shape)
        self._apply_flags()

    def set_theme(self, name: str) -> None:
        colors = apply_theme(QApplication.instance(), name)
        self.theme = name
        self.settings.setValue("theme", name)
        if getattr(self, "theme_actions", None) and name in self.theme_actions:
            self.theme_actions[name].setChecked(True)
        if self._plots is not None:
            self._plots.apply_theme(colors)

    def show_error(self, message: str) -> None:
        """A message in view at the top of the plots (never a modal dialog: it would stall the event loop)."""
        self.last_error = message
        self.message_bar.show_message(message)
        self.statusBar().showMessage(message, 15000)

    # ---- training -----------------------------------------------------------------------------------------
    def _commit_focused_field(self) -> None:
        """Train pressed (Ctrl+Return, or the toolbar, which takes no focus) while a field still holds typed text:
        the text is committed first, so the run trains what the screen shows."""
        focused = QApplication.focusWidget()
        while focused is not None and not hasattr(focused, "commit"):
            focused = focused.parentWidget() if not isinstance(focused, QAbstractSpinBox) else None
        if focused is not None:
            focused.commit()

    def train(self, compare_with: RunData | None = None) -> RunData | None:
        """Train the spec in the editor. Accepted at once: while the training process still loads TensorFlow the
        run waits for it (the progress bar says so) and starts as soon as it is ready. Refused, saying why, while
        a field is invalid or a run trains."""
        self._commit_focused_field()
        blocker = self.train_blocker()
        if blocker:
            self.show_error(str(ActionError("train", blocker)))
            self._update_actions()
            return None
        spec = self.document.spec
        run = self.controller.new_run(spec, compare_with)
        self._waiting_since = None if self.keras_ready else time.monotonic()
        self.worker = TrainWorker(spec, run.run_dir, self)  # the shared pool: the service's warm process
        self.worker.events.connect(lambda batch, run=run: self._on_events(run, batch))
        self.worker.finished.connect(self._worker_finished)
        self.runs.add_run(run, select=False)
        self.runs.select([compare_with, run] if compare_with is not None else [run])
        self._worker_active = True
        self._track(self.worker)
        self.worker.start()
        self._update_actions()
        self._update_progress()
        self.statusBar().showMessage(f"Training {spec.name} → {run.run_dir}", 5000)
        return run

    def stop(self) -> None:
        if self.training:
            self.worker.cancel()
            self._update_actions()
            self.statusBar().showMessage("Stopping after the current batch… (Ctrl+. again stops at once)", 5000)

    def _on_events(self, run: RunData, batch: list) -> None:
        """A batch of events from a training or following worker (main thread; cheap: no drawing here)."""
        from vg_studio.train import events

        findings_changed = False
        for event in batch:
            run.apply_event(event)
            if isinstance(event, events.RunStarted):
                if run is self.current_run:
                    self._waiting_since = None
                self.runs.refresh(run)
                if run is self.shown_run:  # its own network replaces what was shown before it began
                    self._show_run_network(run)
                    findings_changed = True
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
        if event.status == "failed" and (run is self.current_run or run.followed):
            self.show_error(f"{run.name} failed: {event.message}")
        elif event.status == "diverged":
            self.show_error(f"{run.name} diverged: {event.message}")
        else:
            self.statusBar().showMessage(f"{run.name}: {event.message}", 10000)

    def _worker_finished(self) -> None:
        self._worker_active = False
        self._waiting_since = None
        run = self.current_run
        if run is not None and run.status in ("starting", "running"):  # no RunFinished arrived: never leave a
            self._on_events(run, [finished_event("failed", "training ended without a report", None,
                                                 run.run_dir)])  # run that looks alive
        self._update_actions()
        self._update_progress()
        if self._plots is not None:
            self._plots.mark_dirty()

    def _update_progress(self) -> None:
        waiting = self._waiting_since if self.training and self.worker.waiting_for_child else None
        progress = self.controller.progress(waiting)
        self.progress.setMaximum(progress.maximum)
        self.progress.setValue(progress.value)
        self.progress.setFormat(progress.text)
        self.progress.setToolTip(progress.text)
        self.device_label.setText(self.controller.device_text())

    # ---- runs, diagnostics ----------------------------------------------------------------------------------
    def _runs_selected(self, runs: list) -> None:
        self.plots.show_runs(runs)
        self.controller.shown_run = runs[-1] if runs else None
        self._show_diagnostics(self.shown_run)
        self._show_run_network(self.shown_run)
        self._apply_flags()
        self._update_actions()
        self._update_progress()

    def _show_run_network(self, run: RunData | None) -> None:
        """The diagram of the shown run; before its first event, the network it trains (or the editor's)."""
        if run is not None and run.layer_names:
            self.diagram.show_run(run)
        elif run is not None and run.spec is not None:
            self.diagram.show_spec(run.spec, self.builder.num_classes, self.builder.input_shape)
        else:
            self.diagram.run = None
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
        self.diagnostics.show_findings(run.findings, run.layer_names, run.status, self.controller.fix_blocker(run),
                                       run_name=run.name, notes=run.notes)

    def _flag_layers(self, layers: set) -> None:
        self._flagged = set(layers)
        self._apply_flags()

    def _apply_flags(self) -> None:
        """The selected finding's layers, marked where they are the layers it was found in: on the shown run's
        diagram and plots, and on the editor's table only while it holds that run's network."""
        run = self.shown_run
        layers = self._flagged if run is not None or self.diagnostics.findings else set()
        on_editor = layers if self.controller.flags_apply_to_editor(run, self.document.spec) else set()
        if on_editor != self.builder.flagged_layers:
            self.builder.set_flagged_layers(on_editor)
        diagram_layers = layers if self.diagram.run is run else on_editor
        if diagram_layers != self.diagram.highlighted:
            self.diagram.set_highlighted_layers(diagram_layers)
        if self._plots is not None:
            self._plots.set_highlighted_layers(layers)

    def _fixed_spec(self, fix, run: RunData | None) -> ExperimentSpec | None:
        try:
            return self.controller.fixed_spec(fix, run, self.document.spec)
        except ActionError as exc:
            self.show_error(str(exc))
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
            self.show_error(str(ActionError("compare", "a run is training (Stop it first: Ctrl+.)")))
            return None
        if not self.apply_fix(fix, before):
            return None
        return self.train(compare_with=before)

    def try_fixes(self, finding) -> None:
        """Short trials of every fix of `finding`, ranked by measured outcome (in the background)."""
        run = self.shown_run
        blocker = self.controller.trials_blocker(run)
        if blocker:
            self.show_error(str(ActionError("try the fixes", blocker)))
            return
        from vg_studio.gui.panels.trials import TrialsPanel

        if self.trials is None:
            self.trials = TrialsPanel()
            self.trials.apply_fix.connect(self.apply_fix)
            self.trials.compare_fix.connect(self.apply_fix_and_compare)
            dock = layout.make_dock(self, "Fix trials", self.trials, Qt.RightDockWidgetArea)
            self.tabifyDockWidget(self.docks["Runs"], dock)
            self.view_menu.insertAction(self.actions_["reset_layout"], dock.toggleViewAction())
        self.docks["Fix trials"].show()
        self.docks["Fix trials"].raise_()
        self.trials.start(run, finding)
        self._track(self.trials.worker)

    def rename_selected_run(self) -> None:
        self.runs.edit_name()

    def _rename_run(self, run: RunData, name: str) -> None:
        try:
            self.controller.rename_run(run, name)
        except ActionError as exc:
            self.show_error(str(exc))
        self.runs.refresh(run)
        if self._plots is not None and run in self._plots.runs:
            self._plots.show_runs(list(self._plots.runs))  # legends name the run
        if run is self.shown_run:
            self._show_diagnostics(run)

    def remove_selected_run(self) -> None:
        selected = self.runs.selected_runs()
        if selected:
            self.remove_run(selected[-1])

    def remove_run(self, run: RunData, delete_folder: bool | None = None):
        """Remove a run from the list (asking whether its folder goes too, unless `delete_folder` says)."""
        if delete_folder is None:
            folder = str(run.run_dir) if run.run_dir is not None and run.run_dir.is_dir() else None
            return dialogs.ask_remove_run(self, run.name, folder, lambda delete: self.remove_run(run, delete))
        follower = self.followers.pop(run, None)
        if follower is not None:
            follower.stop()
        try:
            self.controller.remove_run(run, delete_folder)
        except ActionError as exc:
            self.show_error(str(exc))
            return False
        self.runs.remove_run(run)
        return True

    # ---- help -----------------------------------------------------------------------------------------------
    def _text_dialog(self, title: str, html: str, size=(640, 460)) -> dialogs.TextDialog:
        dialog = dialogs.TextDialog(title, html, self)
        dialog.resize(*size)
        dialog.show()
        return dialog

    def show_getting_started(self) -> dialogs.TextDialog:
        return self._text_dialog("Getting started", dialogs.GETTING_STARTED, (620, 560))

    def show_background_reading(self) -> dialogs.TextDialog:
        return self._text_dialog("Background reading", dialogs.background_reading_html())

    def show_about(self) -> dialogs.TextDialog:
        return self._text_dialog("About VG Studio", dialogs.about_html(self.backend), (460, 260))

    # ---- closing --------------------------------------------------------------------------------------------
    def closeEvent(self, event) -> None:  # noqa: N802 (Qt's name)
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
        if self._plots is not None:
            self._plots.timer.stop()
        self.progress_timer.stop()
        if self.trials is not None:
            self.trials.stop()
        super().closeEvent(event)

    def _close_confirmed(self) -> None:
        self._closing_confirmed = True
        self.close()

