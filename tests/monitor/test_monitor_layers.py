"""Which weights make a column: inner layers of nested models and custom blocks are columns of their own (named by
their path, grouped by the outer layer), float8 layers count only the weights the optimizer updates from
gradients, and a subclassed model that builds at its first batch is recorded too — each against
tf.GradientTape."""

import json

import keras
import numpy as np

from tests.monitor.helpers import assert_record, tape_sgd
from vg_studio.monitor import GradientMonitor


def batches(n=24, shape=(6,), classes=3, seed=0):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, *shape)).astype("float32"), rng.integers(0, classes, n)


class Block(keras.layers.Layer):
    """A block of the user's own: two Dense layers and a scale of its own."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.first = keras.layers.Dense(5, activation="tanh", name="first")
        self.second = keras.layers.Dense(5, activation="sigmoid", name="second")

    def build(self, input_shape):
        self.gain = self.add_weight(shape=(5,), initializer="ones", name="gain")

    def call(self, x):
        return self.second(self.first(x)) * self.gain


def fit(model, x, y, lr=0.2, **options):
    model.compile(optimizer=keras.optimizers.SGD(lr), loss="sparse_categorical_crossentropy")
    model(x[:2])
    initial = model.get_weights()
    monitor = GradientMonitor(None, record_every=1, diagnose=False, probe_data=x, **options)
    model.fit(x, y, batch_size=12, epochs=1, shuffle=False, callbacks=[monitor], verbose=0)
    return monitor, initial


def test_nested_models_and_blocks_are_expanded_into_their_layers():
    x, y = batches()
    keras.utils.set_random_seed(1)
    trunk = keras.Sequential([keras.layers.Dense(5, activation="relu", name="inner_a"),
                              keras.layers.Dense(5, activation="relu", name="inner_b")], name="trunk")
    inputs = keras.Input((6,))
    hidden = Block(name="block")(trunk(keras.layers.Dense(6, name="stem")(inputs)))
    model = keras.Model(inputs, keras.layers.Dense(3, activation="softmax", name="head")(hidden))
    monitor, initial = fit(model, x, y)
    history = monitor.history
    assert history.layer_names == ["stem", "trunk/inner_a", "trunk/inner_b", "block/first", "block/second",
                                   "block", "head"]
    assert history.layer_groups == ["stem", "trunk", "trunk", "block", "block", "block", "head"]
    assert history.activations[1:5] == ["relu", "relu", "tanh", "sigmoid"]
    block = model.get_layer("block")
    columns = {"stem": model.get_layer("stem").trainable_variables,
               "trunk/inner_a": trunk.get_layer("inner_a").trainable_variables,
               "trunk/inner_b": trunk.get_layer("inner_b").trainable_variables,
               "block/first": block.first.trainable_variables, "block/second": block.second.trainable_variables,
               "block": [block.gain], "head": model.get_layer("head").trainable_variables}
    expected = tape_sgd(model, initial, keras.losses.SparseCategoricalCrossentropy(),
                        [(x[:12], y[:12]), (x[12:], y[12:])], 0.2, columns)
    for step, rows in enumerate(expected):
        assert_record(history, step, rows)
    # the dead/saturated fractions of an inner layer, on the probe batch (eager pass through the nested model)
    saturated = history.stat("saturated_fraction")
    assert np.isfinite(saturated[-1, 4]) and np.isnan(saturated[-1, 5])


def test_an_attention_layers_per_head_biases_are_not_counted_as_its_kernels():
    """A MultiHeadAttention layer's query/key/value biases are (heads, size) arrays: two dimensions, yet biases.
    kernel_grad_mean_abs takes its kernels only (against tf.GradientTape), grad_mean_abs all of its weights."""
    x, y = batches(shape=(4, 6))
    keras.utils.set_random_seed(2)
    inputs = keras.Input((4, 6))
    attended = keras.layers.MultiHeadAttention(num_heads=2, key_dim=3, name="attention")(inputs, inputs)
    model = keras.Model(inputs, keras.layers.Dense(3, activation="softmax", name="head")(
        keras.layers.Flatten()(attended)))
    monitor, initial = fit(model, x, y)
    history = monitor.history
    assert history.layer_names == ["attention", "head"]
    attention = model.get_layer("attention")
    assert any(len(v.shape) == 2 and v.name == "bias" for v in attention.trainable_variables)
    columns = {"attention": attention.trainable_variables, "head": model.get_layer("head").trainable_variables}
    expected = tape_sgd(model, initial, keras.losses.SparseCategoricalCrossentropy(),
                        [(x[:12], y[:12]), (x[12:], y[12:])], 0.2, columns)
    for step, rows in enumerate(expected):
        assert_record(history, step, rows)
    kernels = history.stat("kernel_grad_mean_abs")[:, 0]
    assert np.all(np.abs(kernels - history.stat("grad_mean_abs")[:, 0]) > 1e-3 * kernels)  # biases left out


def test_today_grouping_is_an_option(tmp_path):
    x, y = batches()
    keras.utils.set_random_seed(1)
    inputs = keras.Input((6,))
    model = keras.Model(inputs, keras.layers.Dense(3, activation="softmax", name="head")(Block(name="block")(inputs)))
    model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
    monitor = GradientMonitor(tmp_path / "run", record_every=1, expand_nested=False)
    model.fit(x, y, batch_size=12, epochs=1, callbacks=[monitor], verbose=0)
    assert monitor.history.layer_names == ["block", "head"] and monitor.history.layer_groups == ["block", "head"]
    layers = json.loads((tmp_path / "run" / "model.json").read_text())["layers"]
    assert [row["group"] for row in layers] == ["block", "head"]


def test_float8_layers_count_only_the_weights_trained_from_gradients():
    x, y = batches()
    keras.utils.set_random_seed(3)
    model = keras.Sequential([keras.Input((6,)), keras.layers.Dense(8, activation="relu", name="q"),
                              keras.layers.Dense(3, activation="softmax", name="head")])
    model.get_layer("q").quantize("float8")  # adds scale and amax-history variables the optimizer overwrites
    assert len(model.get_layer("q").trainable_variables) > 2
    monitor, initial = fit(model, x, y)
    columns = {"q": [model.get_layer("q").kernel, model.get_layer("q").bias],
               "head": model.get_layer("head").trainable_variables}
    expected = tape_sgd(model, initial, keras.losses.SparseCategoricalCrossentropy(), [(x[:12], y[:12])], 0.2,
                        columns)
    assert_record(monitor.history, 0, expected[0], rtol=1e-2)


class BuiltByItsFirstBatch(keras.Model):
    """Its weights exist only once it has seen a batch (Keras does not build it before training starts)."""

    def __init__(self):
        super().__init__(name="lazy")
        seeded = keras.initializers.GlorotUniform
        self.hidden = keras.layers.Dense(5, activation="tanh", name="hidden", kernel_initializer=seeded(seed=1))
        self.head = keras.layers.Dense(3, activation="softmax", name="head", kernel_initializer=seeded(seed=2))

    def call(self, x):
        return self.head(self.hidden(x))


def test_a_subclassed_model_built_by_its_first_batch():
    x, y = batches()
    model = BuiltByItsFirstBatch()
    model.compile(optimizer=keras.optimizers.SGD(0.2), loss="sparse_categorical_crossentropy")
    seen = []
    monitor = GradientMonitor(None, record_every=1, diagnose=False, listeners=[seen.append])
    model.fit(x, y, batch_size=12, epochs=1, shuffle=False, callbacks=[monitor], verbose=0)
    history = monitor.history
    assert monitor.status == "completed" and history.layer_names == ["hidden", "head"] and history.steps == [1, 2]
    assert type(seen[0]).__name__ == "RunStarted" and seen[0].layer_names == ["hidden", "head"]
    twin = BuiltByItsFirstBatch()  # the same seeded initial weights
    twin(x[:2])
    columns = {"hidden": twin.hidden.trainable_variables, "head": twin.head.trainable_variables}
    expected = tape_sgd(twin, twin.get_weights(), keras.losses.SparseCategoricalCrossentropy(),
                        [(x[:12], y[:12]), (x[12:], y[12:])], 0.2, columns)
    for step, rows in enumerate(expected):
        assert_record(history, step, rows)
