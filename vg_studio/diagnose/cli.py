"""`vg-studio diagnose RUN_DIR [--json] [--try-fixes …]`, and the finding lines `vg-studio train` prints as they
appear."""

from __future__ import annotations

import argparse
import json
import sys

from vg_studio.diagnose.findings import Finding


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("run_dir", metavar="RUN_DIR",
                        help="a run directory written by `vg-studio train`, the app or GradientMonitor")
    parser.add_argument("--json", action="store_true", help="print the findings (or the trials) as JSON")
    trials = parser.add_argument_group("fix trials", "train a short trial of each fix of the run's main finding "
                                                     "and rank them by what they measurably did")
    trials.add_argument("--try-fixes", action="store_true", help="run the trials")
    trials.add_argument("--steps", type=int, default=100, help="training steps per trial (default 100)")
    trials.add_argument("--fix", action="append", metavar="ID", help="try only this fix (repeatable)")
    where = trials.add_mutually_exclusive_group()
    where.add_argument("--jobs", type=int, default=1, help="trials trained in parallel processes (default 1)")
    where.add_argument("--ray", metavar="ADDRESS", help="run the trials on a Ray cluster ('auto', 'ray://host:10001')")
    trials.add_argument("--out", metavar="DIR", help="keep the trial runs in DIR (default: discarded)")


MAX_TRIAL_STEPS = 1_000_000  # the default is 100; more is a typo (10**15 would never end)
MAX_JOBS = 256  # processes, each with its own TensorFlow


def run(args) -> int:
    from vg_studio.diagnose.engine import diagnose_run
    from vg_studio.spec import SpecError
    from vg_studio.train.runstore import RunStoreError

    if args.try_fixes:
        return _try_fixes(args)
    try:
        diagnoser, report = diagnose_run(args.run_dir)
    except (RunStoreError, SpecError) as exc:
        return _error(exc)
    findings = diagnoser.findings
    status = report.get("status") or _unreported_status(args.run_dir)
    if args.json:
        print(json.dumps({"run_dir": str(args.run_dir), "status": status,
                          "findings": [f.to_dict() for f in findings]}, indent=2, allow_nan=False))
        return 0
    if status == "killed":
        status = "killed or crashed: no report, its completed epochs are kept"
    if not findings:
        print(f"{args.run_dir} ({status}): no problems found.")
        return 0
    warnings = sum(f.severity != "info" for f in findings)
    print(f"{args.run_dir} ({status}): {len(findings)} finding(s), {warnings} warning(s) or worse.\n")
    print("\n\n".join(str(f) for f in findings))
    return 0


def _unreported_status(run_dir) -> str:
    """A run without report.json: still being written (its writer holds the lock), or killed before it ended."""
    from pathlib import Path

    from vg_studio.train import rundir

    return "running" if rundir.writer_alive(Path(run_dir)) else "killed"


def _try_fixes(args) -> int:
    from vg_studio.diagnose import trials
    from vg_studio.spec import SpecError
    from vg_studio.train.runstore import RunStoreError

    if not 1 <= args.steps <= MAX_TRIAL_STEPS:
        return _error(f"--steps: must be between 1 and {MAX_TRIAL_STEPS:,} (a trial is a short comparison run)")
    if not 1 <= args.jobs <= MAX_JOBS:
        return _error(f"--jobs: must be between 1 and {MAX_JOBS}")
    if args.ray:
        import importlib.util

        if importlib.util.find_spec("ray") is None:
            return _error("--ray needs the ray package: pip install -e '.[cluster]'")
    try:
        plan = trials.plan_trials(args.run_dir, args.fix)
    except (RunStoreError, SpecError, trials.TrialError) as exc:
        return _error(exc)
    if not args.json:
        print(f"Trying {len(plan.fixes)} fix(es) for the {plan.finding.kind.replace('_', ' ')} "
              f"({', '.join(f.id for f in plan.fixes)}) and the unchanged network, {args.steps} steps each …",
              file=sys.stderr)
    results = trials.run_trials(plan, args.steps, jobs=args.jobs, ray_address=args.ray, out_dir=args.out)
    if args.json:
        print(json.dumps({"run_dir": str(args.run_dir), "finding": plan.finding.to_dict(), "steps": args.steps,
                          "trials": [r.to_dict() for r in results]}, indent=2, allow_nan=False))
    else:
        print(trials.format_table(plan, results, args.steps))
    return 0


def _error(problem) -> int:
    print(f"vg-studio: error: {str(problem).splitlines()[0]}", file=sys.stderr)
    return 2


def format_finding(f: Finding) -> str:
    """A compact block for the training log: what, where, when, and the best two fixes (or advice)."""
    where = f" in {', '.join(f.labels)}" if f.labels else ""
    lines = [f"[{f.severity.upper()}] step {f.step} (epoch {f.epoch + 1}): {f.kind.replace('_', ' ')}{where}",
             f"    {f.message}"]
    if f.fixes:
        lines.append("    try: " + "; ".join(fix.title for fix in f.fixes[:2]))
    elif f.advice:
        lines.append("    try: " + "; ".join(f.advice[:2]))
    return "\n".join(lines)
