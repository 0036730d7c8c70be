"""The app follows runs that other processes write — `vg-studio train` in a terminal, and a user's own
`model.fit` with the GradientMonitor callback — live, and marks them finished when their report says so.

One writer process (one TensorFlow import) writes both runs one after the other: first `vg_studio.cli train`
(the command a terminal runs, called in-process), then a user's functional Keras model through `model.fit` with
`GradientMonitor`. The window sees nothing but the files."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

from vg_studio.train.runstore import open_run

ROOT = Path(__file__).resolve().parents[2]
USER_LAYERS = ["entry", "squash_1", "squash_2", "squash_3", "squash_4", "verdict"]

WRITER = r"""
import sys
from vg_studio.cli import main

cli_run, user_run = sys.argv[1:3]
code = main(["train", "--dataset", "digits", "--limit", "200", "--layers", "3", "--units", "8", "--activation",
             "sigmoid", "--optimizer", "sgd", "--lr", "0.1", "--epochs", "40", "--batch-size", "20",
             "--record-every", "1", "--out", cli_run, "--quiet"])
assert code == 0, code

import keras
import numpy as np
from vg_studio.data import load_dataset
from vg_studio.monitor import GradientMonitor

data = load_dataset("digits", {"limit": 200})
x, y = data.x_train.reshape(len(data.x_train), -1), data.y_train
inputs = keras.Input((x.shape[1],))
h = keras.layers.Dense(16, activation="sigmoid", name="entry")(inputs)
for i in range(1, 5):
    h = keras.layers.Dense(16, activation="sigmoid", name=f"squash_{i}")(h)
model = keras.Model(inputs, keras.layers.Dense(10, activation="softmax", name="verdict")(h))
model.compile(optimizer=keras.optimizers.SGD(0.05), loss="sparse_categorical_crossentropy", metrics=["accuracy"])
model.fit(x, y, batch_size=20, epochs=40, verbose=0, callbacks=[GradientMonitor(user_run, record_every=1)])
"""


def test_the_app_follows_a_cli_run_and_a_users_model_fit_as_they_are_written(qtbot, window, tmp_path):
    cli_run, user_run = tmp_path / "from the terminal", tmp_path / "my own model"
    log = tmp_path / "writer.log"
    with open(log, "w") as out:
        writer = subprocess.Popen([sys.executable, "-c", WRITER, str(cli_run), str(user_run)], cwd=tmp_path,
                                  stdout=out, stderr=subprocess.STDOUT, env=dict(os.environ, PYTHONPATH=str(ROOT)),
                                  start_new_session=True)
    try:
        # 1. `vg-studio train` in another process: opened while it trains, its curves grow, then it completes
        qtbot.waitUntil(lambda: (cli_run / "history.h5").is_file() or writer.poll() is not None, timeout=240_000)
        run = window.open_run(str(cli_run))
        assert run is not None, window.last_error
        assert run.status == "running" and run in window.followers, "finished before it could be followed"
        window.runs.select([run])
        seen = run.num_records
        qtbot.waitUntil(lambda: run.num_records > seen, timeout=60_000)  # appended records reach the window
        window.plots.redraw()
        assert window.plots.plot_boxes["gradients"].has_data and window.plots.plot_boxes["loss"].has_data
        qtbot.waitUntil(lambda: run.status != "running", timeout=240_000)
        assert run.status == "completed"  # its report.json said so
        assert run.num_records == open_run(cli_run).history.num_records == 40 * 9  # every record, once
        assert run.display_names[:3] == ["h1", "h2", "h3"]

        # 2. a user's own `model.fit` with the monitor callback: model.json, no spec
        qtbot.waitUntil(lambda: (user_run / "model.json").is_file() and (user_run / "history.h5").is_file()
                        or writer.poll() is not None, timeout=240_000)
        own = window.open_run(str(user_run))
        assert own is not None, window.last_error
        assert own.spec is None and own.status == "running" and own in window.followers
        window.runs.select([own])
        qtbot.waitUntil(lambda: own.num_records > 20, timeout=120_000)
        assert own.layer_names == own.display_names == USER_LAYERS  # the user's Keras layer names, as named
        assert window.diagram.names == USER_LAYERS
        panel = window.diagnostics
        qtbot.waitUntil(lambda: panel.tree.topLevelItemCount() > 0, timeout=120_000)  # diagnosed as it arrives
        kinds = [str(getattr(f, "kind", "")) for f in panel.findings]
        assert "vanishing_gradient" in kinds, kinds
        top = panel.tree.topLevelItem(kinds.index("vanishing_gradient"))
        assert top.childCount() > 0, "the finding lists what to change"
        assert all(top.child(i).text(0).startswith("In your code:") for i in range(top.childCount()))
        panel.tree.setCurrentItem(top.child(0))
        # fixes are advice for the user's code: no button that could not work
        assert not panel.fix_button.isVisibleTo(panel) and not panel.compare_button.isVisibleTo(panel)
        assert panel.reason.isVisibleTo(panel) and "your own" in panel.reason.text()
        advice = panel.details.text()
        assert "In your own code:" in advice and any(name in advice for name in USER_LAYERS), advice
        qtbot.waitUntil(lambda: own.status != "running", timeout=240_000)
        assert own.status == "completed"  # the monitor's report.json said so
        assert own.num_records == open_run(user_run).history.num_records == 40 * 10  # 200 examples, batches of 20
        assert writer.wait(60) == 0, log.read_text()[-2000:]
    finally:
        if writer.poll() is None:
            os.killpg(writer.pid, signal.SIGINT)  # Ctrl-C: the writer ends its run as cancelled
            try:
                writer.wait(60)
            except subprocess.TimeoutExpired:
                os.killpg(writer.pid, signal.SIGKILL)
                writer.wait()
