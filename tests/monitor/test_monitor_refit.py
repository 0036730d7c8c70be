"""Fitting the same compiled model again with a new monitor traces no new step (a plain refit traces none either),
and records its own run."""

import keras
import numpy as np

from vg_studio.monitor import GradientMonitor
from vg_studio.train.probes import step as step_probes


def test_a_refit_with_a_new_monitor_reuses_the_probed_step(tmp_path):
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(32, 4)).astype("float32"), rng.integers(0, 2, 32)
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3, activation="relu"),
                              keras.layers.Dense(2, activation="softmax")])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    first = GradientMonitor(tmp_path / "one", record_every=1, diagnose=False)
    model.fit(x, y, batch_size=8, epochs=1, callbacks=[first], verbose=0)
    probe = step_probes._PROBES[model]
    traced = probe.traces
    assert traced >= 1
    second = GradientMonitor(tmp_path / "two", record_every=2, diagnose=False)
    model.fit(x, y, batch_size=8, epochs=1, callbacks=[second], verbose=0)
    assert step_probes._PROBES[model] is probe and probe.traces == traced  # no new trace
    # the second run counts on from the first: steps 5-8, recorded at its first step and every second one
    assert second.history.steps == [5, 6, 8] and first.history.steps == [1, 2, 3, 4]
    model.fit(x, y, batch_size=8, epochs=1, verbose=0)  # a plain refit in between changes nothing
    third = GradientMonitor(None, record_every=4, diagnose=False)
    model.fit(x, y, batch_size=8, epochs=1, callbacks=[third], verbose=0)
    assert probe.traces == traced and third.history.steps == [13, 16]


def test_a_fresh_model_s_probed_step_is_traced_once_and_trains_as_a_plain_fit(tmp_path):
    """TensorFlow: Keras builds the optimizer and metrics while it first traces the step, and a `tf.function` that
    creates variables is traced a second time; the monitor builds them from the batch's spec first, so its larger
    step is traced once — and the fit is the plain one: same losses, weights and optimizer state."""
    if keras.backend.backend() != "tensorflow":
        return
    rng = np.random.default_rng(1)
    x, y = rng.normal(size=(40, 4)).astype("float32"), rng.integers(0, 2, 40)

    def compiled():
        keras.utils.set_random_seed(3)
        model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3, activation="relu"),
                                  keras.layers.Dense(2, activation="softmax")])
        model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
        return model

    plain, watched = compiled(), compiled()
    expected = plain.fit(x, y, batch_size=16, epochs=2, shuffle=False, verbose=0).history
    monitor = GradientMonitor(tmp_path / "run", record_every=1, diagnose=False)
    got = watched.fit(x, y, batch_size=16, epochs=2, shuffle=False, verbose=0, callbacks=[monitor]).history
    assert step_probes._PROBES[watched].traces == 1
    assert monitor.history.steps == [1, 2, 3, 4, 5, 6]  # the last batch of each epoch (8 rows) too
    np.testing.assert_allclose(got["loss"], expected["loss"], rtol=1e-6)
    np.testing.assert_allclose(got["accuracy"], expected["accuracy"])
    for a, b in zip(watched.get_weights() + [v.numpy() for v in watched.optimizer.variables],
                    plain.get_weights() + [v.numpy() for v in plain.optimizer.variables]):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)
