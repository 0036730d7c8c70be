"""The plots' defects found by using the app (exported SVG and PNG, comparisons, lone records, Distributions before
the first record, read-outs, the dark theme), each checked on the widgets or on the rendered files."""

import numpy as np
import pytest
from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QColor, QImage, QPainter

from tests.gui.synthetic_runs import synthetic_events, synthetic_run
from vg_studio.gui.theme import load_theme
from vg_studio.report import figures as F
from vg_studio.report.palette import contrast, line_color


@pytest.fixture(scope="module")
def shared_panel(qapp):
    from vg_studio.gui.plots.panel import PlotsPanel

    widget = PlotsPanel()
    widget.timer.stop()
    widget.resize(1024, 700)
    widget.show()
    yield widget
    widget.close()
    widget.deleteLater()


@pytest.fixture
def panel(shared_panel):
    shared_panel.apply_theme(load_theme("light"))
    shared_panel.tabs.setCurrentIndex(0)
    return shared_panel


def pixels(image: QImage) -> np.ndarray:
    image = image.convertToFormat(QImage.Format_RGB888)
    width, height = image.width(), image.height()
    data = np.frombuffer(image.constBits(), np.uint8, count=image.bytesPerLine() * height)
    return data.reshape(height, image.bytesPerLine())[:, :3 * width].reshape(height, width, 3).astype(int)


def box_of(mask: np.ndarray) -> np.ndarray:
    ys, xs = np.nonzero(mask)
    assert len(xs), "nothing of that colour drawn"
    return np.array([xs.min(), ys.min(), xs.max(), ys.max()]) / np.array([*mask.shape[::-1]] * 2)


def near(image: np.ndarray, color: str, tolerance: int = 30) -> np.ndarray:
    rgb = np.array([int(color[i:i + 2], 16) for i in (1, 3, 5)])
    return np.abs(image - rgb).max(axis=2) <= tolerance


def colourful(image: np.ndarray) -> np.ndarray:
    """Pixels of a colour map (saturated), not the greys of text, axes and grid."""
    return (image.max(axis=2) - image.min(axis=2)) > 60


def rendered_svg(path, width: int, height: int) -> list[np.ndarray]:
    """The SVG drawn by Qt's renderer and, where installed, by CairoSVG, at the PNG's size."""
    from PySide6.QtSvg import QSvgRenderer

    image = QImage(width, height, QImage.Format_RGB888)
    image.fill(QColor("white"))
    painter = QPainter(image)
    renderer = QSvgRenderer(str(path))
    assert renderer.isValid()
    renderer.render(painter, QRectF(0, 0, width, height))
    painter.end()
    out = [pixels(image)]
    try:
        import cairosvg
    except (ImportError, OSError):  # not installed, or no libcairo
        return out
    png = cairosvg.svg2png(url=str(path), output_width=width, output_height=height, background_color="white")
    out.append(pixels(QImage.fromData(png)))
    return out


def test_exported_svg_draws_curves_and_heatmaps_where_the_png_does(panel, tmp_path):
    run = synthetic_run("vanishing run", records=40, histograms=False)
    panel.show_runs([run])
    pngs = {p.stem.split("-", 1)[1]: p for p in panel.export(tmp_path / "shot.png")}
    svgs = {p.stem.split("-", 1)[1]: p for p in panel.export(tmp_path / "shot.svg")}
    assert set(pngs) == set(svgs) >= {"loss", "gradients", "heatmap"}
    ink = line_color(run.color, "#ffffff")
    for name, select in (("loss", lambda im: near(im, ink)), ("heatmap", colourful), ("gradients", colourful)):
        png = pixels(QImage(str(pngs[name])))
        assert "###" not in svgs[name].read_text()
        for drawn in rendered_svg(svgs[name], png.shape[1], png.shape[0]):
            np.testing.assert_allclose(box_of(select(drawn)), box_of(select(png)), atol=0.03, err_msg=name)


def test_exported_png_is_landscape_and_names_the_run(panel, tmp_path):
    run = synthetic_run("my-run-name", records=30, histograms=False)
    panel.show_runs([run])
    files = panel.export(tmp_path / "p.png")
    for path in files:
        image = QImage(str(path))
        assert image.width() >= 1000 and image.width() > 1.5 * image.height(), (path.name, image.size())
    svg = next(p for p in panel.export(tmp_path / "p.svg") if p.stem.endswith("-loss"))
    assert "my-run-name" in svg.read_text()


def test_comparisons_share_one_colour_scale_by_default(qtbot):
    from vg_studio.gui.plots.heatmap import HeatmapGrid
    from vg_studio.gui.plots.network import NetworkDiagram

    grid = HeatmapGrid()
    qtbot.addWidget(grid)
    calm, healthy = synthetic_run("vanishing", records=30, histograms=False), synthetic_run(
        "healthy", records=30, histograms=False, extreme=4)
    grid.redraw([calm, healthy])
    levels = [m.bar.levels() for m in grid.visible_maps()]
    assert levels[0] == levels[1] and "all shown runs" in grid.maps[0].bar.getAxis("left").labelText
    healthy.compare_with = calm  # "Apply fix and compare"
    diagram = NetworkDiagram()
    qtbot.addWidget(diagram)
    diagram.show_run(healthy)
    alone = F.network_levels([healthy])
    assert diagram.levels == pytest.approx(F.network_levels([healthy, calm])) and diagram.levels[0] < alone[0] - 2
    diagram.timer.stop()


def test_compared_heatmaps_have_distinct_titles_with_a_swatch_and_names_stay_text(qtbot):
    from vg_studio.gui.plots.heatmap import HeatmapGrid

    grid = HeatmapGrid()
    qtbot.addWidget(grid)
    a, b = synthetic_run("<b>run</b>", records=10, histograms=False), synthetic_run("<b>run</b>", records=10,
                                                                                    histograms=False, seed=1)
    grid.redraw([a, b])
    titles = [m.title_label.text for m in grid.visible_maps()]
    assert titles[0] != titles[1]
    for heatmap, run in zip(grid.visible_maps(), (a, b)):
        assert f"color:{run.color}" in heatmap.title_label.text and "■" in heatmap.title_label.text
        assert "<b>run</b>" not in heatmap.title_label.text and "&lt;b&gt;run&lt;/b&gt;" in heatmap.title_label.text


def text_rects(axis):
    image = QImage(400, 400, QImage.Format_RGB888)
    painter = QPainter(image)
    try:
        specs = axis.generateDrawSpecs(painter)
    finally:
        painter.end()
    return [rect for rect, _flags, text in (specs[2] if specs else []) if text]


def test_tick_labels_never_run_together(panel, qapp):
    runs = [synthetic_run(f"r{i}", layers=30, records=3000, steps_per_epoch=1000, seed=i, histograms=False,
                          batch_events=False) for i in range(4)]
    panel.show_runs(runs)
    panel.redraw()
    qapp.processEvents()
    panel.redraw()
    for heatmap in panel.heatmap.visible_maps():
        for side in ("bottom", "left"):
            rects = text_rects(heatmap.plot.getAxis(side))
            assert len(rects) >= 2, side
            for i, r in enumerate(rects):
                assert not any(r.intersects(o) for o in rects[i + 1:]), (side, [x.getRect() for x in rects])


def test_a_lone_record_is_drawn_as_a_marker(panel, qapp):
    run = synthetic_run("one", records=1, histograms=False)
    panel.show_runs([run])
    panel.redraw()
    for box, key in ((panel.loss, (id(run), "smooth")), (panel.gradients, (id(run), 0))):
        item = box._curves[key]
        assert item.opts["symbol"] == "o", box.title
    qapp.processEvents()
    image = pixels(panel.loss.widget.grab().toImage())
    assert near(image, line_color(run.color, "#ffffff"), 40).sum() > 20  # the marker is on screen
    grown = synthetic_run("one", records=5, histograms=False)  # a line now: no markers on it
    panel.show_runs([grown])
    panel.redraw()
    assert panel.loss._curves[(id(grown), "smooth")].opts["symbol"] is None


def test_distributions_before_the_first_record(qtbot):
    from vg_studio.gui.plots.distributions import NO_RECORDS, DistributionsView
    from vg_studio.gui.run_data import RunData

    view = DistributionsView()
    qtbot.addWidget(view)
    view.resize(900, 400)
    view.show()
    view.redraw([synthetic_run("before", records=30)])
    started = RunData(name="started")
    started.apply_event(next(iter(synthetic_events(layers=3, records=5))))  # RunStarted only
    view.redraw([started])
    assert view.empty.isVisible() and view.empty.text() == NO_RECORDS  # not "recorded by an older VG Studio"
    assert view.per_layer.plot.getAxis("left")._tickLevels is None  # no layer names left from the other run
    assert view.per_layer.plot.vb.autoRangeEnabled()[0] and view.over_time.plot.vb.autoRangeEnabled()[0]


def test_hover_read_outs_wrap_follow_the_data_and_clear_off_it(panel, qtbot):
    long_name = "a run with a long name " * 4
    run = synthetic_run(long_name, records=40, histograms=False)
    panel.show_runs([run])
    panel.redraw()
    box = panel.gradients
    box.plot.vb.updateAutoRange()
    view = box.widget
    centre = view.mapFromScene(box.plot.vb.sceneBoundingRect().center())
    qtbot.mouseMove(view.viewport(), centre)
    qtbot.waitUntil(lambda: long_name.strip() in box.readout.toolTip(), timeout=2000)
    assert box.readout.heightForWidth(box.readout.width()) <= box.readout.height()  # wrapped, never clipped
    assert box.readout.text().startswith("a run with") and box.readout.text().endswith("…")
    other = synthetic_run("second", records=40, histograms=False, seed=5)
    panel.show_runs([other])
    panel.redraw()
    assert "second" in box.readout.text()  # the read-out follows the data under the mouse
    qtbot.mouseMove(view.viewport(), view.mapFromScene(QPointF(1, 1)))  # off the data
    qtbot.waitUntil(lambda: not box.readout.text().strip(), timeout=2000)


@pytest.mark.parametrize("count", [1, 3])
def test_every_line_reads_on_the_dark_theme(panel, count):
    colors = load_theme("dark")
    panel.apply_theme(colors)
    runs = [synthetic_run(f"r{i}", layers=12, records=20, seed=i, histograms=False) for i in range(count)]
    panel.show_runs(runs)
    panel.redraw()
    ground = colors["plot_background"]
    pens = [item.opts["pen"].color().name() for box in (panel.gradients, panel.updates, panel.loss)
            for item in box._curves.values() if item.isVisible() and item.opts["pen"].color().alpha() == 255]
    assert len(pens) >= 12
    assert min(contrast(p, ground) for p in pens) >= 3.0, sorted(pens, key=lambda p: contrast(p, ground))[:3]
