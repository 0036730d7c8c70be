"""One colour per run, the same in every plot and in the runs list.

Plain "#rrggbb" strings and no Qt/pyqtgraph import at module level: the runs list uses this before the plots (and
pyqtgraph) are loaded. The colours are Tableau 10 (Stone, 2016): distinct hues of medium lightness that read on both
the light and the dark plot background, and stay apart for the common kinds of colour blindness better than the
rainbow.
"""

from __future__ import annotations

import itertools

RUN_COLORS = ("#4e79a7", "#f28e2b", "#e15759", "#59a14f", "#b07aa1", "#76b7b2", "#edc948", "#9c755f",
              "#ff9da7", "#bab0ac")

_next_index = itertools.count()


def run_color(index: int) -> str:
    return RUN_COLORS[index % len(RUN_COLORS)]


def next_run_color() -> str:
    """The colour of the next run of this session: runs keep their colour when others are added or removed."""
    return run_color(next(_next_index))


def shade(color: str, amount: float) -> str:
    """The colour mixed towards black (amount < 0) or white (amount > 0), |amount| ≤ 1: layer depth within a run."""
    rgb = [int(color[i:i + 2], 16) for i in (1, 3, 5)]
    target = 255 if amount > 0 else 0
    mixed = [round(c + (target - c) * abs(amount)) for c in rgb]
    return "#" + "".join(f"{c:02x}" for c in mixed)


def swatch_icon(color: str, size: int = 12):
    """A filled square of the run's colour for list items (QIcon)."""
    from PySide6.QtGui import QColor, QIcon, QPixmap

    pixmap = QPixmap(size, size)
    pixmap.fill(QColor(color))
    return QIcon(pixmap)
