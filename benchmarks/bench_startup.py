"""How soon the app's training process is ready, against a plain `python -c "import keras"`.

Starts, one after the other and alternating so a busy machine weighs on each alike: a plain interpreter importing
Keras; the app's warm training child as the app starts it when nothing trains (normal priority); and the same child
lowered from its first instant, as it starts while another run trains. Prints the median seconds of each and the
ratios. Usage: python benchmarks/bench_startup.py [--repeat 3]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def plain_import() -> float:
    started = time.monotonic()
    subprocess.run([sys.executable, "-c", "import keras"], check=True, env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3"),
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.monotonic() - started


def training_child(nice_at_start: bool) -> float:
    from vg_studio.runner import TrainingProcess

    child = TrainingProcess(nice_at_start=nice_at_start)
    try:
        if not child.wait_ready(timeout=600):
            raise RuntimeError(child.start_failure())
        return child.ready_after
    finally:
        child.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    times: dict[str, list] = {"python -c 'import keras'": [], "training child (idle app)": [],
                              "training child (lowered)": []}
    for _ in range(args.repeat):
        times["python -c 'import keras'"].append(plain_import())
        times["training child (idle app)"].append(training_child(nice_at_start=False))
        times["training child (lowered)"].append(training_child(nice_at_start=True))
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    base = statistics.median(times["python -c 'import keras'"])
    print(f"machine load (1 min) at the end: {load:.1f} on {os.cpu_count()} cores; {args.repeat} runs each")
    for name, values in times.items():
        median = statistics.median(values)
        print(f"{name:28s} median {median:6.2f} s  ({median / base:4.2f}× plain)  runs: "
              + ", ".join(f"{v:.2f}" for v in values))
    return 0


if __name__ == "__main__":
    sys.exit(main())
