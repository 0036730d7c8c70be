"""Gradient accumulation: records are taken at the steps where the optimizer applies the accumulated gradient,
labelled with strictly increasing steps, and describe that averaged gradient and its update (tf.GradientTape over
the micro-batches)."""

import keras
import numpy as np
import tensorflow as tf

from tests.monitor.helpers import assert_record, column_reference
from vg_studio.monitor import GradientMonitor


def test_records_are_the_updates_the_optimizer_applies():
    rng = np.random.default_rng(3)
    x, y = rng.normal(size=(36, 4)).astype("float32"), rng.normal(size=(36, 2)).astype("float32")
    keras.utils.set_random_seed(6)
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3, activation="tanh", name="hidden"),
                              keras.layers.Dense(2, name="out")])
    model.compile(optimizer=keras.optimizers.SGD(0.2, gradient_accumulation_steps=3), loss="mse")
    initial = model.get_weights()
    monitor = GradientMonitor(None, record_every=4, diagnose=False)
    model.fit(x, y, batch_size=4, epochs=1, shuffle=False, callbacks=[monitor], verbose=0)
    history = monitor.history
    # due at steps 1, 4 and 8; applied at the updates of steps 3, 6 and 9
    assert history.steps == [3, 6, 9]
    model.set_weights(initial)
    variables = model.trainable_variables
    columns = {"hidden": [id(v) for v in model.get_layer("hidden").trainable_variables],
               "out": [id(v) for v in model.get_layer("out").trainable_variables]}
    for update in range(3):
        grads = {id(v): 0.0 for v in variables}
        for micro in range(3):
            start = (3 * update + micro) * 4
            with tf.GradientTape() as tape:
                loss = keras.losses.MeanSquaredError()(y[start:start + 4], model(x[start:start + 4], training=True))
            for v, g in zip(variables, tape.gradient(loss, variables)):
                grads[id(v)] = grads[id(v)] + g.numpy() / 3
        before = {id(v): v.numpy().copy() for v in variables}
        for v in variables:
            v.assign(v - 0.2 * grads[id(v)])
        after = {id(v): v.numpy().copy() for v in variables}
        # (an averaged entry right at a bin edge may fall either side: one of the 15 entries of a column)
        assert_record(history, update, column_reference(columns, grads, before, after), hist_atol=0.07)
