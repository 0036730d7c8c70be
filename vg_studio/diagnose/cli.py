"""`vg-studio diagnose RUN_DIR [--json] [--preflight] [--try-fixes …]`, and the finding lines `vg-studio train`
prints as they appear. Every name, path and message that came from a run's files is printed inert
(`vg_studio.text.inert`)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from vg_studio.diagnose.findings import Finding
from vg_studio.text import inert


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("run_dir", metavar="RUN_DIR",
                        help="a run directory written by `vg-studio train`, the app or GradientMonitor")
    parser.add_argument("--json", action="store_true", help="print the findings (or the trials) as JSON")
    parser.add_argument("--preflight", action="store_true",
                        help="also check the initial weights on the first batch (a spec run: its network is "
                             "rebuilt from its spec and seed)")
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
    if args.preflight:
        try:
            findings = _preflight(diagnoser, report) + findings
        except ValueError as exc:
            return _error(exc)
    status = report.get("status") or _unreported_status(args.run_dir)
    if args.json:
        print(json.dumps({"run_dir": str(args.run_dir), "status": status, "notes": diagnoser.notes,
                          "findings": [f.to_dict() for f in findings]}, indent=2, allow_nan=False))
        return 0
    for note in diagnoser.notes:  # what the log's reader skipped: said before anything is concluded from it
        print(f"note: {inert(note)}")
    if status == "killed":
        status = "killed or crashed: no report, its completed epochs are kept"
    where = f"{inert(args.run_dir)} ({inert(status)})"
    if not findings:
        print(f"{where}: no problems found.")
        return 0
    holding = [f for f in findings if f.state == "active"]
    ended = [f for f in findings if f.state != "active"]
    warnings = sum(f.severity != "info" for f in holding)
    print(f"{where}: {len(holding)} finding(s) hold at the end, {warnings} warning(s) or worse"
          + (f"; {len(ended)} ended on the way." if ended else ".") + "\n")
    if holding:
        print("\n\n".join(str(f) for f in holding))
    if ended:
        print(("\n\n" if holding else "") + "On the way (resolved):\n")
        print("\n\n".join(str(f) for f in ended))
    return 0


def _preflight(diagnoser, report) -> list[Finding]:
    """The pre-flight check of a spec run: its network rebuilt from the spec and seed, its dataset's first batch."""
    from vg_studio.data import load_dataset
    from vg_studio.diagnose.preflight import preflight
    from vg_studio.nn.build import build_model

    spec = diagnoser.spec
    if spec is None:
        raise ValueError("--preflight needs the network as it started: a spec run (a user's model.keras holds "
                         "trained weights; call vg_studio.diagnose.preflight.preflight(model, x_batch) on yours "
                         "before fit)")
    data = load_dataset(spec.data.dataset, dict(spec.data.options))
    model = build_model(spec, data.input_shape, data.num_classes)
    return preflight(model, data.x_train[:spec.training.batch_size], spec.diagnostics, spec=spec)


def _unreported_status(run_dir) -> str:
    """A run without report.json: still being written (its writer holds the lock), or killed before it ended."""
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
    if args.out is not None:
        problem = _output_problem(Path(args.out))
        if problem:
            return _error(f"--out: {args.out}: {problem}")
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
    if results and all(r.status != "completed" for r in results):
        first = next((r for r in results if r.message), results[0])
        print(f"vg-studio: error: every trial failed ({first.key}: {inert(first.message or first.status)})",
              file=sys.stderr)
        return 1
    return 0


def _output_problem(out: Path) -> str | None:
    """Why trial runs cannot be kept under `out` (checked before any trial trains), or None."""
    if out.exists() and not out.is_dir():
        return "not a directory (it is a file); give a folder to keep the trial runs in"
    parent = next((p for p in [out, *out.parents] if p.exists()), None)
    if parent is not None and not parent.is_dir():
        return f"{parent} is a file, not a folder"
    return None


def _error(problem) -> int:
    print(f"vg-studio: error: {inert(str(problem).splitlines()[0] if str(problem) else problem)}", file=sys.stderr)
    return 2


def format_finding(f: Finding) -> str:
    """A compact block for the training log: what, where, when, and the best two fixes (or advice)."""
    where = f" in {', '.join(inert(n) for n in f.labels)}" if f.labels else ""
    state = "" if getattr(f, "state", "active") == "active" else f" — resolved after step {f.last_step}"
    lines = [f"[{f.severity.upper()}] step {f.step} (epoch {f.epoch + 1}): {f.kind.replace('_', ' ')}{where}{state}",
             f"    {inert(f.message)}"]
    if f.fixes:
        lines.append("    try: " + "; ".join(fix.title for fix in f.fixes[:2]))
    elif f.advice:
        lines.append("    try: " + "; ".join(inert(a) for a in f.advice[:2]))
    return "\n".join(lines)
