"""Fix-and-verify: train a short trial of each suggested fix for a run's main finding, side by side with the
unchanged network, and rank the fixes by what they measurably did over the same steps.

AUTOTRAINER repairs blindly; here every candidate is trained from the same data, seed and batches for the same
number of steps, and the table shows the evidence: how far the loss fell, how much of the first layer's gradient
came back (relative to the unchanged run), and whether the finding is still there. Trials run as independent
cells (`vg_studio.train.cells`, the machinery of `vg-studio reproduce`) in parallel processes or on a Ray cluster.

Qt-free: the app's "Try fixes" button calls `plan_trials` then `run_trials` from a worker thread with a
`progress(fraction, text)` callback and a `threading.Event` to cancel.
"""

from __future__ import annotations

import math
import shutil
import tempfile
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from vg_studio.diagnose.engine import diagnose_run
from vg_studio.diagnose.findings import Finding
from vg_studio.diagnose.state import depth_gradients
from vg_studio.text import inert

BASELINE = "unchanged"  # the key of the trial that trains the run's own spec


class TrialError(ValueError):
    """A run whose fixes cannot be tried (no spec, no finding, no fix): the message says why in one line."""


@dataclass(frozen=True)
class TrialPlan:
    run_dir: str
    spec: object  # the run's ExperimentSpec
    finding: Finding  # the main finding whose fixes are tried
    fixes: tuple  # Fix values
    num_classes: int | None
    steps_per_epoch: int | None


@dataclass(frozen=True)
class TrialResult:
    key: str  # a fix id, or BASELINE
    title: str
    status: str  # "completed" | "failed" | "diverged" | "cancelled"
    message: str
    steps: int  # training steps actually run
    loss_start: float  # recorded loss at the first record
    loss_end: float  # median recorded loss over the trial's last fifth (nan if any of it was not finite)
    loss_drop: float  # (the unchanged run's starting loss - loss_end) / that starting loss: one reference for all
    first_grad_ratio: float  # first / output mean |gradient| over the trial's last records (median)
    gradient_recovery: float  # first_grad_ratio / the unchanged run's (1 = no change; nan for the baseline)
    test_accuracy: float  # after the trial's steps (nan when unknown)
    still_found: bool  # the main finding's kind is still a warning or worse in the trial
    run_dir: str | None  # kept only when the caller gave an output directory
    # training-mode accuracy over the trial's last fifth (median of Keras's running epoch means): does the network
    # learn? Unlike the test accuracy it does not wait for BatchNorm's moving averages (nan when not measured)
    train_accuracy: float = float("nan")

    def to_dict(self) -> dict:
        """Strict JSON (NaN becomes null)."""
        return {k: (None if isinstance(v, float) and not math.isfinite(v) else v)
                for k, v in ((k, getattr(self, k)) for k in self.__dataclass_fields__)}


def plan_trials(run_dir, fix_ids=None) -> TrialPlan:
    """Read and diagnose a run; the fixes of its main (most severe, earliest) finding. Raises TrialError when
    there is nothing to try, and RunStoreError/SpecError for an unreadable run."""
    diagnoser, report = diagnose_run(run_dir)
    if diagnoser.spec is None:
        raise TrialError(f"{run_dir}: fix trials need a spec run (this run is a user's own Keras model, "
                         "model.json): apply the advice in your own code and train it again")
    finding = diagnoser.main_finding()
    if finding is None:
        raise TrialError(f"{run_dir}: no warning-or-worse finding, so there is no fix to try")
    fixes = finding.fixes
    if fix_ids:
        unknown = sorted(set(fix_ids) - {f.id for f in fixes})
        if unknown:
            raise TrialError(f"--fix: {', '.join(unknown)} is not a fix of this run's {finding.kind.replace('_', ' ')}"
                             f" (its fixes: {', '.join(f.id for f in fixes)})")
        fixes = tuple(f for f in fixes if f.id in fix_ids)
    if not fixes:
        raise TrialError(f"{run_dir}: the {finding.kind.replace('_', ' ')} finding has no fix that changes this "
                         "spec")
    dataset = report.get("dataset") if isinstance(report.get("dataset"), dict) else {}
    train = dataset.get("train")
    steps_per_epoch = math.ceil(train / diagnoser.spec.training.batch_size) if isinstance(train, int) and train > 0 \
        else None
    return TrialPlan(str(run_dir), diagnoser.spec, finding, tuple(fixes), diagnoser.num_classes, steps_per_epoch)


def trial_spec(spec, steps: int, steps_per_epoch: int | None, name: str):
    """The spec trained for `steps` steps (enough epochs; the trial stops at `steps`), recorded often enough to
    compare the trials' gradients."""
    from vg_studio.spec import ExperimentSpec

    data = spec.to_dict()
    data["name"] = name
    data["training"]["epochs"] = max(1, math.ceil(steps / steps_per_epoch)) if steps_per_epoch else steps
    data["monitoring"]["record_every"] = max(1, steps // 50)
    return ExperimentSpec.from_dict(data)


def run_trials(plan: TrialPlan, steps: int = 100, jobs: int = 1, ray_address: str | None = None,
               out_dir=None, progress=None, cancel=None, on_result=None) -> list[TrialResult]:
    """Train the unchanged spec and each fix for `steps` steps; return the results ranked best first (`rank`).
    `progress(fraction, text)` is called as trials advance; `on_result(TrialResult)` as each trial ends (a fix's
    result once the unchanged network's, which it is measured against, is in); setting the `cancel` event stops
    the trials after the current batch (the results then say "cancelled")."""
    from vg_studio.train.cells import Cell, run_cells

    if steps < 1:
        raise TrialError(f"--steps: must be at least 1 (got {steps})")
    if out_dir is not None and Path(out_dir).exists() and not Path(out_dir).is_dir():
        raise TrialError(f"{out_dir}: not a directory (it is a file); give a folder to keep the trial runs in")
    keep = out_dir is not None
    root = Path(out_dir) if keep else Path(tempfile.mkdtemp(prefix="vg-trials-"))
    try:
        base_name = plan.spec.name
        candidates = [(BASELINE, "Unchanged (for comparison)", plan.spec)]
        candidates += [(fix.id, fix.title, fix.apply(plan.spec)) for fix in plan.fixes]
        cells = [Cell(key, trial_spec(spec, steps, plan.steps_per_epoch, f"{base_name} · trial {key}"),
                      root / key, max_steps=steps) for key, _, spec in candidates]
        for cell in cells:  # a trial always starts afresh: an earlier trial in the same folder is replaced
            shutil.rmtree(cell.run_dir, ignore_errors=True)
        titles = {key: title for key, title, _ in candidates}
        finished = _FinishedTrials(titles, plan, steps, keep, on_result)
        reporter = _CallbackProgress(cells, progress, finished) if progress is not None or on_result else None
        outcomes = run_cells(cells, jobs=jobs, ray_address=ray_address, progress=reporter, stop=cancel)
        measured = [finished.measured.get(key) or _measure(key, title, outcome, plan, steps, keep)
                    for (key, title, _), outcome in zip(candidates, outcomes)]
    finally:
        if not keep:
            shutil.rmtree(root, ignore_errors=True)
    return rank([_against(r, measured[0]) for r in measured])


def try_fixes(run_dir, steps: int = 100, **options) -> list[TrialResult]:
    """`plan_trials` then `run_trials` (options: jobs, ray_address, out_dir, progress, cancel, fix_ids)."""
    plan = plan_trials(run_dir, options.pop("fix_ids", None))
    return run_trials(plan, steps, **options)


# Test accuracies closer than this are a tie, decided by the loss reached (100-step trials on a few hundred test
# examples cannot tell half a point apart).
ACCURACY_TIE = 0.005


def ran(result: TrialResult) -> bool:
    return result.status in ("completed", "cancelled") and result.steps > 0


def rank(results: list[TrialResult]) -> list[TrialResult]:
    """Best first, on what a user cares about: trials that trained before those that failed; then the higher
    test accuracy (ties within ACCURACY_TIE go to the lower loss reached over the same steps); then the larger
    recovery of the first layer's gradient. A trial without a test accuracy comes after those with one."""
    def key(r: TrialResult):
        accuracy = r.test_accuracy if math.isfinite(r.test_accuracy) else -1.0
        loss = r.loss_end if math.isfinite(r.loss_end) else math.inf
        recovery = r.gradient_recovery if math.isfinite(r.gradient_recovery) else 1.0
        return (not ran(r), -round(accuracy / ACCURACY_TIE), loss, -recovery)
    return sorted(results, key=key)


def rank_reason(result: TrialResult, results: list[TrialResult]) -> str:
    """Why a trial stands where `rank` puts it, in a few words."""
    trained = [r for r in results if ran(r)]
    if result not in trained:
        return f"{result.status}: {inert(result.message)}" if result.message else result.status
    if not math.isfinite(result.test_accuracy):
        return "no test accuracy measured"
    best = max((r.test_accuracy for r in trained if math.isfinite(r.test_accuracy)), default=result.test_accuracy)
    if best - result.test_accuracy < ACCURACY_TIE:
        tied = [r for r in trained if math.isfinite(r.test_accuracy) and best - r.test_accuracy < ACCURACY_TIE]
        if len(tied) > 1:
            return f"best test accuracy ({result.test_accuracy:.1%}), tied: loss at the end {_num(result.loss_end)}"
        return f"best test accuracy ({result.test_accuracy:.1%})"
    return f"test accuracy {result.test_accuracy:.1%}, {best - result.test_accuracy:.1%} below the best"


class _FinishedTrials:
    """Measures each trial as its cell ends and hands it to `on_result`, measured against the unchanged run (fix
    trials that end before it wait for it)."""

    def __init__(self, titles: dict, plan: TrialPlan, steps: int, keep: bool, on_result):
        self.titles, self.plan, self.steps, self.keep, self.on_result = titles, plan, steps, keep, on_result
        self.measured: dict[str, TrialResult] = {}
        self._waiting: list[TrialResult] = []

    def done(self, key: str, status: str, message: str, run_dir) -> None:
        from vg_studio.train.cells import CellOutcome

        result = _measure(key, self.titles[key], CellOutcome(key, status, message, Path(run_dir)), self.plan,
                          self.steps, self.keep)
        self.measured[key] = result
        if self.on_result is None:
            return
        baseline = self.measured.get(BASELINE)
        if baseline is None:
            self._waiting.append(result)
            return
        for waiting in [result] + self._waiting:
            self.on_result(_against(waiting, baseline))
        self._waiting = []


class _CallbackProgress:
    """run_cells' progress, turned into `callback(fraction, text)` calls and finished trials."""

    def __init__(self, cells, callback, finished: _FinishedTrials | None = None):
        from vg_studio.train.cells import Progress

        self._progress = Progress(cells, stream=_Discard())
        self._callback = callback
        self._finished = finished
        self._dirs = {cell.key: cell.run_dir for cell in cells}

    def __getattr__(self, name):
        return getattr(self._progress, name)

    def _report(self):
        if self._callback is not None:
            p = self._progress
            self._callback(p.epochs_done / max(p.total_epochs, 1), p.line())

    def epoch(self, key, epoch):
        self._progress.epoch(key, epoch)
        self._report()

    def done(self, key, status, message):
        self._progress.done(key, status, message)
        self._report()
        if self._finished is not None and status != "skipped":
            self._finished.done(key, status, message, self._dirs[key])


class _Discard:
    def write(self, text):
        pass

    def flush(self):
        pass

    def isatty(self):
        return False


def _measure(key: str, title: str, outcome, plan: TrialPlan, steps: int, keep: bool) -> TrialResult:
    from vg_studio.train.history_file import load_history

    run_dir = Path(outcome.run_dir)
    nan = float("nan")
    failed = "failed" if outcome.status == "completed" else outcome.status
    try:
        history = load_history(run_dir / "history.h5")
        diagnoser, report = diagnose_run(run_dir)
    except Exception as exc:  # noqa: BLE001 - a trial that left no readable run is a failed trial
        return TrialResult(key, title, failed, outcome.message or str(exc), 0, nan, nan, nan, nan, nan, nan, False,
                           str(run_dir) if keep else None)
    upto = [i for i, s in enumerate(history.steps) if s <= steps]
    loss = np.asarray([history.record_loss[i] for i in upto], dtype=np.float64)
    ratio = loss_end = train_accuracy = nan
    if upto:
        tail = slice(len(upto) - max(1, len(upto) // 5), None)  # the trial's last fifth
        g = depth_gradients(history.stat("grad_mean_abs"), history.stat("kernel_grad_mean_abs"))[upto][tail]
        with np.errstate(divide="ignore", invalid="ignore"):
            ratios = g[:, diagnoser.first] / g[:, diagnoser.last]
        finite = ratios[np.isfinite(ratios)]
        ratio = float(np.median(finite)) if finite.size else nan
        # a record's loss is Keras's running mean since the epoch began, a single batch's right after an epoch
        # boundary: the median over the last fifth does not hang on which batch came last
        ends = loss[tail][np.isfinite(loss[tail])]
        loss_end = float(np.median(ends)) if ends.size == loss[tail].size else nan
        trained = np.asarray(history.record_metrics.get("accuracy", ()), dtype=np.float64)
        if trained.size == len(history.steps):
            trained = trained[upto][tail]
            train_accuracy = float(np.median(trained)) if np.all(np.isfinite(trained)) else nan
    accuracy = (report.get("test_metrics") or {}).get("accuracy", nan)
    still = any(f.kind == plan.finding.kind for f in diagnoser.warnings())
    return TrialResult(key, title, outcome.status, outcome.message, int(report.get("steps", 0) or 0),
                       float(loss[0]) if loss.size else nan, loss_end, nan, ratio, nan,
                       float(accuracy), still, str(run_dir) if keep else None, train_accuracy)


def _against(result: TrialResult, baseline: TrialResult) -> TrialResult:
    """The loss drop and gradient recovery measured against the unchanged run."""
    start, ratio = baseline.loss_start, baseline.first_grad_ratio
    drop = (start - result.loss_end) / abs(start) if math.isfinite(start) and start != 0 else float("nan")
    recovery = result.first_grad_ratio / ratio if result.key != BASELINE and ratio > 0 else float("nan")
    return replace(result, loss_drop=drop, gradient_recovery=recovery)


def format_table(plan: TrialPlan, results: list[TrialResult], steps: int) -> str:
    """The ranked trials as a text table with a one-line verdict."""
    head = (f"Fixes for the {plan.finding.kind.replace('_', ' ')} of {plan.run_dir}, each trained {steps} steps "
            "from the same data and seed:")
    rows = [("#", "fix", "loss first → end", "drop", "1st-layer grad", "× unchanged", "train acc", "test acc",
             "finding", "status")]
    for i, r in enumerate(results, 1):
        rows.append((str(i), r.key, f"{_num(r.loss_start)} → {_num(r.loss_end)}", _pct(r.loss_drop),
                     _num(r.first_grad_ratio), "—" if r.key == BASELINE else _num(r.gradient_recovery),
                     _pct(r.train_accuracy), _pct(r.test_accuracy), "still" if r.still_found else "gone", r.status))
    widths = [max(len(row[c]) for row in rows) for c in range(len(rows[0]))]
    lines = [head, ""] + ["  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip() for row in rows]
    best = results[0] if results else None
    if best is not None and best.key != BASELINE and ran(best):
        lines += ["", f"Best: {best.title} ({best.key}), {rank_reason(best, results)} — apply it with the app's "
                      "Apply fix, or edit the spec."]
    elif best is not None and ran(best):
        lines += ["", "No fix beat the unchanged network over these steps; try more --steps."]
    any_bn = any(layer.batch_norm for layer in plan.spec.network.layers)
    for r in results:  # a BatchNorm network's test accuracy lags in a short trial: say so where it shows
        if (r.key == "batch_norm" or any_bn) and r.train_accuracy - r.test_accuracy > 0.2:
            lines.append(f"{r.title}: its test accuracy ({_pct(r.test_accuracy)}) trails its training accuracy "
                         f"({_pct(r.train_accuracy)}): BatchNorm's moving averages have not caught up after "
                         f"{steps} steps; they do over a full training.")
    lines.append("(end: the median loss over the trial's last fifth; drop: the share of the unchanged network's "
                 "first loss gone by then; 1st-layer grad: "
                 "mean |gradient| of the first layer / the output layer's over the trial's last fifth; × unchanged: "
                 "that ratio against the unchanged network's; train acc: training-mode accuracy over the last "
                 "fifth; test acc after the same steps — it lags for BatchNorm, whose moving averages need more "
                 "steps than a short trial)")
    return "\n".join(lines)


def _num(value: float) -> str:
    return "—" if not math.isfinite(value) else f"{value:.3g}" if abs(value) >= 1e-3 else f"{value:.1e}"


def _pct(value: float) -> str:
    return "—" if not math.isfinite(value) else f"{value:.0%}"
