"""GradientMonitor's own arguments, driven like an attacker would: every bad value is one ValueError or TypeError
whose one-line message names the argument — at construction, or at on_train_begin for probe data that does not fit
the model, before the model is touched — and every accepted value gives a run its readers accept.
"""

from __future__ import annotations

import io
import logging
import threading

import keras
import numpy as np
import pytest

from vg_studio.monitor import GradientMonitor
from vg_studio.monitor.arguments import MAX_COUNT, check_init_arguments, check_probe_rows
from vg_studio.train.runstore import open_run


class Unprintable:
    def __repr__(self):
        return "\x1b[2J\n[ERROR] forged"

    __str__ = __repr__


BAD = {
    "record_every": [0, -1, 2**31, 10**12, 10**400, "ten", "10", 2.5, 10.0, True, None, [10], np.float32(3),
                     float("nan"), Unprintable()],
    "sync_every": [0, -5, 2**31, "x", 1.5, False, Unprintable()],
    "probe_batch_size": [0, -1, 10**9, "128", 1e3, True, None],
    "run_dir": ["", "   ", "a\0b", b"bytes/path", 5, ["x"], "bad \udcff surrogate", Unprintable()],
    "probe_data": [[], np.array([]), np.zeros((0, 4)), "abc", b"abc", np.array(["a", "b"]), [[1, 2], [3]],
                   np.array([[np.nan, 1, 2, 3]]), np.array([[np.inf, 1, 2, 3]]), 5, {}, {1: np.ones((2, 4))},
                   {"a": np.ones((2, 4)), "b": np.ones((3, 4))}, np.array([1 + 2j]), object(),
                   np.array([np.datetime64("2020-01-01")]), {"x": "text"}, Unprintable()],
    "listeners": [print, "abc", 5, [5], [None], {"a": print}],
    "name": [5, b"x", "\udcff", "x" * 5000, ["n"]],
    "cancel": [True, "yes", 1, threading.Lock()],
    "diagnose": ["yes", 1, None],
    "overwrite": ["no", 0],
    "stop_on_nan": [1.0],
    "save_model": ["True"],
    "preflight": ["no", 0],
    "warnings": ["warning", "print", "", 5, ["warnings"], logging, Unprintable()],
    "on_finding": ["Stop", "stop ", "", 5, ["stop"], b"stop", Unprintable()],
    "tensorboard_dir": ["", "a\0b", b"logs", 5, ["logs"]],
}


def _assert_one_line(exc: BaseException, argument: str) -> None:
    message = str(exc)
    assert message.startswith(f"GradientMonitor: {argument}") and message.isprintable(), message
    assert len(message) < 300


@pytest.mark.parametrize("argument, value", [(a, v) for a, values in BAD.items() for v in values],
                         ids=lambda v: v if isinstance(v, str) and v in BAD else "")
def test_every_bad_argument_is_one_line_naming_it(argument, value, tmp_path):
    kwargs = {"run_dir": tmp_path / "run", argument: value}
    with pytest.raises((ValueError, TypeError)) as info:
        GradientMonitor(**kwargs)
    assert type(info.value) in (ValueError, TypeError)  # not a subclass some library raised on the way
    _assert_one_line(info.value, argument if argument != "probe_data" else "probe_data")
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("argument, value, expected", [
    ("record_every", np.int64(7), 7), ("record_every", MAX_COUNT, MAX_COUNT), ("sync_every", None, None),
    ("probe_batch_size", np.int32(2), 2), ("diagnose", np.bool_(False), False), ("name", "日本 — ü", "日本 — ü"),
    ("warnings", True, "warnings"), ("warnings", False, None), ("warnings", None, None),
    ("warnings", "logging", "logging"), ("on_finding", "stop", "stop"), ("preflight", np.bool_(True), True),
])
def test_accepted_values_come_back_normalised(argument, value, expected):
    values = check_init_arguments(**{argument: value})
    assert values[argument] == expected and type(values[argument]) is type(expected)


def test_a_stream_a_logger_and_a_callable_are_kept_as_given():
    stream, logger = io.StringIO(), logging.getLogger("mine")
    values = check_init_arguments(warnings=stream, on_finding=print)
    assert values["warnings"] is stream and values["on_finding"] is print
    assert check_init_arguments(warnings=logger)["warnings"] is logger


def test_on_finding_needs_the_diagnosis(tmp_path):
    with pytest.raises(ValueError) as info:
        GradientMonitor(tmp_path / "run", diagnose=False, on_finding="stop")
    _assert_one_line(info.value, "on_finding")


def test_probe_rows_are_cut_and_kept_as_given():
    rows = check_probe_rows(np.arange(40, dtype="float64").reshape(10, 4), 3)
    np.testing.assert_array_equal(rows, np.arange(12).reshape(3, 4))
    assert check_probe_rows([[1, 2], [3, 4]]).shape == (2, 2)  # nested lists: one array, not two inputs
    both = check_probe_rows({"a": np.ones((5, 2)), "b": np.zeros((5, 3))}, 2)
    assert {k: v.shape for k, v in both.items()} == {"a": (2, 2), "b": (2, 3)}
    pair = check_probe_rows((np.ones((5, 2)), np.zeros((5, 3))), 4)
    assert isinstance(pair, tuple) and [a.shape for a in pair] == [(4, 2), (4, 3)]


# ---- probe data against the model, at on_train_begin ------------------------------------------------------------
def two_inputs() -> keras.Model:
    left, right = keras.Input((3,), name="left"), keras.Input((2, 2), name="right")
    merged = keras.layers.Concatenate()([left, keras.layers.Flatten()(right)])
    return keras.Model({"left": left, "right": right}, keras.layers.Dense(2, activation="softmax")(merged))


def one_input() -> keras.Model:
    return keras.Sequential([keras.Input((4,)), keras.layers.Dense(3, activation="relu"),
                             keras.layers.Dense(2, activation="softmax")])


class Subclassed(keras.Model):
    def __init__(self):
        super().__init__()
        self.hidden = keras.layers.Dense(3, activation="relu")
        self.out = keras.layers.Dense(2, activation="softmax")

    def call(self, x):
        return self.out(self.hidden(x))


MISFITS = [
    (one_input, np.ones((4, 5)), "has examples of shape (5) but the model's input takes (4)"),
    (one_input, {"wrong": np.ones((4, 4))}, "has the key 'wrong'"),
    (one_input, [np.ones((4, 4)), np.ones((4, 4))], "gives 2 arrays but the model takes 1 input"),
    (two_inputs, {"left": np.ones((4, 3))}, "no examples for 'right'"),
    (two_inputs, {"left": np.ones((4, 3)), "rihgt": np.ones((4, 4))}, "unknown key(s) 'rihgt'"),
    (two_inputs, np.ones((4, 3)), "is one array but the model takes 2 inputs"),
    (two_inputs, {"left": np.ones((4, 3)), "right": np.ones((4, 5))}, "for input 'right': has examples of shape (5)"),
    (Subclassed, np.ones((4, 7)), "cannot be given to the model"),
]


def _data(make):
    x = {"left": np.ones((8, 3), "float32"), "right": np.ones((8, 2, 2), "float32")} if make is two_inputs else \
        np.ones((8, 4), "float32")
    return x, np.zeros(8, "int32")


@pytest.mark.parametrize("make, probe, needle", MISFITS, ids=[m[2][:30] for m in MISFITS])
def test_probe_data_that_does_not_fit_the_model_stops_fit_before_the_model_is_touched(make, probe, needle, tmp_path):
    model = make()
    model.compile("adam", "sparse_categorical_crossentropy")
    x, y = _data(make)
    model.predict(x, verbose=0)  # built (a subclassed model's inputs are known only once called)
    before = [w.copy() for w in model.get_weights()]
    optimizer = type(model.optimizer)
    with pytest.raises(ValueError) as info:
        model.fit(x, y, epochs=1, verbose=0, callbacks=[GradientMonitor(tmp_path / "run", probe_data=probe)])
    _assert_one_line(info.value, "probe_data")
    assert needle in str(info.value), str(info.value)
    assert type(model.optimizer) is optimizer and not (tmp_path / "run").exists()
    for a, b in zip(before, model.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_the_largest_accepted_values_give_a_run_its_readers_accept(tmp_path):
    """record_every and sync_every at their limits, a name in any script, a reshaped probe batch: what the monitor
    writes, open_run reads back (the ranges are the readers')."""
    model = one_input()
    model.compile("adam", "sparse_categorical_crossentropy")
    x, y = _data(one_input)
    monitor = GradientMonitor(tmp_path / "run", record_every=MAX_COUNT, sync_every=MAX_COUNT,
                             probe_data=x.reshape(8, 2, 2), probe_batch_size=MAX_COUNT // MAX_COUNT * 3,
                             name="名前 — ü", diagnose=False)
    model.fit(x, y, epochs=2, batch_size=4, verbose=0, callbacks=[monitor])
    run = open_run(tmp_path / "run")
    assert run.history.record_every == MAX_COUNT and run.report["record_every"] == MAX_COUNT
    assert run.report["name"] == "名前 — ü" and run.status == "completed"
    assert run.history.steps == [1]  # the first step is always recorded; the next would be 2³¹ steps later
    assert run.history.num_epochs == 2


def test_a_classifier_with_more_classes_than_a_dataset_may_have_is_still_readable(tmp_path):
    """The `classes` limit bounds the labels of a dataset VG Studio loads; a user's model may have a wider output
    (a 150,000-token vocabulary). The monitor writes its width as num_classes, and the readers take it."""
    classes = 150_000
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(classes, activation="softmax")])
    model.compile("sgd", "sparse_categorical_crossentropy")
    x, y = np.ones((4, 2), "float32"), np.arange(4) * 30_000
    model.fit(x, y, epochs=1, batch_size=4, verbose=0, callbacks=[GradientMonitor(tmp_path / "run", diagnose=False)])
    run = open_run(tmp_path / "run")
    assert run.history.attrs["num_classes"] == classes and run.status == "completed"


def test_a_dataset_as_probe_data_gives_its_first_batch_inputs_and_a_generator_is_refused(tmp_path):
    """tf.data of (x, y) and a PyDataset give the inputs of their first batch: the dead fraction of a ReLU layer is
    NumPy's on those rows; a generator (which the probe would drain) is refused in one line naming probe_data."""
    import tensorflow as tf

    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(24, 4)).astype("float32"), rng.integers(0, 2, 24)
    x[:, 0] = np.abs(x[:, 0]) * np.where(np.arange(24) < 8, 1, -1)  # the first batch alone kills the second unit

    class Batches(keras.utils.PyDataset):
        def __len__(self):
            return 3

        def __getitem__(self, i):
            return x[i * 8:(i + 1) * 8], y[i * 8:(i + 1) * 8]

    for probe in (tf.data.Dataset.from_tensor_slices((x, y)).batch(8), Batches()):
        keras.utils.set_random_seed(0)
        kernel = keras.initializers.Constant(np.array([[1, -1]] + [[0, 0]] * 3, "float32"))
        model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2, activation="relu", name="hidden",
                                                                         kernel_initializer=kernel),
                                  keras.layers.Dense(2, activation="softmax")])
        model.compile(keras.optimizers.SGD(0.0), "sparse_categorical_crossentropy")  # weights stay as they are
        monitor = GradientMonitor(None, probe_data=probe, diagnose=False)
        model.fit(x, y, batch_size=8, epochs=1, verbose=0, callbacks=[monitor])
        kernel, bias = model.get_layer("hidden").get_weights()
        expected = np.all(np.maximum(x[:8] @ kernel + bias, 0) == 0, axis=0).mean()
        assert expected == 0.5
        np.testing.assert_allclose(monitor.history.stat("dead_fraction")[-1, 0], expected)
        np.testing.assert_array_equal(monitor.probe_targets, y[:8])  # the batch's targets come with its inputs
    with pytest.raises(TypeError) as info:
        GradientMonitor(tmp_path / "run", probe_data=(x[i:i + 8] for i in range(0, 24, 8)))
    _assert_one_line(info.value, "probe_data")
    assert "generator" in str(info.value) and not (tmp_path / "run").exists()


@pytest.mark.parametrize("targets, data, needle", [
    (np.zeros(8), None, "needs probe_data"),
    (np.zeros(4), np.ones((8, 3)), "gives 4 examples but probe_data gives 8"),
    (np.array(["a"] * 8), np.ones((8, 3)), "numbers"),
    (np.full(8, np.nan), np.ones((8, 3)), "NaN"),
    ({"a": np.zeros(8), "b": np.zeros(9)}, np.ones((8, 3)), "different numbers of examples"),
    (5, np.ones((8, 3)), "single number"),
])
def test_bad_probe_targets_are_one_line_naming_them(targets, data, needle, tmp_path):
    with pytest.raises((ValueError, TypeError)) as info:
        GradientMonitor(tmp_path / "run", probe_data=data, probe_targets=targets)
    _assert_one_line(info.value, "probe_targets")
    assert needle in str(info.value) and not (tmp_path / "run").exists()


def test_probe_targets_are_cut_to_the_probe_rows():
    values = check_init_arguments(probe_data=np.ones((300, 3)), probe_targets=np.arange(500), probe_batch_size=128)
    np.testing.assert_array_equal(values["probe_targets"], np.arange(128))
    assert values["probe_data"].shape == (128, 3)


def test_probe_data_as_a_one_element_list_for_a_one_input_model_is_that_array(recwarn):
    """[x] for a model of one input: the unit statistics are NumPy's on x, and Keras is not handed a list where it
    expects one tensor (it warns about the structure then)."""
    rng = np.random.default_rng(1)
    x, y = rng.normal(size=(16, 4)).astype("float32"), rng.integers(0, 2, 16)
    kernel = keras.initializers.Constant(np.array([[1, -1]] + [[0, 0]] * 3, "float32"))
    x[:, 0] = np.abs(x[:, 0])
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2, activation="relu", name="hidden",
                                                                     kernel_initializer=kernel),
                              keras.layers.Dense(2, activation="softmax")])
    model.compile(keras.optimizers.SGD(0.0), "sparse_categorical_crossentropy")
    monitor = GradientMonitor(None, probe_data=[x[:8]], diagnose=False)
    model.fit(x, y, batch_size=8, epochs=1, verbose=0, callbacks=[monitor])
    kernel_values, bias = model.get_layer("hidden").get_weights()
    expected = np.all(np.maximum(x[:8] @ kernel_values + bias, 0) == 0, axis=0).mean()
    assert expected == 0.5 and monitor.history.stat("dead_fraction")[-1, 0] == expected
    structure = [w for w in recwarn if "Expected" in str(w.message) and "Received" in str(w.message)]
    assert not structure, [str(w.message) for w in structure]
