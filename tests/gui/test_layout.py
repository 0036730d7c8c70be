"""Laptop screens: the plots keep their room at 1024×700, the layer table shows its rows at 1280×720, View ▸ Reset
layout puts every dock back, and a layout restored from the last session never leaves a dock unreadable."""

from __future__ import annotations

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication

from tests.gui.conftest import gui_spec


def open_window(qtbot, tmp_path, size=None, layers=3):
    from vg_studio.gui.main_window import MainWindow

    spec = gui_spec(layers=layers)
    window = MainWindow(spec=spec, workspace=tmp_path / "runs")
    qtbot.addWidget(window)
    if size is not None:
        window.resize(*size)  # as on a screen of that size (the test screen is 800×800: Qt would fit it)
    window.show()
    qtbot.waitExposed(window)
    qtbot.waitUntil(lambda: window._plots is not None)
    qtbot.wait(50)  # the first layout check runs once the plots are built
    return window


@pytest.fixture(autouse=True)
def fresh_settings():
    """Every test starts from a first launch (no layout saved by an earlier test)."""
    from PySide6.QtCore import QSettings

    QSettings().clear()
    yield
    QSettings().clear()


def close(window) -> None:
    window._closing_confirmed = True
    window.close()


def test_at_1024x700_the_plots_keep_half_the_width_and_most_of_the_height(qtbot, tmp_path):
    window = open_window(qtbot, tmp_path, (1024, 700))
    plots = window.plots_area
    assert plots.width() >= 0.5 * window.width(), f"plots {plots.width()} of {window.width()} px"
    assert plots.height() >= 0.6 * window.height(), f"plots {plots.height()} of {window.height()} px"
    for title in ("Network", "Training", "Diagnostics"):  # the docks beside them stay readable
        dock = window.docks[title]
        assert dock.width() >= 150 and dock.height() >= 150, (title, dock.size())
        panel = dock.widget().widget()
        assert dock.widget().horizontalScrollBar().maximum() == 0 or panel.minimumSizeHint().width() <= \
            dock.widget().viewport().width(), f"{title} is cut sideways"
    close(window)


def test_at_1280x720_the_layer_table_shows_more_than_two_rows(qtbot, tmp_path):
    window = open_window(qtbot, tmp_path, (1280, 720), layers=6)
    table = window.builder.table
    rows = table.viewport().height() / table.rowHeight(0)
    assert rows > 2.5, f"{rows:.1f} rows in view"
    assert window.plots_area.width() >= 0.5 * window.width()
    close(window)


def test_reset_layout_puts_every_dock_back(qtbot, tmp_path):
    window = open_window(qtbot, tmp_path, (1280, 720))
    window.docks["Diagnostics"].setFloating(True)
    window.docks["Runs"].close()
    window.resizeDocks([window.docks["Network"]], [int(window.width() * 0.8)], Qt.Horizontal)
    QApplication.processEvents()
    reset = next(a for a in window.view_menu.actions() if a.text().replace("&", "") == "Reset layout")
    reset.trigger()
    QApplication.processEvents()
    for title, dock in window.docks.items():
        assert not dock.isFloating() and not dock.isHidden(), title
    assert window.dockWidgetArea(window.docks["Diagnostics"]) == Qt.RightDockWidgetArea
    assert window.plots_area.width() >= 0.5 * window.width()
    close(window)


def test_a_restored_layout_never_leaves_a_dock_unreadable(qtbot, tmp_path):
    first = open_window(qtbot, tmp_path, (1280, 720))
    first.docks["Diagnostics"].setFloating(True)
    first.docks["Diagnostics"].setGeometry(-5000, -5000, 60, 40)  # off every screen, and tiny
    first.resizeDocks([first.docks["Runs"]], [15], Qt.Horizontal)
    QApplication.processEvents()
    close(first)
    second = open_window(qtbot, tmp_path)
    assert second._restored  # the saved layout was read …
    qtbot.wait(50)
    diagnostics = second.docks["Diagnostics"]
    screens = [s.availableGeometry() for s in QApplication.screens()]
    assert diagnostics.isFloating() is False or any(s.intersects(diagnostics.frameGeometry()) for s in screens)
    for title, dock in second.docks.items():  # … and not kept: every dock readable again
        if not dock.isHidden() and not dock.visibleRegion().isEmpty():
            assert dock.width() >= 150 and dock.height() >= 80, (title, dock.size())
    close(second)



def test_no_cell_editor_spills_over_the_next_cell(qtbot, tmp_path):
    window = open_window(qtbot, tmp_path, (1024, 700))
    table = window.builder.table
    for column in range(table.columnCount()):
        editor = table.cellWidget(0, column)
        if editor is not None and not table.isColumnHidden(column):
            assert editor.width() <= table.columnWidth(column), (column, editor.width(), table.columnWidth(column))
    close(window)
