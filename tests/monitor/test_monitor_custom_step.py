"""Custom `train_step`s: a GAN whose step applies gradients through its own `d_optimizer` and `g_optimizer` and
returns `d_loss` / `g_loss` (no "loss"), and a step that returns no loss at all. Both optimizers are probed, the
columns say which optimizer updates them, the loss is read from what the step returns (or is unknown), and a step
that applies gradients through no optimizer of the model is refused before it runs."""

import importlib.util
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import keras
import numpy as np
import pytest
import tensorflow as tf

from tests.monitor.helpers import assert_record, column_reference
from vg_studio.monitor import GradientMonitor
from vg_studio.train import events
from vg_studio.train.probes import CannotWatch

ROOT = Path(__file__).resolve().parents[2]


class TinyGAN(keras.Model):
    """A generator and a discriminator trained by their own optimizers in one step (fit(real, noise))."""

    def __init__(self):
        super().__init__(name="gan")
        self.generator = keras.Sequential([keras.Input((3,)), keras.layers.Dense(4, activation="relu", name="g_hidden"),
                                           keras.layers.Dense(5, name="g_out")], name="generator")
        self.discriminator = keras.Sequential([keras.Input((5,)),
                                               keras.layers.Dense(4, activation="tanh", name="d_hidden"),
                                               keras.layers.Dense(1, name="d_out")], name="discriminator")
        self.bce = keras.losses.BinaryCrossentropy(from_logits=True)

    def compile(self, d_optimizer, g_optimizer):
        super().compile()
        self.d_optimizer, self.g_optimizer = d_optimizer, g_optimizer

    def losses_of(self, real, noise):
        fake = self.generator(noise)
        logits = self.discriminator(tf.concat([fake, real], axis=0))
        fake_labels, real_labels = tf.zeros_like(fake[:, :1]), tf.ones_like(real[:, :1])
        d_loss = self.bce(tf.concat([fake_labels, real_labels], axis=0), logits)
        return d_loss, self.bce(tf.ones_like(fake_labels), self.discriminator(self.generator(noise)))

    def train_step(self, data):
        real, noise = data
        with tf.GradientTape() as tape:
            d_loss = self.losses_of(real, noise)[0]
        grads = tape.gradient(d_loss, self.discriminator.trainable_weights)
        self.d_optimizer.apply_gradients(zip(grads, self.discriminator.trainable_weights))
        with tf.GradientTape() as tape:
            g_loss = self.losses_of(real, noise)[1]
        grads = tape.gradient(g_loss, self.generator.trainable_weights)
        self.g_optimizer.apply_gradients(zip(grads, self.generator.trainable_weights))
        return {"d_loss": d_loss, "g_loss": g_loss}


def gan_data():
    rng = np.random.default_rng(5)
    return rng.normal(size=(16, 5)).astype("float32"), rng.normal(size=(16, 3)).astype("float32")


def test_both_optimizers_of_a_gan_are_probed_and_match_gradient_tape(tmp_path):
    real, noise = gan_data()
    keras.utils.set_random_seed(7)
    gan = TinyGAN()
    gan.compile(d_optimizer=keras.optimizers.SGD(0.1), g_optimizer=keras.optimizers.SGD(0.2))
    initial = {v.path: v.numpy().copy() for v in gan.trainable_variables}
    seen = []
    monitor = GradientMonitor(tmp_path / "run", record_every=1, listeners=[seen.append])
    gan.fit(real, noise, batch_size=8, epochs=1, shuffle=False, callbacks=[monitor], verbose=0)
    history = monitor.history
    assert monitor.status == "completed" and history.steps == [1, 2]
    assert history.layer_names == ["generator/g_hidden", "generator/g_out", "discriminator/d_hidden",
                                   "discriminator/d_out"]
    assert history.layer_groups == ["generator", "generator", "discriminator", "discriminator"]
    rows = json.loads((tmp_path / "run" / "model.json").read_text())["layers"]
    assert [r["optimizer"] for r in rows] == ["g_optimizer", "g_optimizer", "d_optimizer", "d_optimizer"]
    # two players, two objectives: the diagnosis does not read their summed loss as one
    from vg_studio.diagnose.engine import diagnose_run

    diagnoser = diagnose_run(tmp_path / "run")[0]
    assert any("2 optimizers" in note for note in diagnoser.notes)
    assert monitor.diagnosis.diagnoser.facts.objectives == 2  # and live, once the first step showed who steps what
    # its advice is for the SGD that steps the players, not for the RMSprop that compile() left unused
    assert diagnoser.optimizer == "sgd"
    # the loss is what the step returned: d_loss + g_loss, never a made-up NaN
    batch_logs = {e.step: e.logs for e in seen if isinstance(e, events.BatchEnd)}
    assert history.attrs["loss_source"] == "d_loss + g_loss"
    assert history.record_loss == pytest.approx([batch_logs[s]["d_loss"] + batch_logs[s]["g_loss"] for s in (1, 2)])
    assert not [f for f in monitor.findings if f.kind in ("non_finite", "exploding_gradient")]

    # the first step by hand: the discriminator's SGD step, then the generator's through the updated discriminator
    for v in gan.trainable_variables:
        v.assign(initial[v.path])
    xr, xn = tf.constant(real[:8]), tf.constant(noise[:8])
    grads, before, after = {}, {}, {}
    for net, lr, which in ((gan.discriminator, 0.1, 0), (gan.generator, 0.2, 1)):
        with tf.GradientTape() as tape:
            loss = gan.losses_of(xr, xn)[which]
        for v, g in zip(net.trainable_weights, tape.gradient(loss, net.trainable_weights)):
            grads[v.path], before[v.path] = g.numpy(), v.numpy().copy()
            v.assign(v - lr * g)
            after[v.path] = v.numpy().copy()
    nets = {"generator": gan.generator, "discriminator": gan.discriminator}
    columns = {name: [v.path for v in nets[name.split("/")[0]].get_layer(name.split("/")[1]).trainable_variables]
               for name in history.layer_names}
    assert_record(history, 0, column_reference(columns, grads, before, after))


class NoLossReported(keras.Sequential):
    def train_step(self, data):
        x, y = data
        with tf.GradientTape() as tape:
            loss = keras.losses.mean_squared_error(y, self(x, training=True))
        grads = tape.gradient(loss, self.trainable_weights)
        self.optimizer.apply_gradients(zip(grads, self.trainable_weights))
        return {"mae": tf.reduce_mean(tf.abs(y - self(x)))}


def test_a_step_that_reports_no_loss_has_an_unknown_loss_not_a_divergence():
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(16, 3)).astype("float32"), rng.normal(size=(16, 2)).astype("float32")
    model = NoLossReported([keras.Input((3,)), keras.layers.Dense(2, name="dense")])
    model.compile(optimizer="sgd")
    monitor = GradientMonitor(None, record_every=1, diagnose=False, stop_on_nan=True)
    model.fit(x, y, batch_size=8, epochs=2, callbacks=[monitor], verbose=0)
    assert monitor.status == "completed" and monitor.history.num_epochs == 2 and monitor.report_data["steps"] == 4
    assert monitor.history.attrs["loss_source"] == "" and np.isnan(monitor.history.record_loss).all()
    assert np.isfinite(monitor.history.stat("grad_norm")).all()


class OutsideOptimizer(keras.Sequential):
    """Applies its gradients with an optimizer the model does not hold."""

    outside = None

    def train_step(self, data):
        x, y = data
        with tf.GradientTape() as tape:
            loss = keras.losses.mean_squared_error(y, self(x, training=True))
        grads = tape.gradient(loss, self.trainable_weights)
        type(self).outside.apply_gradients(zip(grads, self.trainable_weights))
        return {"loss": tf.reduce_mean(loss)}


def test_a_step_that_applies_no_optimizer_of_the_model_is_refused_before_it_runs(tmp_path):
    x, y = np.ones((8, 3), "float32"), np.zeros((8, 2), "float32")
    OutsideOptimizer.outside = keras.optimizers.SGD(0.1)
    model = OutsideOptimizer([keras.Input((3,)), keras.layers.Dense(2)])
    model.compile(optimizer="sgd")
    weights = [w.copy() for w in model.get_weights()]
    with pytest.raises(CannotWatch) as refused:
        model.fit(x, y, epochs=1, verbose=0, callbacks=[GradientMonitor(tmp_path / "run")])
    message = str(refused.value)
    assert message.startswith("GradientMonitor: the training step applied no gradients") and "\n" not in message
    assert all(np.array_equal(a, b) for a, b in zip(model.get_weights(), weights))  # nothing ran
    assert "apply" not in vars(OutsideOptimizer.outside) and "apply" not in vars(model.optimizer)
    model.fit(x, y, epochs=1, verbose=0)  # and the model trains on as before


class OwnOptimizer(keras.Model):
    """A train_step that steps the layers with an optimizer of its own (`self.opt`), leaving the compiled one
    unused."""

    def __init__(self):
        super().__init__()
        self.hidden, self.out = keras.layers.Dense(4, activation="relu"), keras.layers.Dense(2)
        self.opt = keras.optimizers.Adam(0.01)

    def call(self, x):
        return self.out(self.hidden(x))

    def train_step(self, data):
        x, y = data
        with tf.GradientTape() as tape:
            loss = tf.reduce_mean(keras.losses.mean_squared_error(y, self(x, training=True)))
        self.opt.apply(tape.gradient(loss, self.trainable_variables), self.trainable_variables)
        return {"loss": loss}


def test_the_optimizer_of_a_train_step_s_own_is_named_per_layer_once_the_step_ran(tmp_path):
    """Which optimizer updates a layer is known once the step ran (optimizers build lazily): model.json then names
    `opt` for both layers, with its summary, and the offline diagnosis advises for Adam, not the unused RMSprop."""
    from vg_studio.diagnose.engine import diagnose_run

    x, y = np.ones((16, 3), "float32"), np.zeros((16, 2), "float32")
    model = OwnOptimizer()
    model.compile(loss="mse")  # Keras's default optimizer (RMSprop), never applied
    model(x[:1])
    model.fit(x, y, batch_size=8, epochs=1, verbose=0, callbacks=[GradientMonitor(tmp_path / "run")])
    summary = json.loads((tmp_path / "run" / "model.json").read_text())
    assert [row.get("optimizer") for row in summary["layers"]] == ["opt", "opt"]
    assert summary["optimizers"]["opt"]["class_name"] == "Adam"
    assert diagnose_run(tmp_path / "run")[0].facts.optimizer == "adam"


class DeepSigmoidOwnSGD(keras.Model):
    """Six sigmoid layers (their gradients vanish) stepped by the train_step's own SGD (`self.opt`), while
    compile() got Adam, which never steps."""

    def __init__(self):
        super().__init__()
        self.hidden = [keras.layers.Dense(16, activation="sigmoid") for _ in range(6)]
        self.out = keras.layers.Dense(3, activation="softmax")
        self.opt = keras.optimizers.SGD(0.05)

    def call(self, x):
        for layer in self.hidden:
            x = layer(x)
        return self.out(x)

    def train_step(self, data):
        x, y = data
        with tf.GradientTape() as tape:
            loss = tf.reduce_mean(keras.losses.sparse_categorical_crossentropy(y, self(x, training=True)))
        self.opt.apply(tape.gradient(loss, self.trainable_variables), self.trainable_variables)
        return {"loss": loss}


@pytest.mark.parametrize("to_disk", [True, False])
def test_live_advice_is_for_the_optimizer_that_steps_the_layers_not_the_compiled_one(tmp_path, to_disk):
    """Which optimizer steps the layers is known once the first step ran: the recorder then publishes the corrected
    summary and the live diagnosis advises for the SGD that steps them — "use Adam instead of plain SGD" for the
    vanishing gradient — in every finding from then on and in report.json, not for the compiled Adam (whose advice
    leaves Adam out). Without a run directory too."""
    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    x = rng.normal(size=(256, 8)).astype("float32")
    y = (x[:, 0] > 0).astype("int64") + (x[:, 1] > 0)
    model = DeepSigmoidOwnSGD()
    model.compile(optimizer=keras.optimizers.Adam(0.001), loss="sparse_categorical_crossentropy")
    model(x[:1])
    seen = []
    run_dir = tmp_path / "run" if to_disk else None
    monitor = GradientMonitor(run_dir, record_every=2, listeners=[seen.append], warnings=None, preflight=False)
    model.fit(x, y, batch_size=32, epochs=3, verbose=0, callbacks=[monitor])
    started = next(e for e in seen if isinstance(e, events.RunStarted))
    assert started.model_summary["optimizer"]["class_name"] == "Adam"  # what compile() got, all that is known then
    updated = [e for e in seen if isinstance(e, events.ModelSummaryUpdated)]
    assert len(updated) == 1 and updated[0].model_summary["optimizers"]["opt"]["class_name"] == "SGD"
    assert [row["optimizer"] for row in updated[0].model_summary["layers"]] == ["opt"] * 7
    assert not any("optimizer" in row for row in started.model_summary["layers"])  # left as the run started

    use_adam = "Train with keras.optimizers.Adam instead of plain SGD"
    after = seen[seen.index(updated[0]):]
    published = [f for e in after if isinstance(e, events.FindingsUpdated) for f in e.findings]
    vanishing = [f for f in published if f.kind == "vanishing_gradient"]
    assert vanishing and all(use_adam in f.advice for f in vanishing)
    assert use_adam in {f.kind: f for f in monitor.findings}["vanishing_gradient"].advice
    assert monitor.diagnosis.diagnoser.facts.optimizer == "sgd"
    if to_disk:
        report = json.loads((tmp_path / "run" / "report.json").read_text())
        assert use_adam in next(f for f in report["findings"] if f["kind"] == "vanishing_gradient")["advice"]


JAX_OWN_SGD = textwrap.dedent("""
    import numpy as np, jax, keras
    from vg_studio.monitor import GradientMonitor
    from vg_studio.train import events
    assert keras.backend.backend() == "jax"

    class OwnSGD(keras.Sequential):
        def compile(self, **kwargs):
            super().compile(**kwargs)
            self.opt = keras.optimizers.SGD(0.05)
            self.opt.build(self.trainable_variables)  # on JAX an optimizer's state must exist before fit

        def train_step(self, state, data):
            trainable, fixed, optimizer_variables, metrics_variables = state
            x, y = data
            def loss_of(trainable):
                out, _ = self.stateless_call(trainable, fixed, x, training=True)
                return keras.ops.mean(keras.losses.sparse_categorical_crossentropy(y, out))
            loss, grads = jax.value_and_grad(loss_of)(trainable)
            trainable, _ = self.opt.stateless_apply([v.value for v in self.opt.variables], grads, trainable)
            return {"loss": loss}, (trainable, fixed, optimizer_variables, metrics_variables)

    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    x = rng.normal(size=(256, 8)).astype("float32")
    y = (x[:, 0] > 0).astype("int64") + (x[:, 1] > 0)
    model = OwnSGD([keras.Input((8,))] + [keras.layers.Dense(16, activation="sigmoid") for _ in range(6)]
                   + [keras.layers.Dense(3, activation="softmax")])
    model.compile(optimizer=keras.optimizers.Adam(0.001), loss="sparse_categorical_crossentropy")
    seen = []
    monitor = GradientMonitor(None, record_every=2, listeners=[seen.append], warnings=None, preflight=False)
    model.fit(x, y, batch_size=32, epochs=3, verbose=0, callbacks=[monitor])
    updated = [e for e in seen if isinstance(e, events.ModelSummaryUpdated)]
    assert len(updated) == 1 and {row["optimizer"] for row in updated[0].model_summary["layers"]} == {"opt"}
    assert monitor.diagnosis.diagnoser.facts.optimizer == "sgd"
    vanishing = {f.kind: f for f in monitor.findings}["vanishing_gradient"]
    assert "Train with keras.optimizers.Adam instead of plain SGD" in vanishing.advice, vanishing.advice
    print("own optimizer ok")
""")


@pytest.mark.slow  # a subprocess importing JAX and TensorFlow: ~15 s
@pytest.mark.skipif(importlib.util.find_spec("jax") is None, reason="jax is not installed")
def test_live_advice_is_for_the_optimizer_that_steps_the_layers_on_jax():
    """On JAX the compiled Adam is built before fit over the same variables as the step's own SGD: the optimizer
    that steps a layer is the one whose update its gradient reached, not the first that holds it."""
    env = {**os.environ, "KERAS_BACKEND": "jax", "PYTHONPATH": str(ROOT), "JAX_PLATFORMS": "cpu"}
    out = subprocess.run([sys.executable, "-c", JAX_OWN_SGD], capture_output=True, text=True, timeout=600, env=env,
                         cwd=ROOT)
    assert out.returncode == 0 and "own optimizer ok" in out.stdout, out.stderr[-3000:]
