"""The engine is backend-neutral (keras.ops only): probes, recurrent time-step probes, auxiliary heads and SDAGD run
on JAX too, and the probe values match jax.grad. Runs in a subprocess because the Keras backend is chosen at import."""

import importlib.util
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

pytestmark = pytest.mark.skipif(importlib.util.find_spec("jax") is None,
                                reason="jax is not installed (pip install jax) — the JAX backend check is skipped")

SCRIPT = textwrap.dedent("""
    import numpy as np, jax, keras
    from vg_studio import edits
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


def test_engine_on_the_jax_backend():
    env = {**os.environ, "KERAS_BACKEND": "jax", "PYTHONPATH": str(ROOT), "JAX_PLATFORMS": "cpu"}
    out = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=600, env=env,
                         cwd=ROOT)
    assert out.returncode == 0 and "jax backend ok" in out.stdout, out.stderr[-3000:]
