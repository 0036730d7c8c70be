"""Warnings where the user looks: each new warning-or-worse finding is said once while `fit` runs (Python warnings by
default, a stream, logging, or nothing), `on_finding="stop"` ends training at the first one, and the pre-flight
check says a poor initialisation before the first step. Whether each network really vanishes, is healthy or starts
with a collapsing signal is measured here independently (tf.GradientTape, NumPy), not taken from the diagnosis."""

import io
import warnings

import keras
import numpy as np
import pytest

from vg_studio.diagnose.live import DiagnosisWarning
from vg_studio.monitor import GradientMonitor
from vg_studio.spec import DiagnosticsSpec

RNG = np.random.default_rng(0)
X = RNG.normal(size=(256, 16)).astype("float32")
Y = (X[:, 0] > 0).astype("int32")


def network(activation: str, depth: int, initializer="glorot_uniform", optimizer=None) -> keras.Model:
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((16,))]
                             + [keras.layers.Dense(8, activation=activation, kernel_initializer=initializer)
                                for _ in range(depth)]
                             + [keras.layers.Dense(2, activation="softmax")])
    model.compile(optimizer or keras.optimizers.SGD(0.05), "sparse_categorical_crossentropy")
    return model


def first_over_last(model) -> float:
    """mean |∂L/∂W| of the first kernel over that of the last, at the initial weights (tf.GradientTape)."""
    import tensorflow as tf

    with tf.GradientTape() as tape:
        probabilities = model(X[:32], training=True)
        loss = -tf.reduce_mean(tf.math.log(tf.gather(probabilities, Y[:32], batch_dims=1)))
    grads = tape.gradient(loss, [layer.kernel for layer in model.layers])
    return float(np.abs(grads[0]).mean() / np.abs(grads[-1]).mean())


class EpochWatch(keras.callbacks.Callback):
    """How many diagnosis warnings had been said when each epoch ended (inside fit)."""

    def __init__(self, caught: list):
        super().__init__()
        self.caught, self.seen = caught, []

    def on_epoch_end(self, epoch, logs=None):
        self.seen.append(sum(issubclass(w.category, DiagnosisWarning) for w in self.caught))


def test_a_vanishing_gradient_is_said_once_while_fit_runs():
    model = network("sigmoid", 6)
    assert first_over_last(model) < 1e-3  # the gradient really vanishes on its way back
    with pytest.warns(DiagnosisWarning, match=r"vanishing gradient in dense") as caught:
        warnings.simplefilter("always")  # said once by the monitor itself, not by Python's once-per-place filter
        watch = EpochWatch(caught.list)
        model.fit(X, Y, epochs=2, batch_size=32, verbose=0,
                  callbacks=[GradientMonitor(None, record_every=1, probe_data=X[:64]), watch])
    said = [str(w.message) for w in caught.list if issubclass(w.category, DiagnosisWarning)]
    assert watch.seen[0] >= 1  # said during the first epoch, not afterwards
    # shown at the line of the user's code that called fit (here: this test), not inside vg_studio or Keras
    assert {w.filename for w in caught.list if issubclass(w.category, DiagnosisWarning)} == {__file__}
    assert sum("vanishing gradient" in line for line in said) == 1 and all("\n" not in line for line in said)


def test_on_finding_stop_ends_fit_at_the_first_warning_and_says_so():
    model = network("sigmoid", 6)
    stream = io.StringIO()
    monitor = GradientMonitor(None, record_every=1, warnings=stream, on_finding="stop")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fitted = model.fit(X, Y, epochs=4, batch_size=32, verbose=0, callbacks=[monitor])
    assert not [w for w in caught if issubclass(w.category, DiagnosisWarning)]  # said on the stream only
    steps_per_epoch = len(X) // 32
    assert len(fitted.history.get("loss", [])) < 4 and monitor.step < 4 * steps_per_epoch
    assert stream.getvalue().startswith("vg-studio: [WARNING] vanishing gradient in dense")
    assert monitor.status == "cancelled" and "on_finding='stop'" in monitor.report_data["message"]
    assert "vanishing gradient" in monitor.report_data["message"]


def test_a_healthy_network_says_nothing():
    model = network("relu", 2, "he_normal", keras.optimizers.Adam(0.01))
    assert 0.1 < first_over_last(model) < 10  # gradients of one size at every depth
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model.fit(X, Y, epochs=3, batch_size=32, verbose=0,
                  callbacks=[GradientMonitor(None, record_every=1, probe_data=X[:64])])
    assert not [str(w.message) for w in caught if issubclass(w.category, DiagnosisWarning)]


def test_quiet_on_request_and_a_callable_gets_each_new_finding():
    model = network("sigmoid", 6)
    got = []
    monitor = GradientMonitor(None, record_every=1, warnings=None, on_finding=got.append)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model.fit(X, Y, epochs=1, batch_size=32, verbose=0, callbacks=[monitor])
    assert not [w for w in caught if issubclass(w.category, DiagnosisWarning)]
    assert [f.kind for f in got] == ["vanishing_gradient"] and monitor.status == "completed"


def tanh_forward_scales(model, x) -> list:
    """NumPy: the spread across the batch of the input reaching each Dense layer (RMS over units of the per-unit
    standard deviation), the layers run by hand from their weights."""
    scales, h = [], x.astype(np.float64)
    for layer in model.layers:
        scales.append(float(np.sqrt(np.mean(np.var(h, axis=0)))))
        kernel, bias = (np.asarray(w, dtype=np.float64) for w in layer.get_weights())
        z = h @ kernel + bias
        h = np.tanh(z) if layer.get_config()["activation"] == "tanh" else z
    return scales


def test_a_poor_initialisation_is_said_before_the_first_step():
    model = network("tanh", 4, keras.initializers.RandomNormal(stddev=0.001))
    scales = tanh_forward_scales(model, X[:64])
    change = scales[-1] / scales[0]
    assert change < 1 / DiagnosticsSpec().init_scale_total  # the signal really collapses before training
    said = []
    monitor = GradientMonitor(None, record_every=4, probe_data=X[:64], warnings=None,
                              on_finding=lambda finding: said.append((finding, monitor.step)))
    model.fit(X, Y, epochs=1, batch_size=32, verbose=0, callbacks=[monitor])
    first, at_step = said[0]
    assert first.kind == "poor_initialization" and first.step == 0 and at_step == 0  # before any step ran
    assert first.evidence["signal_change"] == pytest.approx(change, rel=1e-3)
    assert sum(f.kind == "poor_initialization" for f, _ in said) == 1


class Stack(keras.Model):
    """The same network as a keras.Model subclass (no layer graph: the check watches its layers' calls)."""

    def __init__(self, reference):
        super().__init__()
        self.stack = [keras.layers.Dense(layer.units, activation=layer.get_config()["activation"])
                      for layer in reference.layers]

    def call(self, x):
        for layer in self.stack:
            x = layer(x)
        return x


def test_a_subclassed_models_poor_initialisation_is_said_before_the_first_step():
    reference = network("tanh", 4, keras.initializers.RandomNormal(stddev=0.001))
    model = Stack(reference)
    model(X[:1])
    for mine, theirs in zip(model.stack, reference.layers):
        mine.set_weights(theirs.get_weights())
    model.compile(keras.optimizers.SGD(0.05), "sparse_categorical_crossentropy")
    change = (lambda s: s[-1] / s[0])(tanh_forward_scales(reference, X[:64]))
    said = []
    monitor = GradientMonitor(None, record_every=4, probe_data=X[:64], warnings=None,
                              on_finding=lambda finding: said.append((finding, monitor.step)))
    model.fit(X, Y, epochs=1, batch_size=32, verbose=0, callbacks=[monitor])
    first, at_step = said[0]
    assert first.kind == "poor_initialization" and first.step == 0 and at_step == 0
    assert first.evidence["signal_change"] == pytest.approx(change, rel=1e-3)


def test_without_probe_data_there_is_no_preflight():
    model = network("tanh", 4, keras.initializers.RandomNormal(stddev=0.001))
    said = []
    monitor = GradientMonitor(None, record_every=4, warnings=None,
                              on_finding=lambda finding: said.append(monitor.step))
    model.fit(X, Y, epochs=1, batch_size=32, verbose=0, callbacks=[monitor])
    assert all(step >= 1 for step in said)  # whatever is found comes from the records of training steps
