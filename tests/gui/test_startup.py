"""Start-up and shut-down of the application process: a fast first paint, TensorFlow only in the training
process, no wait for it on close, and `vg-studio gui PATH`."""

import json
import os
import subprocess
import sys
import time

import pytest

from tests.gui.conftest import gui_spec

CLOSE_WHILE_LOADING = """
import sys, time
from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication
from vg_studio.gui import app as vg_app
from vg_studio.gui.main_window import MainWindow
from vg_studio.runner import shared_pool

qt = QApplication(["vg-studio"])

def close():
    window = next(w for w in qt.topLevelWidgets() if isinstance(w, MainWindow))
    spare = shared_pool()._spare
    print("loading", not window.keras_ready, spare.pid if spare else 0, "at", time.time(), flush=True)
    window.close()

QTimer.singleShot(600, close)
sys.exit(vg_app.main([]))
"""


def app_env(tmp_path) -> dict:
    return dict(os.environ, QT_QPA_PLATFORM="offscreen", XDG_CONFIG_HOME=str(tmp_path), XDG_CACHE_HOME=str(tmp_path),
                TF_CPP_MIN_LOG_LEVEL="3", VG_STUDIO_REUSE_TRAINING_PROCESS="0")


@pytest.mark.timeout(120)
def test_closing_while_tensorflow_loads_exits_at_once_and_ends_the_training_process(tmp_path):
    out = subprocess.run([sys.executable, "-c", CLOSE_WHILE_LOADING], capture_output=True, text=True, timeout=120,
                         env=app_env(tmp_path))
    ended = time.time()
    assert out.returncode == 0, out.stderr[-2000:]
    words = out.stdout.split()
    if words[1] != "True":
        pytest.skip("TensorFlow finished loading within 0.6 s: nothing to wait for")
    assert ended - float(words[4]) < 2.0, f"exited {ended - float(words[4]):.1f} s after close"
    assert "QThread: Destroyed" not in out.stderr and "Traceback" not in out.stderr
    assert (tmp_path / "VG Studio" / "VG Studio.conf").is_file()  # window state saved before exiting
    pid = int(words[2])
    assert pid and not os.path.exists(f"/proc/{pid}") or _zombie(pid), "the warm training process outlived the app"


def _zombie(pid: int) -> bool:
    try:
        return open(f"/proc/{pid}/stat").read().split()[2] == "Z"
    except OSError:
        return True


@pytest.mark.timeout(120)
def test_first_paint_needs_neither_tensorflow_nor_pyqtgraph():
    code = ("import sys; import vg_studio.gui.app, vg_studio.gui.main_window; "
            "assert not {'tensorflow', 'keras', 'pyqtgraph'} & set(sys.modules), 'imported too early'")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]


OPEN_PATH = """
import sys
from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication
from vg_studio.gui import app as vg_app
from vg_studio.gui.main_window import MainWindow

qt = QApplication(["vg-studio"])

def report():
    window = next(w for w in qt.topLevelWidgets() if isinstance(w, MainWindow))
    spec = window.document.spec
    print("TITLE", window.windowTitle())
    print("SPEC", spec.name, len(spec.network.layers), [r.name for r in window.runs.runs], flush=True)
    window.close()

QTimer.singleShot(400, report)
sys.exit(vg_app.main(sys.argv[1:]))
"""


@pytest.mark.timeout(120)
def test_gui_path_opens_a_spec_and_refuses_a_missing_one(tmp_path):
    spec = gui_spec(layers=4)
    path = tmp_path / "four layers.json"
    spec.save(path)
    out = subprocess.run([sys.executable, "-c", OPEN_PATH, str(path)], capture_output=True, text=True,
                         timeout=120, env=app_env(tmp_path))
    assert out.returncode == 0, out.stderr[-2000:]
    assert f"SPEC {spec.name} 4 []" in out.stdout and "four layers.json" in out.stdout

    missing = subprocess.run([sys.executable, "-m", "vg_studio.cli", "gui", str(tmp_path / "nope.json")],
                             capture_output=True, text=True, timeout=120, env=app_env(tmp_path))
    assert missing.returncode == 2
    assert missing.stderr.strip() == f"vg-studio: error: {tmp_path / 'nope.json'}: no such file or folder"
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({**spec.to_dict(), "loss": "nope"}))
    refused = subprocess.run([sys.executable, "-m", "vg_studio.cli", "gui", str(bad)], capture_output=True,
                             text=True, timeout=120, env=app_env(tmp_path))
    assert refused.returncode == 2 and len(refused.stderr.strip().splitlines()) == 1
    assert refused.stderr.startswith("vg-studio: error: ") and "loss" in refused.stderr


def test_missing_desktop_libraries_are_named_before_qt_aborts(monkeypatch, capsys):
    from vg_studio.gui import app as vg_app

    monkeypatch.setenv("QT_QPA_PLATFORM", "xcb")
    monkeypatch.setenv("DISPLAY", ":0")
    monkeypatch.setattr(vg_app, "missing_xcb_libraries", lambda: ["libxcb-cursor.so.0", "libxcb-icccm.so.4"])
    assert vg_app.main([]) == 2
    err = capsys.readouterr().err.strip()
    assert err == ("vg-studio: error: Qt's X11 (xcb) platform needs libxcb-cursor.so.0, libxcb-icccm.so.4, not "
                   "installed on this system; on Debian/Ubuntu: sudo apt-get install libxcb-cursor0 libxcb-icccm4")
    monkeypatch.delenv("DISPLAY")
    assert vg_app.main([]) == 2 and "DISPLAY is not set" in capsys.readouterr().err


def test_the_missing_libraries_are_read_from_the_plugin(monkeypatch):
    from vg_studio.gui import app as vg_app

    ldd = ("\tlibQt6XcbQpa.so.6 => /x/libQt6XcbQpa.so.6 (0x1)\n\tlibxcb-icccm.so.4 => not found\n"
           "\tlibxkbcommon-x11.so.0 => not found\n\tlibc.so.6 => /lib/libc.so.6 (0x2)\n")
    monkeypatch.setattr(vg_app.subprocess, "run", lambda *a, **k: subprocess.CompletedProcess(a, 0, ldd, ""))
    assert vg_app.missing_xcb_libraries() == ["libxcb-icccm.so.4", "libxkbcommon-x11.so.0"]
    assert [vg_app.debian_package(n) for n in ("libxkbcommon-x11.so.0", "libEGL.so.1", "libdbus-1.so.3")] == \
        ["libxkbcommon-x11-0", "libegl1", "libdbus-1-3"]
