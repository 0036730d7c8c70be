"""Training from the window (in the training process): live plots, stop, close while training, exports, errors."""

import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from tests.gui.conftest import RUN_TIMEOUT_MS, gui_spec, train_and_wait


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
    run = window.train()
    qtbot.waitUntil(lambda: len(run.epoch_metric("loss")) >= 2, timeout=RUN_TIMEOUT_MS)
    child = window.worker.child
    window.stop()
    assert window.actions_["stop"].text() == "■ Stop now"
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


def test_closing_mid_run_exits_within_2_s_and_keeps_the_completed_epochs(qtbot, tmp_path):
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
    assert time.monotonic() - started < 2.0
    assert worker.isFinished()
    saved = report(run)
    assert saved["status"] == "cancelled" and saved["epochs_completed"] >= 1


def test_export_model_reloads_in_plain_keras(qtbot, window, tmp_path):
    train_and_wait(qtbot, window)
    target = tmp_path / "net.keras"
    assert window.export_model(str(target))
    code = ("import sys, numpy as np, keras; m = keras.saving.load_model(sys.argv[1]); "
            "print(m.count_params(), m.predict(np.zeros((2, 8, 8, 1), 'float32'), verbose=0).shape)")
    out = subprocess.run([sys.executable, "-c", code, str(target)], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    params = 64 * 8 + 8 + 2 * (8 * 8 + 8) + 8 * 10 + 10  # by hand: 3 sigmoid layers of 8, 10 classes
    assert out.stdout.split()[0] == str(params) and "(2, 10)" in out.stdout
    assert "vg_studio" not in code


def test_history_csv_plots_and_open_run(qtbot, window, tmp_path):
    run = train_and_wait(qtbot, window)
    csv = tmp_path / "history.csv"
    assert window.export_history(str(csv))
    rows = csv.read_text().strip().splitlines()
    header = rows[0].split(",")
    assert {"step", "epoch", "loss", "accuracy", "val_loss", "val_accuracy"} <= set(header)  # defect 10
    files = window.export_plots(str(tmp_path / "plots.png"))
    assert files and all(f.is_file() and f.stat().st_size > 1000 for f in files)
    assert not any("optimizer" in f.name for f in files), "an SGD run has no SDAGD state to export"
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
    run = window.train()
    qtbot.waitUntil(lambda: not window.training, timeout=RUN_TIMEOUT_MS)
    assert run.status == "failed"
    assert str(expected.value).splitlines()[0] in window.last_error
    assert report(run)["status"] == "failed"
    window.document.replace(gui_spec(), "back")
    assert train_and_wait(qtbot, window).status == "completed"  # and training works again
