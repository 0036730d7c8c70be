import os
import tempfile

# Before Qt is imported: headless, and QSettings written to a throw-away folder, not the user's config.
os.environ["QT_QPA_PLATFORM"] = "offscreen"
os.environ["XDG_CONFIG_HOME"] = tempfile.mkdtemp(prefix="vg-studio-test-config-")
os.environ.setdefault("PYQTGRAPH_QT_LIB", "PySide6")

import pytest  # noqa: E402

pytest.importorskip("pytestqt")

from vg_studio.spec import DataSpec, ExperimentSpec, LayerSpec, MonitoringSpec, NetworkSpec, OptimizerSpec, \
    TrainingSpec  # noqa: E402

KERAS_TIMEOUT_MS = 180_000
RUN_TIMEOUT_MS = 180_000


def gui_spec(epochs=1, layers=3, units=8, optimizer="sgd", lr=0.1) -> ExperimentSpec:
    """200 8×8 digits, small layers, a probe record every step: one epoch trains in about a second."""
    return ExperimentSpec(
        name="gui-test",
        data=DataSpec(dataset="digits", options={"limit": 200}),
        network=NetworkSpec(layers=[LayerSpec(units=units, activation="sigmoid") for _ in range(layers)]),
        optimizer=OptimizerSpec(name=optimizer, learning_rate=lr),
        training=TrainingSpec(epochs=epochs, batch_size=20, seed=0),
        monitoring=MonitoringSpec(record_every=1, probe_batch_size=32),
    )


@pytest.fixture
def window(qtbot, tmp_path):
    """The main window, shown, its dataset loaded. It does not wait for the training process (TensorFlow loads
    there while the editing tests run): a test that trains calls `ready_to_train` (train_and_wait does)."""
    from vg_studio.gui.main_window import MainWindow

    win = MainWindow(spec=gui_spec(), workspace=tmp_path / "runs")
    qtbot.addWidget(win)
    win.show()
    qtbot.waitUntil(lambda: win.builder.params_counter is not None and win.data_panel.dataset is not None,
                    timeout=60_000)
    yield win
    if win.training:
        win.worker.stop_and_wait()


def ready_to_train(qtbot, win) -> None:
    qtbot.waitUntil(lambda: win.keras_ready, timeout=KERAS_TIMEOUT_MS)


def train_and_wait(qtbot, win, **kwargs):
    ready_to_train(qtbot, win)
    run = win.train(**kwargs)
    assert run is not None, win.last_error
    qtbot.waitUntil(lambda: not win.training and run.status not in ("starting", "running"), timeout=RUN_TIMEOUT_MS)
    return run

