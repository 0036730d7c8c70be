"""GradientMonitor on users' own Keras models: probe values against an independent tf.GradientTape computation
(functional Conv2D + BatchNorm + Dense, subclassed, nested), every built-in optimizer, the run directory it
writes, and `vg-studio train --model`."""

import json
import threading

import keras
import numpy as np
import pytest
import tensorflow as tf

from vg_studio.data import load_dataset
from vg_studio.monitor import GradientMonitor
from vg_studio.train.probes import HIST_EDGES
from vg_studio.train.runstore import open_run


@pytest.fixture(scope="module")
def digits():
    data = load_dataset("digits")
    return data.x_train[:96], data.y_train[:96]


def conv_bn_dense():
    inputs = keras.Input((8, 8, 1))
    x = keras.layers.Conv2D(4, 3, activation="relu", name="conv")(inputs)
    x = keras.layers.BatchNormalization(name="bn")(x)
    x = keras.layers.Flatten(name="flat")(x)
    return keras.Model(inputs, keras.layers.Dense(10, activation="softmax", name="head")(x))


class Block(keras.layers.Layer):
    """A custom layer made of two Dense layers: one column, named by the block."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.first = keras.layers.Dense(12, activation="tanh")
        self.second = keras.layers.Dense(12, activation="sigmoid")

    def call(self, x):
        return self.second(self.first(x))


class Subclassed(keras.Model):
    def __init__(self):
        super().__init__(name="subclassed")
        self.flat = keras.layers.Flatten()
        self.head = keras.layers.Dense(10, activation="softmax", name="head")
        self.block = Block(name="block")  # defined after the head: the columns follow the call order

    def call(self, x):
        return self.head(self.block(self.flat(x)))


def nested():
    inner = keras.Sequential([keras.layers.Dense(12, activation="relu", name="inner_a"),
                              keras.layers.Dense(12, activation="relu", name="inner_b")], name="trunk")
    inputs = keras.Input((8, 8, 1))
    x = keras.layers.Flatten()(inputs)
    x = keras.layers.Dense(16, name="stem")(x)
    x = keras.layers.Activation("sigmoid", name="stem_act")(x)
    return keras.Model(inputs, keras.layers.Dense(10, activation="softmax", name="head")(inner(x)))


def tape_reference(model, initial, x, y, lr, batch, steps, names):
    """Per column and step: what the probes should say, from plain GradientTape steps of SGD on a copy."""
    model.set_weights(initial)
    loss_fn = keras.losses.SparseCategoricalCrossentropy()
    expected = []
    for step in range(steps):
        xb, yb = x[step * batch:(step + 1) * batch], y[step * batch:(step + 1) * batch]
        with tf.GradientTape() as tape:
            loss = loss_fn(yb, model(xb, training=True))
        variables = model.trainable_variables
        grads = {id(v): g.numpy() for v, g in zip(variables, tape.gradient(loss, variables))}
        rows = {"grad_mean_abs": [], "grad_norm": [], "weight_norm": [], "update_mean_abs": [], "update_ratio": [],
                "grad_log10_hist": []}
        for name in names:
            own = model.get_layer(name).trainable_variables
            g = np.concatenate([grads[id(v)].ravel() for v in own])
            w = np.concatenate([(v.numpy() - lr * grads[id(v)]).ravel() for v in own])
            rows["grad_mean_abs"].append(np.abs(g).mean())
            rows["grad_norm"].append(np.linalg.norm(g))
            rows["weight_norm"].append(np.linalg.norm(w))
            rows["update_mean_abs"].append(lr * np.abs(g).mean())
            rows["update_ratio"].append(lr * np.linalg.norm(g) / np.linalg.norm(w))
            bins = np.clip(np.floor((np.log10(np.maximum(np.abs(g), 1e-30)) - HIST_EDGES[0]) * 2), 0, 27)
            rows["grad_log10_hist"].append(np.bincount(bins.astype(int), minlength=28) / g.size)
        for v in variables:
            v.assign(v - lr * grads[id(v)])
        expected.append(rows)
    return expected


def monitored_fit(model, x, y, run_dir, lr=0.2, batch=48, **kwargs):
    model.compile(optimizer=keras.optimizers.SGD(lr), loss="sparse_categorical_crossentropy")
    model(x[:2])  # built, so its initial weights can be copied
    initial = model.get_weights()
    monitor = GradientMonitor(run_dir, record_every=1, probe_data=x, **kwargs)
    model.fit(x, y, batch_size=batch, epochs=1, shuffle=False, callbacks=[monitor], verbose=0)
    return monitor, initial


def check_against_tape(monitor, model, initial, x, y, lr=0.2, batch=48):
    history = monitor.history
    steps = len(x) // batch
    assert history.steps == list(range(1, steps + 1))
    expected = tape_reference(model, initial, x, y, lr, batch, steps, history.layer_names)
    for step, rows in enumerate(expected):
        for stat, values in rows.items():
            got = history.stat(stat)[step]
            if stat == "grad_log10_hist":  # an entry right at a bin edge may land in the next bin: compare the
                # cumulative distributions, one entry of the smallest column (40 entries) apart at most
                np.testing.assert_allclose(got.sum(axis=1), 1.0, rtol=1e-5)
                np.testing.assert_allclose(np.cumsum(got, axis=1), np.cumsum(values, axis=1), atol=0.026,
                                           err_msg=f"{stat} at step {step + 1}")
            else:
                np.testing.assert_allclose(got, values, rtol=3e-3, err_msg=f"{stat} at step {step + 1}")


def test_functional_conv_batchnorm_dense_matches_gradient_tape(digits, tmp_path):
    x, y = digits
    model = conv_bn_dense()
    monitor, initial = monitored_fit(model, x, y, tmp_path / "run")
    history = monitor.history
    assert history.layer_names == ["conv", "bn", "head"]  # one column per layer with weights, input → output
    assert history.layer_kinds == ["conv2d", "batch_normalization", "dense"]
    assert history.layer_units == [4, 4, 10]
    assert history.activations == ["relu", "", "softmax"]
    check_against_tape(monitor, model, initial, x, y)
    # the conv's ReLU outputs: dead channels counted on the probe batch, where measured; BN's: never faked
    dead = history.stat("dead_fraction")
    assert np.isfinite(dead[:, 0]).any() and np.isnan(dead[:, 1]).all()
    relu = np.asarray(keras.Model(model.input, model.get_layer("conv").output)(x))
    assert dead[np.isfinite(dead[:, 0]), 0][-1] == pytest.approx(np.mean(np.all(relu.reshape(-1, 4) <= 0, axis=0)))


def test_subclassed_model_columns_follow_the_call_order_and_match_gradient_tape(digits, tmp_path):
    x, y = digits
    model = Subclassed()
    monitor, initial = monitored_fit(model, x, y, tmp_path / "run", expand_nested=False)
    assert monitor.history.layer_names == ["block", "head"]
    assert monitor.history.layer_kinds == ["block", "dense"]
    check_against_tape(monitor, model, initial, x, y)


def test_nested_model_is_one_column_under_its_own_name_when_not_expanded(digits, tmp_path):
    x, y = digits
    model = nested()
    monitor, initial = monitored_fit(model, x, y, tmp_path / "run", expand_nested=False)
    history = monitor.history
    assert history.layer_names == ["stem", "trunk", "head"]
    assert history.activations[:2] == ["sigmoid", "relu"]  # a following Activation layer; the block's own
    check_against_tape(monitor, model, initial, x, y)
    saturated = history.stat("saturated_fraction")
    assert np.isfinite(saturated[:, 0]).any() and np.isnan(saturated[:, 1]).all()


def test_run_directory_is_a_run_the_diagnosis_and_the_app_read(digits, tmp_path):
    from vg_studio.diagnose.engine import diagnose_run

    x, y = digits
    seen = []
    model = conv_bn_dense()
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    prefixes = []

    def read_while_written(event):  # another reader of the directory sees a consistent prefix at every epoch
        seen.append(event)
        if type(event).__name__ == "EpochEnd":
            run = open_run(tmp_path / "run")
            prefixes.append((run.history.num_epochs, run.history.num_records, run.status))

    monitor = GradientMonitor(tmp_path / "run", record_every=2, listeners=[read_while_written])
    model.fit(x, y, batch_size=16, epochs=3, callbacks=[monitor], verbose=0)
    assert [p[0] for p in prefixes] == [1, 2, 3] and all(p[2] == "running" for p in prefixes)
    assert prefixes[0][1] <= prefixes[1][1] <= prefixes[2][1]
    names = sorted(p.name for p in (tmp_path / "run").iterdir() if not p.name.startswith("."))
    assert names == ["history.h5", "model.json", "report.json"]
    run = open_run(tmp_path / "run")
    assert run.spec is None and run.status == "completed" and run.history.num_epochs == 3
    summary = json.loads((tmp_path / "run" / "model.json").read_text())
    assert [row["name"] for row in summary["layers"]] == ["conv", "bn", "head"]
    assert summary["optimizer"]["class_name"] == "Adam" and summary["loss"] == "sparse_categorical_crossentropy"
    assert summary["config"]["class_name"] == "Functional"
    diagnoser, report = diagnose_run(tmp_path / "run")
    assert report["status"] == "completed" and "findings" in report
    kinds = [type(e).__name__ for e in seen]
    assert kinds[0] == "RunStarted" and kinds[-1] == "RunFinished" and kinds.count("EpochEnd") == 3
    started = seen[0]
    assert started.spec is None and started.num_classes == 10 and started.layer_names == ["conv", "bn", "head"]
    # the model is the user's again: its own optimizer class and variables, a plain step on the next fit
    assert type(model.optimizer) is keras.optimizers.Adam
    assert not any("vg_" in v.path for v in model.optimizer.variables)
    model.fit(x, y, batch_size=16, epochs=1, verbose=0)


@pytest.mark.parametrize("make", [
    lambda: keras.optimizers.SGD(0.1), lambda: keras.optimizers.Adam(1e-3), lambda: keras.optimizers.AdamW(1e-3),
], ids=["sgd", "adam", "adamw"])
def test_update_probes_are_the_weight_change_for_builtin_optimizers(digits, tmp_path, make):
    check_optimizer(digits, tmp_path, make())


@pytest.mark.slow
@pytest.mark.parametrize("name", ["SGD-momentum", "RMSprop", "Adadelta", "Adagrad", "Adamax", "Nadam", "Ftrl",
                                  "Lion", "Lamb", "Adafactor", "Muon", "ScheduleFreeAdamW", "MultiOptimizer",
                                  "LossScaleOptimizer"])
def test_every_builtin_optimizer(digits, tmp_path, name):
    if name == "SGD-momentum":
        optimizer = keras.optimizers.SGD(0.05, momentum=0.9)
    elif name == "LossScaleOptimizer":
        optimizer = keras.optimizers.LossScaleOptimizer(keras.optimizers.Adam(1e-3))
    elif name == "MultiOptimizer":
        optimizer = "multi"
    else:
        optimizer = getattr(keras.optimizers, name)()
    check_optimizer(digits, tmp_path, optimizer)


def check_optimizer(digits, tmp_path, optimizer):
    x, y = digits
    keras.utils.set_random_seed(3)
    model = keras.Sequential([keras.Input((8, 8, 1)), keras.layers.Flatten(),
                              keras.layers.Dense(16, activation="relu", name="hidden"),
                              keras.layers.Dense(10, activation="softmax", name="out")])
    if optimizer == "multi":  # SGD for the hidden layer, Adam for the output layer
        optimizer = keras.optimizers.MultiOptimizer(keras.optimizers.OptimizerMap(
            default_optimizer=keras.optimizers.SGD(0.1), optimizer_map={".*out/.*": keras.optimizers.Adam(1e-3)}))
    model.compile(optimizer=optimizer, loss="sparse_categorical_crossentropy")
    original = type(model.optimizer)
    before = {v.path: v.numpy().copy() for v in model.trainable_variables}
    with tf.GradientTape() as tape:
        loss = keras.losses.SparseCategoricalCrossentropy()(y, model(x, training=True))
    grads = {v.path: g.numpy() for v, g in zip(model.trainable_variables,
                                               tape.gradient(loss, model.trainable_variables))}
    monitor = GradientMonitor(tmp_path / "run", record_every=1)
    model.fit(x, y, batch_size=len(x), epochs=1, shuffle=False, callbacks=[monitor], verbose=0)
    history = monitor.history
    assert history.layer_names == ["hidden", "out"] and history.steps == [1]
    for column, layer in enumerate([layer for layer in model.layers if layer.trainable_variables]):
        paths = [v.path for v in layer.trainable_variables]
        delta = np.concatenate([(v.numpy() - before[v.path]).ravel() for v in layer.trainable_variables])
        g = np.concatenate([grads[p].ravel() for p in paths])
        w = np.concatenate([v.numpy().ravel() for v in layer.trainable_variables])
        np.testing.assert_allclose(history.stat("grad_mean_abs")[0][column], np.abs(g).mean(), rtol=3e-3)
        np.testing.assert_allclose(history.stat("update_mean_abs")[0][column], np.abs(delta).mean(), rtol=3e-3,
                                   atol=1e-9)
        np.testing.assert_allclose(history.stat("weight_norm")[0][column], np.linalg.norm(w), rtol=1e-4)
    assert type(model.optimizer) is original
    model.fit(x, y, batch_size=len(x), epochs=1, verbose=0)  # trains on without the probes


def test_cancel_keeps_completed_epochs_and_says_cancelled(digits, tmp_path):
    x, y = digits
    stop = threading.Event()

    def cancel_in_second_epoch(event):
        if type(event).__name__ == "EpochEnd":
            stop.set()  # the next batch is the last

    model = conv_bn_dense()
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    monitor = GradientMonitor(tmp_path / "run", record_every=1, listeners=[cancel_in_second_epoch], cancel=stop)
    model.fit(x, y, batch_size=16, epochs=4, callbacks=[monitor], verbose=0)
    run = open_run(tmp_path / "run")
    assert run.status == "cancelled" and run.history.epochs["epoch"] == [0]
    assert run.report["steps"] == len(x) // 16 + 1


# ---- vg-studio train --model ------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def saved_models(tmp_path_factory):
    folder = tmp_path_factory.mktemp("models")
    model = conv_bn_dense()
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    model.save(folder / "cnn.keras")
    keras.Sequential([keras.Input((28, 28, 1)), keras.layers.Flatten(), keras.layers.Dense(10)]).save(
        folder / "mnist_shaped.keras")
    keras.Sequential([keras.Input((8, 8, 1)), keras.layers.Flatten(), keras.layers.Dense(3)]).save(
        folder / "three_classes.keras")

    @keras.saving.register_keras_serializable(package="test_monitor")
    class Doubling(keras.layers.Layer):
        def call(self, x):
            return 2 * x

    keras.Sequential([keras.Input((8, 8, 1)), Doubling(), keras.layers.Flatten(), keras.layers.Dense(10)]).save(
        folder / "custom.keras")
    keras.saving.get_custom_objects().pop("test_monitor>Doubling", None)  # a fresh process would not know it
    (folder / "notes.keras").write_text("not a model")
    return folder


def test_train_model_flag_trains_a_saved_model(saved_models, tmp_path, capsys):
    from vg_studio import cli

    out = tmp_path / "run"
    code = cli.main(["train", "--model", str(saved_models / "cnn.keras"), "--dataset", "digits", "--limit", "200",
                     "--epochs", "1", "--lr", "0.01", "--record-every", "2", "--out", str(out), "--quiet"])
    assert code == 0, capsys.readouterr().err
    run = open_run(out)
    assert run.status == "completed" and run.history.layer_names == ["conv", "bn", "head"]
    assert run.model_summary["optimizer"]["class_name"] == "Adam"
    assert run.model_summary["optimizer"]["config"]["learning_rate"] == pytest.approx(0.01)
    assert "test_metrics" in run.report and (out / "model.keras").is_file()


@pytest.mark.parametrize("name, flags, message", [
    ("notes.keras", [], "notes.keras: not a complete Keras model file"),
    ("custom.keras", [], "custom.keras: needs custom objects"),
    ("mnist_shaped.keras", [], "mnist_shaped.keras: the model takes inputs of shape (28, 28, 1) but digits has "
                               "examples of shape (8, 8, 1)"),
    ("three_classes.keras", [], "three_classes.keras: the model has 3 outputs but the dataset has 10 classes"),
    ("cnn.keras", ["--layers", "3"], "--layers: not used with --model"),
])
def test_train_model_flag_refuses_with_one_line(saved_models, tmp_path, capsys, name, flags, message):
    from vg_studio import cli

    code = cli.main(["train", "--model", str(saved_models / name), "--dataset", "digits", "--out",
                     str(tmp_path / "run"), *flags])
    err = capsys.readouterr().err
    assert code == 2 and err.startswith("vg-studio: error: ") and message in err and err.count("\n") == 1
    assert not (tmp_path / "run" / "history.h5").exists()
