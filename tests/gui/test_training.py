"""Training from the window (in the training process): live plots, stop, close while training, exports, errors."""

import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from tests.gui.conftest import RUN_TIMEOUT_MS, gui_spec, ready_to_train, train_and_wait


def report(run) -> dict:
    return json.loads((run.run_dir / "report.json").read_text())


def test_train_one_epoch_every_plot_receives_data(qtbot, window):
    run = train_and_wait(qtbot, window)
    assert run.status == "completed", run.message
    window.plots.redraw()
    boxes = window.plots.plot_boxes
    for name in ("loss", "accuracy", "gradients", "weight-change", "heatmap-1"):
        assert boxes[name].has_data, name
    # 180 training examples (10 % validation) in batches of 20: 9 steps, one probe record each
    assert run.step == 9 and run.stat("grad_mean_abs").shape == (9, 4)
    assert window.device_label.text().strip().startswith("device:")
    assert "completed" in window.progress.format()
    assert (run.run_dir / "history.h5").is_file() and (run.run_dir / "model.keras").is_file()
    assert report(run)["status"] == "completed"
    # the run trained in the training process: this process never imported TensorFlow for it
    assert window.service.info["pid"] != __import__("os").getpid()


def test_sdagd_state_is_plotted(qtbot, window):
    window.document.replace(gui_spec(optimizer="sdagd", lr=1.0), "SDAGD")
    run = train_and_wait(qtbot, window)
    assert run.status == "completed", run.message
    window.plots.redraw()
    assert window.plots.optimizer.has_data


def test_stop_mid_run_then_train_again(qtbot, window):
    window.document.replace(gui_spec(epochs=500), "long")
    ready_to_train(qtbot, window)
    run = window.train()
    qtbot.waitUntil(lambda: run.step >= 3, timeout=RUN_TIMEOUT_MS)
    window.actions_["stop"].trigger()
    qtbot.waitUntil(lambda: not window.training, timeout=RUN_TIMEOUT_MS)
    assert run.status == "cancelled" and run.step < 500 * 9
    assert report(run)["status"] == "cancelled"
    assert window.actions_["train"].isEnabled()
    window.document.replace(gui_spec(), "short")
    again = train_and_wait(qtbot, window)
    assert again.status == "completed", again.message


@pytest.mark.slow  # ends the shared training process: the next run pays a fresh TensorFlow import
def test_second_stop_ends_the_process_at_once_and_the_run_says_cancelled(qtbot, window):
    window.document.replace(gui_spec(epochs=500), "long")
    ready_to_train(qtbot, window)
    run = window.train()
    qtbot.waitUntil(lambda: len(run.epoch_metric("loss")) >= 2, timeout=RUN_TIMEOUT_MS)
    child = window.worker.child
    window.stop()
    assert window.actions_["stop"].text().replace("&", "") == "■ Stop now"
    window.stop()
    qtbot.waitUntil(lambda: not window.training, timeout=10_000)
    assert child.process.poll() is not None  # the process was ended, not waited for
    assert run.status == "cancelled"
    saved = report(run)
    assert saved["status"] == "cancelled" and saved["epochs_completed"] >= 2
    from vg_studio.train.runstore import load_run

    history = load_run(run.run_dir)[1]
    assert history.epochs["epoch"][: saved["epochs_completed"]] == list(range(saved["epochs_completed"]))


def test_a_killed_training_process_is_a_message_and_a_failed_run_with_its_epochs(qtbot, window):
    window.document.replace(gui_spec(epochs=500), "long")
    ready_to_train(qtbot, window)
    run = window.train()
    qtbot.waitUntil(lambda: len(run.epoch_metric("loss")) >= 2, timeout=RUN_TIMEOUT_MS)
    os.kill(window.worker.child.pid, signal.SIGKILL)  # as `kill -9` from a terminal, or the OOM killer
    qtbot.waitUntil(lambda: not window.training, timeout=10_000)
    assert run.status == "failed" and "SIGKILL" in window.last_error
    saved = report(run)
    assert saved["status"] == "failed" and "SIGKILL" in saved["message"] and saved["epochs_completed"] >= 2
    from vg_studio.train.runstore import load_run

    assert load_run(run.run_dir)[1].epochs["epoch"][:2] == [0, 1]  # every completed epoch is still there
    assert window.actions_["train"].isEnabled()
    window.document.replace(gui_spec(), "short")
    assert train_and_wait(qtbot, window).status == "completed"  # Train works again (a new process)


def test_closing_mid_run_exits_within_seconds_and_keeps_the_completed_epochs(qtbot, tmp_path):
    from vg_studio.gui.main_window import MainWindow

    win = MainWindow(spec=gui_spec(epochs=500), workspace=tmp_path / "runs")
    qtbot.addWidget(win)
    win.show()
    qtbot.waitUntil(lambda: win.keras_ready, timeout=RUN_TIMEOUT_MS)
    run = win.train()
    qtbot.waitUntil(lambda: len(run.epoch_metric("loss")) >= 1, timeout=RUN_TIMEOUT_MS)
    worker = win.worker
    started = time.monotonic()
    win.close()
    # the window waits at most its grace second for the child, then ends it (it used to wait up to 10 s); the
    # margin is for a machine busy with other work
    assert time.monotonic() - started < 5.0
    assert worker.isFinished()
    saved = report(run)
    assert saved["status"] == "cancelled" and saved["epochs_completed"] >= 1


PLAIN_KERAS = """
import sys
import numpy as np, keras
path = sys.stdin.readline().strip()
model = keras.saving.load_model(path)
print(model.count_params(), model.predict(np.zeros((2, 8, 8, 1), "float32"), verbose=0).shape)
"""


def test_history_csv_plots_model_export_and_open_run(qtbot, window, tmp_path):
    # plain Keras (no vg_studio) loads the exported model: its interpreter imports Keras while the run trains
    plain = subprocess.Popen([sys.executable, "-c", PLAIN_KERAS], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True, cwd=tmp_path)
    try:
        run = train_and_wait(qtbot, window)
        csv = tmp_path / "history.csv"
        assert window.export_history(str(csv))
        rows = csv.read_text().strip().splitlines()
        header = rows[0].split(",")
        assert {"step", "epoch", "loss", "accuracy", "val_loss", "val_accuracy"} <= set(header)
        files = window.export_plots(str(tmp_path / "plots.png"))
        assert files and all(f.is_file() and f.stat().st_size > 1000 for f in files)
        assert not any("optimizer" in f.name or "sdagd" in f.name for f in files), "an SGD run has no SDAGD state"
        target = tmp_path / "net.keras"
        assert window.export_model(str(target))
        out, err = plain.communicate(f"{target}\n", timeout=300)
    finally:
        if plain.poll() is None:
            plain.kill()
            plain.wait()
    assert plain.returncode == 0, err[-2000:]
    params = 64 * 8 + 8 + 2 * (8 * 8 + 8) + 8 * 10 + 10  # by hand: 3 sigmoid layers of 8, 10 classes
    assert out.split()[0] == str(params) and "(2, 10)" in out
    assert "vg_studio" not in PLAIN_KERAS
    opened = window.open_run(str(run.run_dir))
    assert opened is not None and opened.status == "completed"
    np.testing.assert_allclose(opened.stat("grad_mean_abs"), run.stat("grad_mean_abs"))
    window.runs.select([run, opened])
    window.plots.redraw()
    assert len([m for m in window.plots.heatmap.maps if m.isVisibleTo(window.plots)]) == 2


def test_a_run_that_cannot_start_is_a_message_and_a_failed_run(qtbot, window, tmp_path):
    from vg_studio.data import DatasetError, load_dataset

    missing = tmp_path / "missing.npz"
    with pytest.raises(DatasetError) as expected:  # what the data loader itself says about this dataset
        load_dataset(f"npz:{missing}", {})
    spec = gui_spec()
    window.document.replace(type(spec).from_dict({**spec.to_dict(), "data": {"dataset": f"npz:{missing}",
                                                                              "options": {}}}), "missing data")
    ready_to_train(qtbot, window)
    run = window.train()
    qtbot.waitUntil(lambda: not window.training, timeout=RUN_TIMEOUT_MS)
    assert run.status == "failed"
    assert str(expected.value).splitlines()[0] in window.last_error
    assert report(run)["status"] == "failed"
    window.document.replace(gui_spec(), "back")
    assert train_and_wait(qtbot, window).status == "completed"  # and training works again
