"""Where the monitor's run goes besides its run directory: TensorBoard event files written live
(`tensorboard_dir=`), read back with TensorBoard's own EventAccumulator and compared with tf.GradientTape; the
run's report (`monitor.report()`, rendered as a notebook would); the app (`monitor.open_app()`, its process
launch stubbed)."""

import subprocess
import sys
import types

import keras
import numpy as np
import pytest

from tests.monitor.helpers import tape_sgd
from vg_studio.monitor import GradientMonitor

RNG = np.random.default_rng(1)
X = RNG.normal(size=(64, 8)).astype("float32")
Y = RNG.integers(0, 3, 64)
LR = 0.1


@pytest.fixture(scope="module")
def fitted(tmp_path_factory):
    """A tiny MLP fitted once with a run directory and live TensorBoard files: one step per epoch (the whole data
    is the batch), so each record's gradient is the full-batch gradient at the weights of that step."""
    pytest.importorskip("tensorboard")
    folder = tmp_path_factory.mktemp("outputs")
    keras.utils.set_random_seed(3)
    model = keras.Sequential([keras.Input((8,))]
                             + [keras.layers.Dense(6, activation="sigmoid", name=f"hidden_{i}") for i in range(6)]
                             + [keras.layers.Dense(3, activation="softmax", name="head")])
    model.compile(keras.optimizers.SGD(LR), "sparse_categorical_crossentropy")
    initial = model.get_weights()
    monitor = GradientMonitor(folder / "run", record_every=1, probe_data=X[:16], warnings=None,
                              tensorboard_dir=folder / "logs")
    model.fit(X, Y, epochs=2, batch_size=64, shuffle=False, verbose=0, callbacks=[monitor])
    columns = {layer.name: layer.trainable_variables for layer in model.layers}
    expected = tape_sgd(model, initial, keras.losses.SparseCategoricalCrossentropy(), [(X, Y), (X, Y)], LR, columns)
    return types.SimpleNamespace(monitor=monitor, model=model, folder=folder, expected=expected,
                                 names=list(columns), initial=initial)


def read_back(logdir):
    """TensorBoard's own reader, without TensorFlow (the files never need it)."""
    sys.modules.setdefault("tensorboard.compat.notf", types.ModuleType("tensorboard.compat.notf"))
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    from tensorboard.util import tensor_util

    accumulator = EventAccumulator(str(logdir), size_guidance={"tensors": 0})
    accumulator.Reload()

    def series(tag):
        found = accumulator.Tensors(tag)
        return [e.step for e in found], [tensor_util.make_ndarray(e.tensor_proto) for e in found]

    return accumulator, series


def test_tensorboard_files_written_live_hold_the_gradients_gradient_tape_gives(fitted):
    accumulator, series = read_back(fitted.folder / "logs")
    tags = set(accumulator.Tags()["tensors"])
    for i, name in enumerate(fitted.names):
        for stat in ("grad_mean_abs", "grad_norm", "update_ratio"):
            steps, values = series(f"{stat}/{name}")
            assert steps == [1, 2]
            np.testing.assert_allclose([float(v) for v in values], [e[stat][i] for e in fitted.expected], rtol=3e-3)
        steps, histograms = series(f"log10_abs_gradient/{name}")
        assert steps == [1, 2] and histograms[0].shape == (28, 3)  # TensorBoard's (left, right, count) buckets
        np.testing.assert_allclose(np.cumsum(histograms[0][:, 2]), np.cumsum(fitted.expected[0]["grad_log10_hist"][i]),
                                   atol=0.03)
    # the loss of step 1: the full-batch cross-entropy at the initial weights (NumPy)
    weights = [np.asarray(w, np.float64) for w in fitted.initial]
    h = X.astype(np.float64)
    for kernel, bias in zip(weights[:-2:2], weights[1:-2:2]):
        h = 1 / (1 + np.exp(-(h @ kernel + bias)))
    z = h @ weights[-2] + weights[-1]
    log_p = z - z.max(axis=1, keepdims=True)
    log_p -= np.log(np.exp(log_p).sum(axis=1, keepdims=True))
    steps, loss = series("loss")
    assert steps == [1, 2] and float(loss[0]) == pytest.approx(-log_p[np.arange(len(Y)), Y].mean(), rel=1e-4)
    assert "epoch/loss" in tags and "saturated_fraction/hidden_0" in tags


def test_report_renders_the_run_with_its_layer_names(fitted):
    report = fitted.monitor.report()
    html = report._repr_html_()
    assert html.startswith('<div class="vgs-report">') and html.count("data:image/png;base64,") >= 3
    smallest = fitted.names[int(np.argmin(fitted.expected[0]["grad_mean_abs"]))]
    assert smallest == "hidden_0" and "hidden_0" in html  # where GradientTape's gradient is smallest, named
    assert fitted.monitor.report_data["status"] == "completed"


def test_open_app_starts_the_app_on_the_run_in_its_own_process(fitted, monkeypatch):
    from vg_studio.report import notebook

    launched = []

    class FakeProcess:
        def __init__(self, args, **options):
            launched.append((args, options))

    monkeypatch.setattr(notebook.subprocess, "Popen", FakeProcess)
    process = fitted.monitor.open_app()
    assert isinstance(process, FakeProcess)
    (args, options), = launched
    assert args == [sys.executable, "-m", "vg_studio.cli", "gui", str(fitted.folder / "run")]
    assert options["start_new_session"] is True and options["stdin"] is subprocess.DEVNULL


def test_a_monitor_without_a_run_directory_has_no_report_to_show():
    monitor = GradientMonitor(None)
    for call in (monitor.report, monitor.open_app):
        with pytest.raises(ValueError, match="run_dir=None"):
            call()


def test_a_missing_tensorboard_package_is_one_line_naming_the_extra(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "tensorboard", None)  # import tensorboard fails as if not installed
    for name in [m for m in sys.modules if m.startswith("tensorboard.")]:
        monkeypatch.setitem(sys.modules, name, None)
    with pytest.raises(ImportError) as info:
        GradientMonitor(tmp_path / "run", tensorboard_dir=tmp_path / "logs")
    message = str(info.value)
    assert "\n" not in message and "vg-studio[tensorboard]" in message and message.startswith("GradientMonitor:")
    assert not (tmp_path / "run").exists() and not (tmp_path / "logs").exists()
