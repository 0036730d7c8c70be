"""The desktop application. The only package that imports PySide6 / pyqtgraph; Keras is imported lazily."""

import sys


def _pin_none() -> None:
    """PySide6 6.12 on Python < 3.12 drops one reference to None on every call that returns None
    (`widget.setToolTip(...)`), so an editing session ends in "Fatal Python error: none_dealloc" after some
    thousand calls. Python 3.12 made None immortal; give older interpreters the same by raising its reference
    count far beyond reach (ob_refcnt is the first field of every CPython object)."""
    if sys.version_info >= (3, 12) or sys.implementation.name != "cpython":
        return
    from importlib.metadata import PackageNotFoundError, version

    try:
        if not version("PySide6").startswith("6.12."):  # pyproject excludes 6.12.0; guard a forced install
            return
    except PackageNotFoundError:
        return
    import ctypes

    ctypes.c_ssize_t.from_address(id(None)).value += 1 << 40


_pin_none()


def release_qt() -> None:
    """Close and delete every window and widget, in Qt's own order, while Python is whole. At interpreter exit
    PySide deletes every Qt object still wrapped, in no particular order; a pyqtgraph scene deleted while one of its
    own items is being torn down crashes the process (SIGSEGV in QGraphicsScene::clear). The app itself ends with
    os._exit; anything else that built widgets (tests, scripts) gets this at exit, or calls it earlier."""
    import gc

    from PySide6.QtCore import QCoreApplication, QEvent
    from PySide6.QtWidgets import QApplication, QMenu

    app = QApplication.instance()
    if app is None:
        return
    # the windows and panels, not the menus pyqtgraph keeps without a parent: their owners delete those, and
    # deleting a menu before its plot crashes in the plot's destructor
    for widget in app.topLevelWidgets():
        try:
            if isinstance(widget, QMenu) or not (widget.isVisible() or widget.isWindow() and widget.children()):
                continue
            if hasattr(widget, "_closing_confirmed"):  # a main window: no question about unsaved changes now
                widget._closing_confirmed = True
            widget.close()
            widget.deleteLater()
        except RuntimeError:  # its C++ object is already gone
            continue
    for _ in range(3):
        QCoreApplication.sendPostedEvents(None, QEvent.DeferredDelete)
        gc.collect()


import atexit  # noqa: E402

import PySide6.QtCore  # noqa: E402,F401  (registers PySide's exit cleanup first: atexit runs ours before it)

atexit.register(release_qt)
