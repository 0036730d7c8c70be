"""A newcomer's session, driven through the real widgets with made-up runs (no training): what the diagnostics
describe, the run list, exports, help, recent files, the layer settings the spec has, an honest ETA, a followed
run, errors in view, and a Train click before the training process is ready."""

from __future__ import annotations

import dataclasses

import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QTextDocumentFragment
from PySide6.QtWidgets import QApplication, QFileDialog, QMessageBox

from tests.gui.conftest import gui_spec
from tests.gui.synthetic_runs import synthetic_events, synthetic_run
from tests.gui.test_keyboard import IdleWorker, focus, press
from vg_studio import edits
from vg_studio.diagnose.findings import Finding
from vg_studio.diagnose.fixes import fixes_for


@pytest.fixture
def win(qtbot, tmp_path):
    from vg_studio.gui.main_window import MainWindow

    window = MainWindow(spec=gui_spec(), workspace=tmp_path / "runs")
    qtbot.addWidget(window)
    window._background_started = True  # no training process, dataset or plots started behind the test's back
    window.show()
    qtbot.waitExposed(window)
    window.activateWindow()
    qtbot.waitUntil(lambda: QApplication.activeWindow() is window)
    yield window
    if window.training:
        window.worker.stop_and_wait()
    window._closing_confirmed = True
    window.close()


def vanishing(spec, layers=("hidden_1", "hidden_2")) -> Finding:
    return Finding(kind="vanishing_gradient", severity="error", step=3, epoch=0, layers=list(layers),
                   evidence={"first_to_output_ratio": 1e-4}, message="gradients vanish in hidden_1",
                   fixes=list(fixes_for("vanishing_gradient", spec)))


def made_up_run(name: str, spec=None, findings=(), **kwargs):
    run = synthetic_run(name, spec=spec, **kwargs)
    run.spec = spec
    run.findings = list(findings)
    return run


def shown(window, run) -> None:
    window.runs.add_run(run)
    window.runs.select([run])


# ---- diagnostics: which run, badges only on their network, resolved findings, notes ---------------------------
def test_diagnostics_name_their_run_and_badges_stay_on_its_network(qtbot, win):
    spec = win.document.spec
    first = made_up_run("deep <b>sigmoid</b>", spec, [vanishing(spec)])
    other_spec = edits.set_depth(spec, 5)
    second = made_up_run("five layers", other_spec, [])
    win.runs.add_run(second, select=False)
    shown(win, first)
    heading = QTextDocumentFragment.fromHtml(win.diagnostics.heading.text()).toPlainText()
    assert "deep <b>sigmoid</b>" in heading, heading  # the run's own name, shown as text
    assert win.builder.flagged_layers == {0, 1} and win.diagram.highlighted == {0, 1}
    win.runs.select([second])
    assert "five layers" in win.diagnostics.heading.text()
    assert win.builder.flagged_layers == set() and win.diagram.highlighted == set()
    win.runs.select([first])
    assert win.builder.flagged_layers == {0, 1}
    win.builder.depth.setValue(6)  # the editor now holds another network: the badges leave its table
    assert win.builder.flagged_layers == set()
    assert "⚠" not in win.builder.table.verticalHeaderItem(0).text()


def test_resolved_findings_read_as_resolved_and_notes_are_shown(qtbot, win):
    spec = win.document.spec
    active = vanishing(spec)
    resolved = dataclasses.replace(active, state="resolved", last_step=40)
    run = made_up_run("healing", spec, [resolved, active])
    run.notes = ["history.h5: the last record was cut short and is skipped"]
    shown(win, run)
    tree = win.diagnostics.tree
    first, second = tree.topLevelItem(0).text(0), tree.topLevelItem(1).text(0)
    assert first.startswith("ERROR") and second.startswith("RESOLVED") and "after step 40" in second
    assert win.diagnostics.notes.isVisibleTo(win.diagnostics)
    assert "last record was cut short" in win.diagnostics.notes.text()


def test_fix_explanations_keep_their_room_in_a_short_dock(qtbot, win):
    spec = win.document.spec
    shown(win, made_up_run("deep", spec, [vanishing(spec)]))
    dock = win.docks["Diagnostics"]
    dock.setFloating(True)
    dock.resize(260, 330)
    qtbot.wait(50)
    panel = win.diagnostics
    panel.tree.setCurrentItem(panel.tree.topLevelItem(0).child(0))
    assert panel.details_area.height() >= 90, panel.details_area.height()
    assert panel.split.sizes()[1] >= 90


# ---- runs: rename and remove ------------------------------------------------------------------------------------
def test_a_run_is_renamed_with_f2_and_removed_with_delete(qtbot, win, tmp_path):
    folder = tmp_path / "old run"
    folder.mkdir()
    (folder / "spec.json").write_text(gui_spec().to_json())
    run = made_up_run("first try", win.document.spec)
    run.run_dir = folder
    shown(win, run)
    win.runs.list.setCurrentRow(0)
    focus(qtbot, win.runs.list)
    press(qtbot, Qt.Key_F2)
    qtbot.waitUntil(lambda: QApplication.focusWidget() is not win.runs.list)
    editor = QApplication.focusWidget()
    editor.selectAll()
    qtbot.keyClicks(editor, "baseline")
    press(qtbot, Qt.Key_Return)
    qtbot.waitUntil(lambda: run.name == "baseline")  # the list commits an edit on its next turn
    assert "baseline" in win.runs.list.item(0).text()
    focus(qtbot, win.runs.list)
    press(qtbot, Qt.Key_Delete)
    qtbot.waitUntil(lambda: isinstance(QApplication.activeModalWidget(), QMessageBox))
    box = QApplication.activeModalWidget()
    box.activateWindow()
    qtbot.waitUntil(lambda: QApplication.activeWindow() is box)
    qtbot.keyClick(box, Qt.Key_D, Qt.AltModifier)  # "Delete its folder too"
    qtbot.waitUntil(lambda: run not in win.runs.runs)
    assert win.runs.list.count() == 0 and not folder.exists()


# ---- exports ------------------------------------------------------------------------------------------------------
def test_export_dialogs_suggest_a_name_from_the_run_and_history_gets_csv(qtbot, win, tmp_path, monkeypatch):
    asked = []

    def save_as(parent, title, start, filters, *rest):
        asked.append((title, start))
        return str(tmp_path / "my history"), filters  # typed without an extension

    monkeypatch.setattr(QFileDialog, "getSaveFileName", staticmethod(save_as))
    run = made_up_run("deep sigmoid #3", win.document.spec)
    shown(win, run)
    assert win.export_history()
    assert asked[-1][1].endswith("deep-sigmoid--3-history.csv")
    written = tmp_path / "my history.csv"
    assert written.is_file() and "step" in written.read_text().splitlines()[0].split(",")
    monkeypatch.setattr(win.plots, "export", lambda path: [])
    win.export_plots()
    assert asked[-1][1].endswith("deep-sigmoid--3-plots.png")


def test_a_failed_model_export_leaves_nothing_behind(qtbot, win, tmp_path):
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    (run_dir / "model.keras").write_bytes(b"not a keras file")
    run = made_up_run("broken", win.document.spec)
    run.run_dir = run_dir
    shown(win, run)
    target = tmp_path / "out"
    target.mkdir()
    assert win.export_model(str(target / "net.keras")) is False
    assert win.last_error.startswith("Cannot export the model:") and "not a complete Keras model" in win.last_error
    assert list(target.iterdir()) == []  # no temporary file left beside it
    assert win.message_bar.isVisibleTo(win) and win.message_bar.label.text() == win.last_error


# ---- help, recent files, presets, background reading ----------------------------------------------------------------
def test_f1_opens_getting_started(qtbot, win):
    press(qtbot, Qt.Key_F1)
    qtbot.waitUntil(lambda: any(w.windowTitle() == "Getting started" and w.isVisible()
                                for w in QApplication.topLevelWidgets()))
    dialog = next(w for w in QApplication.topLevelWidgets() if w.windowTitle() == "Getting started")
    text = dialog.text.toPlainText()
    assert "Train" in text and "Ctrl+." in text and "Apply fix and compare" in text
    dialog.close()


def test_recent_files_reopen_what_was_opened(qtbot, win, tmp_path):
    path = tmp_path / "four.json"
    gui_spec(layers=4).save(path)
    assert win.open_spec(str(path))
    win.new_spec()
    from vg_studio.gui.menus import fill_recent_menu

    fill_recent_menu(win)
    entry = next(a for a in win.recent_menu.actions() if "four.json" in a.text())
    entry.trigger()
    assert len(win.document.spec.network.layers) == 4 and win.spec_path == path


def test_menu_titles_show_their_ampersands(win):
    titles = [a.text() for a in win.presets_menu.actions() if a.menu()]
    tan_lim = next(t for t in titles if "Lim" in t)
    assert "&&" in tan_lim and tan_lim.replace("&&", "").count("&") == 0  # shown as "Tan & Lim", no mnemonic


def test_background_reading_is_shown_whole(qtbot, win):
    dialog = win.show_background_reading()
    text = dialog.text.toPlainText()
    assert "derivative <= 0.25, recurrent networks" in text
    dialog.close()


# ---- the layer settings the spec has --------------------------------------------------------------------------------
def test_normal_sigma_bias_tokens_and_output_activation_can_be_set(qtbot, win):
    builder = win.builder
    init = builder.editor(0, "initializer")
    init.setCurrentIndex(init.findData("random_normal"))
    sigma = builder.details["init_stddev"]
    assert sigma.isEnabled()
    for name, text in (("init_stddev", "0.2"), ("bias_init", "0.5")):
        focus(qtbot, builder.details[name])
        builder.details[name].lineEdit().selectAll()
        qtbot.keyClicks(builder.details[name].lineEdit(), text)
        press(qtbot, Qt.Key_Return)
    layer = win.document.spec.network.layers[0]
    assert layer.init_stddev == 0.2 and layer.bias_init == 0.5
    tokens = builder.details["attention_tokens"]
    assert not tokens.isEnabled()  # no attention block on h1
    builder.editor(0, "attention").setChecked(True)
    assert tokens.isEnabled()
    focus(qtbot, tokens)
    tokens.lineEdit().selectAll()
    qtbot.keyClicks(tokens.lineEdit(), "4")
    press(qtbot, Qt.Key_Return)
    assert win.document.spec.network.layers[0].attention_tokens == 4
    focus(qtbot, builder.output_activation)
    builder.output_activation.setCurrentIndex(builder.output_activation.findData("sigmoid"))
    assert win.document.spec.network.output_activation == "sigmoid"


# ---- progress: ETA, a followed run, a Train click before the training process is ready -------------------------
def test_the_eta_follows_the_recent_pace_not_the_start_up():
    from vg_studio.gui.controller import Controller
    from vg_studio.gui.run_data import RunData

    now = [0.0]
    run = RunData(name="paced", clock=lambda: now[0])
    stream = list(synthetic_events(layers=3, records=200, steps_per_epoch=100, histograms=False))
    batches = [e for e in stream if type(e).__name__ == "BatchEnd"]
    run.apply_event(stream[0])  # RunStarted: 2 epochs of 100 steps
    now[0] = 60.0  # a minute of tracing and compiling before the first step ended
    run.apply_event(batches[0])
    for event in batches[1:11]:  # then 10 steps a second
        now[0] += 0.1
        run.apply_event(event)
    assert run.eta_seconds() is None  # one second of training says nothing yet
    for step in range(12, 51):
        now[0] += 0.1
        run.apply_event(type(batches[0])(step, 0, {"loss": 1.0}))
    eta = run.eta_seconds()
    assert eta == pytest.approx((200 - 50) / 10, rel=0.05)  # 150 steps left at 10 a second
    controller = Controller("/nowhere", {})
    controller.current_run = run
    assert f"about {eta:.0f} s left" in controller.progress(None, now[0]).text


def test_a_completed_run_shows_every_step_done_though_its_last_record_came_earlier():
    from vg_studio.gui.controller import Controller
    from vg_studio.gui.run_data import RunData

    run = RunData(name="r")
    for event in synthetic_events(layers=2, records=20, steps_per_epoch=13, batch_events=False):  # 20 of 26 steps
        run.apply_event(event)
    run.status = "completed"
    controller = Controller("/nowhere", {})
    controller.current_run = run
    progress = controller.progress(None)
    assert run.step < run.total_steps
    assert progress.text == f"completed: step {run.total_steps}/{run.total_steps}" and progress.value == progress.maximum


def test_a_followed_run_shows_its_status_device_and_own_network(qtbot, win):
    from vg_studio.gui.run_data import RunData

    run = RunData(name="my own model")
    run.followed = True
    shown(win, run)  # opened before its writer's first record: nothing to show yet
    events = list(synthetic_events(layers=4, records=30, steps_per_epoch=10))
    started = events[0]
    started.device, started.layer_names = "CPU:0", ["entry", "squash_1", "squash_2", "verdict"]
    win._on_events(run, [e for e in events[:40] if type(e).__name__ != "BatchEnd"])
    win._update_progress()
    assert win.progress.format().startswith("following · epoch"), win.progress.format()
    assert "CPU:0" in win.device_label.text()
    assert win.diagram.names == ["entry", "squash_1", "squash_2", "verdict"]


def test_a_train_click_before_the_training_process_is_ready_waits_for_it(qtbot, win, monkeypatch):
    from vg_studio.gui import main_window

    monkeypatch.setattr(main_window, "TrainWorker", IdleWorker)
    win.keras_ready = False  # TensorFlow still loading in the training process
    win._update_actions()
    assert win.actions_["train"].isEnabled()
    focus(qtbot, win.builder.depth)
    press(qtbot, Qt.Key_Return, Qt.ControlModifier)
    run = win.current_run
    assert run is not None and run.status == "starting"
    win._update_progress()
    assert "waiting for the training process to load TensorFlow" in win.progress.format()
    assert win.progress.isTextVisible()


def test_errors_are_in_view_and_worded_one_way(qtbot, win, tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text("{")
    assert not win.open_spec(str(bad))
    first = win.last_error
    assert win.message_bar.isVisibleTo(win) and first.startswith(f"Cannot open {bad}: ")
    assert win.open_run(str(tmp_path / "missing")) is None
    assert win.last_error.startswith(f"Cannot open {tmp_path / 'missing'}: ")
    qtbot.mouseClick(win.message_bar.dismiss, Qt.LeftButton)
    assert not win.message_bar.isVisibleTo(win)
