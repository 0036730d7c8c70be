"""The window's actions, menus and training toolbar. Every command has a menu entry (so Alt+letter reaches it),
the frequent ones a shortcut that no field uses: Esc belongs to the field being edited, so Stop is Ctrl+."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QAction, QActionGroup, QKeySequence
from PySide6.QtWidgets import QLabel, QProgressBar, QToolBar

from vg_studio.gui.presets import fill_presets_menu, menu_text
from vg_studio.gui.theme import THEMES
from vg_studio.text import inert

STOP_KEYS = ("Ctrl+.",)
GO_TO = (("Network", "Ctrl+1"), ("Training", "Ctrl+2"), ("Data", "Ctrl+3"), ("Diagnostics", "Ctrl+4"),
         ("Runs", "Ctrl+5"))


def make_action(parent, text: str, slot, shortcut=None, tip: str = "") -> QAction:
    action = QAction(text, parent)
    action.triggered.connect(lambda checked=False: slot())
    if shortcut is not None:
        keys = shortcut if isinstance(shortcut, (list, tuple)) else [shortcut]
        action.setShortcuts([k if isinstance(k, QKeySequence) else QKeySequence(k) for k in keys])
    action.setStatusTip(tip or text.replace("&&", "\0").replace("&", "").replace("\0", "&").replace("…", ""))
    return action


def make_actions(window) -> dict:
    w, a = window, {}

    def act(key, text, slot, shortcut=None, tip=""):
        a[key] = make_action(w, text, slot, shortcut, tip)

    act("new", "&New experiment", w.new_spec, QKeySequence.New)
    act("open", "&Open experiment…", w.open_spec, QKeySequence.Open)
    act("save", "&Save experiment", w.save_spec, QKeySequence.Save)
    act("save_as", "Save experiment &as…", w.save_spec_as, "Ctrl+Shift+S")
    act("open_run", "Open &run folder…", w.open_run, "Ctrl+Shift+O",
        "Open a run folder — a finished run, or one another program is still writing")
    act("export_model", "Export trained &model (.keras)…", w.export_model)
    act("export_plots", "Export &plots (PNG/SVG)…", w.export_plots)
    act("export_history", "Export &history (CSV)…", w.export_history)
    act("quit", "&Quit", w.close, QKeySequence.Quit)
    a["undo"] = w.document.undo_stack.createUndoAction(w, "&Undo")
    a["undo"].setShortcut(QKeySequence.Undo)
    a["redo"] = w.document.undo_stack.createRedoAction(w, "&Redo")
    a["redo"].setShortcuts([QKeySequence("Ctrl+Shift+Z"), QKeySequence("Ctrl+Y")])
    act("train", "▶ &Train", w.train, ["Ctrl+Return", "Ctrl+Enter"], "Train the network (Ctrl+Return)")
    act("stop", "■ &Stop", w.stop, list(STOP_KEYS), "Stop after this batch (Ctrl+.); press again to stop at once")
    act("rename_run", "Re&name the selected run", w.rename_selected_run, None,
        "Rename the run selected in Runs (F2 there)")
    act("remove_run", "Remo&ve the selected run…", w.remove_selected_run, None,
        "Remove the run selected in Runs from the list, and its folder if you ask (Delete there)")
    act("reset_layout", "&Reset layout", w.reset_layout, None, "Every dock back in its place, sized for the window")
    act("plots", "Go to the &plots", w.focus_plots, "Ctrl+0")
    act("getting_started", "&Getting started", w.show_getting_started, QKeySequence.HelpContents)
    act("reading", "&Background reading", w.show_background_reading)
    act("about", "&About VG Studio", w.show_about)
    for title, keys in GO_TO:
        act(f"go_{title}", f"Go to {title}", lambda t=title: w.focus_dock(t), keys,
            f"Show the {title} dock and put the keyboard in it ({keys})")
    return a


def make_menus(window) -> None:
    w, a = window, window.actions_
    bar = w.menuBar()
    files = bar.addMenu("&File")
    for key in ("new", "open"):
        files.addAction(a[key])
    w.recent_menu = files.addMenu("Open r&ecent")
    w.recent_menu.aboutToShow.connect(lambda: fill_recent_menu(w))
    fill_recent_menu(w)
    for key in ("save", "save_as", None, "open_run", None, "export_model", "export_plots", "export_history", None,
                "quit"):
        files.addSeparator() if key is None else files.addAction(a[key])
    edit = bar.addMenu("&Edit")
    edit.addAction(a["undo"])
    edit.addAction(a["redo"])
    run = bar.addMenu("&Run")
    for key in ("train", "stop", None, "rename_run", "remove_run"):
        run.addSeparator() if key is None else run.addAction(a[key])
    w.presets_menu = bar.addMenu("&Presets")
    w.presets_menu.setToolTipsVisible(True)
    fill_presets_menu(w.presets_menu, lambda *args: make_action(w, *args), w.load_preset)
    view = bar.addMenu("&View")
    themes = QActionGroup(w)
    w.theme_actions = {}
    for name in THEMES:
        action = QAction(f"{name.capitalize()} theme", w, checkable=True)
        action.setChecked(name == w.theme)
        action.triggered.connect(lambda checked, n=name: w.set_theme(n))
        themes.addAction(action)
        view.addAction(action)
        w.theme_actions[name] = action
    view.addSeparator()
    for title, _ in GO_TO:
        view.addAction(a[f"go_{title}"])
    view.addAction(a["plots"])
    view.addSeparator()
    for dock in w.docks.values():
        view.addAction(dock.toggleViewAction())
    view.addSeparator()
    view.addAction(a["reset_layout"])
    w.view_menu = view
    help_menu = bar.addMenu("&Help")
    for key in ("getting_started", "reading", "about"):
        help_menu.addAction(a[key])


def make_toolbar(window) -> None:
    w, a = window, window.actions_
    tools = QToolBar("Training")
    tools.setObjectName("training-toolbar")
    tools.addAction(a["train"])
    tools.addAction(a["stop"])
    tools.addSeparator()
    w.progress = QProgressBar()
    w.progress.setMinimumWidth(160)
    w.progress.setMaximumWidth(460)
    w.progress.setFormat("idle")
    w.progress.setValue(0)
    tools.addWidget(w.progress)
    w.train_reason = QLabel()  # why Train is off, where the eye goes for Train
    w.train_reason.setObjectName("train-reason")
    w.train_reason.setStyleSheet("color: #d62728;")
    w.train_reason.setTextFormat(Qt.PlainText)
    tools.addWidget(w.train_reason)
    tools.addSeparator()
    w.device_label = QLabel("  device: shown when training starts  ")
    w.device_label.setTextFormat(Qt.PlainText)
    tools.addWidget(w.device_label)
    w.addToolBar(tools)
    w.keras_label = QLabel("Loading TensorFlow in the training process (Train can be pressed now: the run starts "
                           "when it is ready)")
    w.statusBar().addPermanentWidget(w.keras_label)


def fill_recent_menu(window) -> None:
    menu = window.recent_menu
    menu.clear()
    entries = window.controller.recent.entries()
    for kind, path in entries:
        label = f"{'Run' if kind == 'run' else 'Experiment'}: {menu_text(inert(path.name))}"
        opener = window.open_run if kind == "run" else window.open_spec
        action = make_action(window, label, lambda p=str(path), o=opener: o(p), None, inert(path))
        menu.addAction(action)
    if entries:
        menu.addSeparator()
        menu.addAction(make_action(window, "&Clear the list", lambda: (window.controller.recent.clear(),
                                                                       fill_recent_menu(window))))
    else:
        empty = menu.addAction("Nothing opened yet")
        empty.setEnabled(False)
