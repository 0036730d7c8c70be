"""Light and dark themes: a Fusion palette from resources/themes/<name>.json plus a small style sheet, applied
to Qt at once (switching at run time re-colours every open widget; the plots re-colour through their own
`apply_theme`)."""

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
          "tooltip_text": QPalette.ToolTipText, "placeholder_text": QPalette.PlaceholderText,
          "link": QPalette.Link}


def load_theme(name: str) -> dict:
    path = RESOURCES / "themes" / f"{name if name in THEMES else 'light'}.json"
    return json.loads(path.read_text(encoding="utf-8"))


def style_sheet(colors: dict) -> str:
    """Check boxes drawn the same in every theme and in every widget (Fusion draws an unchecked box's border in
    a darker shade of the window colour: invisible on a dark window, and a tinted table cell fills it)."""
    check = (RESOURCES / "themes" / "check.svg").as_posix()
    box = "QCheckBox::indicator, QAbstractItemView::indicator, QGroupBox::indicator"
    return f"""
{box} {{ width: 13px; height: 13px; border: 1px solid {colors['indicator_border']}; border-radius: 2px;
         background: {colors['base']}; }}
{box.replace('indicator', 'indicator:checked')} {{ background: {colors['highlight']};
         border-color: {colors['highlight']}; image: url("{check}"); }}
{box.replace('indicator', 'indicator:disabled')} {{ border-color: {colors['placeholder_text']};
         background: {colors['window']}; }}
{box.replace('indicator', 'indicator:checked:disabled')} {{ background: {colors['placeholder_text']}; }}
"""


def apply_theme(app: QApplication, name: str) -> dict:
    colors = load_theme(name)
    # Each of these re-polishes every widget of every window: skipped when nothing changes (a new window with
    # the theme already applied costs nothing here).
    # The style is set once: with a style sheet applied, app.style() is Qt's style-sheet wrapper (its name is
    # empty), and replacing the style again on every theme switch re-created every widget's style under windows
    # that are being closed (a crash).
    if app.property("vg_studio_style") != "fusion":
        app.setStyle("Fusion")
        app.setProperty("vg_studio_style", "fusion")
    palette = QPalette()
    for key, role in _ROLES.items():
        if key in colors:
            palette.setColor(role, QColor(colors[key]))
    palette.setColor(QPalette.Disabled, QPalette.ButtonText, QColor(colors["placeholder_text"]))
    palette.setColor(QPalette.Disabled, QPalette.Text, QColor(colors["placeholder_text"]))
    palette.setColor(QPalette.Disabled, QPalette.WindowText, QColor(colors["placeholder_text"]))
    if app.palette() != palette:
        app.setPalette(palette)
    sheet = style_sheet(colors)
    if app.styleSheet() != sheet:
        app.setStyleSheet(sheet)
    if "pyqtgraph" in sys.modules:  # imported only once the plots are built, after the first paint
        configure_pyqtgraph(colors)
    return colors


def configure_pyqtgraph(colors: dict) -> None:
    """Colours of plots created from now on."""
    import pyqtgraph as pg

    pg.setConfigOption("background", colors["plot_background"])
    pg.setConfigOption("foreground", colors["plot_foreground"])
