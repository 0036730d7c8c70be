"""Findings with a life (first and last step, active or resolved), the ranking by what holds at the end, the live
one-line warnings while a model trains, and `vg-studio diagnose`'s report of both (reader's notes, inert names,
--try-fixes refusals). Synthetic records and stored runs; no training."""

from __future__ import annotations

import argparse
import io
import json
import logging
import math
import os
import pickle
import warnings

import numpy as np
import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from vg_studio.diagnose import cli  # noqa: E402
from vg_studio.diagnose.engine import Diagnoser  # noqa: E402
from vg_studio.diagnose.findings import Finding  # noqa: E402
from vg_studio.diagnose.listener import DiagnosisListener  # noqa: E402
from vg_studio.diagnose.live import DiagnosisWarning, LiveWarnings  # noqa: E402
from vg_studio.train import events  # noqa: E402

NAMES = ["conv\x1b[2J\x1b[H", "dense", "dense_1"]  # a layer name that would clear the terminal
KINDS = ["conv2d", "dense", "dense"]


def record(step, *, grad=(1e-2, 1e-2, 1e-2), norm=0.5, loss=None, dead=None, epoch=0):
    """A probe record; by default a healthy network whose loss falls."""
    loss = 2.3 * 0.99 ** step if loss is None else loss
    n = len(NAMES)
    stats = {"grad_mean_abs": np.asarray(grad, dtype=float), "grad_norm": np.full(n, norm),
             "weight_norm": np.full(n, 5.0), "update_ratio": np.full(n, 1e-3),
             "dead_fraction": np.asarray(dead if dead is not None else [np.nan] * n, dtype=float),
             "saturated_fraction": np.full(n, np.nan)}
    return events.ProbeRecord(step, epoch, loss, stats)


def started():
    return events.RunStarted(None, None, NAMES, ["relu", "relu", "softmax"], 1, 100, 1000, "cpu", 100,
                             num_classes=10, model_summary={"loss": "sparse_categorical_crossentropy"},
                             layer_kinds=KINDS, layer_units=[16, 32, 10])


VANISHING = (1e-7, 1e-4, 2e-2)


def test_a_finding_records_its_first_and_last_step_and_resolves():
    d = Diagnoser.for_run(started())
    for s in range(1, 31):
        d.on_record(record(s, grad=VANISHING))
    f = d.findings[0]
    assert (f.kind, f.step, f.last_step, f.state) == ("vanishing_gradient", 1, 30, "active")
    for s in range(31, 60):  # the gradient comes back
        d.on_record(record(s))
    d.finish()
    f = d.findings[0]
    assert f.step == 1 and 30 <= f.last_step <= 35 and f.state == "resolved"  # (a median over 10 steps)
    assert f.severity == "error" and any(f"Held from step 1 to step {f.last_step}" in line for line in f.details)
    assert d.warnings() == [] and d.main_finding() is None  # nothing holds at the end
    back = Finding.from_dict(json.loads(json.dumps(f.to_dict(), allow_nan=False)))
    assert back == f and pickle.loads(pickle.dumps(f)) == f
    assert Finding.from_dict({k: v for k, v in f.to_dict().items() if k not in ("last_step", "state")}).state \
        == "active"  # a report.json written before findings had a life


def test_ranking_puts_what_holds_at_the_end_first_and_a_brief_blip_is_info():
    d = Diagnoser.for_run(started())
    dead = [0.95, 0.0, np.nan]
    for s in range(1, 100):
        grads = VANISHING if 40 <= s < 47 else (1e-2, 1e-2, 1e-2)  # a few steps of vanishing mid-run
        d.on_record(record(s, grad=grads, dead=dead if s >= 60 else [0.0, 0.0, np.nan]))
    d.finish()
    kinds = [(f.kind, f.severity, f.state) for f in d.findings]
    assert kinds[0] == ("dead_units", "error", "active")
    assert ("vanishing_gradient", "info", "resolved") in kinds
    assert d.main_finding().kind == "dead_units"


def test_a_cause_that_has_ended_explains_nothing():
    """An explosion from step 60 to 75 (past the start: no transient) kills the units. While both hold, the dead
    units keep their own severity — their evidence holds — said as the explosion's likely consequence and ranked
    right after it; once the explosion has ended the dead units are the finding to act on, and the explosion stays
    in the report as what happened on the way."""
    d = Diagnoser.for_run(started())
    for s in range(1, 150):
        loss = 2.3 * 0.99 ** s if s < 60 else (12.0 if s < 75 else 2.3)
        norm = 500.0 if 60 <= s < 75 else 0.5
        dead = [0.98, 0.0, np.nan] if s >= 65 else [0.0, 0.0, np.nan]
        d.on_record(record(s, norm=norm, loss=loss, dead=dead))
        if s == 74:  # the explosion holds
            ranked = [(f.kind, f.severity) for f in d.findings]
            assert ranked[:2] == [("exploding_gradient", "warning"), ("dead_units", "error")]  # cause first
            assert "most likely caused by the exploding gradient" in d.findings[1].message
            assert d.main_finding().kind == "exploding_gradient"
    d.finish()
    found = {f.kind: f for f in d.findings}
    assert found["exploding_gradient"].state == "resolved" and found["exploding_gradient"].severity == "warning"
    assert (found["dead_units"].severity, found["dead_units"].state) == ("error", "active")
    assert "consequence" not in found["dead_units"].message and d.main_finding().kind == "dead_units"


def test_a_run_too_short_for_a_rule_says_not_enough_records_with_what_they_showed():
    """One record (every 20 steps over an 18-step run): the rules that need a span of steps (flat weights: update
    ratios over 5 steps) say they could not judge — and what the records gave — instead of silence or a guess. The
    units that record measured dead are what the run ended with: they hold at the end. A run long enough says
    nothing of the kind."""
    d = Diagnoser.for_run(started())
    d.on_record(record(1, dead=[1.0, 0.0, np.nan]))
    d.finish()
    found = {f.kind: f for f in d.findings}
    assert (found["dead_units"].severity, found["dead_units"].state) == ("error", "active")
    note = found["not_judged"]
    assert note.severity == "info" and "Not enough records to judge" in note.message and "flat weights" in note.message
    assert "dead units" not in note.message
    flat = next(line for line in note.details if line.startswith("Flat weights needs"))
    assert "spanning 5 steps" in flat and "1 record(s) span 0 steps" in flat
    assert json.loads(json.dumps(note.to_dict(), allow_nan=False))["kind"] == "not_judged"
    d = Diagnoser.for_run(started())
    for s in range(1, 121):
        d.on_record(record(s, dead=[0.0, 0.0, np.nan]))
    d.finish()
    assert all(f.kind != "not_judged" for f in d.findings)


def test_saturation_that_lasts_until_a_short_run_ends_is_a_warning():
    """Saturation held for fewer than saturated_steps is info while it may still pass (a large initialisation
    settling) — but when the run ends while it holds, it lasted as long as the run did."""
    d = Diagnoser.for_run(started())
    sat = [0.97, 0.0, np.nan]
    for s in range(1, 13):
        rec = record(s)
        rec.stats["saturated_fraction"] = np.asarray(sat)
        d.on_record(rec)
        if s == 12:
            assert {f.kind: f.severity for f in d.findings}["saturated_units"] == "info"
    d.finish()
    found = {f.kind: f for f in d.findings}["saturated_units"]
    assert (found.severity, found.state) == ("error", "active") and "until the run ended" in found.details[-1]


def test_live_warnings_say_each_finding_once_as_one_inert_line():
    listener, stream = DiagnosisListener(), io.StringIO()
    live = LiveWarnings(stream=stream)
    publish = []

    def emit(event):
        publish.append(event)
        live(event)

    listener.attach(emit)
    for event in [started()] + [record(s, grad=VANISHING) for s in range(1, 20)]:
        listener(event)
        live(event)
    lines = stream.getvalue().splitlines()
    assert len(lines) == 1 and lines[0].startswith("vg-studio: [ERROR] vanishing gradient in conv\\x1b[2J")
    assert "\x1b" not in stream.getvalue()
    assert [f.kind for f in live.said] == ["vanishing_gradient"]


def test_live_warnings_through_python_warnings_logging_quiet_and_stop():
    finding = Finding("exploding_gradient", "warning", 12, 0, ("dense",), {}, "The gradients explode.",
                      labels=("dense",))
    update = events.FindingsUpdated([finding], [finding])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        LiveWarnings()(update)
    assert [w.category for w in caught] == [DiagnosisWarning] and "exploding gradient" in str(caught[0].message)
    records = []
    handler = logging.Handler(logging.WARNING)
    handler.emit = records.append  # on the logger itself: the CLI's tests may stop "vg_studio" from propagating
    logger = logging.getLogger("vg_studio.diagnose")
    logger.addHandler(handler)
    try:
        LiveWarnings(stream="logging")(update)
    finally:
        logger.removeHandler(handler)
    assert any("step 12" in r.getMessage() for r in records)
    stopped, seen = [], []
    quiet = LiveWarnings(quiet=True, on_finding="stop", stop=lambda: stopped.append(True))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        quiet(update)
        quiet(update)  # the same finding again: said (and acted on) once
    assert stopped == [True] and caught == []
    LiveWarnings(stream=io.StringIO(), on_finding=seen.append, min_severity="error")(update)
    assert seen == []  # below the minimum severity
    with pytest.raises(ValueError, match="needs stop="):
        LiveWarnings(on_finding="stop")
    with pytest.raises(ValueError, match="min_severity"):
        LiveWarnings(min_severity="loud")


def _stored_run(tmp_path, grads=VANISHING, notes=()):
    from vg_studio.history import History
    from vg_studio.train.runstore import RunStore

    history = History(NAMES, ["relu", "relu", "softmax"], 10, status="completed", layer_kinds=KINDS,
                      layer_units=[16, 32, 10])
    for step in (1, 10, 20):
        rec = record(step, grad=grads)
        history.add_record(step, 0, rec.loss, rec.stats)
    store = RunStore(tmp_path / "run")
    store.write_model_summary({"name": "m", "loss": "sparse_categorical_crossentropy",
                               "layers": [{"name": n, "kind": k} for n, k in zip(NAMES, KINDS)]})
    store.write_history(history)
    store.write_report({"name": "m", "status": "completed", "steps": 20, "num_classes": 10})
    store.close()
    return tmp_path / "run"


def _parser():
    parser = argparse.ArgumentParser()
    cli.add_arguments(parser)
    return parser


def test_diagnose_prints_the_readers_notes_and_inert_names(tmp_path, capsys, monkeypatch):
    from vg_studio.train import runstore

    run_dir = _stored_run(tmp_path)
    real = runstore.open_run

    def with_notes(path):
        run = real(path)
        run.notes = ["history.log: 1 damaged frame skipped\x1b]0;owned\x07 at byte 4096"]
        return run

    monkeypatch.setattr(runstore, "open_run", with_notes)
    assert cli.run(_parser().parse_args([str(run_dir)])) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0] == "note: history.log: 1 damaged frame skipped\\x1b]0;owned\\x07 at byte 4096"
    assert "\x1b" not in out and "vanishing gradient in conv\\x1b[2J\\x1b[H" in out
    assert cli.run(_parser().parse_args([str(run_dir), "--json"])) == 0
    assert json.loads(capsys.readouterr().out)["notes"][0].startswith("history.log: 1 damaged frame")


def test_try_fixes_refuses_a_file_as_out_before_any_trial(tmp_path, capsys, monkeypatch):
    from vg_studio.diagnose import trials

    monkeypatch.setattr(trials, "plan_trials", lambda *a, **k: pytest.fail("planned despite a bad --out"))
    target = tmp_path / "results.txt"
    target.write_text("not a folder")
    assert cli.run(_parser().parse_args([str(tmp_path), "--try-fixes", "--out", str(target)])) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--out" in err and "not a directory" in err
    assert cli.run(_parser().parse_args([str(tmp_path), "--try-fixes", "--out", str(target / "sub")])) == 2
    assert "is a file" in capsys.readouterr().err
    with pytest.raises(trials.TrialError, match="not a directory"):
        trials.run_trials(trials.TrialPlan("r", None, None, (), None, None), 5, out_dir=target)


def test_a_run_where_every_trial_failed_exits_non_zero_and_says_why(tmp_path, capsys, monkeypatch):
    from vg_studio.diagnose import trials

    plan = trials.TrialPlan(str(tmp_path), None, Finding("vanishing_gradient", "warning", 1, 0), (), 10, None)
    failed = [trials.TrialResult(key, key, "failed", "Not a directory: 'x/trial'", 0, *(math.nan,) * 6,
                                 False, None) for key in ("unchanged", "relu_he")]
    monkeypatch.setattr(trials, "plan_trials", lambda *a, **k: plan)
    monkeypatch.setattr(trials, "run_trials", lambda *a, **k: failed)
    monkeypatch.setattr(trials, "format_table", lambda *a, **k: "table")
    assert cli.run(_parser().parse_args([str(tmp_path), "--try-fixes"])) == 1
    err = capsys.readouterr().err
    assert "every trial failed" in err and "Not a directory" in err


def test_preflight_findings_join_the_runs_and_come_back_from_its_report(tmp_path):
    pre = Finding("poor_initialization", "warning", 0, 0, ("dense",), {"signal_change": 1e-9},
                  "Before training, the signal collapses.", labels=("dense",), last_step=0)
    listener, published = DiagnosisListener(), []
    listener.attach(published.append)
    listener(started())
    listener.add_preflight([pre])
    assert published[-1].new == [pre] and listener.findings == [pre]
    items = listener.report_items()
    assert [f["kind"] for f in items["findings"]] == ["poor_initialization"]
    run_dir = _stored_run(tmp_path, grads=(1e-2, 1e-2, 1e-2))
    report = json.loads((run_dir / "report.json").read_text())
    (run_dir / "report.json").write_text(json.dumps({**report, **items}))
    from vg_studio.diagnose.engine import diagnose_run

    diagnoser, _ = diagnose_run(run_dir)
    assert [f.kind for f in diagnoser.findings if f.kind != "not_judged"] == ["poor_initialization"]
    assert diagnoser.warnings()[0] == pre
