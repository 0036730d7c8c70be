"""The views beyond the curves: distributions over time, the network diagram, SDAGD's μ against h."""

import numpy as np
import pytest
from PySide6.QtGui import QColor

from tests.gui.synthetic_runs import EDGES, synthetic_run
from vg_studio.gui.plots.distributions import QUANTILES, DistributionsView, quantiles_from_histograms
from vg_studio.gui.plots.network import NetworkDiagram
from vg_studio.gui.plots.optimizer import SdagdView
from vg_studio.gui.plots.palette import RUN_COLORS, next_run_color, swatch_icon
from vg_studio.spec import example_spec


def test_quantiles_from_histograms_match_the_samples_they_count():
    rng = np.random.default_rng(1)
    rows, samples = [], []
    for centre, spread in ((-6, 0.7), (-3, 1.5), (-9, 0.3)):
        logs = rng.normal(centre, spread, 20_000)
        samples.append(logs)
        counts, _ = np.histogram(np.clip(logs, EDGES[0], EDGES[-1]), EDGES)
        rows.append(counts / counts.sum())
    rows.append(np.full(28, np.nan))  # a layer without values this record
    got = quantiles_from_histograms(np.array(rows), EDGES)
    width = EDGES[1] - EDGES[0]
    for row, logs in zip(got, samples):
        np.testing.assert_allclose(row, np.quantile(logs, QUANTILES), atol=0.35 * width)
    assert np.isnan(got[-1]).all()


@pytest.fixture
def distributions(qtbot):
    view = DistributionsView()
    view.resize(1000, 500)
    qtbot.addWidget(view)
    view.show()
    return view


def test_distribution_bands_follow_the_chosen_layer_and_quantity(distributions):
    run = synthetic_run("r", layers=4, records=60)
    distributions.redraw([run])
    assert distributions.has_data and not distributions.empty.isVisible()
    assert [distributions.layer.itemText(i) for i in range(4)] == ["h1", "h2", "h3", "out"]
    median = distributions.over_time._curves[(id(run), 3)]
    first = np.log10(median.getOriginalDataset()[1])
    distributions.layer.setCurrentIndex(3)  # the output layer: its gradients are 3 decades larger (made so)
    last = np.log10(median.getOriginalDataset()[1])
    assert np.median(last - first) == pytest.approx(3.0, abs=0.3)
    assert "out over time" in distributions.over_time.full_title
    distributions.quantity.setCurrentIndex(1)  # weight updates: made one decade below the gradients
    update = np.log10(median.getOriginalDataset()[1])
    assert np.median(last - update) == pytest.approx(1.0, abs=0.3)
    # nested bands: the 7 %…93 % band holds the 16 %…84 % one, which holds the 31 %…69 % one
    x, logs = distributions.over_time.bands[id(run)]
    assert (np.diff(logs, axis=1) >= 0).all()
    bands = [distributions.over_time._shapes[(id(run), k)].path().boundingRect() for k in (0, 1, 2)]
    assert bands[0].contains(bands[1]) and bands[1].contains(bands[2])


def test_ridges_show_each_layers_distribution_now_and_at_the_start(distributions):
    run = synthetic_run("r", layers=4, records=60)
    distributions.redraw([run])
    ridges = distributions.per_layer
    mids = (EDGES[:-1] + EDGES[1:]) / 2
    hist = run.stat("grad_log10_hist")
    centres = []
    for layer in range(4):
        now, start = ridges.ridges[layer]
        np.testing.assert_allclose(now, hist[-1, layer], rtol=1e-6)
        np.testing.assert_allclose(start, hist[0, layer], rtol=1e-6)
        centres.append(np.sum(now * mids))
        assert np.sum(start * mids) > centres[-1]  # the gradient shrank since the start
    assert np.all(np.diff(centres) > 0.5)  # input-side layers further left: the vanishing, on one plot
    drawn = ridges._shapes["now"].path().boundingRect()
    assert drawn.top() >= 1 - 1e-6 and drawn.bottom() <= 4.95  # four ridges on their rows, none overlapping


def test_runs_without_histograms_say_so(distributions):
    distributions.redraw([synthetic_run("old", records=10, histograms=False)])
    assert not distributions.has_data and distributions.empty.isVisibleTo(distributions)


def test_sdagd_view_draws_mu_against_h_per_layer_and_the_phase_share(qtbot):
    view = SdagdView()
    qtbot.addWidget(view)
    plain, sdagd = synthetic_run("adam", records=30), synthetic_run("sdagd", layers=4, records=30, sdagd=True)
    assert view.runs_drawn([plain, sdagd]) == [sdagd]
    view.redraw([plain, sdagd])
    paths = {k: c for k, c in view.mu_h._curves.items() if k[1] != "now"}
    assert len(paths) == 4
    x, y = paths[(id(sdagd), 0)].getOriginalDataset()
    mu, h = sdagd.optimizer_series("sdagd_mu[hidden_1]"), sdagd.optimizer_series("sdagd_h[hidden_1]")
    np.testing.assert_allclose(x, h, rtol=1e-6)
    np.testing.assert_allclose(y, mu, rtol=1e-6)
    share = view.phase._curves[(id(sdagd), "share")].getData()[1]
    np.testing.assert_allclose(share, sdagd.optimizer_series("sdagd_phase1_fraction"))
    view.redraw([sdagd])  # one run: each layer's share too
    np.testing.assert_allclose(view.phase._curves[(id(sdagd), 3)].getData()[1],
                               sdagd.optimizer_series("sdagd_phase1_fraction[output]"))
    assert "phase I" in view.mu_h.describe(1e-3, 1e-1) and "phase II" in view.mu_h.describe(1e-1, 1e-3)


def test_the_sdagd_tab_appears_only_for_sdagd_runs(qtbot):
    from vg_studio.gui.plots.panel import PlotsPanel

    panel = PlotsPanel()
    qtbot.addWidget(panel)
    panel.show_runs([synthetic_run("adam", records=10, histograms=False)])
    panel.redraw(visible_only=True)
    assert not panel.tabs.isTabVisible(2) and panel._sdagd is None  # not even built
    panel.show_runs([synthetic_run("sdagd", records=10, histograms=False, sdagd=True)])
    panel.redraw(visible_only=True)
    assert panel.tabs.isTabVisible(2)


# ---- the network diagram ---------------------------------------------------------------------------------------
def test_diagram_of_a_spec_before_training(qtbot):
    diagram = NetworkDiagram()
    qtbot.addWidget(diagram)
    spec = example_spec()
    diagram.show_spec(spec, num_classes=10, input_shape=(28, 28, 1))
    assert diagram.names == [f"h{i + 1}" for i in range(len(spec.network.layers))] + ["out"]
    assert diagram.units == [layer.units for layer in spec.network.layers] + [10]
    diagram.resize(700, 220)
    diagram.grab()
    assert len(diagram._boxes) == len(diagram.names) and diagram.levels is None
    wide = max(range(len(diagram.units)), key=lambda i: diagram.units[i])
    narrow = min(range(len(diagram.units)), key=lambda i: diagram.units[i])
    if diagram.units[wide] != diagram.units[narrow]:
        assert diagram._boxes[wide].height() > diagram._boxes[narrow].height()  # boxes sized by width


def luminance(color: QColor) -> float:
    return 0.2126 * color.redF() + 0.7152 * color.greenF() + 0.0722 * color.blueF()


def test_diagram_colours_each_layer_by_its_gradient_so_the_vanishing_shows(qtbot):
    diagram = NetworkDiagram()
    qtbot.addWidget(diagram)
    run = synthetic_run("r", layers=6, records=20)
    diagram.show_run(run)
    colours = [diagram._color(i) for i in range(6)]
    latest = run.stat("grad_mean_abs")[-1]
    np.testing.assert_allclose(diagram.magnitudes, latest)
    order = np.argsort(latest)
    assert [luminance(colours[i]) for i in order] == sorted(luminance(c) for c in colours)  # viridis: dark → light
    diagram.resize(240, 600)  # taller than wide: input at the bottom
    diagram.grab()
    assert diagram._boxes[0].center().y() > diagram._boxes[-1].center().y()
    diagram.resize(800, 200)
    diagram.grab()
    assert diagram._boxes[0].center().x() < diagram._boxes[-1].center().x()
    qtbot.mouseMove(diagram, diagram._boxes[0].center().toPoint())


def test_diagram_of_a_users_own_keras_model_uses_its_layer_names_and_kinds(qtbot):
    from tests.gui.synthetic_runs import synthetic_events
    from vg_studio.gui.run_data import RunData

    run = RunData(name="my cnn")
    for event in synthetic_events(layers=3, records=5):
        if type(event).__name__ == "RunStarted":
            event.layer_names = ["conv2d", "batch_normalization", "dense_1"]
            event.layer_kinds = ["conv2d", "batch_normalization", "dense"]
            event.layer_units = [32, 32, 10]
        run.apply_event(event)
    diagram = NetworkDiagram()
    qtbot.addWidget(diagram)
    diagram.resize(900, 200)
    diagram.show_run(run)
    diagram.grab()
    assert diagram.names == ["conv2d", "batch_normalization", "dense_1"]
    assert diagram._label(0, diagram._boxes[0], diagram.fontMetrics(), False).startswith("conv2d\nConv2D 32")


def test_diagram_follows_a_training_run(qtbot):
    from tests.gui.synthetic_runs import synthetic_events
    from vg_studio.gui.run_data import RunData

    run = RunData(name="live")
    stream = synthetic_events(layers=3, records=10)
    run.apply_event(next(stream))
    diagram = NetworkDiagram()
    qtbot.addWidget(diagram)
    diagram.show_run(run)
    assert np.isnan(diagram.magnitudes).all()
    for event in stream:
        run.apply_event(event)
    qtbot.waitUntil(lambda: np.isfinite(diagram.magnitudes).all(), timeout=2000)


def test_runs_get_distinct_colours_and_a_swatch(qtbot):
    colours = [next_run_color() for _ in range(len(RUN_COLORS))]
    assert len(set(colours)) == len(RUN_COLORS)
    icon = swatch_icon(RUN_COLORS[0])
    assert QColor(icon.pixmap(12, 12).toImage().pixel(6, 6)) == QColor(RUN_COLORS[0])
