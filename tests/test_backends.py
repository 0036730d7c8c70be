"""The engine is backend-neutral (keras.ops only): probes, recurrent time-step probes, auxiliary heads and SDAGD run
on JAX too, and the probe values match jax.grad; the engine and the monitor run on PyTorch, matching autograd. Each
runs in a subprocess because the Keras backend is chosen at import."""

import importlib.util
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


SCRIPT = textwrap.dedent("""
    import numpy as np, jax, keras
    from vg_studio.nn.build import build_models, layer_groups
    from vg_studio.train.trainer import Trainer, prepare_data
    from tests.conftest import make_tiny_spec
    assert keras.backend.backend() == "jax"

    spec = make_tiny_spec(layers=3, units=12, activation="sigmoid", optimizer="sgd", lr=0.5, limit=100,
                          record_every=1)
    spec = spec.model_copy(update={"training": spec.training.model_copy(update=dict(
        validation_split=0.0, shuffle=False, batch_size=50))})
    data = prepare_data(spec)
    result = Trainer(spec, dataset=data).run()
    assert result.status == "completed", result.message
    model = build_models(spec, data.input_shape, data.num_classes).user  # same seed: same initial weights
    x, y = data.x_train[:50], data.y_train[:50]
    trainable = [v.value for v in model.trainable_variables]
    fixed = [v.value for v in model.non_trainable_variables]
    def loss(trainable):
        out, _ = model.stateless_call(trainable, fixed, x, training=True)
        return keras.losses.sparse_categorical_crossentropy(y, out).mean()
    grads = jax.grad(loss)(trainable)
    index = {id(v): i for i, v in enumerate(model.trainable_variables)}
    by_name = {layer.name: layer for layer in model.layers}
    expected = [np.abs(np.concatenate([np.asarray(grads[index[id(v)]]).ravel() for n in g.layer_names
                                       for v in by_name[n].trainable_variables])).mean()
                for g in layer_groups(model, spec)]
    np.testing.assert_allclose(result.history.stat("grad_mean_abs")[0], expected, rtol=2e-3)

    # the monitor on a user's own functional CNN: its probes against jax.grad too
    from vg_studio.monitor import GradientMonitor
    inputs = keras.Input((8, 8, 1))
    hidden = keras.layers.Conv2D(4, 3, activation="relu", name="conv")(inputs)
    user = keras.Model(inputs, keras.layers.Dense(10, activation="softmax", name="head")(
        keras.layers.Flatten()(hidden)))
    user.compile(optimizer=keras.optimizers.SGD(0.2), loss="sparse_categorical_crossentropy")
    x, y = data.x_train[:50], data.y_train[:50]
    trainable = [v.value for v in user.trainable_variables]
    def user_loss(trainable):
        out, _ = user.stateless_call(trainable, [], x, training=True)
        return keras.losses.sparse_categorical_crossentropy(y, out).mean()
    grads = jax.grad(user_loss)(trainable)
    monitor = GradientMonitor(None, record_every=1, probe_data=x)
    user.fit(x, y, batch_size=50, epochs=2, shuffle=False, callbacks=[monitor], verbose=0)
    assert monitor.history.layer_names == ["conv", "head"] and monitor.history.steps == [1, 2]
    expected = [np.abs(np.concatenate([np.asarray(g).ravel() for g in grads[:2]])).mean(),
                np.abs(np.concatenate([np.asarray(g).ravel() for g in grads[2:]])).mean()]
    np.testing.assert_allclose(monitor.history.stat("grad_mean_abs")[0], expected, rtol=2e-3)
    assert not type(user.optimizer).__name__.startswith("Probed")  # the user's optimizer again
    print("jax backend ok")
""")


# Recurrent layers (JAX's scan) with auxiliary heads and SDAGD: a minute of compiling on 2 cores, so a slow check.
RECURRENT_SCRIPT = textwrap.dedent("""
    import numpy as np, keras
    from vg_studio import edits
    from vg_studio.train.trainer import Trainer
    from tests.conftest import make_tiny_spec
    assert keras.backend.backend() == "jax"

    for kind, aux, optimizer in [("gru", True, "sdagd"), ("lstm", False, "adam")]:
        spec = make_tiny_spec(layers=2, units=8, activation="tanh", optimizer=optimizer, lr=0.01,
                              dataset="adding", limit=None, record_every=2)
        spec = edits.set_data_option(edits.set_data_option(spec, "length", 12), "n", 200)
        spec = edits.update_layers(edits.set_kind(spec, kind, 0), 0, aux_head=aux)
        result = Trainer(spec).run()
        assert result.status == "completed", result.message
        assert np.vstack(result.history.time_grad).shape[1] == 12
    print("jax backend ok")
""")


TORCH_SCRIPT = textwrap.dedent("""
    import numpy as np, keras, torch
    from vg_studio.monitor import GradientMonitor
    from vg_studio.nn.build import build_models, layer_groups
    from vg_studio.train.trainer import Trainer, prepare_data
    from tests.conftest import make_tiny_spec
    assert keras.backend.backend() == "torch"

    spec = make_tiny_spec(layers=3, units=12, activation="sigmoid", optimizer="sgd", lr=0.5, limit=100,
                          record_every=1)
    spec = spec.model_copy(update={"training": spec.training.model_copy(
        update={"validation_split": 0.0, "shuffle": False, "batch_size": 50})})
    data = prepare_data(spec)
    result = Trainer(spec, dataset=data).run()
    assert result.status == "completed", result.message
    model = build_models(spec, data.input_shape, data.num_classes).user  # same seed: same initial weights
    out = model(torch.as_tensor(data.x_train[:50]), training=True)
    keras.losses.sparse_categorical_crossentropy(torch.as_tensor(data.y_train[:50]), out).mean().backward()
    grads = {id(v): v.value.grad.numpy() for v in model.trainable_variables}
    by_name = {layer.name: layer for layer in model.layers}
    expected = [np.abs(np.concatenate([grads[id(v)].ravel() for n in g.layer_names
                                       for v in by_name[n].trainable_variables])).mean()
                for g in layer_groups(model, spec)]
    np.testing.assert_allclose(result.history.stat("grad_mean_abs")[0], expected, rtol=2e-3)
    assert result.history.steps == [1, 2]

    inputs = keras.Input((8, 8, 1))
    user = keras.Model(inputs, keras.layers.Dense(10, activation="softmax", name="head")(
        keras.layers.Flatten()(keras.layers.Conv2D(4, 3, activation="relu", name="conv")(inputs))))
    user.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    before = [v.numpy().copy() for v in user.trainable_variables]
    monitor = GradientMonitor(None, record_every=1, probe_data=data.x_train[:50])
    user.fit(data.x_train[:50], data.y_train[:50], batch_size=50, epochs=1, callbacks=[monitor], verbose=0)
    change = np.abs(np.concatenate([(v.numpy() - b).ravel() for v, b in zip(user.trainable_variables[2:],
                                                                              before[2:])])).mean()
    np.testing.assert_allclose(monitor.history.stat("update_mean_abs")[0][1], change, rtol=2e-3)
    assert not type(user.optimizer).__name__.startswith("Probed")  # the user's optimizer again
    print("torch backend ok")
""")


@pytest.mark.skipif(importlib.util.find_spec("torch") is None, reason="torch is not installed")
def test_engine_and_monitor_on_the_torch_backend():
    env = {**os.environ, "KERAS_BACKEND": "torch", "PYTHONPATH": str(ROOT)}
    out = subprocess.run([sys.executable, "-c", TORCH_SCRIPT], capture_output=True, text=True, timeout=600, env=env,
                         cwd=ROOT)
    assert out.returncode == 0 and "torch backend ok" in out.stdout, out.stderr[-3000:]


@pytest.mark.skipif(importlib.util.find_spec("jax") is None,
                    reason="jax is not installed (pip install jax) — the JAX backend check is skipped")
@pytest.mark.parametrize("script", [SCRIPT, pytest.param(RECURRENT_SCRIPT, marks=pytest.mark.slow)],
                         ids=["dense-and-monitor", "recurrent"])
def test_engine_on_the_jax_backend(script):
    env = {**os.environ, "KERAS_BACKEND": "jax", "PYTHONPATH": str(ROOT), "JAX_PLATFORMS": "cpu"}
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=600, env=env,
                         cwd=ROOT)
    assert out.returncode == 0 and "jax backend ok" in out.stdout, out.stderr[-3000:]
