"""Longest main-thread stall of the GUI while it trains, and the time to the first window.

A 5 ms QTimer heartbeat runs on the main thread during a real training run of the example network; the
largest gap between two beats, minus the period, is the longest the window could not respond. Target < 50 ms. The GUI's own handlers are timed too:
on a loaded machine the heartbeat also counts time the OS gave to other processes and TensorFlow code on the
worker thread that holds the GIL, so compare the two numbers.

    python benchmarks/bench_gui_stall.py [--epochs 3] [--limit 2000]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time

T0 = time.perf_counter()
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("XDG_CONFIG_HOME", tempfile.mkdtemp(prefix="vg-bench-config-"))


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--limit", type=int, default=2000)
    args = parser.parse_args()

    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QApplication

    app = QApplication([])
    from vg_studio.gui.main_window import MainWindow
    from vg_studio.spec import example_spec

    from vg_studio import edits

    spec = edits.set_data_option(edits.set_field(example_spec(), "training.epochs", args.epochs), "limit", args.limit)
    window = MainWindow(spec=spec, workspace=tempfile.mkdtemp(prefix="vg-bench-runs-"))
    window.show()
    first_window = {}
    QTimer.singleShot(0, lambda: first_window.setdefault("s", time.perf_counter() - T0))

    handler_ms: list[float] = []  # time the GUI's own code spends per event / redraw on the main thread

    handler_cpu: dict[str, float] = {}

    def timed(function, name):
        def wrapper(*args):
            start, cpu = time.perf_counter(), time.thread_time()
            try:
                return function(*args)
            finally:
                handler_ms.append((time.perf_counter() - start) * 1000)
                key = name if name == "redraw" else type(args[1]).__name__
                handler_cpu[key] = max(handler_cpu.get(key, 0), (time.thread_time() - cpu) * 1000)
        return wrapper
    window._on_event = timed(window._on_event, "event")
    window.plots.redraw = timed(window.plots.redraw, "redraw")

    beats: list[float] = []
    heartbeat = QTimer()
    heartbeat.setInterval(5)
    phases: list[str] = []

    def beat():
        beats.append(time.perf_counter())
        run = state["run"]
        phases.append(f"{run.status} step {run.step}" if run is not None else "-")
    heartbeat.timeout.connect(beat)
    state = {"run": None}

    def poll():
        if state["run"] is None and window.keras_ready and window.data_panel.dataset is not None:
            state["run"] = window.train()
            heartbeat.start()
        elif state["run"] is not None and not window.training:
            heartbeat.stop()
            app.quit()

    poller = QTimer()
    poller.timeout.connect(poll)
    poller.start(20)
    app.exec()
    run = state["run"]
    gaps = [b - a for a, b in zip(beats, beats[1:])]
    worst = sorted(range(len(gaps)), key=gaps.__getitem__)[-5:]
    print("worst gaps (ms, ending in phase):", [(round(gaps[i] * 1000), phases[i + 1]) for i in worst])
    gaps.sort()
    stall_ms = (gaps[-1] - 0.005) * 1000 if gaps else float("nan")
    p99_ms = (gaps[int(0.99 * (len(gaps) - 1))] - 0.005) * 1000 if gaps else float("nan")
    print(f"first window after        {first_window.get('s', float('nan')):.2f} s (target < 1.5 s)")
    print(f"run                       {run.status}: {run.step} steps, {len(run.record_steps)} probe records")
    print(f"heartbeats                {len(beats)} over {beats[-1] - beats[0]:.1f} s" if beats else "no beats")
    print(f"longest main-thread stall {stall_ms:.1f} ms (target < 50 ms); 99th percentile {p99_ms:.1f} ms")
    print(f"plot redraws              {window.plots.redraw_count}")
    print(f"GUI handlers              {len(handler_ms)} calls, longest {max(handler_ms, default=0):.1f} ms, "
          f"total {sum(handler_ms) / 1000:.2f} s")
    print("longest main-thread CPU per handler (ms):", {k: round(v, 1) for k, v in handler_cpu.items()})
    print(f"load average              {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs (stalls include time the OS "
          f"gave to other processes)")
    window.close()
    return 0 if stall_ms < 50 else 1


if __name__ == "__main__":
    sys.exit(main())
