"""The report's loss figure draws each batch's own loss (history.h5's /batches) and its smoothed line, as the app
does; a run without them falls back to the records' means and says so; a long run stays a small SVG. The drawn
lines are read back from the SVG's path data and compared with /batches read by h5py and an EMA computed here."""

import os
import re

import h5py
import numpy as np
import pytest

from tests.report_runs import trained_run, write_run

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

EMA = 0.95  # the app's and the report's smoothing of each batch's loss (TensorBoard's debiased moving average)


@pytest.fixture(scope="module")
def real_run(tmp_path_factory):
    return trained_run(tmp_path_factory.mktemp("real") / "run")


def loss_svg(runs) -> str:
    from vg_studio.report import figures as F
    from vg_studio.report.draw import render

    return render(F.FIGURES["loss"], runs, fmt="svg").decode()


def path_points(svg: str, gid: str) -> np.ndarray:
    """The (x, y) vertices of the path in the SVG group `gid` (matplotlib writes an artist's gid as its group id)."""
    group = re.search(rf'<g id="{re.escape(gid)}">\s*<path d="([^"]*)"', svg)
    assert group, f"no line {gid} in the SVG"
    numbers = [float(v) for v in re.findall(r"-?\d+(?:\.\d+)?(?:e-?\d+)?", group.group(1))]
    return np.array(numbers).reshape(-1, 2)


def affine(reference: np.ndarray, drawn: np.ndarray) -> tuple:
    """The least-squares map drawn ≈ a·reference + b and its largest residual (in SVG points)."""
    a, b = np.polyfit(reference, drawn, 1)
    return a, b, float(np.abs(a * reference + b - drawn).max())


def ema(values: np.ndarray, weight: float) -> np.ndarray:
    """TensorBoard's smoothing: an exponential moving average divided by its weights so far (no pull to 0)."""
    out, last, norm = [], 0.0, 0.0
    for value in values:
        last, norm = weight * last + (1 - weight) * value, weight * norm + (1 - weight)
        out.append(last / norm)
    return np.array(out)


def test_the_loss_figure_draws_each_batch_of_a_real_run_and_its_smoothed_line(real_run):
    from vg_studio.report.run import RunView

    with h5py.File(real_run / "history.h5", "r") as f:
        steps, losses = f["batches/step"][()], f["batches/loss"][()]
    assert len(steps) == 26 and np.isfinite(losses).all() and np.ptp(losses) > 0.1  # 2 epochs of 13 batches

    svg = loss_svg([RunView.open(real_run)])
    batches = path_points(svg, "loss-batches-0")
    assert len(batches) == len(steps)  # every batch, none averaged away
    ax, bx, x_error = affine(steps.astype(float), batches[:, 0])
    ay, by, y_error = affine(losses, batches[:, 1])
    assert ax > 0 and ay < 0  # steps to the right, a larger loss higher up
    assert x_error < 0.01 and y_error < 0.01  # the drawn points are the batches' losses, to the SVG's precision
    smooth = path_points(svg, "loss-batch-smooth-0")
    np.testing.assert_allclose(smooth[:, 0], ax * steps + bx, atol=0.01)
    np.testing.assert_allclose(smooth[:, 1], ay * ema(losses, EMA) + by, atol=0.01)
    assert "train, each batch" in svg and "train smoothed, EMA 0.95" in svg  # the app's legend words
    assert "running means" not in svg


def test_a_run_without_batch_losses_draws_the_records_means_and_says_so(tmp_path):
    from vg_studio.report.html import report_for

    write_run(tmp_path / "old", layers=2, records=20, steps_per_epoch=10)  # written as before /batches was kept
    with h5py.File(tmp_path / "old" / "history.h5", "r") as f:
        assert "batches" not in f
    svg = loss_svg(report_for(tmp_path / "old").runs)
    assert "loss-batches-0" not in svg and "each batch" not in svg
    assert "train (running means)" in svg  # the legend names what is drawn instead


def test_synthetic_batches_are_drawn_too_and_each_compared_run_gets_its_own(tmp_path):
    """A run with /batches next to one without: each drawn its own way in one figure."""
    from vg_studio.report.html import report_for

    history = write_run(tmp_path / "new", layers=2, records=10, steps_per_epoch=10, record_every=3,
                        own_losses=True)
    write_run(tmp_path / "old", layers=2, records=10, steps_per_epoch=10, seed=4)
    with h5py.File(tmp_path / "new" / "history.h5", "r") as f:
        steps, losses = f["batches/step"][()], f["batches/loss"][()]
    assert list(steps) == list(range(1, 31)) and list(steps) == history.batch_steps
    svg = loss_svg(report_for([tmp_path / "new", tmp_path / "old"]).runs)
    drawn = path_points(svg, "loss-batches-0")
    assert affine(losses, drawn[:, 1])[2] < 0.01
    assert "loss-batches-1" not in svg and "old: train (running means)" in svg
    assert "new: train, each batch" in svg


def test_a_long_run_is_drawn_through_its_envelope_and_keeps_its_spike():
    """200,000 batches: at most 2 × CAPACITY points a line (a small SVG), and a single bad batch still shows."""
    from vg_studio.history import History
    from vg_studio.report.decimate import CAPACITY
    from vg_studio.report.run import RunView

    count, spike = 200_000, 123_457
    rng = np.random.default_rng(0)
    losses = 1.0 + 0.05 * rng.standard_normal(count)
    losses[spike] = 9.0
    history = History(["dense"], ["relu"], 1, attrs={"steps_per_epoch": 1000, "epochs": 200})
    history.add_batches(zip(range(1, count + 1), np.arange(count) // 1000, losses))
    svg = loss_svg([RunView("long", history)])
    drawn = path_points(svg, "loss-batches-0")
    assert len(drawn) <= 2 * CAPACITY and len(path_points(svg, "loss-batch-smooth-0")) <= 2 * CAPACITY
    assert len(svg) < 250_000, len(svg)
    heights = np.sort(drawn[:, 1])  # SVG y grows downwards: the spike is the smallest
    span = heights[-1] - heights[0]
    assert heights[1] - heights[0] > 0.8 * span  # the one bad batch stands far above every other point
