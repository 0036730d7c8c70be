"""Grab the main window mid-training as a PNG (the README screenshots). Run under a real X server or Xvfb:

    xvfb-run -a -s "-screen 0 1600x1000x24" python benchmarks/screenshot.py docs/screenshot.png
    xvfb-run -a -s "-screen 0 1600x1000x24" python benchmarks/screenshot.py docs/screenshot-rnn.png \\
        --preset resources/presets/teach-rnn-simple.json --at-step 400

Without --preset it trains the default example (the 6-layer sigmoid network whose gradients vanish).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("XDG_CONFIG_HOME", tempfile.mkdtemp(prefix="vg-shot-config-"))  # a first launch


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("output")
    parser.add_argument("--preset", help="an experiment JSON to train instead of the default example")
    parser.add_argument("--at-step", type=int, default=300, help="grab once training has reached this step")
    parser.add_argument("--size", default="1600x1000")
    args = parser.parse_args()

    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QApplication

    from vg_studio.gui.main_window import MainWindow
    from vg_studio.spec import ExperimentSpec, example_spec

    app = QApplication(["vg-studio"])
    spec = ExperimentSpec.load(args.preset) if args.preset else example_spec()
    window = MainWindow(spec=spec, workspace=tempfile.mkdtemp(prefix="vg-shot-runs-"))
    width, height = map(int, args.size.split("x"))
    window.resize(width, height)
    window.show()
    state = {"run": None, "started": time.monotonic()}

    def poll() -> None:
        run = state["run"]
        if state.get("done"):
            return
        if run is None and window.keras_ready and window.data_panel.dataset is not None:
            state["run"] = window.train()
        elif run is not None and (run.step >= args.at_step or not window.training):
            if run.findings:  # show the first finding's details, as a user clicking it would
                window.diagnostics.tree.setCurrentItem(window.diagnostics.tree.topLevelItem(0).child(0))
            window.plots.redraw()
            app.processEvents()
            window.grab().save(args.output)
            state["done"] = True
            print(f"{args.output}: step {run.step}, {len(run.findings)} findings, "
                  f"{time.monotonic() - state['started']:.0f} s")
            window.worker.cancel()
            QTimer.singleShot(0, window.close)
        elif time.monotonic() - state["started"] > 600:
            print("timed out", file=sys.stderr)
            app.exit(1)

    timer = QTimer()
    timer.timeout.connect(poll)
    timer.start(100)
    return app.exec()


if __name__ == "__main__":
    sys.exit(main())
