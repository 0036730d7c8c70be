"""From a notebook: open the app on a run in its own process (it follows the run while it is written), so the
notebook's kernel never runs a Qt event loop and closing the window leaves the kernel as it was.

    import vg_studio
    vg_studio.open("runs/my-model")          # or monitor.open_app() on a GradientMonitor
    vg_studio.report("runs/my-model")        # the report, inline (last expression of a cell)
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path


def app_command(run_dir) -> list[str]:
    """The command that opens the app on `run_dir`: `vg-studio gui RUN_DIR` with this Python."""
    return [sys.executable, "-m", "vg_studio.cli", "gui", os.fspath(Path(run_dir))]


def open_app(run_dir) -> subprocess.Popen:
    """Start the app on `run_dir` in a process of its own (its own session: the kernel's interrupt does not reach
    it) and return at once; the window follows the run while it trains. Returns the process (`.terminate()` closes
    it). The folder must exist: GradientMonitor makes it when training starts."""
    path = Path(run_dir)
    if not path.is_dir():
        raise FileNotFoundError(f"{path}: no such run directory (open the app once training has started)")
    return subprocess.Popen(app_command(path), stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                            stderr=None, start_new_session=True, close_fds=True)
