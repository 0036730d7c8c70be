"""Redraw cost of the plots per frame against the length of the run.

A made-up run (L layers, a probe record every step, per-layer histograms) is built in bulk at each length, then
grows by engine events shaped as the trainer's; the benchmark plays F frames as the app does while training: R new
records arrive, the panel draws one unit of its frame (one plot, or part of a new legend) as its timers do, and
Qt repaints what changed. It prints, per tab and run length, the median and the largest wall-clock time of the redraw
and of the repaint (both on the main thread), and the median main-thread CPU time of each (what the GUI itself
spent: steadier than wall time on a busy machine). The target: a few milliseconds per frame whatever the
run length; what matters is that the columns stay flat as the run grows.

    QT_QPA_PLATFORM=offscreen nice -n 5 python benchmarks/bench_redraw.py [--layers 200] \\
        [--lengths 1000,5000,20000,50000] [--frames 20] [--per-frame 10] [--no-histograms]

Memory: the histograms of 50,000 records × 200 layers take about 1.1 GB (float32); --no-histograms skips them
(and the Distributions tab).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests.gui.synthetic_runs


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--layers", type=int, default=200)
    parser.add_argument("--lengths", default="1000,5000,20000,50000")
    parser.add_argument("--frames", type=int, default=20)
    parser.add_argument("--per-frame", type=int, default=10, help="records arriving between two frames")
    parser.add_argument("--no-histograms", action="store_true")
    parser.add_argument("--size", default="1300x850")
    args = parser.parse_args()
    lengths = [int(n) for n in args.lengths.split(",")]

    from PySide6.QtWidgets import QApplication

    app = QApplication([])
    from tests.gui.synthetic_runs import synthetic_events, synthetic_history
    from vg_studio.gui.plots.panel import PlotsPanel
    from vg_studio.gui.run_data import RunData
    from vg_studio.train import events

    panel = PlotsPanel()
    panel.timer.stop()  # frames are driven here
    width, height = map(int, args.size.split("x"))
    panel.resize(width, height)
    panel.show()
    tabs = [(0, "Training")] + ([] if args.no_histograms else [(1, "Distributions")])
    print(f"{args.layers} layers, {args.per_frame} new records per frame, {args.frames} frames per point, "
          f"panel {width}×{height}; times in ms (median / max)")
    print(f"{'records':>8} {'tab':<14} {'redraw wall':>15} {'cpu':>6} {'paint wall':>15} {'cpu':>6}")
    for length in lengths:
        # the run so far, built in bulk (as if opened from disk), then growing through live events
        history = synthetic_history(args.layers, length, steps_per_epoch=500, histograms=not args.no_histograms)
        run = RunData.from_history("long run", history)
        total = length + len(tabs) * args.frames * args.per_frame
        stream = (e for e in synthetic_events(layers=args.layers, records=total, steps_per_epoch=500,
                                              histograms=not args.no_histograms, batch_events=False,
                                              first_step=length + 1)
                  if isinstance(e, (events.ProbeRecord, events.EpochEnd)))
        panel.show_runs([run])

        def feed(records: int) -> None:
            while records > 0:
                event = next(stream)
                run.apply_event(event)
                records -= isinstance(event, events.ProbeRecord)

        for index, name in tabs:
            panel.tabs.setCurrentIndex(index)
            panel.redraw(visible_only=True)
            app.processEvents()
            redraw, paint, redraw_cpu, paint_cpu = [], [], [], []
            for _ in range(args.frames):
                feed(args.per_frame)
                start, cpu = time.perf_counter(), time.thread_time()
                panel.mark_dirty()  # as the window does for new events
                panel.draw_unit()  # one unit of the frame (one plot or legend), as the panel's timers run it
                middle, middle_cpu = time.perf_counter(), time.thread_time()
                app.processEvents()  # Qt repaints the plots that changed
                redraw.append((middle - start) * 1000)
                paint.append((time.perf_counter() - middle) * 1000)
                redraw_cpu.append((middle_cpu - cpu) * 1000)
                paint_cpu.append((time.thread_time() - middle_cpu) * 1000)
            print(f"{run.num_records:>8} {name:<14} {statistics.median(redraw):>7.1f} / {max(redraw):>5.1f} "
                  f"{statistics.median(redraw_cpu):>6.1f} {statistics.median(paint):>7.1f} / {max(paint):>5.1f} "
                  f"{statistics.median(paint_cpu):>6.1f}", flush=True)
        del run, history
    return 0


if __name__ == "__main__":
    sys.exit(main())
