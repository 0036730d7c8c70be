"""How the run directory's history storage scales: the cost of appending one record as the run
grows, against rewriting the whole history (what history.h5 used to do at every epoch end).

    nice -n 5 python benchmarks/bench_history_append.py                    # 50,000 records x 200 layers
    python benchmarks/bench_history_append.py --records 5000 --layers 50   # a quick look

Each record carries what the probes record per layer: one (L,) statistic per LAYER_STATS name and the two (L, 28)
histograms (HIST_EDGES bins). Reported: the median time of RunStore.write_history for one new record near several
points of the run (alternating nothing else: the whole loop is the measurement), the bytes each append writes,
the time to rewrite the whole history once at those points (the old design, per epoch), the final fold into
history.h5, and open_run of the killed (log) and finished (h5) run. Memory: records x layers x 500 bytes (5 GB at
the default size) — use --records/--layers to stay within the machine.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from vg_studio.catalog import LAYER_STATS  # noqa: E402
from vg_studio.history import History  # noqa: E402
from vg_studio.train.history_file import write_h5  # noqa: E402
from vg_studio.train.runstore import RunStore, open_run  # noqa: E402


def record(h: History, step: int, rng: np.random.Generator, layers: int) -> None:
    stats = {name: rng.random(layers) for name in LAYER_STATS}
    hist = rng.random((layers, 28)).astype(np.float32)
    stats.update(grad_log10_hist=hist, update_log10_hist=hist)
    h.add_record(step, step // 500, 1.0 / step, stats, {"lr": 0.01})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--records", type=int, default=50_000)
    parser.add_argument("--layers", type=int, default=200)
    parser.add_argument("--samples", type=int, default=200, help="appends timed at each point")
    parser.add_argument("--dir", default=None, help="where to write (default: a temporary folder)")
    args = parser.parse_args()
    points = sorted({p for p in (100, 1_000, 10_000, 50_000, args.records) if p <= args.records})
    root = Path(args.dir or tempfile.mkdtemp(prefix="vg-bench-history-"))
    run = root / "run"
    shutil.rmtree(run, ignore_errors=True)
    rng = np.random.default_rng(0)
    names = [f"layer_{i}" for i in range(args.layers)]
    h = History(names, ["relu"] * args.layers, 1, layer_kinds=["dense"] * args.layers,
                layer_units=[64] * args.layers, attrs={"hist_edges": np.linspace(-12, 2, 29)})
    store = RunStore(run)
    rows = []
    step = 1
    record(h, step, rng, args.layers)
    store.write_history(h)  # the log exists from here on
    for point in points:
        while step < point - args.samples:
            step += 1
            record(h, step, rng, args.layers)
            store.write_history(h)
        times, sizes = [], []
        for _ in range(min(args.samples, point - step)):
            step += 1
            record(h, step, rng, args.layers)
            before = os.path.getsize(run / "history.log")
            started = time.perf_counter()
            store.write_history(h)
            times.append(time.perf_counter() - started)
            sizes.append(os.path.getsize(run / "history.log") - before)
        started = time.perf_counter()
        write_h5(h, root / "rewrite.h5")  # the old design: the whole history again, at every epoch end
        rewrite = time.perf_counter() - started
        rows.append((point, statistics.median(times) * 1e3, int(statistics.median(sizes)), rewrite))
        print(f"  ... {point:,} records", file=sys.stderr, flush=True)
    (root / "rewrite.h5").unlink(missing_ok=True)
    started = time.perf_counter()
    killed = open_run(run)  # as a kill -9 leaves it: header + log
    read_log = time.perf_counter() - started
    assert killed.history.num_records == step
    h.status = "completed"
    started = time.perf_counter()
    store.write_history(h)
    fold = time.perf_counter() - started
    store.write_report({"status": "completed"})
    started = time.perf_counter()
    done = open_run(run)
    read_h5 = time.perf_counter() - started
    assert done.history.num_records == step

    print(f"\nHistory storage: {args.layers} layers, {len(LAYER_STATS)} per-layer statistics + 2 histograms of 28 "
          f"bins per record ({root})")
    print(f"{'records so far':>15} {'append (ms)':>12} {'bytes/append':>13} {'rewrite all (s)':>16} "
          f"{'rewrite / append':>17}")
    for point, append_ms, size, rewrite in rows:
        print(f"{point:>15,} {append_ms:>12.3f} {size:>13,} {rewrite:>16.3f} {rewrite * 1e3 / append_ms:>16,.0f}x")
    first, last = rows[0][1], rows[-1][1]
    print(f"append cost at {rows[-1][0]:,} records / at {rows[0][0]:,}: {last / first:.2f} (flat = 1)")
    print(f"fold into history.h5 at the end: {fold:.2f} s; open_run of the killed run (log) {read_log:.2f} s, "
          f"of the finished run (h5) {read_h5:.2f} s; history.h5 {os.path.getsize(run / 'history.h5') / 2**20:,.0f} "
          "MiB")
    if not args.dir:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
