"""Building a network by clicking, validation highlights, undo/redo and the spec file round trip."""

import json

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication

from tests.gui.conftest import gui_spec
from vg_studio import edits
from vg_studio.diagnose.findings import Finding
from vg_studio.diagnose.fixes import fixes_for
from vg_studio.gui.panels.builder import COLUMNS


def dense_params(sizes):
    """Weights + biases of a plain MLP, counted by hand: sum of in·out + out."""
    return sum(a * b + b for a, b in zip(sizes[:-1], sizes[1:]))


def test_build_network_by_clicking(qtbot, window):
    builder = window.builder
    builder.table.selectRow(2)
    qtbot.mouseClick(builder.buttons["add"], Qt.LeftButton)
    assert len(window.document.spec.network.layers) == 4
    builder.editor(3, "units").setValue(32)
    builder.editor(3, "activation").setCurrentText("relu")
    qtbot.mouseClick(builder.buttons["up"], Qt.LeftButton)  # the new layer (selected) moves up one
    layers = window.document.spec.network.layers
    assert [(l.units, l.activation) for l in layers] == [(8, "sigmoid"), (8, "sigmoid"), (32, "relu"),
                                                         (8, "sigmoid")]
    builder.depth.setValue(6)
    assert len(window.document.spec.network.layers) == 6
    # digits: 8×8 inputs, 10 classes
    assert builder.params_label.text() == f"Parameters: {dense_params([64, 8, 8, 32, 8, 8, 8, 10]):,}"


def type_into(qtbot, widget, text: str) -> None:
    """Real keystrokes, each sent to whatever widget has the keyboard focus at that moment (as a user's would be),
    then Enter."""
    widget.setFocus()
    qtbot.waitUntil(lambda: QApplication.focusWidget() is widget)
    widget.selectAll()
    for key in text:
        qtbot.keyClick(QApplication.focusWidget(), key)
    qtbot.keyClick(QApplication.focusWidget(), Qt.Key_Return)


def test_typing_a_multi_digit_number_keeps_every_key(qtbot, window):
    """Typing "64" in Units gives 64 and "10" in Hidden layers 10: the focus stays while typing."""
    builder = window.builder
    type_into(qtbot, builder.editor(0, "units"), "64")
    assert window.document.spec.network.layers[0].units == 64
    assert QApplication.focusWidget() is builder.editor(0, "units")
    type_into(qtbot, builder.depth, "10")
    layers = window.document.spec.network.layers
    assert len(layers) == 10 and layers[9] == gui_spec().network.layers[-1]  # new layers copy the last one
    assert builder.table.rowCount() == 10
    window.actions_["undo"].trigger()
    assert len(window.document.spec.network.layers) == 3  # one undo step for the typed depth


def test_out_of_range_input_is_refused_visibly(qtbot, window):
    """A typed "-5" is refused, never silently turned into 5."""
    builder = window.builder
    before = window.document.spec
    type_into(qtbot, builder.editor(1, "units"), "-5")
    assert window.document.spec == before
    assert builder.editor(1, "units").property("refused")
    assert "h2 units: -5 refused — must be between 1 and 65536" in builder.problems_label.text()
    type_into(qtbot, builder.depth, "500")
    assert window.document.spec == before
    assert "Hidden layers: 500 refused — must be between 0 and 200" in builder.problems_label.text()
    type_into(qtbot, builder.editor(1, "units"), "12")  # a good value clears the refusal
    assert window.document.spec.network.layers[1].units == 12
    assert not builder.editor(1, "units").property("refused") and "refused" not in builder.problems_label.text()
    type_into(qtbot, builder.editor(1, "units"), "-5")
    type_into(qtbot, builder.editor(1, "units"), "12")  # the value already there: no change, yet the message goes
    assert not builder.editor(1, "units").property("refused") and "refused" not in builder.problems_label.text()


def test_invalid_cells_are_found_from_the_issue_locations(window):
    """A recurrent layer after dense ones: the spec's issue names (h3, kind) and that cell alone turns red."""
    window.document.edit("kinds", lambda spec: edits.set_kind(spec, "lstm", 2))
    builder = window.builder
    issues = window.document.spec.issues()
    assert [(issue.layer, issue.field) for issue in issues] == [(2, "kind")]
    assert "h3 (network.layers[2]).kind: recurrent layers must come before the dense layers" in \
        builder.problems_label.text()
    invalid = {(row, column) for row in range(builder.table.rowCount()) for column in range(len(COLUMNS))
               if builder.table.cellWidget(row, column) is not None
               and builder.table.cellWidget(row, column).property("invalid")}
    assert invalid == {(2, COLUMNS.index("kind"))}
    assert window.train() is None and "recurrent layers must come before" in window.last_error
    window.actions_["undo"].trigger()
    assert not any(builder.table.cellWidget(2, c).property("invalid") for c in range(len(COLUMNS))
                   if builder.table.cellWidget(2, c) is not None)


@pytest.mark.parametrize("change", ["dense", "aux head", "recurrent first"])
def test_every_column_is_visible_without_scrolling_at_the_default_size(qtbot, window, change):
    """Attn/BN/Res/Dropout/Aux are never behind a horizontal scroll bar."""
    if change == "aux head":
        window.document.edit("aux", lambda spec: edits.update_layers(spec, 1, aux_head=True))
    elif change == "recurrent first":
        window.document.edit("rnn", lambda spec: edits.set_kind(spec, "gru", 0))
    window.resize(1500, 920)  # the app's first-launch size (the test screen is smaller: laid out anew for it)
    window.reset_layout()
    qtbot.wait(100)
    table = window.builder.table
    visible = [c for c in range(len(COLUMNS)) if not table.isColumnHidden(c)]
    assert {"attention", "batch_norm", "residual", "dropout", "aux_head"} <= {COLUMNS[c] for c in visible}
    assert table.horizontalScrollBar().maximum() == 0
    right = max(table.columnViewportPosition(c) + table.columnWidth(c) for c in visible)
    assert right <= table.viewport().width()


def test_undo_redo_every_edit(qtbot, window):
    before = window.document.spec.to_dict()
    window.builder.table.selectRow(0)
    qtbot.mouseClick(window.builder.buttons["remove"], Qt.LeftButton)
    window.optimizer_panel.name.setCurrentIndex(window.optimizer_panel.name.findData("adam"))
    after = window.document.spec
    assert len(after.network.layers) == 2 and after.optimizer.name == "adam"
    undo, redo = window.actions_["undo"], window.actions_["redo"]
    assert undo.shortcut().toString() == "Ctrl+Z" and redo.shortcut().toString() == "Ctrl+Shift+Z"
    undo.trigger()
    undo.trigger()
    assert window.document.spec.to_dict() == before
    assert window.builder.table.rowCount() == 3  # the view re-rendered from the spec
    redo.trigger()
    redo.trigger()
    assert window.document.spec.to_dict() == after.to_dict()
    assert window.optimizer_panel.name.currentData() == "adam"


def test_save_open_round_trip(window, tmp_path):
    window.builder.editor(0, "units").setValue(24)
    path = tmp_path / "experiment.json"
    assert window.save_spec_as(path)
    on_disk = json.loads(path.read_text())
    assert on_disk["network"]["layers"][0]["units"] == 24
    window.new_spec()
    assert window.document.spec.network.layers[0].units == 128  # the example network
    assert window.open_spec(str(path))
    assert window.document.spec.to_dict() == on_disk
    assert window.builder.editor(0, "units").value() == 24


def test_open_bad_spec_gives_one_line_message(window, tmp_path):
    path = tmp_path / "bad.json"
    path.write_text('{"network": {"layers": [{"units": -3}]}}')
    assert not window.open_spec(str(path))
    assert "h1 (network.layers[0]).units: must be >= 1" in window.last_error and "\n" not in window.last_error


def test_presets_menu_loads_teaching_examples(window):
    titles = [a.text() for a in window.presets_menu.actions()]
    assert {"Deep sigmoid network (the gradient vanishes)", "Deep ReLU network (the gradient flows)",
            "Small sigmoid network with attention"} <= set(titles)
    action = next(a for a in window.presets_menu.actions() if a.text() == "Deep ReLU network (the gradient flows)")
    action.trigger()  # the editor has no unsaved changes: the preset opens as a new document at once
    assert {l.activation for l in window.document.spec.network.layers} == {"relu"}
    assert window.document.undo_stack.isClean()


def test_fix_from_diagnostics_is_undoable(window):
    spec = window.document.spec
    fixes = fixes_for("vanishing_gradient", spec)
    assert fixes[0].id == "relu_he"
    finding = Finding(kind="vanishing_gradient", severity="error", step=3, epoch=0, layers=["hidden_1", "hidden_2"],
                      evidence={"first_to_output_ratio": 1e-4}, message="gradients vanish", fixes=list(fixes))
    window.diagnostics.show_findings([finding], ["hidden_1", "hidden_2", "hidden_3", "output"])
    assert window.builder.flagged_layers == {0, 1}
    window.diagnostics.tree.setCurrentItem(window.diagnostics.tree.topLevelItem(0).child(0))
    assert window.diagnostics.fix_button.isEnabled()
    window.diagnostics.fix_button.click()
    fixed = window.document.spec
    assert {(l.activation, l.initializer) for l in fixed.network.layers} == {("relu", "he_normal")}
    assert fixed.name == "gui-test + ReLU/He"  # a fixed network is named after its fix
    window.actions_["undo"].trigger()
    assert {l.activation for l in window.document.spec.network.layers} == {"sigmoid"}
