"""XLA: with `jit_compile=True` on TensorFlow the probed step compiles (the histograms count with a static number
of bins) and records what plain tf.GradientTape steps give — on record steps and through the `cond` that skips the
steps between them. JAX compiles every step anyway: tests/monitor/test_monitor_jax.py."""

import keras
import numpy as np
import pytest

from tests.monitor.helpers import assert_record, tape_sgd
from vg_studio.monitor import GradientMonitor


@pytest.mark.parametrize("jit", [True, False], ids=["xla", "no-xla"])
def test_probed_step_compiles_under_xla_and_matches_gradient_tape(jit):
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(48, 6, 6, 1)).astype("float32"), rng.integers(0, 5, 48)
    keras.utils.set_random_seed(4)
    model = keras.Sequential([keras.Input((6, 6, 1)), keras.layers.Conv2D(3, 3, activation="tanh", name="conv"),
                              keras.layers.Flatten(), keras.layers.Dense(5, activation="softmax", name="head")])
    model.compile(optimizer=keras.optimizers.SGD(0.3), loss="sparse_categorical_crossentropy", jit_compile=jit)
    initial = model.get_weights()
    monitor = GradientMonitor(None, record_every=2, diagnose=False)
    model.fit(x, y, batch_size=16, epochs=1, shuffle=False, callbacks=[monitor], verbose=0)
    history = monitor.history
    assert monitor.status == "completed" and history.steps == [1, 2]  # step 3 skipped by the cond
    columns = {name: model.get_layer(name).trainable_variables for name in history.layer_names}
    expected = tape_sgd(model, initial, keras.losses.SparseCategoricalCrossentropy(),
                        [(x[i:i + 16], y[i:i + 16]) for i in (0, 16)], 0.3, columns)
    for step, rows in enumerate(expected):
        assert_record(history, step, rows, what=f"jit_compile={jit}: ")
    assert type(model.optimizer) is keras.optimizers.SGD and "apply" not in vars(model.optimizer)
