"""Light and dark themes: a Fusion palette from resources/themes/<name>.json, applied to Qt and pyqtgraph."""

from __future__ import annotations

import json
import sys

from PySide6.QtGui import QColor, QPalette
from PySide6.QtWidgets import QApplication

from vg_studio.resources import RESOURCES  # noqa: E402  (spec: a checkout's resources/ or an installed wheel's)

THEMES = ("light", "dark")
_ROLES = {"window": QPalette.Window, "window_text": QPalette.WindowText, "base": QPalette.Base,
          "alternate_base": QPalette.AlternateBase, "text": QPalette.Text, "button": QPalette.Button,
          "button_text": QPalette.ButtonText, "highlight": QPalette.Highlight,
          "highlighted_text": QPalette.HighlightedText, "tooltip_base": QPalette.ToolTipBase,
          "tooltip_text": QPalette.ToolTipText, "placeholder_text": QPalette.PlaceholderText}


def load_theme(name: str) -> dict:
    path = RESOURCES / "themes" / f"{name if name in THEMES else 'light'}.json"
    return json.loads(path.read_text(encoding="utf-8"))


def apply_theme(app: QApplication, name: str) -> dict:
    colors = load_theme(name)
    app.setStyle("Fusion")
    palette = QPalette()
    for key, role in _ROLES.items():
        palette.setColor(role, QColor(colors[key]))
    palette.setColor(QPalette.Disabled, QPalette.ButtonText, QColor(colors["placeholder_text"]))
    palette.setColor(QPalette.Disabled, QPalette.Text, QColor(colors["placeholder_text"]))
    app.setPalette(palette)
    if "pyqtgraph" in sys.modules:  # imported only once the plots are built, after the first paint
        configure_pyqtgraph(colors)
    return colors


def configure_pyqtgraph(colors: dict) -> None:
    """Colours of plots created from now on."""
    import pyqtgraph as pg

    pg.setConfigOption("background", colors["plot_background"])
    pg.setConfigOption("foreground", colors["plot_foreground"])


def style_plot_widget(widget, colors: dict) -> None:
    """Re-colour an existing plot (pyqtgraph's config options only affect plots created later)."""
    widget.setBackground(colors["plot_background"])
    plot = widget.getPlotItem()
    for side in ("left", "bottom"):
        axis = plot.getAxis(side)
        axis.setPen(colors["plot_foreground"])
        axis.setTextPen(colors["plot_foreground"])
    plot.titleLabel.setText(plot.titleLabel.text, color=colors["plot_foreground"])
    if plot.legend is not None:  # a see-through box keeps legend text readable over the curves
        background = QColor(colors["plot_background"])
        background.setAlpha(200)
        plot.legend.setBrush(background)
        plot.legend.setLabelTextColor(colors["plot_foreground"])
