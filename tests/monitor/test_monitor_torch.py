"""The patterns on PyTorch (eager steps, record decisions on the host): a GAN's two optimizers in a custom
train_step, gradient accumulation, nested models expanded, the gradient per input time step and one optimizer
applied to one part of the model after another — each against
torch autograd, in a subprocess (the backend is chosen at import)."""

import importlib.util
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

SCRIPT = textwrap.dedent("""
    import numpy as np, torch, keras
    from vg_studio.monitor import GradientMonitor
    assert keras.backend.backend() == "torch"
    rng = np.random.default_rng(0)

    def grads_of(loss, variables):
        for v in variables:
            v.value.grad = None
        loss.backward()
        return {id(v): v.value.grad.detach().numpy().copy() for v in variables}

    def mean_abs(grads, variables):
        return np.abs(np.concatenate([grads[id(v)].ravel() for v in variables])).mean()

    # 1. a GAN: two optimizers in a custom train_step, no "loss" in its logs
    class GAN(keras.Model):
        def __init__(self):
            super().__init__(name="gan")
            self.generator = keras.Sequential([keras.Input((3,)), keras.layers.Dense(4, activation="relu", name="g1"),
                                               keras.layers.Dense(5, name="g2")], name="generator")
            self.discriminator = keras.Sequential([keras.Input((5,)), keras.layers.Dense(4, activation="tanh",
                                                                                           name="d1"),
                                                   keras.layers.Dense(1, name="d2")], name="discriminator")
            self.bce = keras.losses.BinaryCrossentropy(from_logits=True)
            self.built = True  # its parts are built; it has no call of its own

        def compile(self, d_optimizer, g_optimizer):
            super().compile()
            self.d_optimizer, self.g_optimizer = d_optimizer, g_optimizer

        def d_loss(self, real, noise):
            logits = self.discriminator(torch.cat([self.generator(noise), real]))
            labels = torch.cat([torch.zeros(len(noise), 1), torch.ones(len(real), 1)])
            return self.bce(labels, logits)

        def g_loss(self, noise):
            return self.bce(torch.ones(len(noise), 1), self.discriminator(self.generator(noise)))

        def train_step(self, data):
            real, noise = data
            self.zero_grad()
            d_loss = self.d_loss(real, noise)
            d_loss.backward()
            weights = self.discriminator.trainable_weights
            with torch.no_grad():
                self.d_optimizer.apply([v.value.grad for v in weights], weights)
            self.zero_grad()
            g_loss = self.g_loss(noise)
            g_loss.backward()
            weights = self.generator.trainable_weights
            with torch.no_grad():
                self.g_optimizer.apply([v.value.grad for v in weights], weights)
            return {"d_loss": d_loss.detach(), "g_loss": g_loss.detach()}

    real, noise = rng.normal(size=(16, 5)).astype("float32"), rng.normal(size=(16, 3)).astype("float32")
    keras.utils.set_random_seed(1)
    gan = GAN()
    gan.compile(keras.optimizers.SGD(0.1), keras.optimizers.SGD(0.2))
    d_grads = grads_of(gan.d_loss(torch.as_tensor(real[:8]), torch.as_tensor(noise[:8])),
                       gan.discriminator.trainable_weights)
    monitor = GradientMonitor(None, record_every=1, diagnose=False)
    gan.fit(real, noise, batch_size=8, epochs=1, shuffle=False, callbacks=[monitor], verbose=0)
    history = monitor.history
    assert history.layer_names == ["generator/g1", "generator/g2", "discriminator/d1", "discriminator/d2"], \\
        history.layer_names
    assert history.attrs["loss_source"] == "d_loss + g_loss" and np.isfinite(history.record_loss).all()
    np.testing.assert_allclose(history.stat("grad_mean_abs")[0][2:], [
        mean_abs(d_grads, gan.discriminator.get_layer(n).trainable_weights) for n in ("d1", "d2")], rtol=2e-3)
    assert np.isfinite(history.stat("grad_mean_abs")[0][:2]).all()
    assert "apply" not in vars(gan.d_optimizer) and "train_step" not in vars(gan)

    # 2. gradient accumulation: the steps it applies, the accumulated average
    x, y = rng.normal(size=(36, 4)).astype("float32"), rng.normal(size=(36, 2)).astype("float32")
    keras.utils.set_random_seed(2)
    dense = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3, activation="tanh", name="hidden"),
                              keras.layers.Dense(2, name="out")])
    dense.compile(optimizer=keras.optimizers.SGD(0.2, gradient_accumulation_steps=3), loss="mse")
    mse = keras.losses.MeanSquaredError()
    micro = [grads_of(mse(torch.as_tensor(y[i:i + 4]), dense(torch.as_tensor(x[i:i + 4]))),
                      dense.trainable_weights) for i in (0, 4, 8)]
    average = {k: sum(g[k] for g in micro) / 3 for k in micro[0]}
    monitor = GradientMonitor(None, record_every=4, diagnose=False)
    dense.fit(x, y, batch_size=4, epochs=1, shuffle=False, callbacks=[monitor], verbose=0)
    assert monitor.history.steps == [3, 6, 9], monitor.history.steps
    np.testing.assert_allclose(monitor.history.stat("grad_mean_abs")[0], [
        mean_abs(average, dense.get_layer(n).trainable_weights) for n in ("hidden", "out")], rtol=2e-3)

    # 3. nested models expanded, and 4. the gradient per input time step
    keras.utils.set_random_seed(3)
    trunk = keras.Sequential([keras.layers.SimpleRNN(4, return_sequences=True, name="rnn"),
                              keras.layers.SimpleRNN(4, name="rnn_2")], name="trunk")
    inputs = keras.Input((6, 2))
    model = keras.Model(inputs, keras.layers.Dense(2, activation="softmax", name="head")(trunk(inputs)))
    model.compile(optimizer=keras.optimizers.SGD(0.1), loss="sparse_categorical_crossentropy")
    xs, ys = rng.normal(size=(16, 6, 2)).astype("float32"), rng.integers(0, 2, 16)
    batch = torch.as_tensor(xs[:8]).requires_grad_(True)
    loss = keras.losses.SparseCategoricalCrossentropy()(torch.as_tensor(ys[:8]), model(batch, training=True))
    loss.backward()
    expected = batch.grad.abs().mean(dim=(0, 2)).numpy()
    monitor = GradientMonitor(None, record_every=1, diagnose=False)
    model.fit(xs, ys, batch_size=8, epochs=1, shuffle=False, callbacks=[monitor], verbose=0)
    assert monitor.history.layer_names == ["trunk/rnn", "trunk/rnn_2", "head"], monitor.history.layer_names
    np.testing.assert_allclose(monitor.history.time_grad[0], expected, rtol=2e-3)

    # 5. one optimizer applied to one part of the model after another in a step: each part its own update
    class TwoParts(keras.Model):
        def __init__(self):
            super().__init__()
            self.trunk = keras.layers.Dense(5, activation="tanh", name="trunk")
            self.head = keras.layers.Dense(3, name="head")

        def call(self, t):
            return self.head(self.trunk(t))

        def train_step(self, data):
            xb, yb = data
            self.zero_grad()
            self.compute_loss(x=xb, y=yb, y_pred=self(xb, training=True)).backward()
            with torch.no_grad():
                for part in (self.head.trainable_weights, self.trunk.trainable_weights):
                    self.optimizer.apply([v.value.grad for v in part], part)
            return {}

    keras.utils.set_random_seed(4)
    parts = TwoParts()
    parts(torch.as_tensor(x[:1]))
    parts.compile(keras.optimizers.SGD(0.1), keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    parts.optimizer.build(parts.trainable_weights)
    labels = rng.integers(0, 3, 36)
    expected = grads_of(parts.compute_loss(x=None, y=torch.as_tensor(labels[:12]),
                                           y_pred=parts(torch.as_tensor(x[:12]), training=True)),
                        parts.trainable_weights)
    monitor = GradientMonitor(None, record_every=1, diagnose=False)
    parts.fit(x, labels, batch_size=12, epochs=1, shuffle=False, callbacks=[monitor], verbose=0)
    np.testing.assert_allclose(monitor.history.stat("grad_mean_abs")[0], [
        mean_abs(expected, layer.trainable_weights) for layer in (parts.trunk, parts.head)], rtol=2e-3)
    print("torch patterns ok")
""")


@pytest.mark.slow
@pytest.mark.skipif(importlib.util.find_spec("torch") is None, reason="torch is not installed")
def test_patterns_on_torch():
    env = {**os.environ, "KERAS_BACKEND": "torch", "PYTHONPATH": str(ROOT)}
    out = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=600, env=env,
                         cwd=ROOT)
    assert out.returncode == 0 and "torch patterns ok" in out.stdout, out.stderr[-3000:]
