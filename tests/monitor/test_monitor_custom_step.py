"""Custom `train_step`s: a GAN whose step applies gradients through its own `d_optimizer` and `g_optimizer` and
returns `d_loss` / `g_loss` (no "loss"), and a step that returns no loss at all. Both optimizers are probed, the
columns say which optimizer updates them, the loss is read from what the step returns (or is unknown), and a step
that applies gradients through no optimizer of the model is refused before it runs."""

import json

import keras
import numpy as np
import pytest
import tensorflow as tf

from tests.monitor.helpers import assert_record, column_reference
from vg_studio.monitor import GradientMonitor
from vg_studio.train import events
from vg_studio.train.probes import CannotWatch


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
