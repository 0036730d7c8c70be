"""The plots panel on made-up runs (engine events shaped as the trainer's): cheap drawing of long runs, and the
issue-13 defects — compare must not widen the window, theme switches restyle every text, export only what has
data, no jump at epoch starts, one colour per run, legends beside the data, colour scales per run."""

import numpy as np
import pytest
from PySide6.QtGui import QColor, QImage

from tests.gui.synthetic_runs import synthetic_run
from vg_studio.gui.plots.base import LogAxis
from vg_studio.gui.plots.decimate import CAPACITY, Overview
from vg_studio.gui.plots.palette import RUN_COLORS
from vg_studio.gui.plots.series import interval_means, smoothed
from vg_studio.gui.theme import load_theme


@pytest.fixture(scope="module")
def shared_panel(qapp):
    from vg_studio.gui.plots.panel import PlotsPanel

    widget = PlotsPanel()  # one for the module: building one costs more than most tests
    widget.timer.stop()  # the tests drive the frames
    widget.resize(1200, 800)
    widget.show()
    yield widget
    widget.close()
    widget.deleteLater()


@pytest.fixture
def panel(shared_panel):
    shared_panel.apply_theme(load_theme("light"))
    shared_panel.tabs.setCurrentIndex(0)
    shared_panel.heatmap.scale.setCurrentText("per run")
    return shared_panel


# ---- the numbers behind the curves ---------------------------------------------------------------------------
def test_overview_buckets_match_numpy_over_the_same_records():
    rng = np.random.default_rng(3)
    x, values = np.arange(3000.0), rng.standard_normal((3000, 3))
    values[rng.random(values.shape) < 0.05] = np.nan
    overview = Overview(capacity=64)
    start = 0
    for size in rng.integers(1, 200, 100):  # records arrive in uneven batches, as the app receives them
        overview.extend(x[start:start + size], values[start:start + size])
        start += size
        if start >= len(x):
            break
    assert overview.used <= 64
    size = overview.size
    for b in range(overview.used):
        block = values[b * size:(b + 1) * size]
        np.testing.assert_allclose(overview.low[b], np.nanmin(block, axis=0))
        np.testing.assert_allclose(overview.high[b], np.nanmax(block, axis=0))
        np.testing.assert_allclose(overview.means()[1][b], np.nanmean(block, axis=0))
        assert overview.x_first[b] == x[b * size] and overview.x_last[b] == x[min((b + 1) * size, len(x)) - 1]


def test_interval_means_undo_the_running_epoch_mean_keras_reports():
    rng = np.random.default_rng(0)
    per_batch = rng.random(30)  # 3 epochs of 10 batches
    steps = np.arange(1, 31)
    epochs = (steps - 1) // 10
    running = np.array([per_batch[e * 10:s].mean() for s, e in zip(steps, epochs)])  # Keras's running mean
    np.testing.assert_allclose(interval_means(steps, epochs, running, 10), per_batch, atol=1e-12)
    every3 = np.array([2, 5, 8, 10, 13, 16, 19, 20, 23, 26, 29, 30]) - 1  # records every 3 steps, and epoch ends
    means = interval_means(steps[every3], epochs[every3], running[every3], 10)
    previous = np.r_[-1, every3[:-1]]
    expected = [per_batch[max(p + 1, (s // 10) * 10):s + 1].mean() for p, s in zip(previous, every3)]
    np.testing.assert_allclose(means, expected, atol=1e-12)


def test_smoothing_is_tensorboards_debiased_average():
    assert np.allclose(smoothed(np.full(20, 0.7)), 0.7)  # debiased: no ramp up from zero
    out = smoothed(np.r_[np.zeros(5), np.ones(5)], weight=0.5)
    assert out[5] == pytest.approx(0.5 / (1 - 0.5 ** 6)) and np.all(np.diff(out[5:]) > 0)
    assert np.isnan(smoothed(np.array([1.0, np.nan, 3.0]))[1])


def test_log_axis_labels_powers_of_ten_only_and_never_crowds(qtbot):
    axis = LogAxis("left")
    axis.setLogMode(False, True)
    major, minor = axis.logTickValues(np.log10(0.0012), np.log10(0.0095), 300, [])  # less than one decade
    labels = axis.tickStrings(major[1], 1, major[0])
    assert 2 <= len(labels) <= 6 and "0.009" not in labels and "0.008" not in labels
    assert all(axis.tickStrings(minor[1], 1, None)[i] == "" for i in range(len(minor[1])))
    major, _ = axis.logTickValues(-14, 2, 150, [])  # 16 decades in 150 px: every other decade or fewer
    assert len(major[1]) <= 150 // 28 + 1 and all(float(v).is_integer() for v in major[1])
    assert axis.tickStrings([-3.0, 0.0, 1.0], 1, 1.0) == ["10⁻³", "1", "10"]


# ---- cheap drawing -------------------------------------------------------------------------
def test_points_drawn_stay_bounded_however_long_the_run(panel):
    run = synthetic_run("long", layers=5, records=2500, steps_per_epoch=500, histograms=False, batch_events=False)
    panel.show_runs([run])
    panel.redraw()
    for plot in (panel.loss, panel.accuracy, panel.gradients, panel.updates):
        assert plot._curves
        for item in plot._curves.values():
            assert len(item.getOriginalDataset()[0]) <= 2 * CAPACITY  # what pyqtgraph receives
            assert len(item.getData()[0]) <= 2 * CAPACITY  # what it draws after its own downsampling
    heatmap = panel.heatmap.maps[0]
    assert heatmap.image.image.shape[0] == 5 and CAPACITY // 2 <= heatmap.image.image.shape[1] <= CAPACITY


def test_an_unchanged_plot_is_not_redrawn_and_hidden_tabs_wait(panel):
    run = synthetic_run("r", records=30)
    panel.show_runs([run])
    before = {name: box.draw_count for name, box in panel.plot_boxes.items()}
    panel.redraw(visible_only=True)
    counts = {name: box.draw_count for name, box in panel.plot_boxes.items()}
    assert counts["loss"] == before["loss"] + 1
    assert counts["distribution-over-time"] == before["distribution-over-time"]  # not the shown tab
    panel.mark_dirty()
    panel.redraw(visible_only=True)
    assert {name: box.draw_count for name, box in panel.plot_boxes.items()} == counts  # nothing changed
    run.apply_event(next(e for e in _records(layers=4, records=31) if getattr(e, "step", 0) == 31
                         and type(e).__name__ == "ProbeRecord"))
    panel.redraw(visible_only=True)
    assert panel.loss.draw_count == counts["loss"] + 1
    assert panel.distributions.over_time.draw_count == counts["distribution-over-time"]
    panel.tabs.setCurrentIndex(1)  # shown: drawn at once
    assert panel.distributions.over_time.draw_count == counts["distribution-over-time"] + 1


def test_new_records_are_folded_in_not_the_whole_run_again(panel, monkeypatch):
    run = synthetic_run("r", records=200, histograms=False)
    panel.show_runs([run])
    panel.redraw()
    folded = []
    original = Overview.extend
    monkeypatch.setattr(Overview, "extend", lambda self, x, v: (folded.append(len(x)), original(self, x, v))[1])
    for event in _records(layers=4, records=203, histograms=False):
        if getattr(event, "step", 0) > 200 and type(event).__name__ == "ProbeRecord":
            run.apply_event(event)
    panel.redraw()
    assert folded and max(folded) == 3  # the heatmap and every curve took the 3 new records only


def test_a_frame_under_budget_draws_a_few_plots_and_the_rest_follow(panel):
    run = synthetic_run("r", records=50, histograms=False)
    panel.show_runs([run])
    assert panel.redraw(visible_only=True, budget_ms=0) == 1  # at least one, then the budget is spent
    assert panel._dirty
    units = 0
    while panel.draw_unit() and units < 40:
        units += 1
    visible = (panel.loss, panel.accuracy, panel.gradients, panel.updates, panel.heatmap.maps[0])
    assert all(b.runs == [run] and b.complete for b in visible) and not panel._dirty
    assert all(b.legend is not None and len(b.legend.items) >= 2 for b in visible[:4])  # legends in units of their own


def test_a_frame_is_done_in_small_units_each_making_few_new_items(qapp, monkeypatch):
    """A run's first frame (new curves for a dozen layers, new legends) is spread over timer events of
    their own; no unit makes more than a few new pyqtgraph items (each costs a few ms, and its first paint more)."""
    import pyqtgraph as pg

    from vg_studio.gui.plots import panel as panel_module

    made = []
    original = pg.PlotDataItem.__init__

    def counting(item, *args, **kwargs):
        made.append(item)
        original(item, *args, **kwargs)

    fresh = panel_module.PlotsPanel()  # no spare curves from other tests
    try:
        fresh.timer.stop()
        fresh.resize(1200, 800)
        fresh.show()
        run = synthetic_run("r", layers=12, records=30, histograms=False)
        fresh.show_runs([run])
        monkeypatch.setattr(pg.PlotDataItem, "__init__", counting)
        per_unit, units = [], 0
        more = True
        while more and units < 60:
            before = len(made)
            more = fresh.draw_unit()
            per_unit.append(len(made) - before)
            units += 1
        most = max(panel_module.NEW_ITEMS_PER_UNIT, panel_module.LEGEND_ENTRIES_PER_UNIT)
        assert max(per_unit) <= most, per_unit
        assert len(made) >= 2 * 12 + 2 * 12  # every layer's curve and legend entry in both layer plots
        for box in (fresh.gradients, fresh.updates):
            assert box.complete and len(box.shown[id(run)]) == 12
            assert {key for key in box._curves} == {(id(run), layer) for layer in range(12)}
            assert len(box.legend.items) == 12
    finally:
        fresh.close()
        fresh.deleteLater()


def test_a_started_run_gets_its_layer_curves_and_legends_before_its_first_record(qapp, monkeypatch):
    """While a run's first step is traced (RunStarted arrived, no record yet) the window is idle: the per-layer
    curves and legends are made then, so the first records draw without making any."""
    import pyqtgraph as pg

    from tests.gui.synthetic_runs import synthetic_events
    from vg_studio.gui.plots import panel as panel_module
    from vg_studio.gui.run_data import RunData

    fresh = panel_module.PlotsPanel()
    try:
        fresh.timer.stop()
        fresh.resize(1200, 800)
        fresh.show()
        stream = iter(synthetic_events(layers=8, records=10))
        run = RunData(name="r")
        for event in stream:
            run.apply_event(event)
            if type(event).__name__ == "RunStarted":
                break
        fresh.show_runs([run])
        units = 0
        while fresh.draw_unit() and units < 60:
            units += 1
        for box in (fresh.gradients, fresh.updates):
            assert len(box.legend.items) == len(run.layer_names) and not box.has_data
            assert box.spares_wanted([run]) == 0
        made = []
        original = pg.PlotDataItem.__init__
        monkeypatch.setattr(pg.PlotDataItem, "__init__", lambda item, *a, **k: made.append(item) or original(
            item, *a, **k))
        for event in stream:
            run.apply_event(event)
            if type(event).__name__ == "ProbeRecord":
                break
        fresh.mark_dirty()
        units = 0
        while fresh.draw_unit() and units < 60:
            units += 1
        assert fresh.gradients.has_data and fresh.gradients.complete
        assert not [item for item in made if item.parentItem() is not None and item.isVisible()
                    and item in fresh.gradients._curves.values()]  # every layer's curve was made ahead
    finally:
        fresh.close()
        fresh.deleteLater()


def test_the_plots_wait_after_another_unit_of_the_window(panel):
    """Two timers expiring together ran the diagnostics' unit and a plot's back to back (57 ms): after `hold`
    the panel's periodic frame leaves the next unit to its own timer, NEXT_UNIT_MS later."""
    panel.show_runs([synthetic_run("r", records=10, histograms=False)])
    try:
        panel.hold()
        assert panel._next_unit.isActive()
        before = panel.redraw_count
        panel._frame()
        assert panel.redraw_count == before and panel._dirty
        panel._next_unit.stop()
        panel._frame()
        assert panel.redraw_count == before + 1
    finally:
        panel._next_unit.stop()
        while panel.draw_unit():
            pass


def test_a_redrawn_plot_is_painted_once(panel, qapp):
    """pyqtgraph settles an auto-ranged view in its paint, which then changes the view and paints the whole plot
    again in the same event-loop pass; the redraw settles it first."""
    from PySide6.QtCore import QEvent, QObject

    run = synthetic_run("r", records=20, histograms=False)
    panel.show_runs([run])
    panel.redraw()
    qapp.processEvents()

    class Paints(QObject):
        count = 0

        def eventFilter(self, watched, event):
            if event.type() == QEvent.Paint:
                self.count += 1
            return False

    for box in (panel.loss, panel.gradients, panel.heatmap.maps[0]):
        paints = Paints()
        box.widget.viewport().installEventFilter(paints)
        try:
            grown = synthetic_run("r", records=40, histograms=False)
            box.redraw([grown])
            for _ in range(5):
                qapp.processEvents()
            assert paints.count == 1, (box.title, paints.count)
        finally:
            box.widget.viewport().removeEventFilter(paints)


# ---- a newcomer's defects ----------------------------------------------------------------------------------------
def test_comparing_runs_does_not_widen_the_plots(panel):
    """1, 2 and 4 compared runs (with long names) need the same minimum width."""
    widths = []
    for count in (1, 2, 4):
        runs = [synthetic_run(f"deep-sigmoid-sgd with a very long experiment name #{i}", records=20, seed=i,
                              histograms=False) for i in range(count)]
        panel.show_runs(runs)
        panel.redraw()
        widths.append(panel.minimumSizeHint().width())
        assert len(panel.heatmap.visible_maps()) == count
    assert widths[0] == widths[1] == widths[2] and widths[0] <= 700, widths


def test_theme_switch_restyles_legends_titles_axes_and_colour_bars(panel):
    """after a switch every text is in the new theme's colour (was: legends and colour-bar labels kept
    the old one)."""
    panel.show_runs([synthetic_run("r", records=20)])
    panel.redraw()
    for theme in ("dark", "light"):
        colors = load_theme(theme)
        panel.apply_theme(colors)
        panel.redraw()
        ink = QColor(colors["plot_foreground"])
        for name, box in panel.plot_boxes.items():
            if box.legend is not None:
                assert box.legend.items, name
                for _sample, label in box.legend.items:
                    assert QColor(label.opts["color"]) == ink, (theme, name, label.text)
                    assert colors["plot_foreground"].lower() in label.item.toHtml().lower()
            assert box.plot.getAxis("left").textPen().color() == ink, name
            assert colors["plot_foreground"].lower() in box.title_label.item.toHtml().lower(), name
        bar = panel.heatmap.maps[0].bar
        assert bar.getAxis("right").textPen().color() == ink
        assert QColor(bar.getAxis("left").labelStyle["color"]) == ink  # the bar's label
        assert panel.loss.widget.backgroundBrush().color() == QColor(colors["plot_background"])


def test_export_writes_only_plots_with_data(panel, tmp_path):
    """no empty "Optimizer state (SDAGD)" image for a run without SDAGD; every image shows something."""
    panel.show_runs([synthetic_run("plain", records=20, histograms=False)])
    files = panel.export(tmp_path / "plain.png")
    names = {f.name for f in files}
    assert "plain-loss.png" in names and "plain-heatmap.png" in names
    assert not any("sdagd" in n or "distribution" in n for n in names)
    for path in files:
        image = QImage(str(path))
        assert image.width() >= 600
        colours = {image.pixel(x, y) for x in range(0, image.width(), 7) for y in range(0, image.height(), 7)}
        assert len(colours) > 20, path  # curves, text and axes, not a blank frame
    files = panel.export(tmp_path / "svg" / "s.svg") if (tmp_path / "svg").mkdir() is None else []
    assert files and all(f.suffix == ".svg" and "<svg" in f.read_text()[:2000] for f in files)
    panel.show_runs([synthetic_run("sd", records=20, sdagd=True)])
    names = {f.name for f in panel.export(tmp_path / "sd.png")}
    assert {"sd-sdagd-mu-h.png", "sd-sdagd-phase.png", "sd-distribution-over-time.png"} <= names


def test_accuracy_has_a_sensible_axis_and_no_jump_at_epoch_starts(panel):
    """Defects 12 and 13: the drawn training accuracy rises smoothly across epochs although Keras's running mean
    drops back at every epoch start; epoch starts are marked; the axis stays a fraction."""
    run = synthetic_run("r", records=60, steps_per_epoch=20, histograms=False)
    panel.show_runs([run])
    panel.redraw()
    running = run.record_metric("accuracy")
    starts = np.flatnonzero(np.diff(run.record_epochs)) + 1
    assert (np.abs(running[starts] - running[starts - 1]) > 0.1).all()  # the bug's cause: Keras's running mean
    x, y = panel.accuracy._curves[(id(run), "smooth")].getData()
    ramp = np.polyval(np.polyfit(x, y, 1), x)
    assert np.abs(y - ramp).max() < 0.08  # follows the rise, no saw-tooth at epoch starts
    lines = [line.value() for line in panel.accuracy._epoch_lines if line.isVisible()]
    assert lines == [20.5, 40.5]
    low, high = panel.accuracy.plot.vb.viewRange()[1]
    assert -0.05 <= low and high <= 1.05


def test_a_flat_accuracy_gets_a_narrow_honest_axis(panel):
    run = _run_with(lambda record: record.metrics.update(accuracy=0.1), records=20)
    panel.show_runs([run])
    panel.redraw()
    panel.accuracy.plot.vb.updateAutoRange()
    low, high = panel.accuracy.plot.vb.viewRange()[1]
    assert low >= -0.05 and high - low >= 0.05 - 1e-9 and low < 0.1 < high


def test_each_run_has_its_own_colour_in_every_plot_and_legends_sit_above_the_data(panel, qapp):
    """Each run has its own colour in every plot, and legends sit above the data."""
    runs = [synthetic_run(f"run {i}", records=30, seed=i, histograms=False) for i in range(3)]
    assert len({r.color for r in runs}) == 3 and all(r.color in RUN_COLORS for r in runs)
    panel.show_runs(runs)
    panel.redraw()
    from vg_studio.report.palette import line_color

    for run in runs:
        ink = QColor(line_color(run.color, panel.loss.colors["plot_background"]))  # the run's, readable
        smooth = panel.loss._curves[(id(run), "smooth")]
        assert smooth.opts["pen"].color() == ink
        val = panel.accuracy._curves[(id(run), "val")]
        assert val.opts["pen"].color() == ink
        hues = {panel.gradients._curves[(id(run), layer)].opts["pen"].color().hsvHue()
                for layer in panel.gradients.shown[id(run)]}
        own = QColor(run.color).hsvHue()
        assert max(min(abs(h - own), 360 - abs(h - own)) for h in hues) <= 12  # shades of the run's own hue
    qapp.processEvents()  # lay the legends out
    for box in (panel.loss, panel.accuracy, panel.gradients, panel.updates):
        legend = box.legend.mapToScene(box.legend.boundingRect()).boundingRect()
        assert legend.width() > 20 and legend.bottom() <= box.plot.vb.sceneBoundingRect().top(), box.title
        assert [label.text for _, label in box.legend.items][-3:] == [r.name for r in runs] or box in (
            panel.gradients, panel.updates)


def test_an_extreme_run_does_not_wash_out_the_others_colour_scale(panel):
    calm = synthetic_run("calm", records=40, histograms=False)
    wild = synthetic_run("exploding", records=40, histograms=False, extreme=8)
    panel.show_runs([calm])
    panel.redraw()
    alone = panel.heatmap.maps[0].bar.levels()
    panel.show_runs([calm, wild])
    panel.redraw()
    assert panel.heatmap.maps[0].bar.levels() == pytest.approx(alone)  # per run: the calm run's scale is its own
    assert "this run" in panel.heatmap.maps[0].bar.getAxis("left").labelText
    panel.heatmap.scale.setCurrentText("shared")
    low, high = panel.heatmap.maps[0].bar.levels()
    assert high > alone[1] + 5 and panel.heatmap.maps[1].bar.levels() == (low, high)  # one scale, said so
    assert "all shown runs" in panel.heatmap.maps[1].bar.getAxis("left").labelText


def test_a_single_extreme_record_does_not_set_the_scale(panel):
    def spike(record):
        if record.step == 100:
            record.stats["grad_mean_abs"][0] = 1e12
    run = _run_with(spike, records=200)
    panel.show_runs([run])
    panel.redraw()
    low, high = panel.heatmap.maps[0].bar.levels()
    values = np.log10(run.stat("grad_mean_abs"))
    assert high < np.percentile(values, 99.5) + 0.5 < 12


def _run_with(change, **kwargs):
    """A synthetic run whose probe records pass through `change` first."""
    from vg_studio.gui.run_data import RunData
    from vg_studio.train.events import ProbeRecord

    run = RunData(name="changed")
    for event in _records(histograms=False, **kwargs):
        if isinstance(event, ProbeRecord):
            change(event)
        run.apply_event(event)
    return run


def _records(**kwargs):
    from tests.gui.synthetic_runs import synthetic_events

    return synthetic_events(**kwargs)


def test_hovering_any_plot_reads_out_the_value_under_the_mouse(panel, qapp):
    runs = [synthetic_run("a", records=40, sdagd=True), synthetic_run("b", records=30, seed=2)]
    for shown in (runs[:1], runs):
        panel.show_runs(shown)
        panel.redraw()
        for name, box in panel.plot_boxes.items():
            if not box.has_data:
                continue
            box.plot.vb.updateAutoRange()  # as the next paint would
            box.readout.setText(" ")
            box._mouse_moved(box.plot.vb.sceneBoundingRect().center())
            assert box.readout.text().strip(), name


def test_zooming_in_shows_the_records_in_view_not_the_whole_runs_buckets(panel, qtbot):
    run = synthetic_run("long", layers=4, records=3000, steps_per_epoch=500, histograms=False, batch_events=False)
    panel.show_runs([run])
    panel.redraw()
    item = panel.gradients._curves[(id(run), 0)]
    assert len(item.getOriginalDataset()[0]) <= 2 * CAPACITY  # the overview: buckets of several records
    panel.gradients.plot.vb.setXRange(1000, 1100, padding=0)  # as a mouse zoom does: follows the data no more
    qtbot.waitUntil(lambda: item.getOriginalDataset()[0].min() >= 990, timeout=2000)
    x, y = item.getOriginalDataset()
    np.testing.assert_array_equal(x, np.arange(999, 1102))  # every record in view, one beyond each edge
    np.testing.assert_allclose(y, run.stat("grad_mean_abs")[998:1101, 0])
    panel.gradients.plot.vb.enableAutoRange()  # back to the whole run
    qtbot.waitUntil(lambda: item.getOriginalDataset()[0].min() < 10, timeout=2000)
