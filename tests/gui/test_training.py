"""Training from the window: live plots, stop, close while training, compare, exports."""

import subprocess
import sys

import numpy as np
import pytest

from tests.gui.conftest import RUN_TIMEOUT_MS, gui_spec, train_and_wait
from vg_studio import edits


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


def test_sdagd_state_is_plotted(qtbot, window):
    spec = gui_spec(optimizer="sdagd", lr=1.0)
    window.document.replace(spec, "SDAGD")
    run = train_and_wait(qtbot, window)
    assert run.status == "completed", run.message
    window.plots.redraw()
    assert run.history.optimizer and window.plots.optimizer.has_data


def test_stop_mid_run(qtbot, window):
    window.document.replace(gui_spec(epochs=500), "long")
    run = window.train()
    qtbot.waitUntil(lambda: run.step >= 3, timeout=RUN_TIMEOUT_MS)
    window.actions_["stop"].trigger()
    qtbot.waitUntil(lambda: not window.training, timeout=RUN_TIMEOUT_MS)
    assert run.status == "cancelled" and run.step < 500 * 9
    assert window.actions_["train"].isEnabled()


def test_close_during_training_stops_and_waits(qtbot, window):
    window.document.replace(gui_spec(epochs=500), "long")
    run = window.train()
    qtbot.waitUntil(lambda: run.step >= 2, timeout=RUN_TIMEOUT_MS)
    worker = window.worker
    window.close()
    assert worker.isFinished() and not worker.isRunning()


def test_export_model_reloads_in_plain_keras(qtbot, window, tmp_path):
    run = train_and_wait(qtbot, window)
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
    assert len(rows) == 1 + run.step and rows[0].startswith("step,epoch,loss")
    files = window.export_plots(str(tmp_path / "plots.png"))
    assert files and all(f.is_file() and f.stat().st_size > 1000 for f in files)
    opened = window.open_run(str(run.run_dir))
    assert opened is not None and opened.status == "completed"
    np.testing.assert_allclose(opened.stat("grad_mean_abs"), run.stat("grad_mean_abs"))
    window.runs.select([run, opened])
    window.plots.redraw()
    assert len([m for m in window.plots.heatmap.maps if m.isVisibleTo(window.plots)]) == 2


def test_apply_fix_and_compare_overlays_both_runs(qtbot, window):
    first = train_and_wait(qtbot, window)

    class Fix:
        title = "Use tanh"

        def apply(self, spec):
            return edits.set_activation(spec, "tanh")

    second = window.apply_fix_and_compare(Fix())
    assert second is not None and second.compare_with is first
    assert window.plots.runs == [first, second]
    qtbot.waitUntil(lambda: not window.training, timeout=RUN_TIMEOUT_MS)
    assert second.status == "completed" and second.spec.network.layers[0].activation == "tanh"


def test_worker_error_is_a_message_not_a_crash(qtbot, window, tmp_path):
    spec = edits.set_dataset(gui_spec(), f"npz:{tmp_path / 'missing.npz'}")
    window.document.replace(spec, "missing data")
    run = window.train()
    qtbot.waitUntil(lambda: not window.training, timeout=RUN_TIMEOUT_MS)
    assert run.status == "failed" and "missing.npz" in window.last_error
