"""The monitor among the other callbacks and fits of a script: a checkpoint restored by a callback listed after it
(Keras's BackupAndRestore resuming an interrupted fit), a fit given two monitors, one monitor given to fit after fit,
a model with every layer frozen, a layer unfrozen without compiling again — each against the weights Keras leaves after each batch."""

import warnings

import keras
import numpy as np
import pytest

from vg_studio.monitor import GradientMonitor
from vg_studio.train.probes import CannotWatch


def data():
    rng = np.random.default_rng(0)
    return rng.normal(size=(24, 6)).astype("float32"), rng.integers(0, 3, 24)


def compiled(lr=0.1):
    keras.utils.set_random_seed(1)
    model = keras.Sequential([keras.Input((6,)), keras.layers.Dense(5, activation="tanh", name="d1"),
                              keras.layers.Dense(3, activation="softmax", name="d2")])
    model.compile(optimizer=keras.optimizers.SGD(lr), loss="sparse_categorical_crossentropy")
    return model


class Weights(keras.callbacks.Callback):
    """The trainable weights once every callback has begun, and after each batch."""

    def __init__(self):
        super().__init__()
        self.after = []

    def on_epoch_begin(self, epoch, logs=None):
        if not self.after:
            self.after.append([v.numpy().copy() for v in self.model.trainable_variables])

    def on_train_batch_end(self, batch, logs=None):
        self.after.append([v.numpy().copy() for v in self.model.trainable_variables])


class StopAfter(keras.callbacks.Callback):
    def __init__(self, epoch):
        super().__init__()
        self.epoch = epoch

    def on_epoch_end(self, epoch, logs=None):
        if epoch == self.epoch:
            raise KeyboardInterrupt


def test_a_fit_resumed_by_backup_and_restore_listed_after_the_monitor_counts_on_from_the_restored_step(tmp_path):
    x, y = data()
    model = compiled()
    with pytest.raises(KeyboardInterrupt):  # interrupted after two epochs of 3 steps: the backup holds step 6
        model.fit(x, y, batch_size=8, epochs=4, shuffle=False, verbose=0,
                  callbacks=[keras.callbacks.BackupAndRestore(tmp_path / "backup"), StopAfter(1)])
    model = compiled()
    monitor, weights = GradientMonitor(None, record_every=2, diagnose=False), Weights()
    model.fit(x, y, batch_size=8, epochs=4, shuffle=False, verbose=0,
              callbacks=[monitor, keras.callbacks.BackupAndRestore(tmp_path / "backup"), weights])
    assert int(model.optimizer.iterations) == 12
    history = monitor.history
    assert list(history.steps) == [7, 8, 10, 12]  # the resumed fit's first step, then every 2nd as Keras counts
    assert monitor.report_data["steps"] == 6 and history.num_epochs == 2
    for r, step in enumerate(history.steps):  # SGD: the gradient applied at step s is (W[s-1] - W[s]) / lr
        before, after = weights.after[step - 7], weights.after[step - 6]
        for c, layer in enumerate(("d1", "d2")):
            owned = {id(v) for v in model.get_layer(layer).trainable_variables}
            keys = [i for i, v in enumerate(model.trainable_variables) if id(v) in owned]
            grad = np.concatenate([((before[i] - after[i]) / 0.1).ravel() for i in keys])
            np.testing.assert_allclose(history.stat("grad_norm")[r, c], np.linalg.norm(grad), rtol=2e-3)


@pytest.mark.parametrize("twice", [False, True], ids=["two monitors", "one monitor listed twice"])
def test_a_fit_given_two_monitors_is_refused_in_one_line_and_the_model_trains_as_before_after(tmp_path, twice):
    x, y = data()
    model = compiled()
    first = GradientMonitor(tmp_path / "a", record_every=1, diagnose=False)
    second = first if twice else GradientMonitor(tmp_path / "b", record_every=2, diagnose=False)
    with pytest.raises(CannotWatch) as refused:
        model.fit(x, y, batch_size=8, epochs=1, verbose=0, callbacks=[first, second])
    message = str(refused.value)
    assert "\n" not in message and ("twice" in message if twice else "two GradientMonitors" in message)
    assert first.report_data["status"] == "failed" and message in first.report_data["message"]
    assert not (tmp_path / "b").exists()
    initial = model.get_weights()
    monitor, weights = GradientMonitor(None, record_every=1, diagnose=False), Weights()
    model.fit(x, y, batch_size=8, epochs=1, shuffle=False, verbose=0, callbacks=[monitor, weights])
    assert list(monitor.history.steps) == [1, 2, 3]
    assert all(np.array_equal(a, b) for a, b in zip(initial, weights.after[0]))  # the refused fit trained nothing
    grads = [(b - a) / 0.1 for a, b in zip(weights.after[1], weights.after[0])]
    np.testing.assert_allclose(monitor.history.stat("grad_norm")[0],
                               [np.linalg.norm(np.concatenate([g.ravel() for g in grads[:2]])),
                                np.linalg.norm(np.concatenate([g.ravel() for g in grads[2:]]))], rtol=2e-3)


def test_one_monitor_given_to_fit_after_fit_writes_each_fit_as_a_new_run(tmp_path):
    from vg_studio.train.runstore import open_run

    x, y = data()
    model = compiled()
    monitor = GradientMonitor(tmp_path / "run", record_every=1, diagnose=False)
    for epoch in range(2):  # a loop of one-epoch fits, as a script with its own per-epoch work writes it
        weights = Weights()
        with warnings.catch_warnings(record=True) as said:
            warnings.simplefilter("always")
            model.fit(x, y, batch_size=8, epochs=epoch + 1, initial_epoch=epoch, shuffle=False, verbose=0,
                      callbacks=[monitor, weights])
        replaced = [w for w in said if "replaces it" in str(w.message)]
        assert len(replaced) == epoch  # the second fit says that the first fit's run is replaced
        run = open_run(tmp_path / "run")
        assert run.status == "completed" and run.history.steps == [3 * epoch + 1, 3 * epoch + 2, 3 * epoch + 3]
        assert run.history.num_epochs == 1
        grads = [(b - a) / 0.1 for a, b in zip(weights.after[1], weights.after[0])]
        np.testing.assert_allclose(run.history.stat("grad_norm")[0],
                                   [np.linalg.norm(np.concatenate([g.ravel() for g in grads[:2]])),
                                    np.linalg.norm(np.concatenate([g.ravel() for g in grads[2:]]))], rtol=2e-3)


def test_a_model_with_every_layer_frozen_is_refused_in_one_line_before_anything_is_written(tmp_path):
    x, y = data()
    model = compiled()
    model.trainable = False
    model.compile(optimizer=keras.optimizers.SGD(0.1), loss="sparse_categorical_crossentropy")
    with pytest.raises(CannotWatch) as refused:
        model.fit(x, y, batch_size=8, epochs=1, verbose=0, callbacks=[GradientMonitor(tmp_path / "run")])
    assert "no trainable weights" in str(refused.value) and "\n" not in str(refused.value)
    assert not (tmp_path / "run").exists()


def test_a_layer_unfrozen_without_compiling_again_is_refused_and_trains_once_compiled(tmp_path):
    """Keras trains the weights trainable at compile: a layer unfrozen after it is refused in one line (a plain fit
    would go on leaving it as it is); compiled again, it is trained and recorded."""
    x, y = data()
    model = compiled()
    model.get_layer("d1").trainable = False
    model.compile(optimizer=keras.optimizers.SGD(0.1), loss="sparse_categorical_crossentropy")
    model.fit(x, y, batch_size=8, epochs=1, verbose=0, callbacks=[GradientMonitor(None, diagnose=False)])
    model.get_layer("d1").trainable = True
    before = model.get_weights()
    with pytest.raises(CannotWatch) as refused:
        model.fit(x, y, batch_size=8, epochs=1, verbose=0, callbacks=[GradientMonitor(tmp_path / "run")])
    assert "d1/kernel now trainable" in str(refused.value) and "compile the model again" in str(refused.value)
    assert not (tmp_path / "run").exists()
    assert all(np.array_equal(a, b) for a, b in zip(before, model.get_weights()))
    model.compile(optimizer=keras.optimizers.SGD(0.1), loss="sparse_categorical_crossentropy")
    monitor, weights = GradientMonitor(None, record_every=1, diagnose=False), Weights()
    model.fit(x, y, batch_size=8, epochs=1, shuffle=False, verbose=0, callbacks=[monitor, weights])
    assert monitor.history.layer_names == ["d1", "d2"]
    grads = [(b - a) / 0.1 for a, b in zip(weights.after[1], weights.after[0])]
    np.testing.assert_allclose(monitor.history.stat("grad_norm")[0],
                               [np.linalg.norm(np.concatenate([g.ravel() for g in grads[:2]])),
                                np.linalg.norm(np.concatenate([g.ravel() for g in grads[2:]]))], rtol=2e-3)
