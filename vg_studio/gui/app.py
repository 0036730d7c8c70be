"""`vg-studio` with no arguments: create the application and show the main window at once (Keras loads later)."""

from __future__ import annotations

import os
import sys

os.environ.setdefault("PYQTGRAPH_QT_LIB", "PySide6")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def main(argv: list[str] | None = None) -> int:
    from PySide6.QtCore import QCoreApplication, Qt
    from PySide6.QtGui import QGuiApplication
    from PySide6.QtWidgets import QApplication

    # Qt 6 scales for high-DPI screens itself; pass fractional factors through so 150 % is not rounded to 200 %.
    QGuiApplication.setHighDpiScaleFactorRoundingPolicy(Qt.HighDpiScaleFactorRoundingPolicy.PassThrough)
    QCoreApplication.setOrganizationName("VG Studio")
    QCoreApplication.setApplicationName("VG Studio")
    app = QApplication.instance() or QApplication(["vg-studio", *(argv or [])])
    from PySide6.QtGui import QIcon

    from vg_studio.gui.theme import RESOURCES

    app.setWindowIcon(QIcon(str(RESOURCES / "vg-studio.svg")))
    app.setDesktopFileName("vg-studio")  # matches resources/vg-studio.desktop (taskbar grouping on Wayland)
    from vg_studio.gui.main_window import MainWindow

    window = MainWindow()
    window.exit_without_waiting = True
    window.show()
    code = app.exec()
    if window.background_work_running:
        # Closed while TensorFlow (or a dataset) was still loading: an import cannot be cancelled, and waiting
        # for it kept a closed window's process alive for seconds. Settings are synced; nothing else to save.
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    return code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
