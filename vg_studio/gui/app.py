"""`vg-studio [gui] [PATH]`: create the application and show the main window at once (TensorFlow loads in the
training process, never in this one).

PATH may be an experiment (.json), which opens in the editor, or a run folder, which opens and — while another
process still writes it — is followed live. A PATH that does not exist, a spec that does not load, or a desktop
missing the libraries Qt needs, end with one line on stderr and exit status 2 before any window appears.
"""

from __future__ import annotations

import logging
import logging.handlers
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

from vg_studio.startup import OneLineFormatter

os.environ.setdefault("PYQTGRAPH_QT_LIB", "PySide6")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

log = logging.getLogger("vg_studio")


class StartError(Exception):
    """A one-line reason the app cannot start (printed as `vg-studio: error: …`, exit 2)."""


def resolve_path(argument: str):
    """("spec", ExperimentSpec, path) or ("run", None, path) for the command line's PATH."""
    path = Path(argument).expanduser()
    if not path.exists():
        raise StartError(f"{argument}: no such file or folder")
    if path.is_dir():
        return "run", None, path
    if path.suffix.lower() != ".json":
        raise StartError(f"{argument}: not an experiment (.json) or a run folder")
    from vg_studio.spec import ExperimentSpec, SpecError

    try:
        return "spec", ExperimentSpec.load(path), path
    except SpecError as exc:
        raise StartError(str(exc).splitlines()[0]) from None


# ---- the libraries Qt's X11 (xcb) platform needs -----------------------------------------------------------------
def _platform_is_xcb() -> bool:
    if not sys.platform.startswith("linux"):
        return False
    chosen = os.environ.get("QT_QPA_PLATFORM", "")
    if chosen:
        return chosen.split(";")[0].split(":")[0] == "xcb"
    wayland = os.environ.get("WAYLAND_DISPLAY") and os.environ.get("XDG_SESSION_TYPE") == "wayland"
    return not wayland


def debian_package(soname: str) -> str:
    """libxcb-icccm.so.4 → libxcb-icccm4, libxkbcommon-x11.so.0 → libxkbcommon-x11-0 (Debian's naming rule)."""
    match = re.fullmatch(r"(.+?)\.so\.(\d+).*", soname)
    if not match:
        return soname
    stem, version = match.group(1).lower(), match.group(2)
    return f"{stem}{'-' if stem[-1].isdigit() else ''}{version}"


def missing_xcb_libraries() -> list[str]:
    """Shared libraries Qt's xcb platform plugin links to that this system lacks ([] when it has them all, or
    when it cannot tell). Qt itself would only abort with "could not load the Qt platform plugin"."""
    try:
        from PySide6 import __file__ as pyside_init
    except ImportError:
        return []
    qt = Path(pyside_init).parent / "Qt"
    plugin = qt / "plugins" / "platforms" / "libqxcb.so"
    if not plugin.is_file():
        return []
    ldd = shutil.which("ldd")
    if ldd:
        try:
            out = subprocess.run([ldd, str(plugin)], capture_output=True, text=True, timeout=20).stdout
        except (OSError, subprocess.SubprocessError):
            out = ""
        missing = re.findall(r"^\s*(\S+)\s+=>\s+not found", out, flags=re.M)
        return sorted(set(missing))
    import ctypes

    try:
        ctypes.CDLL(str(plugin))
    except OSError as exc:  # the loader names the first library it could not find
        match = re.match(r"(\S+\.so[.\d]*): cannot open shared object file", str(exc))
        return [match.group(1)] if match else []
    return []


def check_desktop() -> None:
    """Raise StartError naming what is missing before Qt aborts the process over it."""
    if not _platform_is_xcb():
        return
    if not os.environ.get("DISPLAY"):
        raise StartError("no display to open the window on (DISPLAY is not set); run it on a desktop, or set "
                         "QT_QPA_PLATFORM=offscreen for a window nobody sees")
    missing = missing_xcb_libraries()
    if missing:
        packages = " ".join(debian_package(name) for name in missing)
        raise StartError(f"Qt's X11 (xcb) platform needs {', '.join(missing)}, not installed on this system; "
                         f"on Debian/Ubuntu: sudo apt-get install {packages}")


# ---- logging: details to a file, never a traceback on the terminal ------------------------------------------------
def log_path() -> Path:
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "vg-studio" / "vg-studio.log"


def configure_logging() -> Path | None:
    """Warnings reach the terminal as one line; the details (tracebacks included) go to the log file."""
    root = logging.getLogger()
    if any(getattr(h, "_vg_studio", False) for h in root.handlers):
        return None
    terminal = logging.StreamHandler(sys.stderr)
    terminal.setLevel(logging.WARNING)
    terminal.setFormatter(OneLineFormatter())
    terminal._vg_studio = True
    root.addHandler(terminal)
    path = log_path()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        detailed = logging.handlers.RotatingFileHandler(path, maxBytes=2_000_000, backupCount=2, encoding="utf-8")
    except OSError:
        return None
    detailed.setLevel(logging.INFO)
    detailed.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    detailed._vg_studio = True
    root.addHandler(detailed)
    root.setLevel(logging.INFO)
    return path


def install_excepthook(window_getter) -> None:
    """An exception in a Qt slot becomes a logged error and a message in the window, not a terminal traceback."""
    def hook(kind, value, trace):
        if issubclass(kind, KeyboardInterrupt):
            sys.__excepthook__(kind, value, trace)
            return
        log.error("unexpected error: %s: %s", kind.__name__, value, exc_info=(kind, value, trace))
        window = window_getter()
        if window is not None:
            window.show_error(f"Unexpected error: {kind.__name__}: {value} (details in {log_path()})")
    sys.excepthook = hook


def close_on_signals(window) -> object:
    """Ctrl-C in the terminal, or SIGTERM (a logout, `kill`), closes the window as Quit does — training stops and
    its run is recorded as cancelled — without asking about unsaved changes, and never prints a traceback. Qt's
    event loop does not let Python run signal handlers, so a timer gives it the chance five times a second."""
    import signal

    from PySide6.QtCore import QTimer

    def close(signum, frame) -> None:
        log.warning("%s: closing", signal.Signals(signum).name)
        window._closing_confirmed = True
        QTimer.singleShot(0, window.close)

    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, close)
    ticker = QTimer(window)
    ticker.timeout.connect(lambda: None)
    ticker.start(200)
    return ticker


def main(argv: list[str] | None = None) -> int:
    argv = list(argv or [])
    from vg_studio.limits import LimitsError, check_environment

    try:
        check_environment()  # VG_STUDIO_LIMITS, when set, must be usable
        opened = resolve_path(argv[0]) if argv else None
        check_desktop()
    except (StartError, LimitsError) as exc:
        print(f"vg-studio: error: {exc}", file=sys.stderr)
        return 2
    configure_logging()

    from PySide6.QtCore import QCoreApplication, Qt, QTimer
    from PySide6.QtGui import QGuiApplication, QIcon
    from PySide6.QtWidgets import QApplication

    # Qt 6 scales for high-DPI screens itself; pass fractional factors through so 150 % is not rounded to 200 %.
    QGuiApplication.setHighDpiScaleFactorRoundingPolicy(Qt.HighDpiScaleFactorRoundingPolicy.PassThrough)
    QCoreApplication.setOrganizationName("VG Studio")
    QCoreApplication.setApplicationName("VG Studio")
    app = QApplication.instance() or QApplication(["vg-studio"])
    from vg_studio.gui.theme import RESOURCES

    app.setWindowIcon(QIcon(str(RESOURCES / "vg-studio.svg")))
    app.setDesktopFileName("vg-studio")  # matches resources/vg-studio.desktop (taskbar grouping on Wayland)
    from vg_studio.gui.main_window import MainWindow

    kind, spec, path = opened or (None, None, None)
    window = MainWindow(spec=spec)
    if kind == "spec":
        window.spec_path = path
        window._update_title()
    install_excepthook(lambda: window)
    close_on_signals(window)
    window.show()
    if kind == "run":
        QTimer.singleShot(0, lambda: window.open_run(str(path)))
    code = app.exec()
    from vg_studio.runner import shared_pool

    shared_pool().shutdown()  # the warm training process ends with the app
    # Everything worth keeping is written: runs by their processes (or by the app when one was ended), settings
    # synced when the window closed. Tearing down Qt, pyqtgraph and the loader threads' imports one by one took
    # seconds on a busy machine, so the process ends here.
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
