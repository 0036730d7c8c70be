"""The optimizer and data panels, driven through their real widgets: every value is checked as it is entered."""

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication, QCheckBox, QComboBox, QLineEdit

from tests.gui.test_builder import type_into
from vg_studio import catalog


def choose(combo: QComboBox, data) -> None:
    combo.setCurrentIndex(combo.findData(data) if combo.findData(data) >= 0 else combo.findText(str(data)))


def enter_text(qtbot, edit: QLineEdit, text: str) -> None:
    edit.setFocus()
    qtbot.waitUntil(lambda: QApplication.focusWidget() is edit)
    edit.selectAll()
    qtbot.keyClicks(edit, text)
    qtbot.keyClick(edit, Qt.Key_Return)


def test_sdagd_parameters_are_checked_in_the_editor(qtbot, window):
    """norm_scope "nope" and a negative batch size are refused by the editor, not at Train."""
    panel = window.optimizer_panel
    choose(panel.name, "sdagd")
    assert window.document.spec.optimizer.name == "sdagd"
    editors = panel.param_editors
    assert set(editors) == set(catalog.OPTIMIZERS["sdagd"]["params"]) and "batch_size" not in editors
    scope = editors["norm_scope"]
    assert isinstance(scope, QComboBox) and {scope.itemText(i) for i in range(scope.count())} == {
        "unit", "rms", "tensor", "global"}  # a choice, not free text: "nope" cannot be entered
    enter_text(qtbot, editors["radius"], "-3")
    assert window.document.spec.optimizer.params["radius"] == -3
    assert editors["radius"].property("invalid") is True
    assert "optimizer.params.radius: must be > 0" in panel.problems_label.text()
    assert window.train() is None and "radius" in window.last_error  # refused with a message, no traceback
    enter_text(qtbot, editors["radius"], "abc")  # not a number at all: refused before it reaches the spec
    assert window.document.spec.optimizer.params["radius"] == -3 and "radius: 'abc' is not a number" in \
        panel.problems_label.text()
    enter_text(qtbot, editors["radius"], "0.5")
    assert window.document.spec.validate() == [] and not editors["radius"].property("invalid")
    assert panel.problems_label.text() == ""
    choose(scope, "tensor")
    assert window.document.spec.optimizer.params["norm_scope"] == "tensor"


def test_every_optimizer_gets_editors_of_its_own_parameters(window):
    panel = window.optimizer_panel
    for name, entry in catalog.OPTIMIZERS.items():
        choose(panel.name, name)
        assert set(panel.param_editors) == set(entry["params"]), name
        for key, default in entry["params"].items():
            editor = panel.param_editors[key]
            expected = QCheckBox if isinstance(default, bool) else QComboBox if isinstance(default, str) else QLineEdit
            assert isinstance(editor, expected), (name, key)
        assert window.document.spec.optimizer.learning_rate == entry["learning_rate"]
        assert window.document.spec.validate() == []


def test_switching_optimizer_keeps_clipping_and_is_one_undo_step(window):
    panel = window.optimizer_panel
    panel.clip_kind.setCurrentText("clipnorm")
    choose(panel.name, "adam")
    assert window.document.spec.optimizer.clipnorm == 1.0 and window.document.spec.optimizer.name == "adam"
    window.actions_["undo"].trigger()
    assert window.document.spec.optimizer.name == "sgd" and window.document.spec.optimizer.clipnorm == 1.0


def test_training_numbers_are_typed_whole_and_refused_visibly(qtbot, window):
    panel = window.optimizer_panel
    type_into(qtbot, panel.epochs, "120")
    assert window.document.spec.training.epochs == 120
    type_into(qtbot, panel.batch_size, "-32")
    assert window.document.spec.training.batch_size == 20
    assert "Batch size: -32 refused" in panel.problems_label.text() and panel.batch_size.property("refused")
    type_into(qtbot, panel.batch_size, "64")  # the next valid value clears the message
    assert "refused" not in panel.problems_label.text() and not panel.batch_size.property("refused")


def test_data_options_are_checked_where_they_are_typed(qtbot, window):
    panel = window.data_panel
    type_into(qtbot, panel.limit, "5")  # fewer than 10 examples: the spec refuses it
    assert window.document.spec.data.options["limit"] == 5
    assert "data.options.limit: must be >= 10" in panel.problems_label.text() and panel.limit.property("invalid")
    type_into(qtbot, panel.limit, "300")
    assert panel.problems_label.text() == "" and not panel.limit.property("invalid")
    choose(panel.choice, "adding")
    type_into(qtbot, panel.length, "1")  # below the editor's range
    assert "Length: 1 refused" in panel.problems_label.text()
    assert "length" not in window.document.spec.data.options
