"""`vg-studio report RUN [RUN2 …] --out FILE.html` and the `--tensorboard LOGDIR` form of `vg-studio export`."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from vg_studio.text import inert


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("runs", nargs="+", metavar="RUN_DIR",
                        help="a run directory; give two (or a few) to compare them side by side")
    parser.add_argument("--out", required=True, metavar="FILE.html", help="the page to write")
    parser.add_argument("--theme", choices=("light", "dark"), default="light", help="colours of the figures")


def run(args) -> int:
    """The report command: one self-contained HTML page."""
    from vg_studio.report.html import MAX_RUNS, report_for

    out = Path(args.out)
    if out.suffix.lower() not in (".html", ".htm"):
        return _error(f"--out: {inert(out)} must end in .html")
    if out.is_dir():
        return _error(f"--out: {inert(out)} is a folder")
    if len(args.runs) > MAX_RUNS:
        return _error(f"report: at most {MAX_RUNS} runs side by side (got {len(args.runs)})")
    try:
        report = report_for(args.runs, theme=args.theme)
    except (ValueError, OSError) as exc:  # RunStoreError and SpecError are ValueErrors naming the file
        return _error(exc)
    report.save(out)
    print(f"report written to {inert(out)}")
    return 0


def export_tensorboard_command(run_dir: str, logdir: str) -> int:
    """`vg-studio export RUN --tensorboard LOGDIR`: the run's event files in LOGDIR/<run folder name>/."""
    from vg_studio.report.tensorboard import TensorBoardMissing, export_tensorboard

    target = Path(logdir) / Path(run_dir).resolve().name
    try:
        for old in target.glob("events.out.tfevents.*.vg-studio"):  # an export again replaces the last one
            old.unlink()
        path = export_tensorboard(run_dir, target)
    except TensorBoardMissing as exc:
        return _error(exc)
    except ValueError as exc:
        return _error(exc)
    print(f"TensorBoard events written to {inert(path)}\n  view them: tensorboard --logdir {inert(logdir)}")
    return 0


def _error(problem) -> int:
    print(f"vg-studio: error: {inert(str(problem).splitlines()[0] if str(problem) else problem)}", file=sys.stderr)
    return 2
