"""One optimizer applied several times in one step of a custom `train_step`: to one part of the model after another
(each part's column describes its own update), and a critic's five updates per step with `record_every=1` (every
step recorded, at its last update) — against tf.GradientTape and the weights Keras leaves after each batch."""

import keras
import numpy as np
import tensorflow as tf

from vg_studio.monitor import GradientMonitor

LR = 0.05


def data(n):
    rng = np.random.default_rng(0)
    return rng.normal(size=(n, 6)).astype("float32"), rng.integers(0, 3, n)


class TwoParts(keras.Model):
    """`updates` applies of one optimizer per step: all weights each time, or (`in_parts`) the head's, then the
    trunk's."""

    def __init__(self, updates=1, in_parts=False):
        super().__init__()
        self.updates, self.in_parts = updates, in_parts
        self.trunk = keras.layers.Dense(5, activation="tanh", name="trunk")
        self.head = keras.layers.Dense(3, name="head")

    def call(self, x):
        return self.head(self.trunk(x))

    def train_step(self, data):
        x, y = data
        for _ in range(self.updates):
            with tf.GradientTape() as tape:
                loss = self.compute_loss(x=x, y=y, y_pred=self(x, training=True))
            if self.in_parts:
                trunk, head = self.trunk.trainable_variables, self.head.trainable_variables
                g_trunk, g_head = tape.gradient(loss, [trunk, head])
                self.optimizer.apply_gradients(zip(g_head, head))
                self.optimizer.apply_gradients(zip(g_trunk, trunk))
            else:
                grads = tape.gradient(loss, self.trainable_variables)
                self.optimizer.apply_gradients(zip(grads, self.trainable_variables))
        return {"loss": loss}


def compiled(model, x):
    keras.utils.set_random_seed(2)
    model(x[:1])
    model.compile(optimizer=keras.optimizers.SGD(LR),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    model.optimizer.build(model.trainable_variables)
    return model


class Weights(keras.callbacks.Callback):
    def __init__(self):
        super().__init__()
        self.after = []

    def on_train_begin(self, logs=None):
        self.after.append([v.numpy().copy() for v in self.model.trainable_variables])

    def on_train_batch_end(self, batch, logs=None):
        self.after.append([v.numpy().copy() for v in self.model.trainable_variables])


def test_parts_updated_one_after_another_by_one_optimizer_each_record_their_own_update():
    x, y = data(24)
    model = compiled(TwoParts(in_parts=True), x)
    monitor, weights = GradientMonitor(None, record_every=1, diagnose=False), Weights()
    model.fit(x, y, batch_size=8, epochs=1, shuffle=False, verbose=0, callbacks=[weights, monitor])
    assert monitor.history.layer_names == ["trunk", "head"] and list(monitor.history.steps) == [1, 2, 3]
    parts = [model.trunk.trainable_variables, model.head.trainable_variables]
    position = {id(v): i for i, v in enumerate(model.trainable_variables)}
    for r in range(3):  # SGD: the gradient applied is (W before - W after) / lr
        before, after = weights.after[r], weights.after[r + 1]
        expected = [np.linalg.norm(np.concatenate([((before[position[id(v)]] - after[position[id(v)]]) / LR).ravel()
                                                   for v in part])) for part in parts]
        np.testing.assert_allclose(monitor.history.stat("grad_norm")[r], expected, rtol=2e-3)


def test_a_critic_updated_five_times_a_step_is_recorded_at_every_step_at_its_last_update():
    x, y = data(8 * 40)  # 40 steps of 5 updates: more updates than the device keeps between two reads
    model = compiled(TwoParts(updates=5), x)
    initial = [v.numpy().copy() for v in model.trainable_variables]
    monitor = GradientMonitor(None, record_every=1, diagnose=False)
    model.fit(x, y, batch_size=8, epochs=1, shuffle=False, verbose=0, callbacks=[monitor])
    assert list(monitor.history.steps) == list(range(1, 41))
    twin = TwoParts()  # the first step by hand: four updates, then the gradient of the fifth
    twin(x[:1])
    for v, value in zip(twin.trainable_variables, initial):
        v.assign(value)
    loss_fn = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    for update in range(5):
        with tf.GradientTape() as tape:
            loss = loss_fn(y[:8], twin(x[:8]))
        grads = tape.gradient(loss, twin.trainable_variables)
        if update < 4:
            for v, g in zip(twin.trainable_variables, grads):
                v.assign_sub(LR * g)
    expected = [np.linalg.norm(np.concatenate([g.numpy().ravel() for g in pair])) for pair in (grads[:2], grads[2:])]
    np.testing.assert_allclose(monitor.history.stat("grad_norm")[0], expected, rtol=2e-3)
