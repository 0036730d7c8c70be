"""Building a network by clicking, validation highlights, undo/redo and the spec file round trip."""

import json

from PySide6.QtCore import Qt

from tests.gui.conftest import gui_spec
from vg_studio import edits


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


def test_invalid_value_is_highlighted_with_its_message(window):
    window.builder.editor(1, "units").setValue(0)
    assert "h2 (network.layers[1]).units: must be >= 1" in window.builder.problems_label.text()
    assert window.builder.table.cellWidget(1, 1).property("invalid") is True
    assert window.train() is None and "units" in window.last_error


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
    assert {"teach deep sigmoid", "teach deep relu", "teach dnn attention"} <= set(titles)
    action = next(a for a in window.presets_menu.actions() if a.text() == "teach deep relu")
    action.trigger()
    assert {l.activation for l in window.document.spec.network.layers} == {"relu"}
    window.actions_["undo"].trigger()
    assert window.document.spec.to_dict() == gui_spec().to_dict()


def test_fix_from_diagnostics_is_undoable(window):
    class Fix:
        title = "Use ReLU"

        def apply(self, spec):
            return edits.set_activation(spec, "relu")

    finding = {"kind": "vanishing_gradient", "severity": "error", "step": 3, "layers": ["hidden_1", "hidden_2"],
               "message": "gradients vanish", "fixes": [Fix()]}
    window.diagnostics.show_findings([finding], ["hidden_1", "hidden_2", "hidden_3", "output"])
    assert window.builder.flagged_layers == {0, 1}
    window.diagnostics.tree.setCurrentItem(window.diagnostics.tree.topLevelItem(0).child(0))
    assert window.diagnostics.fix_button.isEnabled()
    window.diagnostics.fix_button.click()
    assert {l.activation for l in window.document.spec.network.layers} == {"relu"}
    window.actions_["undo"].trigger()
    assert {l.activation for l in window.document.spec.network.layers} == {"sigmoid"}
