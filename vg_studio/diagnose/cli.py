"""`vg-studio diagnose RUN_DIR [--json]`, and the finding lines `vg-studio train` prints as they appear."""

from __future__ import annotations

import argparse
import json
import sys

from vg_studio.diagnose.findings import Finding


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("run_dir", metavar="RUN_DIR", help="a run directory written by `vg-studio train` or the GUI")
    parser.add_argument("--json", action="store_true", help="print the findings as JSON for machines")


def run(args) -> int:
    from vg_studio.diagnose.engine import diagnose_run
    from vg_studio.spec import SpecError
    from vg_studio.train.runstore import RunStoreError

    try:
        diagnoser, report = diagnose_run(args.run_dir)
    except (RunStoreError, SpecError) as exc:
        print(f"vg-studio: error: {exc}", file=sys.stderr)
        return 2
    findings = diagnoser.findings
    if args.json:
        print(json.dumps({"run_dir": str(args.run_dir), "status": report.get("status"),
                          "findings": [f.to_dict() for f in findings]}, indent=2, allow_nan=False))
        return 0
    status = report.get("status", "unknown status")
    if not findings:
        print(f"{args.run_dir} ({status}): no problems found.")
        return 0
    warnings = sum(f.severity != "info" for f in findings)
    print(f"{args.run_dir} ({status}): {len(findings)} finding(s), {warnings} warning(s) or worse.\n")
    print("\n\n".join(str(f) for f in findings))
    return 0


def format_finding(f: Finding) -> str:
    """A compact block for the training log: what, where, when, and the best two fixes."""
    where = f" in {', '.join(f.layers)}" if f.layers else ""
    lines = [f"[{f.severity.upper()}] step {f.step} (epoch {f.epoch + 1}): {f.kind.replace('_', ' ')}{where}",
             f"    {f.message}"]
    if f.fixes:
        lines.append("    try: " + "; ".join(getattr(fix, "title", str(fix)) for fix in f.fixes[:2]))
    return "\n".join(lines)
