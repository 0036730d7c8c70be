"""GUI hardening: every file dialog cancelled, garbage in every field, bad files opened, a second run and the
window closed mid-run. Nothing may raise (pytest-qt fails a test on an exception in a Qt slot), nothing is lost."""

from __future__ import annotations

import json
import os
import tempfile

os.environ["QT_QPA_PLATFORM"] = "offscreen"
os.environ.setdefault("XDG_CONFIG_HOME", tempfile.mkdtemp(prefix="vg-studio-test-config-"))
os.environ.setdefault("PYQTGRAPH_QT_LIB", "PySide6")

import pytest  # noqa: E402

pytest.importorskip("pytestqt")

from vg_studio import __version__  # noqa: E402
from vg_studio.spec import DataSpec, ExperimentSpec, LayerSpec, MonitoringSpec, NetworkSpec, OptimizerSpec, \
    TrainingSpec  # noqa: E402

GARBAGE = ["", "abc", "1e999", "-inf", "nan", "NaN", "0x10", "1,5", "💥", "9" * 400, " 1e-3 ", "-0", "1/0", "None"]


def small_spec(epochs=1) -> ExperimentSpec:
    return ExperimentSpec(
        name="hardening", data=DataSpec(dataset="digits", options={"limit": 200}),
        network=NetworkSpec(layers=[LayerSpec(units=8, activation="sigmoid") for _ in range(2)]),
        optimizer=OptimizerSpec(name="sgd", learning_rate=0.1),
        training=TrainingSpec(epochs=epochs, batch_size=20, seed=0),
        monitoring=MonitoringSpec(record_every=1, probe_batch_size=32))


@pytest.fixture
def window(qtbot, tmp_path):
    """A window that is never shown: Keras and datasets do not load, so field and dialog tests stay fast."""
    from vg_studio.gui.main_window import MainWindow

    win = MainWindow(spec=small_spec(), workspace=tmp_path / "runs")
    qtbot.addWidget(win)
    yield win
    win.close()


def _strict_json(spec: ExperimentSpec) -> None:
    """What the window would save must be standard JSON that loads again (no NaN/Infinity)."""
    text = json.dumps(spec.to_dict(), allow_nan=False)
    problems = spec.validate()
    if not problems:
        assert ExperimentSpec.from_json(text) == spec


def test_the_window_title_shows_the_version(window):
    assert __version__ in window.windowTitle()


def test_every_file_dialog_cancelled_changes_nothing(window, monkeypatch, tmp_path):
    from PySide6.QtWidgets import QFileDialog

    asked = []

    def cancelled(*args, **kwargs):
        asked.append(args[1] if len(args) > 1 else "?")
        return ("", "")

    monkeypatch.setattr(QFileDialog, "getOpenFileName", staticmethod(cancelled))
    monkeypatch.setattr(QFileDialog, "getSaveFileName", staticmethod(cancelled))
    monkeypatch.setattr(QFileDialog, "getExistingDirectory", staticmethod(lambda *a, **k: asked.append(a) or ""))
    before = window.document.spec.to_json()
    assert window.open_spec() is False
    assert window.save_spec_as() is False
    assert window.save_spec() is False  # never saved: asks for a path
    assert window.open_run() is None
    assert window.export_plots() == []
    window.data_panel.import_folder()
    window.data_panel.import_npz()
    assert len(asked) == 7
    assert window.document.spec.to_json() == before and window.spec_path is None
    assert window.last_error == "" and list(tmp_path.iterdir()) == []


def test_garbage_in_every_text_field(window, qtbot):
    from PySide6.QtWidgets import QLineEdit

    window.optimizer_panel.clip_kind.setCurrentText("clipnorm")  # the clip value field becomes editable
    for name in ("sgd_momentum", "sdagd", "adam"):  # every optimizer's hyperparameter form
        panel = window.optimizer_panel
        panel.name.setCurrentIndex(panel.name.findData(name))
        edits = [e for e in window.findChildren(QLineEdit) if e.isEnabled() and not e.isReadOnly()]
        assert edits
        for edit in edits:
            for text in GARBAGE:
                edit.setText(text)
                edit.editingFinished.emit()
                _strict_json(window.document.spec)
    window.undo_all = window.document.undo_stack.count()
    while window.document.undo_stack.canUndo():  # every garbage edit that was taken can be undone
        window.document.undo_stack.undo()
    assert window.document.spec == small_spec()


def test_every_spin_box_and_combo_at_its_extremes(window, monkeypatch):
    from PySide6.QtCore import QCoreApplication, QEvent
    from PySide6.QtWidgets import QAbstractSpinBox, QComboBox

    def widgets():
        # a change can rebuild the layer table: drop the replaced widgets before looking again
        QCoreApplication.sendPostedEvents(None, QEvent.DeferredDelete)
        return [w for w in window.findChildren(QAbstractSpinBox) + window.findChildren(QComboBox) if w.isEnabled()]

    k = 0
    while k < len(widgets()) and k < 200:
        box = widgets()[k]
        if isinstance(box, QComboBox):
            for i in range(box.count()):
                box.setCurrentIndex(i)
        elif box is not window.builder.depth:  # 0 layers or the maximum are checked below
            for value in (box.minimum(), box.maximum(), box.minimum()):
                box.setValue(value)
                box.editingFinished.emit()
        k += 1
    for depth in (window.builder.depth.minimum(), 12, 1):
        window.builder.depth.setValue(depth)
    _strict_json(window.document.spec)
    # Train with what the widgets left: past the "training process ready" gate, with a worker that records what it
    # was given instead of training — train() must judge the spec itself.
    from vg_studio.gui import main_window

    class RecordingWorker(main_window.TrainWorker):  # the app's worker, minus the training process
        given = []

        def __init__(self, spec, run_dir, parent=None):
            super().__init__(spec, run_dir, parent)
            RecordingWorker.given.append(spec)

        def run(self):
            pass

    monkeypatch.setattr(main_window, "TrainWorker", RecordingWorker)
    window.keras_ready = True
    spec = window.document.spec
    problems = spec.validate()
    run = window.train()
    if problems:  # refused, saying why
        assert run is None and RecordingWorker.given == [] and problems[0] in window.last_error
    else:  # started with exactly the spec the widgets show
        assert run is not None and RecordingWorker.given == [spec]
        window.worker.wait(10_000)


@pytest.mark.parametrize("content", [b"{", b"\xff\xfe", b"[]", b'{"schema_version": 99}',
                                     b'{"network": {"layers": [{"units": 1e400}]}}', b"[" * 50_000])
def test_opening_a_bad_spec_file_is_a_message(window, tmp_path, content):
    path = tmp_path / "bad spec ü.json"
    path.write_bytes(content)
    before = window.document.spec.to_json()
    assert window.open_spec(str(path)) is False
    assert str(path) in window.last_error and "\n" not in window.last_error
    assert window.document.spec.to_json() == before


def test_opening_a_bad_run_folder_is_a_message(window, tmp_path):
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "history.h5").write_bytes(b"garbage")
    assert window.open_run(str(tmp_path / "run")) is None and window.last_error
    assert window.open_run(str(tmp_path / "missing")) is None


def test_saving_into_a_missing_folder_is_a_message(window, tmp_path):
    assert window.save_spec_as(str(tmp_path / "no such folder" / "x.json")) is False
    assert "Cannot save" in window.last_error and window.spec_path is None


def test_a_second_run_is_refused_and_closing_mid_run_keeps_every_completed_epoch(qtbot, tmp_path):
    from vg_studio.gui.main_window import MainWindow
    from vg_studio.train.runstore import load_run

    win = MainWindow(spec=small_spec(epochs=500), workspace=tmp_path / "runs ü")
    qtbot.addWidget(win)
    win.show()
    qtbot.waitUntil(lambda: win.keras_ready, timeout=180_000)
    run = win.train()
    assert run is not None, win.last_error
    assert win.train() is None  # a second run while one runs: refused (the Train action is disabled too)
    assert not win.actions_["train"].isEnabled()
    qtbot.waitUntil(lambda: len(run.history.epochs.get("epoch", [])) >= 1 if run.history else False,
                    timeout=180_000)
    worker = win.worker
    win.close()  # mid-run: stops the worker and waits for it
    assert worker.isFinished()
    spec, history, report = load_run(run.run_dir)
    completed = report["epochs_completed"]
    assert report["status"] == "cancelled" and completed >= 1
    assert history.epochs["epoch"] == list(range(completed))
