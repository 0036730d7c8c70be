"""The user's model comes back exactly as it went in — after a monitored fit that ends, and after one that raises —
and every file Keras saves during a monitored fit loads in a process that never imports vg_studio."""

import json
import os
import subprocess
import sys
import textwrap

import keras
import numpy as np
import pytest

from vg_studio.monitor import GradientMonitor
from vg_studio.train.runstore import open_run


def small_model(name="small"):
    keras.utils.set_random_seed(2)
    model = keras.Sequential([keras.Input((5,)), keras.layers.Dense(4, activation="relu", name="hidden"),
                              keras.layers.Dense(3, activation="softmax", name="out")], name=name)
    model.compile(optimizer=keras.optimizers.Adam(0.01), loss="sparse_categorical_crossentropy")
    return model


def data(n=32):
    rng = np.random.default_rng(1)
    return rng.normal(size=(n, 5)).astype("float32"), rng.integers(0, 3, n)


def snapshot(model) -> dict:
    """Everything a user could see of the model and its optimizer, serialised."""
    optimizer = model.optimizer
    return {"class": type(model), "optimizer_class": type(optimizer), "config": json.dumps(model.get_config()),
            "optimizer_config": json.dumps(optimizer.get_config(), default=str),
            "optimizer_variables": [v.path for v in optimizer.variables],
            "variables": [v.path for v in model.variables], "instance": sorted(vars(optimizer)),
            "model_attributes": sorted(k for k in vars(model) if k != "train_function")}


class RaiseAtEpochEnd(keras.callbacks.Callback):
    def on_epoch_end(self, epoch, logs=None):
        raise RuntimeError("a callback failed")


class StepFails(keras.Model):
    """A model whose training step raises (while the step is traced)."""

    def __init__(self):
        super().__init__()
        self.dense = keras.layers.Dense(3, activation="softmax")

    def call(self, x):
        return self.dense(x)

    def train_step(self, data):
        raise ValueError("the step is broken")


def test_a_fit_that_raises_outside_the_step_leaves_the_model_as_it_was(tmp_path):
    x, y = data()
    model = small_model()
    model.fit(x, y, epochs=1, verbose=0)  # trained and compiled before the monitor sees it
    before = snapshot(model)
    with pytest.raises(RuntimeError, match="a callback failed"):
        model.fit(x, y, epochs=2, verbose=0, callbacks=[GradientMonitor(tmp_path / "run", record_every=1),
                                                        RaiseAtEpochEnd()])
    assert snapshot(model) == before
    model.fit(x, y, epochs=1, verbose=0)  # a plain fit trains on, without probes, and ends the stale run
    assert open_run(tmp_path / "run").status == "failed"
    assert snapshot(model) == before
    model.save(tmp_path / "after.keras")
    assert type(keras.saving.load_model(tmp_path / "after.keras").optimizer) is keras.optimizers.Adam


def test_a_fit_that_raises_in_the_step_says_why_and_gives_the_model_back(tmp_path):
    x, y = data()
    model = StepFails()
    model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
    with pytest.raises(ValueError, match="the step is broken"):
        model.fit(x, y, epochs=1, verbose=0)  # what a plain fit leaves behind is the reference
    before = snapshot(model)
    with pytest.raises(ValueError, match="the step is broken"):
        model.fit(x, y, epochs=1, verbose=0, callbacks=[GradientMonitor(tmp_path / "run")])
    assert snapshot(model) == before
    report = json.loads((tmp_path / "run" / "report.json").read_text())
    assert report["status"] == "failed" and "ValueError: the step is broken" in report["message"]


def test_checkpoints_written_during_a_monitored_fit_load_without_vg_studio(tmp_path):
    x, y = data()
    model = small_model()
    checkpoints = [keras.callbacks.ModelCheckpoint(str(tmp_path / "full_{epoch}.keras")),
                   keras.callbacks.ModelCheckpoint(str(tmp_path / "weights_{epoch}.weights.h5"),
                                                   save_weights_only=True)]
    model.fit(x, y, epochs=2, batch_size=8, verbose=0,
              callbacks=[GradientMonitor(tmp_path / "run", record_every=1), *checkpoints])
    np.save(tmp_path / "x.npy", x)
    np.save(tmp_path / "expected.npy", model.predict(x, verbose=0))
    code = textwrap.dedent(f"""
        import sys, warnings, numpy as np, keras
        warnings.simplefilter("error")  # "Skipping variable loading for optimizer ..." would fail
        folder = {str(tmp_path)!r}
        model = keras.saving.load_model(folder + "/full_2.keras")
        assert type(model.optimizer) is keras.optimizers.Adam, type(model.optimizer)
        np.testing.assert_allclose(model.predict(np.load(folder + "/x.npy"), verbose=0),
                                   np.load(folder + "/expected.npy"), rtol=1e-5, atol=1e-6)
        print("optimizer variables", len(model.optimizer.variables))
        twin = keras.Sequential([keras.Input((5,)), keras.layers.Dense(4, activation="relu", name="hidden"),
                                 keras.layers.Dense(3, activation="softmax", name="out")])
        twin.load_weights(folder + "/weights_2.weights.h5")
        np.testing.assert_allclose(twin.predict(np.load(folder + "/x.npy"), verbose=0),
                                   np.load(folder + "/expected.npy"), rtol=1e-5, atol=1e-6)
        assert not any(m.startswith("vg_studio") for m in sys.modules), "vg_studio was imported"
        print("clean load ok")
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, cwd=tmp_path,
                         env={**os.environ, "PYTHONPATH": ""})
    assert out.returncode == 0 and "clean load ok" in out.stdout, out.stderr[-2000:]
    assert f"optimizer variables {len(model.optimizer.variables)}" in out.stdout
