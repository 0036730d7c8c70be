"""A user's recurrent model gets the gradient per input time step, mean |∂L/∂x_t| at the input of its first
recurrent layer — against tf.GradientTape, where that input is the model's own input and where it is an
embedding's output."""

import keras
import numpy as np
import tensorflow as tf

from vg_studio.monitor import GradientMonitor


def fit(model, x, y):
    model.compile(optimizer=keras.optimizers.SGD(0.1), loss="sparse_categorical_crossentropy")
    initial = model.get_weights()
    monitor = GradientMonitor(None, record_every=1, diagnose=False)
    model.fit(x, y, batch_size=8, epochs=1, shuffle=False, callbacks=[monitor], verbose=0)
    model.set_weights(initial)
    return monitor.history


def test_time_steps_at_the_models_input():
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(16, 7, 3)).astype("float32"), rng.integers(0, 2, 16)
    keras.utils.set_random_seed(3)
    model = keras.Sequential([keras.Input((7, 3)), keras.layers.SimpleRNN(6, return_sequences=True, name="rnn_1"),
                              keras.layers.SimpleRNN(6, name="rnn_2"),
                              keras.layers.Dense(2, activation="softmax", name="head")])
    history = fit(model, x, y)
    assert len(history.time_grad) == history.num_records == 2
    inputs = tf.constant(x[:8])
    with tf.GradientTape() as tape:
        tape.watch(inputs)
        loss = keras.losses.SparseCategoricalCrossentropy()(y[:8], model(inputs, training=True))
    expected = np.abs(tape.gradient(loss, inputs).numpy()).mean(axis=(0, 2))
    np.testing.assert_allclose(history.time_grad[0], expected, rtol=2e-3)


def test_time_steps_after_an_embedding():
    rng = np.random.default_rng(1)
    x, y = rng.integers(0, 20, size=(16, 9)), rng.integers(0, 2, 16)
    keras.utils.set_random_seed(4)
    embedding = keras.layers.Embedding(20, 4, name="embed")
    recurrent = keras.layers.Bidirectional(keras.layers.LSTM(3), name="bilstm")
    head = keras.layers.Dense(2, activation="softmax", name="head")
    tokens = keras.Input((9,), dtype="int32")
    model = keras.Model(tokens, head(recurrent(embedding(tokens))))
    history = fit(model, x, y)
    vectors = embedding(x[:8])
    with tf.GradientTape() as tape:
        tape.watch(vectors)
        loss = keras.losses.SparseCategoricalCrossentropy()(y[:8], head(recurrent(vectors, training=True)))
    expected = np.abs(tape.gradient(loss, vectors).numpy()).mean(axis=(0, 2))
    assert history.time_grad[0].shape == (9,)
    np.testing.assert_allclose(history.time_grad[0], expected, rtol=2e-3)
