"""Longest main-thread stall of the app while it trains, and how fast it closes mid-run.

A real training run of the example network (the deep sigmoid MLP of `vg-studio spec --example`, in the app's own
training process) while a 5 ms QTimer heartbeat runs on the main thread. The largest gap between two beats, minus
the period, is the longest the window could not respond. Measured from the click on Train (the warm training
process is ready, as after start-up) through the end of the run, the first epoch's tracing included.
Targets: longest stall <= 50 ms, 99th percentile <= 25 ms.

The GUI's own work is timed too (event batches and plot redraws, wall and CPU time on the main thread): on a busy
machine the heartbeat also counts time the OS gave to other processes, so compare the two to see what dominates.
Then a second run is started and the window closed mid-run: it must exit within 2 s and leave a "cancelled" run
with its completed epochs.

    QT_QPA_PLATFORM=offscreen python benchmarks/bench_gui_stall.py [--epochs 3] [--limit 2000] [--repeat 1]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import threading
import time
import traceback

T0 = time.perf_counter()
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("XDG_CONFIG_HOME", tempfile.mkdtemp(prefix="vg-bench-config-"))
os.environ.pop("VG_STUDIO_REUSE_TRAINING_PROCESS", None)  # as the app runs: a fresh process per run


def percentile(values: list, q: float) -> float:
    values = sorted(values)
    return values[int(q * (len(values) - 1))] if values else float("nan")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--limit", type=int, default=2000, help="training examples of mnist-5k")
    parser.add_argument("--repeat", type=int, default=1, help="training runs measured one after the other")
    args = parser.parse_args()

    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QApplication

    from vg_studio import edits
    from vg_studio.spec import example_spec

    app = QApplication(["vg-studio"])
    from vg_studio.gui.main_window import MainWindow

    spec = edits.set_data_option(edits.set_field(example_spec(), "training.epochs", args.epochs), "limit", args.limit)
    workspace = tempfile.mkdtemp(prefix="vg-bench-runs-")
    window = MainWindow(spec=spec, workspace=workspace)
    window.show()
    first_window = {}
    QTimer.singleShot(0, lambda: first_window.setdefault("s", time.perf_counter() - T0))

    handler_ms: dict[str, list] = {"events": [], "redraw": []}  # main-thread wall time of the GUI's own work
    handler_cpu: dict[str, float] = {"events": 0.0, "redraw": 0.0}  # longest main-thread CPU time
    batch_cpu: dict[str, float] = {}  # longest CPU time of an event batch, by the kinds of event in it

    def timed(function, name):
        def wrapper(*a, **k):
            start, cpu = time.perf_counter(), time.thread_time()
            try:
                return function(*a, **k)
            finally:
                used = (time.thread_time() - cpu) * 1000
                handler_ms[name].append((time.perf_counter() - start) * 1000)
                handler_cpu[name] = max(handler_cpu[name], used)
                if name == "events":
                    kinds = "+".join(sorted({type(e).__name__ for e in a[1]} - {"BatchEnd"})) or "BatchEnd"
                    batch_cpu[kinds] = max(batch_cpu.get(kinds, 0.0), used)
        return wrapper

    window._on_events = timed(window._on_events, "events")
    window.plots.redraw = timed(window.plots.redraw, "redraw")

    beats: list[float] = []
    phases: list[str] = []
    heartbeat = QTimer()
    heartbeat.setInterval(5)

    def beat():
        beats.append(time.perf_counter())
        run = state["run"]
        phases.append(f"{run.status} step {run.step}" if run is not None else "-")

    heartbeat.timeout.connect(beat)

    # What the main thread was doing during a stall: a watchdog thread samples its stack while a beat is late.
    main_id = threading.get_ident()
    samples: list[tuple[float, str]] = []
    watching = {"on": True}

    def watchdog():
        while watching["on"]:
            time.sleep(0.005)
            if state["run"] is not None and beats and time.perf_counter() - beats[-1] > 0.02:
                frame = sys._current_frames().get(main_id)
                if frame is not None:
                    stack = traceback.extract_stack(frame)
                    ours = [f"{os.path.basename(f.filename)}:{f.lineno} {f.name}" for f in stack
                            if "vg_studio" in f.filename or "pyqtgraph" in f.filename][-4:]
                    samples.append((time.perf_counter(), " < ".join(reversed(ours)) or "(Qt event loop)"))

    threading.Thread(target=watchdog, daemon=True).start()
    state = {"run": None, "runs": [], "train_clicked": 0.0, "started_after": [], "closing": None}

    def poll():
        run = state["run"]
        if run is None and window.keras_ready and window.data_panel.dataset is not None:
            if len(state["runs"]) < args.repeat:
                heartbeat.start()
                state["train_clicked"] = time.perf_counter()
                window.actions_["train"].trigger()
                state["run"] = window.current_run
            elif state["closing"] is None:  # the last part: close the window mid-run
                window.actions_["train"].trigger()
                state["closing"] = {"run": window.current_run}
        elif run is not None:
            if run.status == "running" and len(state["started_after"]) < len(state["runs"]) + 1:
                state["started_after"].append(time.perf_counter() - state["train_clicked"])
            if not window.training:
                heartbeat.stop()
                state["runs"].append(run)
                state["run"] = None
        closing = state["closing"]
        if closing is not None and "t" not in closing and len(closing["run"].epoch_metric("loss")) >= 1:
            closing["t"] = time.perf_counter()
            window.close()
            closing["closed_s"] = time.perf_counter() - closing["t"]
            app.quit()

    poller = QTimer()
    poller.timeout.connect(poll)
    poller.start(20)
    app.exec()

    watching["on"] = False
    gaps = [(b - a) * 1000 - 5 for a, b in zip(beats, beats[1:])]
    worst = sorted(range(len(gaps)), key=gaps.__getitem__)[-5:]
    for i in reversed(worst):
        seen: dict[str, int] = {}
        for t, where in samples:
            if beats[i] <= t <= beats[i + 1]:
                seen[where] = seen.get(where, 0) + 1
        print(f"stall {gaps[i]:6.1f} ms ({phases[i + 1]}): main thread in", seen or "(no sample)")
    stall, p99 = max(gaps, default=float("nan")), percentile(gaps, 0.99)
    print(f"first window after          {first_window.get('s', float('nan')):.2f} s")
    for run in state["runs"]:
        print(f"run                         {run.status}: {run.step} steps, {run.num_records} probe records")
    print("Train → training started     " + ", ".join(f"{s:.2f} s" for s in state["started_after"]) +
          " (the warm training process has TensorFlow loaded: data, model and first trace only)")
    print(f"heartbeats                  {len(beats)} over {(beats[-1] - beats[0]) if beats else 0:.1f} s")
    print("worst gaps (ms, phase)      ", [(round(gaps[i]), phases[i + 1]) for i in reversed(worst)])
    print(f"longest main-thread stall   {stall:.1f} ms (target <= 50 ms)")
    print(f"99th percentile             {p99:.1f} ms (target <= 25 ms)")
    for name, values in handler_ms.items():
        print(f"GUI {name:<8} handler        {len(values)} calls, median {statistics.median(values or [0]):.2f} ms, "
              f"longest {max(values, default=0):.1f} ms wall / {handler_cpu[name]:.1f} ms CPU, "
              f"total {sum(values) / 1000:.2f} s")
    print("longest CPU per batch kind  ", {k: round(v, 1) for k, v in sorted(batch_cpu.items())})
    print(f"load average                {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs (stalls include time the OS "
          "gave to other processes)")
    closing = state["closing"] or {}
    report = {}
    if closing.get("run") is not None and closing["run"].run_dir is not None:
        try:
            report = json.loads((closing["run"].run_dir / "report.json").read_text())
        except (OSError, ValueError):
            report = {}
    exit_ok = closing.get("closed_s", 99) < 2.0 and report.get("status") == "cancelled"
    print(f"close mid-run               window closed in {closing.get('closed_s', float('nan')):.2f} s (target < 2 s);"
          f" run {report.get('status', '?')} with {report.get('epochs_completed', '?')} completed epoch(s)")
    ok = stall <= 50 and p99 <= 25 and exit_ok
    print("PASS" if ok else "FAIL")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
