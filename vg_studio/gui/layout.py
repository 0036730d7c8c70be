"""Where the docks go: the default layout for the window's size, View ▸ Reset layout, and a restored layout checked
before it is kept.

The plots are the window's centre and keep at least half its width: the editor docks share the left side, the
diagnostics and the runs the right (one tab group on a laptop-sized window, where two would each get a strip). A
layout restored from the last session is kept only when every dock in it is still readable and the plots keep
their share; otherwise the window starts from the default layout.
"""

from __future__ import annotations

from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import QApplication, QDockWidget, QFrame, QScrollArea, QWidget

LEFT_SHARE, LEFT_RANGE = 0.3, (250, 520)  # the editor docks' width: a share of the window, within this range
WIDE, WIDE_LEFT_SHARE = 1400, 0.31  # a wide window gives the layer table a little more
RIGHT_SHARE, RIGHT_RANGE = 0.18, (180, 320)
NETWORK_SHARE = 0.6  # the network dock's share of the left column's height (the rest: Training | Data)
COMPACT_WIDTH = 1200  # below this, Diagnostics and Runs share one tab group
MIN_PLOTS_SHARE = 0.5  # of the window's width
READABLE = (150, 80)  # a docked dock smaller than this (width, height) is unreadable


def make_dock(window, title: str, widget: QWidget, area) -> QDockWidget:
    """A dock whose panel scrolls when the dock is smaller than the panel would like: a small screen or a
    restored layout never pushes another dock (or the plots) off the window."""
    dock = QDockWidget(title, window)
    dock.setObjectName(title)
    scroll = QScrollArea()
    scroll.setWidgetResizable(True)
    scroll.setFrameShape(QFrame.NoFrame)
    scroll.setWidget(widget)
    dock.setWidget(scroll)
    window.addDockWidget(area, dock)
    window.docks[title] = dock
    return dock


def _clamp(value: float, bounds: tuple) -> int:
    return int(max(bounds[0], min(bounds[1], value)))


def apply_default_layout(window) -> None:
    """Every dock docked where it belongs for the window's current size, visible, and sized."""
    docks = window.docks
    for dock in docks.values():
        dock.setFloating(False)
        window.removeDockWidget(dock)
    window.addDockWidget(Qt.LeftDockWidgetArea, docks["Network"])
    window.addDockWidget(Qt.LeftDockWidgetArea, docks["Training"])
    window.tabifyDockWidget(docks["Training"], docks["Data"])
    window.addDockWidget(Qt.RightDockWidgetArea, docks["Diagnostics"])
    if window.width() < COMPACT_WIDTH:
        window.tabifyDockWidget(docks["Diagnostics"], docks["Runs"])
    else:
        window.addDockWidget(Qt.RightDockWidgetArea, docks["Runs"])
    trials = docks.get("Fix trials")
    if trials is not None:
        window.tabifyDockWidget(docks["Runs"], trials)
    for dock in docks.values():
        dock.show()
    docks["Training"].raise_()
    docks["Diagnostics"].raise_()
    size_docks(window)
    QTimer.singleShot(0, lambda: size_docks(window))  # again once the re-docked widgets are laid out


def size_docks(window) -> None:
    """The default widths and heights for the window's size (the plots get what the docks leave)."""
    docks = window.docks
    width, height = window.width(), window.height()
    share = WIDE_LEFT_SHARE if width >= WIDE else LEFT_SHARE
    left, right = _clamp(share * width, LEFT_RANGE), _clamp(RIGHT_SHARE * width, RIGHT_RANGE)
    left = min(left, int(share * width))  # on a small window the shares win over the ranges' minimum
    right = min(right, int(0.19 * width))
    window.resizeDocks([docks["Network"], docks["Diagnostics"]], [left, right], Qt.Horizontal)
    window.resizeDocks([docks["Network"], docks["Training"]],
                       [int(NETWORK_SHARE * height), int((1 - NETWORK_SHARE) * height)], Qt.Vertical)
    if not window.tabifiedDockWidgets(docks["Runs"]):
        window.resizeDocks([docks["Diagnostics"], docks["Runs"]], [int(0.6 * height), int(0.4 * height)],
                           Qt.Vertical)


def unreadable(window) -> list[str]:
    """Why the current layout cannot be kept: docks squeezed or off screen, plots without their share ([] when
    it is fine)."""
    problems = []
    screens = [s.availableGeometry() for s in QApplication.screens()]
    for title, dock in window.docks.items():
        if dock.isHidden():
            continue
        if dock.isFloating():
            if screens and not any(s.intersects(dock.frameGeometry()) for s in screens):
                problems.append(f"{title} is off screen")
            continue
        size = dock.size()
        if (size.width() < READABLE[0] or size.height() < READABLE[1]) and not _behind_a_tab(window, dock):
            problems.append(f"{title} is {size.width()}×{size.height()} px")
    central = window.centralWidget()
    if central is not None and central.width() < MIN_PLOTS_SHARE * window.width() - 2:
        problems.append(f"the plots have {central.width()} of {window.width()} px")
    return problems


def _behind_a_tab(window, dock: QDockWidget) -> bool:
    """A dock tabbed behind another is not on screen now: its size says nothing."""
    return bool(window.tabifiedDockWidgets(dock)) and dock.visibleRegion().isEmpty()


def focus_dock(dock: QDockWidget) -> QWidget | None:
    """Show and raise a dock and put the keyboard focus on its first field or button (View ▸ Go to)."""
    dock.show()
    dock.raise_()
    panel = dock.widget()
    inner = panel.widget() if isinstance(panel, QScrollArea) else panel
    target = _first_focusable(inner)
    if target is not None:
        target.setFocus(Qt.ShortcutFocusReason)
    return target


def _first_focusable(widget: QWidget) -> QWidget | None:
    if widget is None:
        return None
    candidate = widget.nextInFocusChain()
    seen = 0
    while candidate is not None and candidate is not widget and seen < 500:
        if (candidate.focusPolicy() & Qt.TabFocus) and candidate.isEnabled() and candidate.isVisibleTo(widget) \
                and widget.isAncestorOf(candidate):
            return candidate
        candidate, seen = candidate.nextInFocusChain(), seen + 1
    return None
