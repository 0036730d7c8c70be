"""The run colours (vg_studio.report.palette) and a swatch of one for Qt lists."""

from __future__ import annotations

from vg_studio.report.palette import RUN_COLORS, next_run_color, run_color, shade  # noqa: F401


def swatch_icon(color: str, size: int = 12):
    """A filled square of the run's colour for list items (QIcon)."""
    from PySide6.QtGui import QColor, QIcon, QPixmap

    pixmap = QPixmap(size, size)
    pixmap.fill(QColor(color))
    return QIcon(pixmap)
