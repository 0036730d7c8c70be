"""Fix-and-verify (`vg-studio diagnose RUN --try-fixes`): planning on stored runs, refusals in one line, the ranking,
and — slow — real trials on a deep sigmoid SGD run, where a fix that trains must rank above one that does not."""

from __future__ import annotations

import argparse
import dataclasses
import importlib.util
import json
import math
import os
import threading

import numpy as np
import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from vg_studio.diagnose import cli, trials  # noqa: E402
from vg_studio.diagnose.fixes import FIXES  # noqa: E402
from vg_studio.spec import DataSpec, ExperimentSpec, LayerSpec, MonitoringSpec, NetworkSpec, OptimizerSpec, \
    TrainingSpec  # noqa: E402

STATS = ("grad_mean_abs", "grad_norm", "weight_norm", "update_mean_abs", "update_ratio", "saturated_fraction",
         "dead_fraction")


def sigmoid_spec(limit=400):
    return ExperimentSpec(name="deep-sigmoid", data=DataSpec(dataset="digits", options={"limit": limit}),
                          network=NetworkSpec(layers=[LayerSpec(units=32, activation="sigmoid",
                                                                initializer="glorot_uniform") for _ in range(6)]),
                          optimizer=OptimizerSpec(name="sgd", learning_rate=0.1),
                          training=TrainingSpec(epochs=1, batch_size=32, seed=0),
                          monitoring=MonitoringSpec(record_every=2, probe_batch_size=64))


def write_run(run_dir, grads, spec=None):
    """A stored run (no training): spec.json, a history whose records have these first→output gradients."""
    from vg_studio.train.runstore import History, RunStore

    spec = spec or sigmoid_spec()
    names = [f"hidden_{i}" for i in range(1, 7)] + ["output"]
    history = History(names, ["sigmoid"] * 6 + ["softmax"], 2)
    for step in (1, 2, 4, 6):
        stats = {name: np.full(7, 1e-3) for name in STATS}
        stats["grad_mean_abs"] = np.asarray(grads, dtype=float)
        stats["dead_fraction"][:] = stats["saturated_fraction"][:] = 0.0
        history.add_record(step, 0, 2.3, stats, {})
    history.add_epoch(0, {"loss": 2.3})
    store = RunStore(run_dir)
    store.write_spec(spec)
    store.write_history(history)
    store.write_report({"name": spec.name, "status": "completed", "steps": 6,
                        "dataset": {"train": 360, "classes": [str(i) for i in range(10)]}})
    return run_dir


VANISHING = [0.02 * 0.25 ** (6 - i) for i in range(6)] + [0.02]


def test_plan_takes_the_main_finding_and_its_fixes(tmp_path):
    plan = trials.plan_trials(write_run(tmp_path / "run", VANISHING))
    assert plan.finding.kind == "vanishing_gradient" and plan.steps_per_epoch == math.ceil(360 / 32)
    assert {"relu_he", "batch_norm", "adam"} <= {f.id for f in plan.fixes}
    only = trials.plan_trials(tmp_path / "run", ["relu_he", "adam"])
    assert [f.id for f in only.fixes] == [f.id for f in plan.fixes if f.id in ("relu_he", "adam")]
    spec = trials.trial_spec(plan.spec, 25, plan.steps_per_epoch, "t")
    assert (spec.training.epochs, spec.monitoring.record_every) == (3, 1)


def test_refusals_are_one_line(tmp_path, capsys):
    parser = argparse.ArgumentParser()
    cli.add_arguments(parser)
    healthy = write_run(tmp_path / "healthy", [0.01] * 7)
    assert cli.run(parser.parse_args([str(healthy), "--try-fixes"])) == 2
    err = capsys.readouterr().err
    assert err.startswith("vg-studio: error: ") and "no warning-or-worse finding" in err and err.count("\n") == 1
    sick = write_run(tmp_path / "sick", VANISHING)
    assert cli.run(parser.parse_args([str(sick), "--try-fixes", "--fix", "lstm"])) == 2
    assert "--fix: lstm is not a fix of this run's vanishing gradient" in capsys.readouterr().err
    for flag, value in (("--steps", "0"), ("--steps", str(10**15)), ("--jobs", "0"), ("--jobs", str(10**9))):
        assert cli.run(parser.parse_args([str(sick), "--try-fixes", flag, value])) == 2
        err = capsys.readouterr().err
        assert err.startswith(f"vg-studio: error: {flag}: must be between 1 and ") and err.count("\n") == 1
    assert cli.run(parser.parse_args([str(tmp_path / "nothing"), "--try-fixes"])) == 2
    assert "nothing" in capsys.readouterr().err
    if importlib.util.find_spec("ray") is None:  # CI has no Ray: a clear line, not an ImportError
        assert cli.run(parser.parse_args([str(sick), "--try-fixes", "--ray", "auto"])) == 2
        assert "--ray needs the ray package" in capsys.readouterr().err


def result(key, loss_end, recovery=math.nan, status="completed"):
    return trials.TrialResult(key, key, status, "", 50, 2.3, loss_end, (2.3 - loss_end) / 2.3, 1e-4 * recovery,
                              recovery, 0.5, False, None)


def test_rank_puts_what_trains_first_and_failures_last():
    ranked = trials.rank([result("unchanged", 2.29), result("he_init", 2.28, recovery=5.0),
                          result("relu_he", 0.9, recovery=2.0), result("sdagd", math.nan, status="diverged"),
                          result("adam", 0.9, recovery=9.0)])
    assert [r.key for r in ranked] == ["adam", "relu_he", "he_init", "unchanged", "sdagd"]
    assert json.loads(json.dumps([r.to_dict() for r in ranked], allow_nan=False))[-1]["loss_end"] is None


def test_table_shows_training_accuracy_and_explains_batchnorm_lag(tmp_path):
    plan = trials.plan_trials(write_run(tmp_path / "run", VANISHING))
    bn = dataclasses.replace(result("batch_norm", 0.4, recovery=1e4), train_accuracy=0.95, test_accuracy=0.08)
    relu = dataclasses.replace(result("relu_he", 1.2, recovery=1e4), train_accuracy=0.6, test_accuracy=0.52)
    ranked = trials.rank([result("unchanged", 2.29), relu, bn])
    assert [r.key for r in ranked] == ["batch_norm", "relu_he", "unchanged"]
    text = trials.format_table(plan, ranked, 100)
    assert "train acc" in text and "95%" in text and "BatchNorm's moving averages have not caught up" in text
    assert "caught up" not in trials.format_table(plan, [relu, bn], 100)  # a winner without BatchNorm: no note
    assert json.loads(json.dumps(bn.to_dict(), allow_nan=False))["train_accuracy"] == 0.95


def shapes_sigmoid_spec():
    """A second deep sigmoid network: other data (generated shapes, 32×32), depth and width."""
    return ExperimentSpec(name="deep-sigmoid-shapes", data=DataSpec(dataset="shapes10", options={"limit": 320}),
                          network=NetworkSpec(layers=[LayerSpec(units=48, activation="sigmoid",
                                                                initializer="lecun_normal") for _ in range(8)]),
                          optimizer=OptimizerSpec(name="sgd", learning_rate=0.1),
                          training=TrainingSpec(epochs=1, batch_size=32, seed=1),
                          monitoring=MonitoringSpec(record_every=2, probe_batch_size=64))


@pytest.mark.slow
@pytest.mark.parametrize("make_spec", [sigmoid_spec, shapes_sigmoid_spec], ids=["digits-6", "shapes-8"])
def test_fixes_that_train_rank_above_those_that_do_not(tmp_path, make_spec):
    """Each trial's training-mode accuracy (Keras's own, independent of the ranking's loss) says whether it
    learned: every trial that did ranks above every trial that stayed at chance."""
    from vg_studio.train.trainer import Trainer

    run_dir = tmp_path / "sigmoid"
    Trainer(make_spec(), run_dir, listeners=[]).run()
    results = trials.try_fixes(run_dir, steps=60, fix_ids=["relu_he", "he_init", "batch_norm", "adam"], jobs=1)
    learned = [i for i, r in enumerate(results) if r.train_accuracy >= 0.3]
    stuck = [i for i, r in enumerate(results) if r.train_accuracy < 0.2]
    assert learned and stuck and max(learned) < min(stuck), [(r.key, r.train_accuracy) for r in results]
    assert "batch_norm" in {results[i].key for i in learned} and "unchanged" in {results[i].key for i in stuck}


@pytest.mark.slow
def test_a_fix_that_trains_ranks_above_one_that_does_not(tmp_path):
    """Deep sigmoid + plain SGD on digits: ReLU/He trains within 40 steps, He init on sigmoids does not."""
    from vg_studio.train.trainer import Trainer

    run_dir = tmp_path / "sigmoid"
    Trainer(sigmoid_spec(), run_dir, listeners=[]).run()
    progress = []
    results = trials.try_fixes(run_dir, steps=40, fix_ids=["relu_he", "he_init"], jobs=1,
                               progress=lambda fraction, text: progress.append(fraction), out_dir=tmp_path / "t")
    keys = [r.key for r in results]
    assert keys.index("relu_he") < keys.index("he_init") and keys.index("relu_he") < keys.index("unchanged")
    by_key = {r.key: r for r in results}
    assert by_key["relu_he"].loss_drop > by_key["he_init"].loss_drop + 0.1
    assert by_key["relu_he"].gradient_recovery > 100 and not by_key["relu_he"].still_found
    assert by_key["unchanged"].still_found and all(r.steps == 40 for r in results)
    assert progress and progress[-1] == pytest.approx(1.0)
    fixed = FIXES["relu_he"].apply(sigmoid_spec())  # the winner is a fix the app can apply
    assert fixed.validate() == []


@pytest.mark.slow
def test_cancel_stops_the_trials(tmp_path):
    run_dir = write_run(tmp_path / "run", VANISHING)
    cancel = threading.Event()
    cancel.set()
    results = trials.try_fixes(run_dir, steps=20, fix_ids=["relu_he"], cancel=cancel)
    assert [r.key for r in results] == ["relu_he", "unchanged"] or [r.key for r in results] == ["unchanged",
                                                                                                 "relu_he"]
    assert all(r.status == "cancelled" and r.steps < 20 for r in results), results
