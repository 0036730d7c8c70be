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
