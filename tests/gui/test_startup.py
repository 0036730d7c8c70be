"""Start-up and shut-down of the application process: a fast first paint, and no wait for TensorFlow on close."""

import os
import subprocess
import sys
import time

import pytest

CLOSE_WHILE_LOADING = """
import sys, time
from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication
from vg_studio.gui import app as vg_app
from vg_studio.gui.main_window import MainWindow

qt = QApplication(["vg-studio"])

def close():
    window = next(w for w in qt.topLevelWidgets() if isinstance(w, MainWindow))
    print("loading", window.keras_loader.isRunning(), "at", time.time(), flush=True)
    window.close()

QTimer.singleShot(600, close)
sys.exit(vg_app.main([]))
"""


@pytest.mark.timeout(120)
def test_closing_while_tensorflow_loads_exits_at_once(tmp_path):
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", XDG_CONFIG_HOME=str(tmp_path), TF_CPP_MIN_LOG_LEVEL="3")
    out = subprocess.run([sys.executable, "-c", CLOSE_WHILE_LOADING], capture_output=True, text=True, timeout=120,
                         env=env)
    ended = time.time()
    assert out.returncode == 0, out.stderr[-2000:]
    words = out.stdout.split()
    if words[1] != "True":
        pytest.skip("TensorFlow finished loading within 0.6 s: nothing to wait for")
    # the import of TensorFlow takes seconds; the process must not sit it out
    assert ended - float(words[3]) < 2.0, f"exited {ended - float(words[3]):.1f} s after close"
    assert "QThread: Destroyed" not in out.stderr
    assert (tmp_path / "VG Studio" / "VG Studio.conf").is_file()  # window state saved before exiting


@pytest.mark.timeout(120)
def test_first_paint_needs_neither_tensorflow_nor_pyqtgraph():
    code = ("import sys; import vg_studio.gui.app, vg_studio.gui.main_window; "
            "assert not {'tensorflow', 'keras', 'pyqtgraph'} & set(sys.modules), 'imported too early'")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
