"""The app by keyboard and wheel, driven with real key and wheel events: Esc cancels an edit and never stops
training, Train is off (saying why) while a field shows something a run would not train with, Tab never traps,
every dock and dialog button is reachable from the keyboard, and the wheel never changes a value on its way past."""

from __future__ import annotations

import pytest
from PySide6.QtCore import QPoint, QPointF, Qt
from PySide6.QtGui import QWheelEvent
from PySide6.QtWidgets import QApplication, QMessageBox

from tests.gui.conftest import gui_spec


@pytest.fixture
def win(qtbot, tmp_path):
    """The window, shown, without waiting for its dataset or the training process (nothing here trains)."""
    from vg_studio.gui.main_window import MainWindow

    window = MainWindow(spec=gui_spec(), workspace=tmp_path / "runs")
    qtbot.addWidget(window)
    window._background_started = True  # no training process, dataset or plots started behind the test's back
    window.show()
    qtbot.waitExposed(window)
    window.activateWindow()
    yield window
    if window.training:
        window.worker.stop_and_wait()
    window._closing_confirmed = True
    window.close()


class IdleWorker:
    """Stands in for the training worker: "trains" until it is asked to stop (no training process)."""

    def __init__(self, spec, run_dir, parent=None):
        self.spec, self.run_dir = spec, run_dir
        self.cancels = 0
        self.waiting_for_child = True
        self.events = _Signal()
        self.finished = _Signal()

    @property
    def stop_requested(self) -> bool:
        return self.cancels > 0

    def start(self) -> None:
        self.running = True

    def isRunning(self) -> bool:  # noqa: N802 (QThread's name)
        return getattr(self, "running", False)

    def cancel(self) -> None:
        self.cancels += 1

    def stop_and_wait(self, *args) -> bool:
        self.running = False
        return True

    def wait(self, *args) -> bool:
        return True


class _Signal:
    def __init__(self):
        self.slots = []

    def connect(self, slot) -> None:
        self.slots.append(slot)


def press(qtbot, key, modifier=Qt.NoModifier) -> None:
    """A key pressed where the keyboard focus is, as a user's key would be."""
    target = QApplication.focusWidget() or QApplication.activeWindow()
    qtbot.keyClick(target, key, modifier)


def focus(qtbot, widget) -> None:
    widget.setFocus(Qt.TabFocusReason)
    qtbot.waitUntil(lambda: QApplication.focusWidget() is widget or (
        QApplication.focusWidget() is not None and widget.isAncestorOf(QApplication.focusWidget())))


def test_esc_cancels_the_edit_and_never_stops_training_which_ctrl_period_does(qtbot, win, monkeypatch):
    from vg_studio.gui import main_window

    monkeypatch.setattr(main_window, "TrainWorker", IdleWorker)
    win.keras_ready = True
    run = win.train()
    assert run is not None and win.training
    lr = win.optimizer_panel.learning_rate
    focus(qtbot, lr)
    lr.selectAll()
    qtbot.keyClicks(lr, "0.7")
    press(qtbot, Qt.Key_Escape)
    assert win.worker.cancels == 0, "Esc in a field stopped the run"
    assert lr.text() == "0.1" and win.document.spec.optimizer.learning_rate == 0.1  # the edit was cancelled
    units = win.builder.editor(0, "units")
    focus(qtbot, units)
    units.lineEdit().selectAll()
    qtbot.keyClicks(units.lineEdit(), "99")
    press(qtbot, Qt.Key_Escape)
    assert win.worker.cancels == 0 and units.value() == 8 and units.lineEdit().text() == "8"
    press(qtbot, Qt.Key_Period, Qt.ControlModifier)  # Stop's own shortcut
    assert win.worker.cancels == 1
    assert "Esc" not in win.actions_["stop"].statusTip() and win.actions_["stop"].shortcut().toString() == "Ctrl+."


def test_train_is_off_with_its_reason_while_a_field_is_invalid(qtbot, win, monkeypatch):
    from vg_studio.gui import main_window

    monkeypatch.setattr(main_window, "TrainWorker", IdleWorker)
    win.keras_ready = True
    win._update_actions()
    train = win.actions_["train"]
    assert train.isEnabled()
    lr = win.optimizer_panel.learning_rate
    focus(qtbot, lr)
    lr.selectAll()
    press(qtbot, Qt.Key_Backspace)  # the field is empty: the screen shows no learning rate
    assert not train.isEnabled()
    assert win.train_reason.isVisibleTo(win) and "Learning rate: empty" in win.train_reason.text()
    press(qtbot, Qt.Key_Return, Qt.ControlModifier)  # Ctrl+Return does not train what the screen does not show
    assert win.current_run is None
    qtbot.keyClicks(lr, "0")
    press(qtbot, Qt.Key_Return)
    assert win.document.spec.optimizer.learning_rate == 0.1  # 0 is refused, with a word
    assert "Learning rate: 0 refused — must be greater than 0" in win.optimizer_panel.problems_label.text()
    assert not train.isEnabled() and "greater than 0" in train.toolTip()
    lr.selectAll()
    qtbot.keyClicks(lr, "0.05")  # typed, not yet committed: Train commits it first, then trains it
    assert train.isEnabled()
    press(qtbot, Qt.Key_Return, Qt.ControlModifier)
    assert win.current_run is not None and win.worker.spec.optimizer.learning_rate == 0.05
    assert not win.train_reason.isVisibleTo(win)


def test_tab_walks_out_of_the_layer_table_both_ways(qtbot, win):
    table = win.builder.table
    focus(qtbot, win.builder.editor(0, "kind"))
    cells = sum(1 for r in range(table.rowCount()) for c in range(table.columnCount())
                if not table.isColumnHidden(c) and table.cellWidget(r, c) is not None)
    for forward in (True, False):
        focus(qtbot, win.builder.editor(0 if forward else table.rowCount() - 1, "kind"))
        for _ in range(cells + 3):
            press(qtbot, Qt.Key_Tab if forward else Qt.Key_Backtab)
            if not table.isAncestorOf(QApplication.focusWidget()) and QApplication.focusWidget() is not table:
                break
        else:
            pytest.fail(f"{'Tab' if forward else 'Shift+Tab'} never left the layer table")


@pytest.mark.parametrize("title, key", [("Network", Qt.Key_1), ("Training", Qt.Key_2), ("Data", Qt.Key_3),
                                        ("Diagnostics", Qt.Key_4), ("Runs", Qt.Key_5)])
def test_every_dock_is_reached_from_the_keyboard(qtbot, win, title, key):
    press(qtbot, key, Qt.ControlModifier)
    dock = win.docks[title]
    qtbot.waitUntil(lambda: not dock.visibleRegion().isEmpty())
    focused = QApplication.focusWidget()
    assert focused is not None and dock.isAncestorOf(focused), f"{title}: the keyboard is in {focused}"


def test_the_data_tab_by_keyboard_then_its_fields_by_tab(qtbot, win):
    press(qtbot, Qt.Key_3, Qt.ControlModifier)
    assert QApplication.focusWidget() is win.data_panel.choice
    press(qtbot, Qt.Key_Tab)
    assert QApplication.focusWidget() is win.data_panel.limit


def test_dialog_buttons_answer_to_alt_letters(qtbot, win):
    win.builder.depth.setValue(5)
    win.new_spec()  # unsaved changes: Save / Discard / Cancel
    qtbot.waitUntil(lambda: isinstance(QApplication.activeModalWidget(), QMessageBox))
    box = QApplication.activeModalWidget()
    texts = {b.text() for b in box.buttons()}
    assert texts == {"&Save", "&Discard", "&Cancel"}
    box.activateWindow()
    qtbot.waitUntil(lambda: QApplication.activeWindow() is box)
    qtbot.keyClick(box, Qt.Key_D, Qt.AltModifier)
    qtbot.waitUntil(lambda: win.document.spec.name == "deep-sigmoid-sgd")  # discarded: the example network
    dialog = win.show_getting_started()
    from PySide6.QtWidgets import QDialogButtonBox

    close = dialog.findChild(QDialogButtonBox).buttons()[0]
    assert close.text() == "&Close"


def wheel(widget, notches: int = -1) -> None:
    """One turn of the mouse wheel over `widget` (the event Qt delivers, at the widget's centre)."""
    centre = QPointF(widget.width() / 2, widget.height() / 2)
    event = QWheelEvent(centre, QPointF(widget.mapToGlobal(centre.toPoint())), QPoint(), QPoint(0, 120 * notches),
                        Qt.NoButton, Qt.NoModifier, Qt.NoScrollPhase, False)
    QApplication.sendEvent(widget, event)


def test_the_wheel_scrolls_past_fields_without_changing_them(qtbot, win):
    dock = win.docks["Training"]
    dock.setFloating(True)
    dock.resize(300, 160)  # short: the panel scrolls
    qtbot.waitUntil(lambda: dock.widget().verticalScrollBar().maximum() > 0)
    panel = win.optimizer_panel
    before = win.document.spec
    scroll = dock.widget().verticalScrollBar()
    for field in (panel.batch_size, panel.epochs, panel.clip_kind, panel.name):
        start = scroll.value()
        wheel(field)
        assert scroll.value() != start or scroll.value() == scroll.maximum()
        scroll.setValue(0)
    assert win.document.spec == before, "a wheel over an unfocused field changed the experiment"
    focus(qtbot, panel.batch_size)
    wheel(panel.batch_size, notches=1)  # the focused field: the wheel is the user's way to step it
    assert win.document.spec.training.batch_size == 21


def test_undo_labels_name_the_value_taken_never_a_refused_one(qtbot, win):
    lr = win.optimizer_panel.learning_rate
    undo = win.actions_["undo"]
    for text in ("0.5", "0.05"):
        focus(qtbot, lr)
        lr.selectAll()
        qtbot.keyClicks(lr, text)
        press(qtbot, Qt.Key_Return)
    assert undo.text().replace("&", "") == "Undo Learning rate = 0.05"
    lr.selectAll()
    qtbot.keyClicks(lr, "-1")
    press(qtbot, Qt.Key_Return)
    assert undo.text().replace("&", "") == "Undo Learning rate = 0.05"
    units = win.builder.editor(1, "units")
    focus(qtbot, units)
    units.lineEdit().selectAll()
    qtbot.keyClicks(units.lineEdit(), "-5")
    press(qtbot, Qt.Key_Return)
    assert "-5" not in undo.text() and win.document.spec.network.layers[1].units == 8
