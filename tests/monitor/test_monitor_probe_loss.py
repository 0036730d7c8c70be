"""The loss on the probe batch in inference mode: recorded for a network that computes otherwise in training
(BatchNormalization, Dropout) where the probe rows' targets are known, equal to the network called with
training=False and a NumPy cross-entropy — under XLA on TensorFlow and on JAX — and carried by the events,
history.h5 and the log; a network without such layers records none."""

import importlib.util
import math
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import keras
import numpy as np
import pytest

from vg_studio.monitor import GradientMonitor
from vg_studio.train.events import ProbeRecord
from vg_studio.train.history_file import LogReplay, load_history, record_payload, start_payload
from vg_studio.train.history_log import decode_payload

ROOT = Path(__file__).resolve().parents[2]


def _data(n=64):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(n, 8)).astype("float32")
    return x, (x[:, 0] + 0.5 * x[:, 1] > 0).astype("int32") + (x[:, 2] > 1).astype("int32")


def _network(normalised: bool):
    keras.utils.set_random_seed(3)
    inputs = keras.Input((8,))
    hidden = keras.layers.Dense(16)(inputs)
    if normalised:
        hidden = keras.layers.BatchNormalization()(hidden)
    hidden = keras.layers.Activation("relu")(hidden)
    if normalised:
        hidden = keras.layers.Dropout(0.4)(hidden)
    return keras.Model(inputs, keras.layers.Dense(3, activation="softmax")(hidden))


def _cross_entropy(probabilities, labels) -> float:
    p = np.asarray(probabilities, dtype=np.float64)
    return float(-np.mean(np.log(np.clip(p[np.arange(len(labels)), labels], 1e-7, 1.0))))


def test_inference_loss_on_the_probe_batch_matches_numpy_under_xla(tmp_path):
    x, y = _data()
    model = _network(normalised=True)
    model.compile(keras.optimizers.SGD(0.1, momentum=0.9), "sparse_categorical_crossentropy", jit_compile=True)
    records = []
    monitor = GradientMonitor(tmp_path / "run", record_every=1, probe_data=x[:32], probe_targets=y[:32],
                              listeners=[lambda e: records.append(e) if isinstance(e, ProbeRecord) else None])
    model.fit(x, y, batch_size=8, epochs=2, shuffle=False, callbacks=[monitor], verbose=0)
    expected = _cross_entropy(model(x[:32], training=False), y[:32])  # the weights the last epoch ended with
    training_mode = _cross_entropy(model(x[:32], training=True), y[:32])
    assert not math.isclose(expected, training_mode, rel_tol=1e-3)  # the modes differ: the test can tell them
    measured = np.asarray(monitor.history.record_probe_loss)
    assert len(measured) == monitor.history.num_records and np.isfinite(measured[-1])
    assert 2 <= np.count_nonzero(np.isfinite(measured)) < len(measured)  # measured on the budget, each epoch's end
    np.testing.assert_allclose(measured[-1], expected, rtol=1e-4)
    assert records[-1].probe_loss == measured[-1]
    stored = load_history(tmp_path / "run" / "history.h5")
    np.testing.assert_array_equal(stored.record_probe_loss, measured)
    # the log's record frames (what a running run appends) carry it too
    replay = LogReplay(None, "history.log")
    for payload in [start_payload(stored)] + [record_payload(stored, r) for r in range(stored.num_records)]:
        replay.apply(*decode_payload(payload, "history.log"))
    np.testing.assert_array_equal(replay.history.record_probe_loss, measured)


def test_no_inference_loss_without_layers_that_train_differently(tmp_path):
    x, y = _data()
    model = _network(normalised=False)
    model.compile(keras.optimizers.SGD(0.1), "sparse_categorical_crossentropy")
    monitor = GradientMonitor(tmp_path / "run", record_every=1, probe_data=x[:32], probe_targets=y[:32])
    model.fit(x, y, batch_size=16, epochs=1, callbacks=[monitor], verbose=0)
    assert np.all(np.isnan(monitor.history.record_probe_loss))
    assert np.all(np.isnan(load_history(tmp_path / "run" / "history.h5").record_probe_loss))


JAX_SCRIPT = textwrap.dedent("""
    import sys
    import numpy as np, keras
    sys.path.insert(0, sys.argv[1])
    from tests.monitor.test_monitor_probe_loss import _cross_entropy, _data, _network
    from vg_studio.monitor import GradientMonitor
    assert keras.backend.backend() == "jax"
    x, y = _data()
    model = _network(normalised=True)
    model.compile(keras.optimizers.SGD(0.1, momentum=0.9), "sparse_categorical_crossentropy")
    monitor = GradientMonitor(None, record_every=1, probe_data=x[:32], probe_targets=y[:32], diagnose=False)
    model.fit(x, y, batch_size=8, epochs=2, shuffle=False, callbacks=[monitor], verbose=0)
    expected = _cross_entropy(np.asarray(model(x[:32], training=False)), y[:32])
    measured = np.asarray(monitor.history.record_probe_loss)
    assert np.count_nonzero(np.isfinite(measured)) >= 2, measured
    np.testing.assert_allclose(measured[-1], expected, rtol=1e-4)
    print("ok", measured[-1], expected)
""")


@pytest.mark.slow  # a fresh process on JAX: 15-25 s
@pytest.mark.skipif(importlib.util.find_spec("jax") is None, reason="JAX is not installed")
def test_inference_loss_on_the_probe_batch_matches_numpy_on_jax():
    env = {**os.environ, "KERAS_BACKEND": "jax", "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get(
        "PYTHONPATH", "")])}
    done = subprocess.run([sys.executable, "-c", JAX_SCRIPT, str(ROOT)], env=env, capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0 and "ok" in done.stdout, done.stderr[-3000:]
