"""Defects a newcomer meets in the window itself, each driven through the
real widgets. Runs are trained once per module in the shared training process and opened from disk."""

from __future__ import annotations

import json
import re
import time

import pytest
from PySide6.QtCore import QRect, Qt
from PySide6.QtGui import QColor, QFontMetrics, QTextDocumentFragment
from PySide6.QtWidgets import QApplication, QCheckBox, QMessageBox

from tests.gui.conftest import gui_spec, ready_to_train
from vg_studio.spec import LayerSpec, NetworkSpec


def train_in_the_training_process(spec, run_dir) -> None:
    """A finished run directory, trained by the app's (shared, warm) training process without a window."""
    from vg_studio.runner import shared_pool

    pool = shared_pool()
    child = pool.take()
    try:
        assert child.start_run(spec.to_json(), run_dir, exit_after=not pool.reuse)
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline and not child.dead:
            if any(kind == "done" for kind, _ in child.receive(0.1)):
                return
        raise AssertionError(f"the run did not end: {child.death_message()}")
    finally:
        pool.release(child)


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """A deep sigmoid run whose first layers' gradient vanishes, and a healthy ReLU one."""
    root = tmp_path_factory.mktemp("runs")
    deep = gui_spec(layers=6, units=16)
    healthy = gui_spec(layers=2, units=16, optimizer="adam", lr=0.01)
    healthy = healthy.model_copy(update={"network": NetworkSpec(layers=[
        LayerSpec(units=16, activation="relu", initializer="he_normal") for _ in range(2)])}) \
        if hasattr(healthy, "model_copy") else type(healthy).from_dict({**healthy.to_dict(), "network": {
            "layers": [{"units": 16, "activation": "relu", "initializer": "he_normal"}] * 2}})
    train_in_the_training_process(deep, root / "deep")
    train_in_the_training_process(healthy, root / "healthy")
    return {"deep": root / "deep", "healthy": root / "healthy"}


def answer(qtbot, button) -> None:
    """Click `button` of the unsaved-changes question the window is showing."""
    qtbot.waitUntil(lambda: QApplication.activeModalWidget() is not None, timeout=5000)
    box = QApplication.activeModalWidget()
    assert isinstance(box, QMessageBox) and box.objectName() == "unsaved-changes"
    box.button(button).click()


# ---- a compare never widens the window ---------------------------------------------------------------------
def test_comparing_four_runs_does_not_widen_the_window(qtbot, window, runs):
    first = window.open_run(str(runs["deep"]))
    window.plots.redraw()
    QApplication.processEvents()
    width, minimum = window.width(), window.minimumSizeHint().width()
    opened = [first] + [window.open_run(str(runs["deep"])) for _ in range(3)]
    window.runs.select(opened)
    window.plots.redraw()
    QApplication.processEvents()
    assert len([m for m in window.plots.heatmap.maps if m.isVisibleTo(window.plots)]) == 4
    assert window.width() == width
    assert window.minimumSizeHint().width() <= max(minimum, 1600)
    right = window.docks["Diagnostics"].geometry()
    assert window.rect().contains(right), "the right-hand docks stay inside the window"
    # each run its own colour, the same in the runs list as in the plots
    colours = [run.color for run in opened]
    assert len(set(colours)) == 4
    icon = window.runs.list.item(3).icon().pixmap(8, 8).toImage()
    assert QColor(icon.pixel(4, 4)).name() == colours[3]


# ---- a restored layout leaves the plots their room ----------------------------------------------------------
def test_a_restored_layout_gives_the_plots_their_room(qtbot, tmp_path):
    from vg_studio.gui.main_window import MainWindow

    first = MainWindow(spec=gui_spec(), workspace=tmp_path)
    qtbot.addWidget(first)
    first.show()
    qtbot.waitUntil(lambda: first._plots is not None)
    first.resizeDocks([first.docks["Network"]], [int(first.width() * 0.75)], Qt.Horizontal)
    QApplication.processEvents()
    first.close()
    second = MainWindow(spec=gui_spec(), workspace=tmp_path)
    qtbot.addWidget(second)
    second.show()
    assert second._restored
    qtbot.waitUntil(lambda: second._plots is not None)
    qtbot.wait(50)
    assert second.plots_area.width() >= 0.4 * second.width()
    second.close()


# ---- theme at run time ----------------------------------------------------------------------------------------
def luminance(color: QColor) -> float:
    return 0.299 * color.red() + 0.587 * color.green() + 0.114 * color.blue()


def checkbox_contrast(box: QCheckBox, background: QColor) -> float:
    """The largest luminance difference between the drawn check box and the window behind it."""
    image = box.grab().toImage()
    return max(abs(luminance(QColor(image.pixel(x, y))) - luminance(background))
               for x in range(image.width()) for y in range(image.height()))


def test_switching_theme_keeps_everything_readable(qtbot, window):
    from vg_studio.gui.theme import load_theme

    window.set_theme("light")
    window.set_theme("dark")
    dark = load_theme("dark")
    assert QApplication.palette().window().color().name() == dark["window"]
    box = QCheckBox()  # no text: only the indicator is drawn
    box.setChecked(False)
    box.resize(box.sizeHint())
    qtbot.addWidget(box)
    assert checkbox_contrast(box, QColor(dark["window"])) > 80, "an unchecked box must show on the dark window"
    window.plots.redraw()
    background = window.plots.loss.widget.backgroundBrush().color().name()
    assert background == dark["plot_background"]
    window.set_theme("light")
    assert window.plots.loss.widget.backgroundBrush().color().name() == load_theme("light")["plot_background"]
    assert window.theme_actions["light"].isChecked()


@pytest.mark.parametrize("theme", ["light", "dark"])
def test_flagged_builder_rows_draw_unchecked_boxes_empty(qtbot, window, theme):
    from vg_studio.gui.theme import load_theme

    window.set_theme(theme)
    window.builder.set_flagged_layers({0})
    cell = window.builder.editor(0, "residual")
    box = cell if isinstance(cell, QCheckBox) else cell.findChild(QCheckBox)
    assert not box.isChecked()
    image = box.grab().toImage()  # a box without text: its indicator fills it, the centre is inside
    centre = QColor(image.pixel(image.width() // 2, image.height() // 2))
    assert abs(luminance(centre) - luminance(QColor(load_theme(theme)["base"]))) < 40, centre.name()


# ---- diagnostics text ---------------------------------------------------------------------------------------
def test_findings_are_shown_in_full_with_evidence_and_fix_explanations(qtbot, window, runs):
    run = window.open_run(str(runs["deep"]))
    window.runs.select([run])
    panel = window.diagnostics
    assert run.findings, "the deep sigmoid run must have findings"
    assert not panel.empty.isVisibleTo(panel), "no 'no problem' text above the findings"
    window.docks["Diagnostics"].resize(260, 600)  # narrow: long lines must wrap, not be cut
    QApplication.processEvents()
    for i in range(panel.tree.topLevelItemCount()):
        item = panel.tree.topLevelItem(i)
        text = item.text(0)
        assert "…" not in text and "hidden_" not in text and "network.layers[" not in text
        width = panel.tree.viewport().width() - panel.tree.indentation()
        need = QFontMetrics(panel.tree.font()).boundingRect(QRect(0, 0, width, 100000), Qt.TextWordWrap,
                                                            text).height()
        assert panel.tree.visualItemRect(item).height() >= need - 2, f"line {i} is cut"
    finding = panel.selected_finding()
    for value in (getattr(finding, "evidence", None) or {}).values():
        if isinstance(value, float):
            assert f"{value:.2e}" in panel.details.text() or f"{value:.3g}" in panel.details.text()
    fix_item = panel.tree.topLevelItem(0).child(0)
    panel.tree.setCurrentItem(fix_item)
    fix = panel.selected_fix()
    shown = QTextDocumentFragment.fromHtml(panel.details.text()).toPlainText()
    assert fix.why and fix.title in shown and fix.why.split(",")[0] in shown
    assert panel.fix_button.isEnabled() and panel.compare_button.isEnabled()  # opened from disk: working fixes


def test_a_finished_run_without_a_problem_says_so(qtbot, window, runs):
    run = window.open_run(str(runs["healthy"]))
    window.runs.select([run])
    assert run.status == "completed" and all(f.severity == "info" for f in run.findings)
    assert window.diagnostics.empty.text().startswith("No problem")
    assert window.diagnostics.empty.isVisibleTo(window.diagnostics)


# ---- the fix goes to the run being compared -----------------------------------------------------------------
def test_apply_fix_and_compare_fixes_the_compared_runs_spec(qtbot, window, runs):
    from vg_studio.diagnose.fixes import FIXES

    run = window.open_run(str(runs["deep"]))
    window.runs.select([run])
    window.builder.depth.setValue(2)  # the editor now holds another network
    assert len(window.document.spec.network.layers) == 2
    fix = FIXES["relu_he"]
    ready_to_train(qtbot, window)
    second = window.apply_fix_and_compare(fix)
    assert second is not None and second.compare_with is run
    assert window.plots.runs == [run, second]
    layers = second.spec.network.layers
    assert len(layers) == 6 and {layer.activation for layer in layers} == {"relu"}  # the run's six, fixed
    assert [layer.units for layer in layers] == [layer.units for layer in run.spec.network.layers]
    qtbot.waitUntil(lambda: not window.training, timeout=180_000)
    assert second.status == "completed", second.message
    window.actions_["undo"].trigger()  # the editor change is one undoable step
    assert len(window.document.spec.network.layers) == 2


# ---- unsaved changes ----------------------------------------------------------------------------------------
def test_new_open_preset_and_quit_ask_before_discarding_changes(qtbot, window, tmp_path):
    window.builder.depth.setValue(5)
    assert not window.document.undo_stack.isClean()
    assert window.new_spec() is False
    answer(qtbot, QMessageBox.Cancel)
    assert len(window.document.spec.network.layers) == 5  # cancelled: nothing lost
    window.new_spec()
    answer(qtbot, QMessageBox.Discard)
    assert window.document.spec.name == "deep-sigmoid-sgd" and window.document.undo_stack.isClean()

    from vg_studio.gui.presets import preset_paths

    window.builder.depth.setValue(4)
    preset = next(p for p in preset_paths() if p.stem == "teach-rnn-lstm")
    window.load_preset(preset)
    answer(qtbot, QMessageBox.Discard)
    assert window.document.spec.network.layers[0].kind == "lstm"

    window.builder.depth.setValue(3)
    target = tmp_path / "kept.json"
    window.spec_path = target
    window.close()  # Quit with unsaved changes
    assert window.isVisible()
    answer(qtbot, QMessageBox.Save)
    qtbot.waitUntil(lambda: not window.isVisible(), timeout=5000)
    assert len(json.loads(target.read_text())["network"]["layers"]) == 3


# ---- presets and the Help menu ------------------------------------------------------------------------
def test_presets_have_titles_and_descriptions(window):
    from vg_studio.gui.presets import preset_description, preset_paths

    assert all(preset_description(p) for p in preset_paths()), "every preset says what it shows"
    actions = [a for menu in [window.presets_menu] + [a.menu() for a in window.presets_menu.actions() if a.menu()]
               for a in menu.actions() if not a.menu()]
    assert actions
    for action in actions:
        assert "-" not in action.text() or " " in action.text(), f"a file name, not a title: {action.text()}"
        assert action.toolTip() != action.text() and len(action.toolTip()) > 20, action.text()


def test_background_reading_lists_the_four_sources_and_no_text_says_seed(qtbot, window, runs):
    from vg_studio.references import REFERENCES

    menus = {a.text(): a.menu() for a in window.menuBar().actions()}
    reading = next(a for a in menus["&Help"].actions() if "Background reading" in a.text())
    reading.trigger()
    dialog = next(w for w in QApplication.topLevelWidgets() if w.windowTitle() == "Background reading"
                  and w.isVisible())
    text = dialog.text.toPlainText()
    for reference in REFERENCES.values():
        assert reference.full.split(",")[0].replace("&", "and")[:20] in text.replace("&", "and")
    run = window.open_run(str(runs["deep"]))
    window.runs.select([run])
    seen = [window.diagnostics.details.text(), window.diagnostics.empty.text()]
    for i in range(window.diagnostics.tree.topLevelItemCount()):
        item = window.diagnostics.tree.topLevelItem(i)
        seen += [item.text(0)] + [item.child(j).toolTip(0) for j in range(item.childCount())]
    for action in window.findChildren(type(reading)):
        seen += [action.text(), action.toolTip(), action.statusTip()]
    offending = [t for t in seen if re.search(r"seed\s*0\d\d|shared/seeds", t or "")]
    assert not offending, offending[:3]
