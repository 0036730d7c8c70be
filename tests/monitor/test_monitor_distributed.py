"""Several devices: under tf.distribute.MirroredStrategy (two logical CPU devices) the probes record the gradient
the optimizer applies — the per-replica gradients summed across replicas — exactly as one device does on the same
global batch; with keras.distribution.DataParallel on JAX (eight simulated devices) likewise. Each runs in a
subprocess: the devices are set up before the backend starts."""

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

MIRRORED = textwrap.dedent("""
    import tensorflow as tf
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
    import numpy as np, keras
    from vg_studio.monitor import GradientMonitor

    def build():
        keras.utils.set_random_seed(3)
        model = keras.Sequential([keras.Input((6,)), keras.layers.Dense(5, activation="tanh", name="hidden"),
                                  keras.layers.Dense(3, activation="softmax", name="out")])
        model.compile(optimizer=keras.optimizers.SGD(0.3), loss="sparse_categorical_crossentropy")
        return model

    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(32, 6)).astype("float32"), rng.integers(0, 3, 32)
    runs = []
    for strategy in (None, tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])):
        if strategy is None:
            model = build()
        else:
            with strategy.scope():
                model = build()
        monitor = GradientMonitor(None, record_every=1, diagnose=False)
        model.fit(x, y, batch_size=16, epochs=1, shuffle=False, callbacks=[monitor], verbose=0)
        runs.append(monitor.history)
    one, two = runs
    assert one.steps == two.steps == [1, 2]
    for name in ("grad_mean_abs", "grad_norm", "weight_norm", "update_mean_abs", "update_ratio"):
        np.testing.assert_allclose(two.stat(name), one.stat(name), rtol=1e-4, err_msg=name)
    print("mirrored ok")
""")

DATA_PARALLEL = textwrap.dedent("""
    import numpy as np, jax, keras
    from vg_studio.monitor import GradientMonitor
    assert keras.backend.backend() == "jax" and len(jax.devices()) == 8

    def build():
        keras.utils.set_random_seed(3)
        model = keras.Sequential([keras.Input((6,)), keras.layers.Dense(5, activation="tanh", name="hidden"),
                                  keras.layers.Dense(3, activation="softmax", name="out")])
        model.compile(optimizer=keras.optimizers.SGD(0.3), loss="sparse_categorical_crossentropy")
        return model

    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(64, 6)).astype("float32"), rng.integers(0, 3, 64)
    runs = []
    for devices in (None, jax.devices()):
        if devices is not None:
            keras.distribution.set_distribution(keras.distribution.DataParallel(devices=devices))
        model = build()
        monitor = GradientMonitor(None, record_every=1, diagnose=False)
        model.fit(x, y, batch_size=32, epochs=1, shuffle=False, callbacks=[monitor], verbose=0)
        runs.append(monitor.history)
    one, eight = runs
    assert one.steps == eight.steps == [1, 2]
    for name in ("grad_mean_abs", "grad_norm", "weight_norm", "update_mean_abs", "update_ratio"):
        np.testing.assert_allclose(eight.stat(name), one.stat(name), rtol=1e-4, err_msg=name)
    print("data parallel ok")
""")


def run(script: str, env: dict, marker: str) -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT), **env}
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=600, env=env,
                         cwd=ROOT)
    assert out.returncode == 0 and marker in out.stdout, out.stderr[-3000:]


def test_mirrored_strategy_records_the_summed_gradient_one_device_records():
    run(MIRRORED, {"KERAS_BACKEND": "tensorflow", "CUDA_VISIBLE_DEVICES": ""}, "mirrored ok")


@pytest.mark.slow
def test_data_parallel_on_eight_jax_devices_agrees_with_one():
    run(DATA_PARALLEL, {"KERAS_BACKEND": "jax", "JAX_PLATFORMS": "cpu",
                        "XLA_FLAGS": "--xla_force_host_platform_device_count=8"}, "data parallel ok")
