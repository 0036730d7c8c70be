"""The patterns on JAX (every step compiled by XLA): a functional CNN, a refit that traces nothing new and a fit that
raises leaving the model as it was, gradient accumulation, a custom stateless train_step that returns its own
loss name, nested models expanded, the gradient per input time step of a recurrent model, a critic updated five
times a step — each against jax.grad — and a step outside jit that compiles nothing per step, in one subprocess (the
backend is chosen at import)."""

import importlib.util
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

SCRIPT = textwrap.dedent("""
    import numpy as np, jax, jax.numpy as jnp, keras
    from vg_studio.monitor import GradientMonitor
    from vg_studio.train.probes import step as step_probes
    assert keras.backend.backend() == "jax"
    rng = np.random.default_rng(0)

    def grads_at(model, x, y, loss):
        trainable = [v.value for v in model.trainable_variables]
        fixed = [v.value for v in model.non_trainable_variables]
        def f(trainable):
            out, _ = model.stateless_call(trainable, fixed, x, training=True)
            return loss(y, out)
        return {id(v): np.asarray(g) for v, g in zip(model.trainable_variables, jax.grad(f)(trainable))}

    def mean_abs(grads, variables):
        return np.abs(np.concatenate([grads[id(v)].ravel() for v in variables])).mean()

    sparse = lambda y, out: keras.losses.sparse_categorical_crossentropy(y, out).mean()
    mse = lambda y, out: keras.losses.mean_squared_error(y, out).mean()

    # 1. a functional CNN under XLA: records through the cond, against jax.grad; a refit traces nothing new
    x, y = rng.normal(size=(48, 6, 6, 1)).astype("float32"), rng.integers(0, 5, 48)
    keras.utils.set_random_seed(1)
    inputs = keras.Input((6, 6, 1))
    hidden = keras.layers.Flatten()(keras.layers.Conv2D(3, 3, activation="relu", name="conv")(inputs))
    cnn = keras.Model(inputs, keras.layers.Dense(5, activation="softmax", name="head")(hidden))
    cnn.compile(optimizer=keras.optimizers.SGD(0.3), loss="sparse_categorical_crossentropy")
    expected = grads_at(cnn, x[:16], y[:16], sparse)
    monitor = GradientMonitor(None, record_every=2, diagnose=False)
    cnn.fit(x, y, batch_size=16, epochs=1, shuffle=False, callbacks=[monitor], verbose=0)
    assert monitor.history.steps == [1, 2], monitor.history.steps
    np.testing.assert_allclose(monitor.history.stat("grad_mean_abs")[0],
                               [mean_abs(expected, cnn.get_layer(n).trainable_variables) for n in ("conv", "head")],
                               rtol=2e-3)
    np.testing.assert_allclose(monitor.history.stat("kernel_grad_mean_abs")[0],
                               [mean_abs(expected, [cnn.get_layer(n).kernel]) for n in ("conv", "head")], rtol=2e-3)
    probe = step_probes._PROBES[cnn]
    traced = probe.traces
    cnn.fit(x, y, batch_size=16, epochs=1, callbacks=[GradientMonitor(None, diagnose=False)], verbose=0)
    assert probe.traces == traced, (probe.traces, traced)
    assert type(cnn.optimizer) is keras.optimizers.SGD and "stateless_apply" not in vars(cnn.optimizer)
    # a fit that raises outside the step leaves the model as it was, and the next plain fit trains on
    class Fails(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            raise RuntimeError("a callback failed")
    config, optimizer_config = cnn.get_config(), cnn.optimizer.get_config()
    paths = [v.path for v in cnn.optimizer.variables]
    try:
        cnn.fit(x, y, batch_size=16, epochs=1, callbacks=[GradientMonitor(None, diagnose=False), Fails()], verbose=0)
        raise AssertionError("the fit should have raised")
    except RuntimeError:
        pass
    assert cnn.get_config() == config and cnn.optimizer.get_config() == optimizer_config
    assert [v.path for v in cnn.optimizer.variables] == paths and "stateless_apply" not in vars(cnn.optimizer)
    cnn.fit(x, y, batch_size=16, epochs=1, verbose=0)
    assert type(cnn.optimizer) is keras.optimizers.SGD

    # 2. gradient accumulation: the accumulated average, at the steps it is applied
    x, y = rng.normal(size=(36, 4)).astype("float32"), rng.normal(size=(36, 2)).astype("float32")
    keras.utils.set_random_seed(2)
    dense = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3, activation="tanh", name="hidden"),
                              keras.layers.Dense(2, name="out")])
    dense.compile(optimizer=keras.optimizers.SGD(0.2, gradient_accumulation_steps=3), loss="mse")
    micro = [grads_at(dense, x[i:i + 4], y[i:i + 4], mse) for i in (0, 4, 8)]
    average = {k: sum(g[k] for g in micro) / 3 for k in micro[0]}
    monitor = GradientMonitor(None, record_every=4, diagnose=False)
    dense.fit(x, y, batch_size=4, epochs=1, shuffle=False, callbacks=[monitor], verbose=0)
    assert monitor.history.steps == [3, 6, 9], monitor.history.steps
    np.testing.assert_allclose(monitor.history.stat("grad_mean_abs")[0],
                               [mean_abs(average, dense.get_layer(n).trainable_variables) for n in ("hidden", "out")],
                               rtol=2e-3)

    # 3. a custom stateless train_step that names its loss "mse_loss"
    class OwnStep(keras.Sequential):
        def train_step(self, state, data):
            trainable, fixed, optimizer_variables, metrics_variables = state
            x, y = data
            def loss_of(trainable):
                out, _ = self.stateless_call(trainable, fixed, x, training=True)
                return mse(y, out)
            loss, grads = jax.value_and_grad(loss_of)(trainable)
            trainable, optimizer_variables = self.optimizer.stateless_apply(optimizer_variables, grads, trainable)
            return {"mse_loss": loss}, (trainable, fixed, optimizer_variables, metrics_variables)

    keras.utils.set_random_seed(3)
    own = OwnStep([keras.Input((4,)), keras.layers.Dense(2, name="out")])
    own.compile(optimizer=keras.optimizers.SGD(0.1))
    expected = grads_at(own, x[:12], y[:12], mse)
    monitor = GradientMonitor(None, record_every=1, diagnose=False, stop_on_nan=True)
    own.fit(x, y, batch_size=12, epochs=1, shuffle=False, callbacks=[monitor], verbose=0)
    assert monitor.status == "completed" and monitor.history.attrs["loss_source"] == "mse_loss"
    assert np.isfinite(monitor.history.record_loss).all()
    np.testing.assert_allclose(monitor.history.stat("grad_mean_abs")[0][0],
                               mean_abs(expected, own.trainable_variables), rtol=2e-3)

    # 4. a nested model's layers are columns of their own
    keras.utils.set_random_seed(4)
    trunk = keras.Sequential([keras.layers.Dense(5, activation="relu", name="a"),
                              keras.layers.Dense(5, activation="relu", name="b")], name="trunk")
    inputs = keras.Input((4,))
    nested = keras.Model(inputs, keras.layers.Dense(2, name="head")(trunk(inputs)))
    nested.compile(optimizer=keras.optimizers.SGD(0.1), loss="mse")
    expected = grads_at(nested, x[:12], y[:12], mse)
    monitor = GradientMonitor(None, record_every=1, diagnose=False)
    nested.fit(x, y, batch_size=12, epochs=1, shuffle=False, callbacks=[monitor], verbose=0)
    assert monitor.history.layer_names == ["trunk/a", "trunk/b", "head"], monitor.history.layer_names
    np.testing.assert_allclose(monitor.history.stat("grad_mean_abs")[0], [
        mean_abs(expected, trunk.get_layer("a").trainable_variables),
        mean_abs(expected, trunk.get_layer("b").trainable_variables),
        mean_abs(expected, nested.get_layer("head").trainable_variables)], rtol=2e-3)

    # 5. the gradient per input time step of a recurrent model (its input is the model's input)
    xs, ys = rng.normal(size=(16, 7, 3)).astype("float32"), rng.integers(0, 2, 16)
    keras.utils.set_random_seed(5)
    rnn = keras.Sequential([keras.Input((7, 3)), keras.layers.SimpleRNN(6, name="rnn"),
                            keras.layers.Dense(2, activation="softmax", name="head")])
    rnn.compile(optimizer=keras.optimizers.SGD(0.1), loss="sparse_categorical_crossentropy")
    trainable = [v.value for v in rnn.trainable_variables]
    fixed = [v.value for v in rnn.non_trainable_variables]
    def loss_of_input(inputs):
        out, _ = rnn.stateless_call(trainable, fixed, inputs, training=True)
        return sparse(ys[:8], out)
    expected = np.abs(np.asarray(jax.grad(loss_of_input)(jnp.asarray(xs[:8])))).mean(axis=(0, 2))
    monitor = GradientMonitor(None, record_every=1, diagnose=False)
    rnn.fit(xs, ys, batch_size=8, epochs=1, shuffle=False, callbacks=[monitor], verbose=0)
    np.testing.assert_allclose(monitor.history.time_grad[0], expected, rtol=2e-3)

    # 6. a critic updated five times a step: every step recorded (more updates than the ring holds between two
    # reads), at its last update
    class Critic(keras.Sequential):
        def train_step(self, state, data):
            trainable, fixed, optimizer_variables, metrics_variables = state
            x, y = data
            def loss_of(trainable):
                out, _ = self.stateless_call(trainable, fixed, x, training=True)
                return mse(y, out)
            for _ in range(5):
                loss, grads = jax.value_and_grad(loss_of)(trainable)
                trainable, optimizer_variables = self.optimizer.stateless_apply(optimizer_variables, grads, trainable)
            return {"loss": loss}, (trainable, fixed, optimizer_variables, metrics_variables)

    keras.utils.set_random_seed(6)
    critic = Critic([keras.Input((4,)), keras.layers.Dense(3, activation="tanh", name="h"),
                     keras.layers.Dense(2, name="out")])
    critic.compile(optimizer=keras.optimizers.SGD(0.05))
    weights = [v.value for v in critic.trainable_variables]
    def first_loss(weights):
        out, _ = critic.stateless_call(weights, [], xc[:8], training=True)
        return mse(yc[:8], out)
    xc, yc = rng.normal(size=(8 * 40, 4)).astype("float32"), rng.normal(size=(8 * 40, 2)).astype("float32")
    for update in range(5):  # four updates by hand, then the gradient of the fifth
        grads = jax.grad(first_loss)(weights)
        weights = [w - 0.05 * g for w, g in zip(weights, grads)] if update < 4 else weights
    monitor = GradientMonitor(None, record_every=1, diagnose=False)
    critic.fit(xc, yc, batch_size=8, epochs=1, shuffle=False, callbacks=[monitor], verbose=0)
    assert monitor.history.steps == list(range(1, 41)), monitor.history.steps
    np.testing.assert_allclose(monitor.history.stat("grad_norm")[0], [
        np.linalg.norm(np.concatenate([np.ravel(g) for g in grads[i:i + 2]])) for i in (0, 2)], rtol=2e-3)

    # 7. a step outside jit (jit_compile=False): once its operations are compiled, a step compiles nothing more
    # (a traced cond there would compile both of its branches at every step)
    compiles = []
    jax.monitoring.register_event_duration_secs_listener(
        lambda event, duration, **kw: compiles.append(event) if event.endswith("backend_compile_duration") else None)
    seen = {}

    class Compiles(keras.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            seen[batch] = len(compiles)

    keras.utils.set_random_seed(7)
    eager = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3, activation="tanh"), keras.layers.Dense(2)])
    eager.compile(optimizer=keras.optimizers.SGD(0.1), loss="mse", jit_compile=False)
    monitor = GradientMonitor(None, record_every=100, diagnose=False)
    xe, ye = rng.normal(size=(48, 4)).astype("float32"), rng.normal(size=(48, 2)).astype("float32")
    eager.fit(xe, ye, batch_size=4, epochs=1, shuffle=False, callbacks=[Compiles(), monitor], verbose=0)
    assert seen[11] == seen[3] and monitor.history.steps == [1], (seen, monitor.history.steps)
    print("jax patterns ok")
""")


@pytest.mark.skipif(importlib.util.find_spec("jax") is None, reason="jax is not installed")
def test_patterns_on_jax():
    env = {**os.environ, "KERAS_BACKEND": "jax", "PYTHONPATH": str(ROOT), "JAX_PLATFORMS": "cpu"}
    out = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=600, env=env,
                         cwd=ROOT)
    assert out.returncode == 0 and "jax patterns ok" in out.stdout, out.stderr[-3000:]
