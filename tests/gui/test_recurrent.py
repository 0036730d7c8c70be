"""Recurrent networks and auxiliary heads in the window: build by clicking, the time-step heatmap, presets."""

import json
from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import Qt

from tests.gui.conftest import train_and_wait
from vg_studio import edits
from vg_studio.spec import ExperimentSpec

PRESETS = sorted((Path(__file__).resolve().parents[2] / "resources" / "presets").glob("*.json"))


def choose(combo, data):
    index = combo.findData(data)
    assert index >= 0, data
    combo.setCurrentIndex(index)


def test_build_recurrent_network_by_clicking_and_train_on_adding(qtbot, window):
    choose(window.data_panel.choice, "adding")
    assert window.data_panel.length.isEnabled()
    window.data_panel.length.setValue(10)
    window.data_panel.length.editingFinished.emit()
    window.document.edit("n", lambda spec: edits.set_data_option(spec, "n", 100))  # no editor: the generator's size
    builder = window.builder
    builder.depth.setValue(2)
    choose(builder.editor(0, "kind"), "lstm")
    spec = window.document.spec
    assert [layer.kind for layer in spec.network.layers] == ["lstm", "dense"]
    assert spec.data.dataset == "adding" and spec.data.options == {"limit": 200, "length": 10, "n": 100}
    assert spec.validate() == []
    # options of the other family are disabled: no BatchNorm on the LSTM, no return_sequences on the Dense
    assert not builder.editor(0, "batch_norm").isEnabled() and builder.editor(0, "return_sequences").isEnabled()
    assert not builder.editor(1, "return_sequences").isEnabled() and builder.editor(1, "batch_norm").isEnabled()

    qtbot.waitUntil(lambda: window.data_panel.dataset is not None
                    and window.data_panel.dataset.x_train.shape[1:] == (10, 2), timeout=60_000)
    assert window.data_panel.sequences.isVisibleTo(window.data_panel)
    assert not window.data_panel.thumbs[0].isVisibleTo(window.data_panel)

    run = train_and_wait(qtbot, window)
    assert run.status == "completed", run.message
    window.plots.redraw()
    steps, grid = run.time_grad()
    assert grid.shape == (len(run.record_steps), 10)  # one row per probe record, one column per time step
    assert np.isfinite(grid).any() and (grid[np.isfinite(grid)] >= 0).all()
    assert window.plots.time_heatmap.isVisibleTo(window.plots) and window.plots.time_heatmap.has_data
    assert "time-heatmap-1" in window.plots.plot_boxes

    # the same numbers come back from history.h5 (Open run), and a dense run beside it gets no time heatmap
    opened = window.open_run(str(run.run_dir))
    np.testing.assert_allclose(opened.time_grad()[1], grid)
    window.runs.select([run, opened])
    window.plots.redraw()
    assert len([m for m in window.plots.time_heatmap.maps if m.isVisibleTo(window.plots)]) == 2


def test_time_heatmap_hidden_for_dense_runs(qtbot, window):
    run = train_and_wait(qtbot, window)
    window.plots.redraw()
    assert run.time_grad()[1].size == 0
    assert not window.plots.time_heatmap.isVisibleTo(window.plots)


def test_aux_head_edit_and_undo(qtbot, window):
    builder = window.builder
    before = window.document.spec.to_dict()
    assert not builder.editor(1, "aux_weight").isEnabled()  # no head, no weight to set
    qtbot.mouseClick(builder.editor(1, "aux_head"), Qt.LeftButton)
    assert window.document.spec.network.layers[1].aux_head
    assert builder.editor(1, "aux_weight").isEnabled()
    builder.editor(1, "aux_weight").setValue(0.5)
    assert window.document.spec.network.layers[1].aux_weight == 0.5
    builder.editor(1, "aux_weight").setValue(20.0)  # clamped by the editor's range (0, 10]
    assert window.document.spec.network.layers[1].aux_weight == 10.0
    window.actions_["undo"].trigger()  # the two weight edits merged into one step
    assert window.document.spec.network.layers[1].aux_weight == 0.3
    window.actions_["undo"].trigger()
    assert window.document.spec.to_dict() == before
    assert not builder.editor(1, "aux_head").isChecked()


def test_kind_change_is_one_undo_step_and_clears_dense_options(window):
    window.document.edit("bn", lambda spec: edits.update_layers(spec, 0, batch_norm=True))
    before = window.document.spec.to_dict()
    choose(window.builder.editor(0, "kind"), "gru")
    layer = window.document.spec.network.layers[0]
    assert layer.kind == "gru" and not layer.batch_norm
    window.actions_["undo"].trigger()
    assert window.document.spec.to_dict() == before
    assert window.builder.editor(0, "kind").currentData() == "dense"
    # a recurrent layer after a dense one: the spec's own message, shown next to the cell
    choose(window.builder.editor(2, "kind"), "simple_rnn")
    assert "h3 (network.layers[2]).kind: recurrent layers must come before the dense layers" in \
        window.builder.problems_label.text()
    assert window.builder.table.cellWidget(2, 0).property("invalid") is True


@pytest.mark.parametrize("path", PRESETS, ids=[p.stem for p in PRESETS])
def test_every_preset_file_loads(path):
    spec = ExperimentSpec.load(path)
    assert spec.validate() == []
    assert json.loads(path.read_text())["name"] == spec.name


def test_rnn_presets_match_the_teaching_set_up():
    specs = {p.stem: ExperimentSpec.load(p) for p in PRESETS if p.stem.startswith("teach-rnn-")}
    assert {s.network.layers[0].kind for s in specs.values()} == {"simple_rnn", "lstm", "gru"}
    for spec in specs.values():
        assert spec.data.dataset == "adding" and spec.data.options.get("length", 100) == 100
        assert [(l.units, l.activation) for l in spec.network.layers] == [(32, "tanh")]
        assert (spec.optimizer.name, spec.optimizer.learning_rate, spec.optimizer.clipnorm) == ("adam", 1e-2, 1.0)
        assert (spec.training.batch_size, spec.training.epochs, spec.monitoring.record_every) == (100, 30, 10)
    aux = ExperimentSpec.load(next(p for p in PRESETS if p.stem == "teach-deep-sigmoid-aux"))
    assert any(l.aux_head for l in aux.network.layers) and {l.activation for l in aux.network.layers} == {"sigmoid"}


def test_rnn_presets_in_their_submenu(window):
    menus = {a.text(): a.menu() for a in window.presets_menu.actions() if a.menu() is not None}
    group = menus["SimpleRNN vs LSTM vs GRU on the adding problem"]
    actions = {a.text(): a for a in group.actions()}
    assert set(actions) == {"SimpleRNN", "LSTM", "GRU"}
    actions["LSTM"].trigger()
    spec = window.document.spec
    assert spec.network.layers[0].kind == "lstm" and spec.data.dataset == "adding"
    assert window.builder.editor(0, "kind").currentData() == "lstm"
    assert window.data_panel.length.value() == 100 and window.data_panel.length.isEnabled()
    assert window.document.undo_stack.isClean()  # a preset opens as a new document (File ▸ Save names it)
