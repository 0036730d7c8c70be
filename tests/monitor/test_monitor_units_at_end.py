"""Unit statistics at every epoch's end: whatever the record interval and the read timing, the last record of each
epoch carries the dead/saturated fractions of the weights the epoch ended with — checked against NumPy on the probe
batch, live and in the run directory, with units that saturate and die only after the epoch's last read."""

import keras
import numpy as np
import pytest

from vg_studio.monitor import GradientMonitor
from vg_studio.train import events
from vg_studio.train.runstore import open_run
from vg_studio.train.units import SATURATION_THRESHOLD

STEPS, BATCH, EPOCHS = 34, 4, 2  # read at steps 33 and 66 (sync_every 32), after each epoch's last record (30, 65)


class PushBiases(keras.callbacks.Callback):
    """Before the last epoch's last step (after its last read of records), push the biases so that some tanh units
    saturate and some ReLU units die. The learning rate is 0: nothing else moves the weights."""

    def on_train_batch_begin(self, batch, logs=None):
        if self.params["epochs"] - 1 == self.epoch and batch == STEPS - 1:
            self.model.get_layer("sat").bias.assign(np.array([9.0, -9.0, 0.0, 4.0, -0.5, 0.0], "float32"))
            self.model.get_layer("dead").bias.assign(np.array([-60.0, -60.0, 0.0, 0.5, -60.0], "float32"))

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch


def numpy_units(model, x) -> tuple[float, float]:
    """The saturated share of the tanh layer's (example, unit) pre-activations and the share of ReLU units at or below
    0 on every example, from the weights as plain arrays."""
    w1, b1, w2, b2 = (v.numpy() for v in model.get_layer("sat").weights + model.get_layer("dead").weights)
    z1 = x.astype(np.float64) @ w1 + b1
    z2 = np.tanh(z1) @ w2 + b2
    return float(np.mean(np.abs(z1) >= SATURATION_THRESHOLD["tanh"])), float(np.mean(np.all(z2 <= 0, axis=0)))


def test_each_epochs_last_record_carries_the_units_it_ended_with(tmp_path):
    keras.utils.set_random_seed(3)
    x = np.random.default_rng(0).normal(size=(STEPS * BATCH, 4)).astype("float32")
    y = x.sum(axis=1, keepdims=True)
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(6, activation="tanh", name="sat"),
                              keras.layers.Dense(5, activation="relu", name="dead"), keras.layers.Dense(1, name="out")])
    model.compile(optimizer=keras.optimizers.SGD(0.0), loss="mse")
    probe = x[:32]
    before = numpy_units(model, probe)
    live = []
    monitor = GradientMonitor(tmp_path / "run", record_every=5, probe_data=probe, sync_every=32, sync_seconds=1e9,
                              listeners=[lambda e: live.append(e) if isinstance(e, events.ProbeRecord) else None],
                              diagnose=False, warnings=None, preflight=False)
    model.fit(x, y, batch_size=BATCH, epochs=EPOCHS, shuffle=False, callbacks=[monitor, PushBiases()], verbose=0)
    after = numpy_units(model, probe)
    assert after != before  # the pushed biases changed what the last read of the last epoch saw

    steps = [1] + list(range(5, STEPS * EPOCHS + 1, 5))  # the first step, then every 5th
    assert [r.step for r in live] == steps  # every record, live and in order
    for history in (monitor.history, open_run(tmp_path / "run").history):
        assert history.steps == steps
        saturated, dead = history.stat("saturated_fraction"), history.stat("dead_fraction")
        for epoch, expected in ((0, before), (1, after)):
            last = max(i for i, s in enumerate(steps) if s <= STEPS * (epoch + 1))
            np.testing.assert_allclose([saturated[last, 0], dead[last, 1]], expected, atol=1e-9,
                                       err_msg=f"epoch {epoch}'s last record (step {steps[last]})")
    last = live[-1].stats
    np.testing.assert_allclose([last["saturated_fraction"][0], last["dead_fraction"][1]], after, atol=1e-9)


class Tripwire(keras.layers.Layer):
    """Fails the training step once `tripped` is set (by a callback): an error inside the step."""

    def build(self, input_shape):
        self.tripped = self.add_weight(shape=(), initializer="zeros", trainable=False, name="tripped")

    def call(self, x):
        import tensorflow as tf

        tf.debugging.assert_equal(self.tripped, 0.0, message="tripped")
        return x


class Trip(keras.callbacks.Callback):
    def on_train_batch_begin(self, batch, logs=None):
        if batch == STEPS - 1:  # after the read at step 33 took the last record (step 30)
            self.model.get_layer("tripwire").tripped.assign(1.0)


@pytest.mark.skipif(keras.backend.backend() != "tensorflow", reason="the tripwire is a TensorFlow assertion")
def test_a_run_failing_in_the_step_keeps_the_record_held_back(tmp_path):
    import tensorflow as tf

    x = np.random.default_rng(1).normal(size=(STEPS * BATCH, 4)).astype("float32")
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3, activation="tanh"), Tripwire(name="tripwire"),
                              keras.layers.Dense(1)])
    model.compile(optimizer=keras.optimizers.SGD(0.01), loss="mse")
    monitor = GradientMonitor(tmp_path / "run", record_every=5, probe_data=x[:8], sync_every=32, sync_seconds=1e9,
                              diagnose=False, warnings=None, preflight=False)
    with pytest.raises(tf.errors.InvalidArgumentError):
        model.fit(x, x[:, :1], batch_size=BATCH, epochs=1, shuffle=False, callbacks=[monitor, Trip()], verbose=0)
    run = open_run(tmp_path / "run")
    assert run.report["status"] == "failed"
    assert run.history.steps == [1, 5, 10, 15, 20, 25, 30]  # every record of a step that ran
