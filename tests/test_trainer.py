import json
import os
import signal
import subprocess
import sys
import textwrap
import time

import h5py
import numpy as np
import pytest

from vg_studio import edits
from vg_studio.catalog import LAYER_STATS
from vg_studio.spec import ExperimentSpec
from vg_studio.train import events
from vg_studio.train.history_file import load_history
from vg_studio.train.runstore import History, load_run, open_run
from vg_studio.train.trainer import Trainer
from tests.conftest import make_tiny_spec


def test_run_directory_contents(tmp_path):
    spec = make_tiny_spec(epochs=2)
    seen = []
    result = Trainer(spec, run_dir=tmp_path / "run", listeners=[seen.append]).run()
    assert result.status == "completed"
    run = tmp_path / "run"
    assert sorted(p.name for p in run.iterdir()) == ["history.h5", "model.keras", "report.json", "spec.json"]
    assert ExperimentSpec.load(run / "spec.json") == spec

    with h5py.File(run / "history.h5", "r") as f:
        assert list(f.attrs["layer_names"]) == ["hidden_1", "hidden_2", "output"]
        assert f["epochs/loss"].shape == (2,) and list(f["epochs/epoch"][()]) == [0, 1]
        n_records = f["probes/step"].shape[0]
        assert n_records == 1 + result.report["steps"] // 2  # the first step, then every second one
        for name in LAYER_STATS:
            assert f[f"probes/{name}"].shape == (n_records, 3)
    report = json.loads((run / "report.json").read_text())
    metrics = report["test_metrics"]
    assert set(metrics) >= {"accuracy", "recall_macro", "f1_macro", "misclassification_rate", "images_per_second"}
    assert metrics["misclassification_rate"] == pytest.approx(1 - metrics["accuracy"])
    assert report["versions"]["keras"] and report["device"]
    kinds = [type(e) for e in seen]
    assert kinds[0] is events.RunStarted and kinds[-1] is events.RunFinished
    assert kinds.count(events.EpochEnd) == 2 and events.ProbeRecord in kinds and events.BatchEnd in kinds


def test_test_metrics_match_sklearn_on_the_exported_model(tmp_path):
    import keras
    from sklearn.metrics import f1_score

    from vg_studio.data import load_dataset

    spec = make_tiny_spec(epochs=2)
    result = Trainer(spec, run_dir=tmp_path).run()
    model = keras.saving.load_model(tmp_path / "model.keras")
    data = load_dataset("digits")
    pred = model.predict(data.x_test, verbose=0).argmax(axis=1)
    assert result.report["test_metrics"]["accuracy"] == pytest.approx(np.mean(pred == data.y_test))
    assert result.report["test_metrics"]["f1_macro"] == pytest.approx(f1_score(data.y_test, pred, average="macro"))


def test_models_load_in_plain_keras_without_vg_studio(tmp_path):
    """One subprocess that never imports vg_studio loads both: the Trainer's exported network, and a user's model
    saved after training with the GradientMonitor (whose optimizer must be the user's own again)."""
    import keras

    from vg_studio.monitor import GradientMonitor

    spec = make_tiny_spec(layers=2, units=8)
    spec = edits.update_layers(spec, 0, attention=True)
    spec = edits.update_layers(spec, 1, activation="prelu", batch_norm=True)
    result = Trainer(spec, run_dir=tmp_path / "run").run()
    x = np.random.default_rng(0).random((5, 8, 8, 1), dtype=np.float32)
    user = keras.Sequential([keras.Input((8, 8, 1)), keras.layers.Conv2D(4, 3, activation="relu"),
                             keras.layers.Flatten(), keras.layers.Dense(10, activation="softmax")])
    user.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    user.fit(x, np.arange(5), epochs=2, callbacks=[GradientMonitor(tmp_path / "user_run", record_every=1)],
             verbose=0)
    user.save(tmp_path / "user.keras")
    np.save(tmp_path / "x.npy", x)
    for name, model in (("run/model.keras", result.model), ("user.keras", user)):
        np.save(tmp_path / f"{name.split('/')[0].split('.')[0]}.npy", np.asarray(model.predict(x, verbose=0)))
    code = textwrap.dedent(f"""
        import sys, numpy as np, keras
        for name in ("run/model.keras", "user.keras"):
            model = keras.saving.load_model({str(tmp_path)!r} + "/" + name)
            got = model.predict(np.load({str(tmp_path / 'x.npy')!r}), verbose=0)
            expected = np.load({str(tmp_path)!r} + "/" + name.split("/")[0].split(".")[0] + ".npy")
            np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)
            print(name, model.optimizer.__class__.__name__, len(model.optimizer.variables))
        assert not any(m.startswith('vg_studio') for m in sys.modules), 'vg_studio was imported'
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300,
                         cwd=tmp_path, env={**os.environ, "PYTHONPATH": ""})
    assert out.returncode == 0, out.stderr[-2000:]
    lines = out.stdout.split("\n")
    assert "run/model.keras Adam" in lines[0] and lines[1].startswith("user.keras Adam ")
    assert "Skipping variable loading" not in out.stderr  # the saved optimizer has exactly Adam's variables


def test_cancel_mid_epoch_keeps_completed_epochs(tmp_path):
    spec = make_tiny_spec(epochs=5, limit=600)
    trainer = Trainer(spec, run_dir=tmp_path)
    steps_per_epoch = None

    def cancel_in_third_epoch(event):
        nonlocal steps_per_epoch
        if isinstance(event, events.RunStarted):
            steps_per_epoch = event.steps_per_epoch
        if isinstance(event, events.BatchEnd) and event.step == 2 * steps_per_epoch + 2:
            trainer.cancel()

    trainer.listeners.append(cancel_in_third_epoch)
    result = trainer.run()
    assert result.status == "cancelled"
    assert result.report["steps"] == 2 * steps_per_epoch + 2
    history = load_history(tmp_path / "history.h5")
    assert history.epochs["epoch"] == [0, 1]  # the interrupted third epoch is not a completed one
    assert history.status == "cancelled"
    assert (tmp_path / "model.keras").is_file()


def test_non_finite_loss_stops_and_keeps_history(tmp_path):
    spec = make_tiny_spec(layers=4, units=64, activation="relu", optimizer="sgd", lr=1e4, epochs=5, limit=600,
                          initializer="random_normal", init_stddev=3.0, record_every=5)
    result = Trainer(spec, run_dir=tmp_path).run()
    assert result.status == "diverged"
    assert "loss became" in result.message
    spec_back, history, report = load_run(tmp_path)
    assert report["status"] == "diverged" and history.num_records >= 1
    assert not np.isfinite(history.record_loss[-1])


KILLED = {
    "trainer": """
        from tests.conftest import make_tiny_spec
        from vg_studio.train import events
        from vg_studio.train.trainer import Trainer
        def die(event):
            if isinstance(event, events.BatchEnd) and event.epoch == 3 and event.step % 11 == 5:
                os.kill(os.getpid(), 9)  # kill -9 in the middle of the fourth epoch
        Trainer(make_tiny_spec(epochs=50, limit=600), run_dir=RUN, listeners=[die]).run()
    """,
    "monitor": """
        import keras
        from vg_studio.data import load_dataset
        from vg_studio.monitor import GradientMonitor
        class Die(keras.callbacks.Callback):
            def on_train_batch_begin(self, batch, logs=None):
                if self.epoch == 3 and batch == 5:
                    os.kill(os.getpid(), 9)
            def on_epoch_begin(self, epoch, logs=None):
                self.epoch = epoch
        data = load_dataset("digits", {"limit": 600})
        model = keras.Sequential([keras.Input((8, 8, 1)), keras.layers.Flatten(), keras.layers.Dense(16),
                                  keras.layers.Dense(10, activation="softmax")])
        model.compile("adam", "sparse_categorical_crossentropy")
        model.fit(data.x_train, data.y_train, epochs=50, batch_size=50, verbose=0,
                  callbacks=[GradientMonitor(RUN, record_every=2), Die()])
    """,
}


@pytest.mark.parametrize("writer", ["trainer", pytest.param("monitor", marks=pytest.mark.slow)])
def test_killed_run_keeps_every_completed_epoch(tmp_path, writer):
    script = f"import os, sys\nsys.path.insert(0, {os.getcwd()!r})\nRUN = {str(tmp_path)!r}\n" + textwrap.dedent(
        KILLED[writer])
    proc = subprocess.run([sys.executable, "-c", script], timeout=300, capture_output=True)
    assert proc.returncode == -signal.SIGKILL, proc.stderr[-2000:]
    run = open_run(tmp_path)
    history = run.history
    assert history.epochs["epoch"] == [0, 1, 2] and run.status == "running"
    assert history.stat("grad_mean_abs").shape[0] == len(history.steps) > 0
    assert 2 in history.record_epochs and history.steps == sorted(history.steps)
    # nothing but the run's own files: no temporary file left behind (they start with a dot: look at all)
    names = {p.name for p in tmp_path.iterdir()}
    run_files = {"history.h5", "history.log", "spec.json" if writer == "trainer" else "model.json"}
    assert run_files <= names and names - run_files <= {".lock", ".reserve"}, names


def test_refuses_a_network_that_cannot_fit_in_memory():
    from vg_studio.spec import SpecError

    spec = make_tiny_spec(layers=40, units=65536)
    with pytest.raises(SpecError, match=r"network.layers: training this network needs about .* GiB"):
        Trainer(spec).run()


def test_a_run_that_cannot_start_still_says_why_in_its_directory(tmp_path):
    from vg_studio.data import DatasetError

    spec = make_tiny_spec(dataset=f"npz:{tmp_path / 'missing.npz'}")
    with pytest.raises(DatasetError):
        Trainer(spec, run_dir=tmp_path / "run").run()
    report = json.loads((tmp_path / "run" / "report.json").read_text())
    assert report["status"] == "failed" and "missing.npz: file not found" in report["message"]


def test_run_files_follow_the_umask(tmp_path):
    old = os.umask(0o022)
    try:
        Trainer(make_tiny_spec(limit=100), run_dir=tmp_path).run()
    finally:
        os.umask(old)
    for name in ("spec.json", "history.h5", "report.json", "model.keras"):
        assert (tmp_path / name).stat().st_mode & 0o777 == 0o644, name


def test_each_record_carries_its_own_steps_loss(tmp_path):
    """Records reach the host in blocks; each still carries the running loss Keras logged at its own step (the
    BatchEnd events are the independent account of those logs)."""
    from tests.conftest import make_tiny_spec

    spec = make_tiny_spec(epochs=1, limit=400, record_every=1)  # 8 steps, one block
    batch_loss, records = {}, []

    def listener(event):
        if isinstance(event, events.BatchEnd):
            batch_loss[event.step] = event.logs["loss"]
        elif isinstance(event, events.ProbeRecord):
            records.append((event.step, event.loss))

    Trainer(spec, run_dir=tmp_path / "run", listeners=[listener]).run()
    assert len(records) == len(batch_loss) >= 6
    assert len({loss for _, loss in records}) > 1
    for step, loss in records:
        assert loss == pytest.approx(batch_loss[step])
