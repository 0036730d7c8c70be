"""The loss plot draws each training batch's own loss and its smoothed line — live from the events, for a run
opened from disk, and overlaid with another run — and, for a run that kept no per-batch loss, the curve from
Keras's running means, saying so. The expected values come from Keras's own logs or from history.h5 read with
h5py, never from the app's code."""

import shutil

import numpy as np
import pytest

from tests.gui.synthetic_runs import synthetic_run
from vg_studio.gui.theme import load_theme

keras = pytest.importorskip("keras")

SAMPLES, BATCH, PER_EPOCH, EPOCHS = 104, 8, 13, 2  # records every 3 steps: 2 of every 3 batches fall between them


class KerasLogs(keras.callbacks.Callback):
    """Keras's own batch logs: the running mean of the epoch's loss after each batch."""

    def __init__(self):
        super().__init__()
        self.means = []

    def on_train_batch_end(self, batch, logs=None):
        self.means.append((batch, float(logs["loss"])))


def own_losses(means) -> np.ndarray:
    """Each batch's loss from the running means: batch b (0-based) of an epoch is (b+1)·m_b − b·m_(b−1)."""
    out, previous = [], 0.0
    for b, mean in means:
        out.append((b + 1) * mean - b * (previous if b else 0.0))
        previous = mean
    return np.array(out)


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    """A run that learns (SGD 0.5, so consecutive batches differ), recorded every 3 steps: its events as the app
    receives them, its directory, and each batch's loss from Keras's logs."""
    from vg_studio.monitor import GradientMonitor

    run_dir = tmp_path_factory.mktemp("batch-loss") / "run"
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(SAMPLES, 5)).astype("float32"), rng.integers(0, 3, SAMPLES)
    keras.utils.set_random_seed(1)
    model = keras.Sequential([keras.Input((5,)), keras.layers.Dense(6, activation="tanh"),
                              keras.layers.Dense(3, activation="softmax")])
    model.compile(keras.optimizers.SGD(0.5), "sparse_categorical_crossentropy", jit_compile=False)
    seen, logs = [], KerasLogs()
    monitor = GradientMonitor(run_dir, record_every=3, listeners=[seen.append])
    model.fit(x, y, batch_size=BATCH, epochs=EPOCHS, shuffle=False, callbacks=[monitor, logs], verbose=0)
    expected = np.concatenate([own_losses(logs.means[e * PER_EPOCH:(e + 1) * PER_EPOCH]) for e in range(EPOCHS)])
    return seen, run_dir, expected


@pytest.fixture
def loss_plot(qtbot):
    from vg_studio.gui.plots.curves import MetricPlot

    plot = MetricPlot("loss")
    plot.apply_theme(load_theme("light"))
    plot.resize(900, 500)
    qtbot.addWidget(plot)
    plot.show()
    return plot


def live_run(seen):
    from vg_studio.gui.run_data import RunData

    run = RunData(name="live")
    for event in seen:
        run.apply_event(event)
    return run


def drawn(plot, run, kind) -> tuple[np.ndarray, np.ndarray]:
    x, y = plot._curves[(id(run), kind)].getOriginalDataset()
    return np.asarray(x), np.asarray(y)


def legend_labels(plot) -> list:
    return [label.text for _, label in plot.legend.items]


def debiased_ema(values, weight):
    """TensorBoard's smoothing, written out."""
    last = norm = 0.0
    out = []
    for v in values:
        last, norm = weight * last + (1 - weight) * v, weight * norm + (1 - weight)
        out.append(last / norm)
    return np.array(out)


def test_live_the_loss_plot_draws_every_batch_s_own_loss_from_the_events(tiny_run, loss_plot):
    seen, _, expected = tiny_run
    run = live_run(seen)
    loss_plot.redraw([run])
    x, y = drawn(loss_plot, run, "batches")
    assert x.tolist() == list(range(1, EPOCHS * PER_EPOCH + 1))  # every batch, not one per record
    np.testing.assert_allclose(y, expected, rtol=1e-4, atol=1e-6)
    x_smooth, smooth = drawn(loss_plot, run, "batch-smooth")
    assert x_smooth.tolist() == x.tolist()
    weight = float(legend_labels(loss_plot)[1].rsplit(" ", 1)[1])  # the legend names the smoothing it draws
    np.testing.assert_allclose(smooth, debiased_ema(expected, weight), rtol=1e-4, atol=1e-6)
    assert legend_labels(loss_plot)[:2] == ["train, each batch", f"train smoothed, EMA {weight:g}"]
    loss_plot.plot.vb.updateAutoRange()
    loss_plot._mouse_moved(loss_plot.plot.vb.sceneBoundingRect().center())
    assert "batch's own loss" in loss_plot.readout.toolTip()


def test_a_run_opened_from_disk_draws_the_batches_history_h5_keeps(tiny_run, loss_plot):
    import h5py

    from vg_studio.gui.run_data import RunData

    _, run_dir, expected = tiny_run
    with h5py.File(run_dir / "history.h5", "r") as f:
        stored = {name: np.asarray(f["batches"][name]) for name in ("step", "loss")}
    np.testing.assert_allclose(stored["loss"], expected, rtol=1e-4, atol=1e-6)  # what Keras's logs give
    opened = RunData.open(run_dir)
    loss_plot.redraw([opened])
    x, y = drawn(loss_plot, opened, "batches")
    assert x.tolist() == stored["step"].tolist()
    np.testing.assert_array_equal(y, stored["loss"])
    weight = float(legend_labels(loss_plot)[1].split()[-1])
    np.testing.assert_allclose(drawn(loss_plot, opened, "batch-smooth")[1], debiased_ema(stored["loss"], weight),
                               rtol=1e-9)


def test_a_run_without_batches_falls_back_to_the_running_means_and_says_so(tiny_run, loss_plot, tmp_path):
    """history.h5 without /batches (a run recorded before they were kept): the mean over the batches between two
    records, undone from the recorded running means by NumPy here, under a legend that says where it comes from."""
    import h5py

    from vg_studio.gui.run_data import RunData

    _, run_dir, _ = tiny_run
    old = tmp_path / "old"
    shutil.copytree(run_dir, old)
    with h5py.File(old / "history.h5", "a") as f:
        del f["batches"]
    run = RunData.open(old)
    steps, means = run.history.steps, run.history.record_loss
    expected = []
    for r, step in enumerate(steps):
        start = (step - 1) // PER_EPOCH * PER_EPOCH
        previous = steps[r - 1] if r and steps[r - 1] > start else start
        before = means[r - 1] if previous > start else 0.0
        expected.append(((step - start) * means[r] - (previous - start) * before) / (step - previous))
    loss_plot.redraw([run])
    assert (id(run), "batches") not in loss_plot._curves
    x, y = drawn(loss_plot, run, "means")
    assert x.tolist() == list(steps)
    np.testing.assert_allclose(y, expected, rtol=1e-9)
    assert legend_labels(loss_plot)[0] == "train (running means)"
    assert not any("each batch" in label for label in legend_labels(loss_plot))


def test_two_runs_compared_each_draw_what_they_kept(tiny_run, loss_plot, tmp_path):
    """Overlaid: the run with per-batch losses draws each batch, the older run its running means; the legend
    names both kinds and both runs."""
    import h5py

    from vg_studio.gui.run_data import RunData

    seen, run_dir, expected = tiny_run
    old = tmp_path / "old"
    shutil.copytree(run_dir, old)
    with h5py.File(old / "history.h5", "a") as f:
        del f["batches"]
    new, without = live_run(seen), RunData.open(old)
    loss_plot.redraw([new, without])
    np.testing.assert_allclose(drawn(loss_plot, new, "batches")[1], expected, rtol=1e-4, atol=1e-6)
    assert len(drawn(loss_plot, without, "means")[0]) == without.num_records
    labels = legend_labels(loss_plot)
    assert {"train, each batch", "train (running means)", "live", "old"} <= set(labels)


def test_a_long_run_s_batches_are_drawn_at_a_bounded_cost_and_exactly_when_zoomed_in(loss_plot, qtbot):
    """20,000 batches: the whole run is drawn from buckets (each one's lowest and highest batch), zoomed in the
    batches themselves."""
    from vg_studio.gui.plots.decimate import CAPACITY

    run = synthetic_run("long", records=2000, record_every=10, steps_per_epoch=1000, histograms=False,
                        batch_events=False, own_losses=True)
    steps, _, losses, _ = run.batch_loss_curve()
    assert len(steps) == 20_000
    loss_plot.redraw([run])
    x, y = drawn(loss_plot, run, "batches")
    assert len(x) <= 2 * CAPACITY
    assert y.max() == pytest.approx(losses.max()) and y.min() == pytest.approx(losses.min())
    loss_plot.plot.vb.setXRange(5000, 5100, padding=0)  # as a mouse zoom does: follows the data no more
    loss_plot.redraw([run], force=True)
    x, y = drawn(loss_plot, run, "batches")
    inside = (x >= 5000) & (x <= 5100)
    assert inside.sum() == 101
    np.testing.assert_array_equal(y[inside], losses[4999:5100])
