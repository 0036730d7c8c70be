"""SDAGD (vg_studio.nn.sdagd): step geometry against closed forms, curvature against exact Hessians, Keras plumbing."""

import importlib.util
import json
import math
import os
import subprocess
import sys
import textwrap
import zipfile

import keras
import numpy as np
import pytest

from tests.conftest import make_tiny_spec
from vg_studio import edits
from vg_studio.nn.sdagd import SDAGD, scope_safe


@pytest.fixture(autouse=True)
def no_keras_name_scope_left_open():
    """Keras pushes a name scope before TensorFlow checks its name, so a failing call can leave it open and break
    every later test that creates variables (it did in CI). Close any such scope, and fail the test that left it."""
    from keras.src.backend.common import global_state

    yield
    stack = global_state.get_global_attribute("name_scope_stack")
    if stack:
        names = [scope.name for scope in stack]
        stack.clear()
        pytest.fail(f"the test left Keras name scopes open: {names}")


def _quadratic_gradient(w, w_star, a, batch, rng):
    """Mean over `batch` examples of ∇ ½a(w − x)², x ~ N(w*, 1/a): a separable quadratic with Hessian diag(a)
    whose per-example gradient variance is a as well (the negative log-likelihood of a well-specified model)."""
    noise = rng.normal(0.0, np.sqrt(a / batch)) if batch else 0.0
    return (a * (w - w_star) + noise).astype("float32")


def _settle(opt, var, a, w_star, batch, rng, steps):
    """`steps` optimizer steps on the stochastic quadratic of `_quadratic_gradient`, compiled on TensorFlow (eager
    optimizer steps cost milliseconds each)."""
    a, w_star = (keras.ops.convert_to_tensor(v.astype("float32")) for v in (a, w_star))
    noise = rng.normal(0.0, np.sqrt(np.asarray(a) / batch), (steps,) + tuple(var.shape)).astype("float32")
    opt.build([var])

    def step(n):
        opt.apply([a * (var.value - w_star) + n], [var])

    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        step = tf.function(step)
    for n in noise:
        step(n)


def core_sdagd(**kwargs) -> SDAGD:
    """SDAGD without momentum and with a constant radius unless asked: eq. 7's step, for closed-form checks."""
    return SDAGD(**{"momentum": 0.0, "radius_decay_steps": 0.0, "radius_growth_steps": 0.0, "radius_warmup_steps": 0.0,
                    **kwargs})


def _step(opt, var, grad):
    before = np.array(var.numpy())
    opt.apply([keras.ops.convert_to_tensor(grad)], [var])
    return np.array(var.numpy()) - before


@pytest.mark.parametrize("scope", ["rms", "unit", "tensor", "global"])
def test_far_from_minimum_every_step_has_length_radius(scope):
    """Phase I: the step is lr·R along −g (lr = 1 here) — as the RMS per weight of the step for "rms", of each
    output unit's column of it for "unit", its norm otherwise."""
    rng = np.random.default_rng(0)
    a = rng.uniform(0.5, 5.0, (10, 5))
    w_star = np.zeros((10, 5))
    # far: μ ≫ h. h also sees the gradient change of the optimizer's own steps, B·½(a·Δw)² ≈ 100 here, so for
    # the per-weight radius "far" means |w − w*| ≳ 10³ (μ ≈ 10⁴): the step is then R within 1 %.
    # Columns 10× apart in distance: "unit" must still move every column by R.
    centre = 1000.0 * np.array([1.0, 3.0, 10.0, 0.5, 2.0]) if scope == "unit" else 1000.0
    var = keras.Variable(rng.normal(centre, 100.0, (10, 5)).astype("float32"))
    opt = core_sdagd(learning_rate=1.0, radius=0.3, batch_size=100, norm_scope=scope)
    for _ in range(5):
        g = _quadratic_gradient(var.numpy(), w_star, a, 100, rng)
        step = _step(opt, var, g)
        if scope == "unit":
            np.testing.assert_allclose(np.sqrt(np.mean(step ** 2, axis=0)), 0.3, rtol=0.05)
        length = np.sqrt(np.mean(step ** 2)) if scope in ("rms", "unit") else np.linalg.norm(step)
        assert length == pytest.approx(0.3, rel=0.05)
        columns = [slice(None)] if scope != "unit" else [(slice(None), j) for j in range(5)]  # "unit": per column
        for part in columns:
            cosine = -step[part].ravel() @ g[part].ravel() / (np.linalg.norm(step[part]) * np.linalg.norm(g[part]))
            assert cosine > 0.999
    assert float(opt.diagnostic_scalars()["sdagd_phase1_fraction"]) == 1.0


@pytest.mark.parametrize("learning_rate", [0.0, 1e-38])
def test_a_vanishing_learning_rate_gives_a_vanishing_step_never_nan(learning_rate):
    """A schedule may hand the step a rate of 0 (a warm-up's first step) or nearly 0: the step is then 0, or as
    small, also where the curvature is still 0 (the difference estimate's first steps, with its bias correction
    at its largest)."""
    rng = np.random.default_rng(0)
    var = keras.Variable(rng.normal(0.0, 1.0, (6, 4)).astype("float32"))
    opt = SDAGD(learning_rate=learning_rate, curvature="difference", batch_size=10)
    for _ in range(3):
        step = _step(opt, var, rng.normal(0.0, 1.0, (6, 4)).astype("float32"))
        assert np.all(np.isfinite(step)) and np.all(np.abs(step) <= 1e-30)


@pytest.mark.parametrize("scope, curvature", [("rms", "difference"), ("unit", "difference"),
                                               ("tensor", "difference"), ("rms", "second_moment")])
def test_near_minimum_curvature_matches_hessian_and_steps_are_newton_like(scope, curvature):
    rng = np.random.default_rng(1)
    shape, batch = (20, 10), 10_000
    n = shape[0] * shape[1]
    a = np.exp(rng.uniform(np.log(0.5), np.log(5.0), shape))
    w_star = rng.normal(0.0, 1.0, shape)
    var = keras.Variable(w_star.astype("float32"))
    # the same μ = ‖g‖/10 (over the tensor, or over each unit's column for "unit") in every parametrisation
    radius = {"rms": 10.0 / np.sqrt(n), "unit": 10.0 / np.sqrt(shape[0]), "tensor": 10.0}[scope]
    opt = core_sdagd(learning_rate=1e-4, radius=radius, batch_size=batch, norm_scope=scope, curvature=curvature,
                radius_growth_steps=0)  # the constant-R core: μ and Newton's step compared in closed form
    _settle(opt, var, a, w_star, batch, rng, 400)  # the curvature average settles at the minimum (tiny steps)
    h = np.asarray(opt.curvature(var))
    # EMA over ~200 squared differences: ~10 % noise per coordinate, ~1 % on the median
    assert np.median(h / a) == pytest.approx(1.0, abs=0.05)
    assert np.mean(np.abs(h / a - 1.0)) < 0.15

    opt.learning_rate.assign(1.0)
    var.assign((w_star + rng.choice([-1, 1], shape) * 0.02).astype("float32"))
    for _ in range(3):
        w = var.numpy().astype(np.float64)
        g = _quadratic_gradient(w, w_star, a, batch, rng)
        step = _step(opt, var, g)
        norm = {"rms": np.sqrt(np.mean(g ** 2)), "unit": np.sqrt(np.mean(g ** 2, axis=0)), "tensor": np.linalg.norm(g)}
        mu = norm[scope] / radius
        closed_form = -g / (mu + a)  # the SDAGD step with the exact Hessian diagonal
        newton = -g / a
        # h's ~10 % per-coordinate noise is the only difference from the closed form
        assert np.linalg.norm(step - closed_form) < 0.25 * np.linalg.norm(closed_form)
        assert np.linalg.norm(step - newton) < 0.3 * np.linalg.norm(newton)
        assert float(opt.diagnostic_scalars()["sdagd_phase1_fraction"]) < 0.05  # phase II
    # one Newton step lands at the mini-batch optimum: the error is down to the gradient noise / a
    noise_level = np.sqrt(np.sum(1.0 / (a * batch)))
    assert np.linalg.norm(var.numpy() - w_star) < 3 * noise_level


def test_curvature_of_linear_least_squares_is_the_hessian_diagonal():
    rng = np.random.default_rng(2)
    d, n, batch = 8, 20_000, 50
    scales = np.linspace(0.5, 3.0, d)
    x = (rng.normal(size=(n, d)) * scales).astype("float32")
    w_star = rng.normal(size=(d, 1))
    y = (x @ w_star + rng.normal(size=(n, 1))).astype("float32")  # unit noise: ½r² is the exact NLL
    exact_hessian_diag = np.mean(x.astype(np.float64) ** 2, axis=0)  # of mean ½(xw − y)²

    keras.utils.set_random_seed(2)
    model = keras.Sequential([keras.Input((d,)), keras.layers.Dense(1, use_bias=False)])
    opt = core_sdagd(learning_rate=1.0, radius=0.5, norm_scope="tensor", batch_size=batch,
                radius_growth_steps=0)  # full Newton steps (c below)
    model.compile(opt, loss=lambda t, p: 0.5 * keras.ops.mean(keras.ops.square(t - p), axis=-1))
    model.fit(x, y, batch_size=batch, epochs=2, verbose=0)
    h = np.asarray(opt.curvature(model.layers[0].kernel)).ravel()
    # Stated tolerance: a factor 2.5. The estimate is exact for a parameter that does not move (see the quadratic
    # test); the optimizer's own noise-driven steps add gradient change, ratio ½[c³/(2−c) + (1+c)² + 1] for a
    # step fraction c = a/(μ+h): 1 at c=0, 3 at a full Newton step, ≈1.8 at its fixed point (docs/sdagd.md);
    # plus ~10 % EMA noise.
    ratio = h / exact_hessian_diag
    assert np.all((ratio > 0.8) & (ratio < 2.5)), ratio
    assert 1.0 < np.median(ratio) < 2.2, ratio
    # near the minimum, up to one mini-batch Newton step of noise (~1/(scale·√B))
    np.testing.assert_allclose(model.layers[0].kernel.numpy(), w_star, atol=0.4)


def test_scopes_global_tensor_and_rms_split_the_radius_differently():
    big = keras.Variable(np.full(100, 50.0, "float32"))
    small = keras.Variable(np.full(3, 50.0, "float32"))
    opt = core_sdagd(learning_rate=1.0, radius=0.4, norm_scope="global")
    before = np.concatenate([big.numpy(), small.numpy()])
    opt.apply([keras.ops.ones(100) * 3.0, keras.ops.ones(3) * 0.001], [big, small])
    step = np.concatenate([big.numpy(), small.numpy()]) - before
    assert np.linalg.norm(step) == pytest.approx(0.4, rel=1e-3)
    assert np.linalg.norm(step[100:]) < 1e-3  # the small gradient's variable barely moves: vanishing persists

    opt = core_sdagd(learning_rate=1.0, radius=0.4, norm_scope="tensor")
    big.assign(np.full(100, 50.0, "float32"))
    small.assign(np.full(3, 50.0, "float32"))
    opt.apply([keras.ops.ones(100) * 3.0, keras.ops.ones(3) * 0.001], [big, small])
    assert np.linalg.norm(50.0 - small.numpy()) == pytest.approx(0.4, rel=1e-3)

    opt = core_sdagd(learning_rate=1.0, radius=0.4, norm_scope="rms")  # per-weight radius: each weight moves by 0.4
    big.assign(np.full(100, 50.0, "float32"))
    small.assign(np.full(3, 50.0, "float32"))
    opt.apply([keras.ops.ones(100) * 3.0, keras.ops.ones(3) * 0.001], [big, small])
    np.testing.assert_allclose(50.0 - big.numpy(), 0.4, rtol=1e-3)
    np.testing.assert_allclose(50.0 - small.numpy(), 0.4, rtol=1e-3)


def test_bad_hyperparameters_name_the_field():
    with pytest.raises(ValueError, match="norm_scope"):
        SDAGD(norm_scope="layer")
    with pytest.raises(ValueError, match="curvature"):
        SDAGD(curvature="hutchinson")
    with pytest.raises(ValueError, match="radius"):
        SDAGD(radius=0)
    with pytest.raises(ValueError, match="curvature_every"):
        SDAGD(curvature_every=0)
    with pytest.raises(ValueError, match="momentum"):
        SDAGD(momentum=1.0)


def test_config_round_trip():
    opt = SDAGD(learning_rate=0.5, radius=0.7, curvature_decay=0.95, epsilon=1e-6, norm_scope="tensor",
                batch_size=32, curvature="second_moment", curvature_every=3, momentum=0.5, clipnorm=2.0)
    config = opt.get_config()
    again = SDAGD.from_config(config)
    assert again.get_config() == config
    assert (again.radius, again.curvature_decay, again.norm_scope, again.batch_size, again.curvature_estimate,
            again.curvature_every, again.momentum, again.clipnorm) == (0.7, 0.95, "tensor", 32, "second_moment", 3,
                                                                        0.5, 2.0)
    revived = keras.optimizers.deserialize(keras.optimizers.serialize(opt))
    assert isinstance(revived, SDAGD) and revived.get_config() == config


def _small_model(seed=0):
    keras.utils.set_random_seed(seed)
    return keras.Sequential([keras.Input((12,)), keras.layers.Dense(16, "sigmoid"), keras.layers.Dense(16, "sigmoid"),
                             keras.layers.Dense(3, "softmax")])


def _toy_data(n=200, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 12)).astype("float32")
    return x, (x[:, 0] > 0).astype("int32") + (x[:, 1] > 1).astype("int32")


def test_saved_checkpoint_reloads_and_continues_with_the_same_optimizer_state(tmp_path):
    x, y = _toy_data()
    model = _small_model()
    model.compile(SDAGD(learning_rate=0.01, radius=0.3, batch_size=20), "sparse_categorical_crossentropy")
    model.fit(x, y, batch_size=20, epochs=2, verbose=0, shuffle=False)
    path = tmp_path / "ckpt.keras"
    model.save(path)
    loaded = keras.saving.load_model(path)
    assert isinstance(loaded.optimizer, SDAGD)
    assert loaded.optimizer.get_config() == model.optimizer.get_config()
    saved_state = [v.numpy() for v in model.optimizer.variables]
    assert len(saved_state) == len(loaded.optimizer.variables)
    for a, b in zip(saved_state, loaded.optimizer.variables):
        np.testing.assert_array_equal(a, b.numpy())
    model.fit(x, y, batch_size=20, epochs=1, verbose=0, shuffle=False)
    loaded.fit(x, y, batch_size=20, epochs=1, verbose=0, shuffle=False)
    for a, b in zip(model.get_weights(), loaded.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


@pytest.mark.skipif(keras.backend.backend() != "tensorflow", reason="jit test is for the TensorFlow backend")
def test_trains_inside_jit_compiled_fit():
    x, y = _toy_data(400)
    model = _small_model()
    opt = SDAGD(learning_rate=0.01, radius=0.5, batch_size=20)
    model.compile(opt, "sparse_categorical_crossentropy", metrics=["accuracy"], jit_compile=True)
    history = model.fit(x, y, batch_size=20, epochs=8, verbose=0)
    losses = history.history["loss"]
    assert np.all(np.isfinite(losses)) and losses[-1] < 0.8 * losses[0]
    assert float(opt.diagnostic_scalars()["sdagd_mu"]) > 0


@pytest.mark.slow  # a fresh process per backend; the trainer on JAX and PyTorch with SDAGD: test_backends.py
@pytest.mark.parametrize("backend", ["jax", "torch"])
def test_other_backend(backend):
    """Trains a builder network with the Gauss–Newton taps in the backend's compiled step (jit on JAX) and checks
    the output layer's curvature against Σ_n h² p(1−p)/n computed in NumPy from the same batch (lr 0 first)."""
    if importlib.util.find_spec(backend) is None:
        pytest.skip(f"{backend} is not installed; SDAGD uses keras.ops only, so it is backend-neutral by design")
    code = textwrap.dedent("""
        import numpy as np, keras
        from vg_studio.nn.build import build_models
        from vg_studio.nn.sdagd import SDAGD
        from vg_studio.spec import DataSpec, ExperimentSpec, LayerSpec, NetworkSpec, OptimizerSpec, TrainingSpec
        spec = ExperimentSpec(name="backend", data=DataSpec(dataset="digits"),
                              network=NetworkSpec(layers=[LayerSpec(units=16, activation="sigmoid")] * 2),
                              optimizer=OptimizerSpec(name="sdagd", learning_rate=0.01),
                              training=TrainingSpec(batch_size=20, seed=3))
        rng = np.random.default_rng(0)
        x = rng.normal(size=(200, 12)).astype("float32"); y = (x[:, 0] > 0).astype("int32")
        models = build_models(spec, (12,), 2)
        numpy = keras.ops.convert_to_numpy
        for scale in ("diagonal", "unit"):
            models = build_models(spec, (12,), 2)
            opt = SDAGD(learning_rate=0.0, radius=0.5, batch_size=20, curvature_scale=scale)
            models.train.compile(opt, "sparse_categorical_crossentropy")
            models.train.fit(x[:20], y[:20], batch_size=20, epochs=1, verbose=0)  # one step, weights unchanged
            below = keras.Model(models.user.input, models.user.get_layer("hidden_2_act").output)
            h, p = numpy(below(x[:20])), numpy(models.user(x[:20]))
            output = models.user.get_layer("output")
            h1 = np.concatenate([h, np.ones((20, 1), h.dtype)], axis=1)  # [x, 1]: the bias as the last row
            expected = (h1 ** 2).T @ (p * (1 - p)) / 20
            if scale == "unit":  # ρ_i = g_iᵀ H_i g_i / Σ_j (H_i)_jj g_ji², H_i = Σ_n p(1−p) x̃x̃ᵀ / n
                g = h1.T @ (p - np.eye(2)[y[:20]]) / 20
                expected = expected * (np.sum(p * (1 - p) * (h1 @ g) ** 2, axis=0) / 20) / np.sum(expected * g ** 2,
                                                                                                     axis=0)
            got = np.concatenate([numpy(opt.curvature(output.kernel)), numpy(opt.curvature(output.bias))[None]])
            np.testing.assert_allclose(got, expected, rtol=2e-4, atol=1e-8)
        opt.learning_rate.assign(0.01)
        losses = models.train.fit(x, y, batch_size=20, epochs=5, verbose=0).history["loss"]
        assert np.isfinite(losses).all() and losses[-1] < losses[0], losses
        print("ok")
    """)
    env = dict(os.environ, KERAS_BACKEND=backend)
    result = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0 and "ok" in result.stdout, result.stderr[-2000:]


def test_mixed_precision_with_loss_scaling_gives_no_nan():
    x, y = _toy_data(200)
    previous = keras.mixed_precision.dtype_policy()
    keras.mixed_precision.set_dtype_policy("mixed_float16")
    try:
        model = _small_model()
        opt = keras.optimizers.LossScaleOptimizer(SDAGD(learning_rate=0.01, radius=0.5, batch_size=20))
        model.compile(opt, "sparse_categorical_crossentropy")
        losses = model.fit(x, y, batch_size=20, epochs=3, verbose=0).history["loss"]
    finally:
        keras.mixed_precision.set_dtype_policy(previous)
    assert np.all(np.isfinite(losses))
    assert all(np.isfinite(w).all() for w in model.get_weights())
    assert all(np.isfinite(v.numpy()).all() for v in opt.inner_optimizer.variables)


def test_trainer_records_sdagd_diagnostics_and_export_loads_without_vg_studio(tmp_path):
    from vg_studio.spec import example_spec
    from vg_studio.spec import LayerSpec, OptimizerSpec
    from vg_studio.train.export import export_user_model
    from vg_studio.train.runstore import open_run
    from vg_studio.train.trainer import Trainer

    spec = example_spec()
    spec = spec.model_copy(update={"optimizer": OptimizerSpec(name="sdagd", learning_rate=0.01)})
    spec = edits.set_layers(spec, [LayerSpec(units=16, activation="sigmoid") for _ in range(3)])
    spec = edits.set_data_option(spec, "limit", 300)
    spec = edits.set_field(edits.set_field(spec, "training.epochs", 1), "monitoring.record_every", 1)
    spec = edits.set_field(spec, "name", "Versuch über Sigmoid 🧪")  # a Unicode name trains
    result = Trainer(spec, run_dir=tmp_path / "run").run()
    assert result.status == "completed", result.message
    mu = np.asarray(result.history.optimizer["sdagd_mu"])
    phase1 = np.asarray(result.history.optimizer["sdagd_phase1_fraction"])
    assert len(mu) > 0 and np.all(np.isfinite(mu)) and np.all(mu > 0)
    assert np.all((phase1 >= 0) & (phase1 <= 1))
    stored = open_run(tmp_path / "run").history.optimizer  # per layer, under the history's column names
    for layer in ("hidden_1", "hidden_2", "hidden_3", "output"):
        for name in ("sdagd_mu", "sdagd_h", "sdagd_phase1_fraction"):
            values = np.asarray(stored[f"{name}[{layer}]"])
            assert len(values) == len(mu) and np.all(np.isfinite(values)) and np.all(values >= 0), (name, layer)
    # the Gauss–Newton curvature was refreshed and is positive in every layer
    assert np.all(np.asarray(stored["sdagd_h[hidden_1]"])[1:] > 0)

    # The exported model is the user's network only, in Keras's own classes: its saved config names no
    # VG Studio object (the subprocess check that it loads without vg_studio is the slow test below).
    exported = export_user_model(result.model, spec, tmp_path / "user.keras")
    with zipfile.ZipFile(exported) as archive:
        config = archive.read("config.json").decode()
    assert "vg_studio" not in config and "sdagd" not in config.lower()
    assert {layer["config"]["name"] for layer in json.loads(config)["config"]["layers"]} == {
        layer.name for layer in result.model.layers}


@pytest.mark.slow  # a fresh Python process that imports Keras (no vg_studio)
def test_a_model_trained_with_sdagd_exports_to_plain_keras(tmp_path):
    from vg_studio.train.export import export_user_model
    from vg_studio.train.trainer import Trainer

    spec = make_tiny_spec(layers=2, units=8, optimizer="sdagd", limit=100)
    result = Trainer(spec, run_dir=tmp_path / "run").run()
    assert result.status == "completed", result.message
    exported = export_user_model(result.model, spec, tmp_path / "user.keras")
    code = textwrap.dedent(f"""
        import sys, numpy as np, keras
        m = keras.saving.load_model({str(exported)!r})
        assert m.predict(np.zeros((2,) + tuple(m.input_shape[1:]), "float32"), verbose=0).shape[0] == 2
        assert not any(name.startswith("vg_studio") for name in sys.modules), "vg_studio was imported"
        assert not any(layer.name.startswith("sdagd") for layer in m.layers), "training taps were exported"
    """)
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300,
                         cwd=tmp_path, env=dict(os.environ, PYTHONPATH=""))
    assert run.returncode == 0, run.stderr[-2000:]


def test_class_defaults_are_the_catalog_defaults():
    """A spec with empty params (CLI, presets) and the GUI (catalog defaults) must train the same optimizer."""
    from vg_studio import catalog

    config = SDAGD().get_config()
    entry = catalog.OPTIMIZERS["sdagd"]
    assert config["learning_rate"] == pytest.approx(entry["learning_rate"])
    for name, value in entry["params"].items():
        assert config[name] == value, name
    from vg_studio.spec import SDAGDParams

    assert SDAGDParams().model_dump() == entry["params"]  # a spec's SDAGD params default to the same values


def test_radius_growth_keeps_the_phase_one_step_and_weights_the_curvature_by_the_schedule():
    """R_k = R·(1 + k/τ) and η_k = η/(1 + k/τ): far from the minimum every step still moves each weight by η·R;
    where the curvature counts the step is η·g/(μ + γ_k·h), γ_k = 1 + k/τ (closed form, h read from the slot)."""
    rng = np.random.default_rng(5)
    var = keras.Variable(np.zeros((12, 4), "float32"))  # the gradients are given: only the step is checked
    opt = core_sdagd(learning_rate=0.5, radius=0.3, radius_growth_steps=2.0, norm_scope="rms", curvature="second_moment",
                batch_size=1)
    for k in range(6):
        g = rng.normal(1.0, 0.1, (12, 4)).astype("float32")
        step = _step(opt, var, g)
        growth = 1.0 + k / 2.0
        h = np.asarray(opt.curvature(var))  # the average after this step's update, as the step used it
        mu = np.sqrt(np.mean(g.astype(np.float64) ** 2)) / 0.3
        np.testing.assert_allclose(step, -0.5 * g / (mu + growth * h + 1e-8), rtol=2e-4)
    assert float(opt.diagnostic_scalars()["sdagd_radius"]) == pytest.approx(0.3 * (1 + 6 / 2.0))


def test_radius_decay_anneals_the_phase_one_step_and_keeps_the_newton_gain():
    """R_k = R·γ_k/δ_k with δ_k = 1 + k/τ_d: far from the minimum a weight moves by η·R/δ_k; where the curvature
    counts the step is η·g/(δ_k·μ + γ_k·h) (closed form, h read from the slot), so a phase-II step keeps its gain."""
    rng = np.random.default_rng(8)
    var = keras.Variable(np.zeros((12, 4), "float32"))
    opt = core_sdagd(learning_rate=0.5, radius=0.3, radius_growth_steps=4.0, radius_decay_steps=2.0, norm_scope="rms",
                curvature="second_moment", batch_size=1)
    for k in range(6):
        g = rng.normal(1.0, 0.1, (12, 4)).astype("float32")
        step = _step(opt, var, g)
        growth, decay = 1.0 + k / 4.0, 1.0 + k / 2.0
        h = np.asarray(opt.curvature(var))
        mu = np.sqrt(np.mean(g.astype(np.float64) ** 2)) / 0.3
        np.testing.assert_allclose(step, -0.5 * g / (decay * mu + growth * h + 1e-8), rtol=2e-4)
    assert float(opt.diagnostic_scalars()["sdagd_radius"]) == pytest.approx(0.3 * (1 + 6 / 4.0) / (1 + 6 / 2.0))
    tiny = core_sdagd(learning_rate=0.5, radius=0.3, radius_decay_steps=2.0, norm_scope="rms", batch_size=1)
    weights = keras.Variable(np.zeros((12, 4), "float32"))
    for k in range(3):
        g = 1e-3 * rng.normal(size=(12, 4)).astype("float32")  # the curvature (∝ g²) is negligible: phase I
        step = _step(tiny, weights, g)
        np.testing.assert_allclose(np.sqrt(np.mean(step.astype(np.float64) ** 2)), 0.5 * 0.3 / (1 + k / 2.0),
                                   rtol=1e-3)


def test_radius_warms_up_linearly_then_anneals():
    """R_k = R·min(1, (k + 1)/τ_w)/(1 + k/τ_d): far from the minimum the k-th step moves each weight by η·R_k."""
    rng = np.random.default_rng(9)
    opt = core_sdagd(learning_rate=0.5, radius=0.3, radius_warmup_steps=4.0, radius_decay_steps=10.0,
                     norm_scope="rms", batch_size=1)
    weights = keras.Variable(np.zeros((12, 4), "float32"))
    for k in range(7):
        g = 1e-3 * rng.normal(size=(12, 4)).astype("float32")  # the curvature (∝ g²) is negligible: phase I
        step = _step(opt, weights, g)
        expected = 0.5 * 0.3 * min(1.0, (k + 1) / 4.0) / (1 + k / 10.0)
        np.testing.assert_allclose(np.sqrt(np.mean(step.astype(np.float64) ** 2)), expected, rtol=1e-3)


def test_momentum_steps_along_the_bias_corrected_average_gradient():
    var = keras.Variable(np.zeros((10, 3), "float32"))
    opt = core_sdagd(learning_rate=1.0, radius=0.2, momentum=0.8, norm_scope="rms", batch_size=1)
    rng = np.random.default_rng(6)
    g1, g2 = 1e-4 * rng.normal(size=(2, 10, 3)).astype("float32")  # small: the curvature (∝ g²) is negligible
    _step(opt, var, g1)
    step = _step(opt, var, g2)
    average = (0.8 * 0.2 * g1 + 0.2 * g2) / (1 - 0.8 ** 2)
    # phase I: length R per weight (RMS), along the average
    np.testing.assert_allclose(step, -0.2 * average / np.sqrt(np.mean(average ** 2)), rtol=1e-3, atol=1e-6)


def test_diagnostics_are_the_medians_and_shares_numpy_computes():
    """Per layer: the median of μ over every weight (μ broadcast over each unit's fan-in) and the phase-I share
    exactly; the median of h exactly where a variable is small and within its sample's accuracy where it is not."""
    from vg_studio.nn.diagnostic_medians import DIAGNOSTIC_SAMPLE

    rng = np.random.default_rng(7)
    with keras.name_scope("hidden_1_dense"):
        big = keras.Variable(np.zeros((300, 40), "float32"), name="kernel")  # 12,000 weights: h sampled
        bias = keras.Variable(np.zeros(40, "float32"), name="bias")
    with keras.name_scope("output"):
        small = keras.Variable(np.zeros((40, 3), "float32"), name="kernel")
    variables = [big, bias, small]
    assert big.shape[0] * big.shape[1] > DIAGNOSTIC_SAMPLE
    opt = core_sdagd(learning_rate=0.0, radius=0.5, curvature="second_moment", batch_size=1, radius_growth_steps=0)
    for _ in range(3):  # per-unit gradient scales spread over decades, so phase I and II both occur
        grads = [rng.normal(size=v.shape) * np.exp(rng.normal(0, 2, v.shape[-1:])) for v in variables]
        opt.apply([g.astype("float32") for g in grads], variables)
    report = {k: float(v) for k, v in opt.diagnostic_scalars().items()}
    groups = {"hidden_1": [big, bias], "output": [small]}
    for label, members in groups.items():
        mus, hs = [], []
        for v in members:
            g = np.asarray(opt._previous_gradients[opt._get_variable_index(v)], np.float64)
            rms = np.sqrt(np.mean(g ** 2, axis=0, keepdims=True)) if g.ndim == 2 else np.sqrt(np.mean(g ** 2))
            mus.append(np.broadcast_to(rms / 0.5, g.shape).ravel())
            hs.append(np.asarray(opt.curvature(v), np.float64).ravel())
        mu, h = np.concatenate(mus), np.concatenate(hs)
        assert report[f"sdagd_mu[{label}]"] == pytest.approx(np.median(mu), rel=1e-5)
        assert report[f"sdagd_phase1_fraction[{label}]"] == pytest.approx(np.mean(mu > h), abs=1e-6)
        if label == "output":
            assert report[f"sdagd_h[{label}]"] == pytest.approx(np.median(h), rel=1e-5)
        else:  # a ~4,000-entry sample of 12,040: within the 45th–55th percentiles
            assert np.quantile(h, 0.45) <= report[f"sdagd_h[{label}]"] <= np.quantile(h, 0.55)
    shares = [report[f"sdagd_phase1_fraction[{label}]"] for label in groups]
    assert 0.05 < max(shares) and min(shares) < 0.95  # the case is not trivial


@pytest.mark.skipif(keras.backend.backend() != "tensorflow", reason="TensorFlow checks scope names in graphs")
def test_slots_are_created_in_a_compiled_step_whatever_the_model_names():
    """A slot is named after its variable's path, which holds the user's layer names; TensorFlow refuses non-ASCII
    scope names in a graph (Keras's own add_optimizer_variables fails there). SDAGD's slot names are made safe."""
    import tensorflow as tf

    with keras.name_scope("Versuch über Sigmoid 🧪"):
        var = keras.Variable(np.ones((3, 2), "float32"), name="kernel")
    assert "über" in var.path
    opt = SDAGD(learning_rate=0.1, radius=0.5, name="Optimierer für 🧪")
    step = tf.function(lambda g: opt.apply([g], [var]))
    step(tf.ones((3, 2)))  # the first apply builds the slots inside the traced step
    step(tf.ones((3, 2)))
    assert np.all(var.numpy() < 1.0)
    assert all(v.name == scope_safe(v.name) for v in opt.variables)
    assert scope_safe("Versuch über 🧪/kernel") == "Versuch__ber___kernel" and scope_safe("_x") == "v_x"


def test_builder_layers_are_labelled_even_under_a_scope_left_open():
    """Per-layer diagnostics find the builder's groups anywhere in a variable's path."""
    opt = SDAGD(curvature="difference")
    with keras.name_scope("leftover"):
        with keras.name_scope("hidden_2_bn"):
            gamma = keras.Variable(np.ones(3, "float32"), name="gamma")
        with keras.name_scope("output"):
            kernel = keras.Variable(np.ones((3, 2), "float32"), name="kernel")
    with keras.name_scope("my_dense"):
        own = keras.Variable(np.ones(2, "float32"), name="bias")
    opt.build([gamma, kernel, own])
    assert [opt._layer_label(v) for v in (gamma, kernel, own)] == ["hidden_2", "output", "my_dense"]


def test_reproduction_table_reports_the_median_of_runs(tmp_path):
    """Table I's report (`vg-studio reproduce sdagd`): each cell is the median of its runs with every run listed,
    and the comparison with Adam goes by the medians (a mean would rank these two cells the other way round)."""
    from vg_studio.experiments import sdagd as grid

    o = grid.GridOptions(runs=3, depths=(3,), activations=("relu",), optimizers=("sdagd", "adam"))
    runs = {"sdagd": [6.2, 7.4, 6.3], "adam": [5.8, 6.1, 8.5]}
    table = {(opt, "relu", 3): grid.Measured(float(np.mean(v)), float(np.std(v)), 3, 3, [], math.nan, math.nan,
                                             math.nan, mcrs=v) for opt, v in runs.items()}
    text = grid.write_tables(o, table, tmp_path, 784)
    for v in runs.values():
        assert f"{np.median(v):.2f} [{', '.join(f'{x:.2f}' for x in v)}]" in text
    assert "(paper 2.09)" in text
    assert "SDAGD's median MCR ≤ Adam's in 0 of 1 cells: ReLU hl-3 6.30 vs 6.10" in "\n".join(grid.verdict(o, table))
