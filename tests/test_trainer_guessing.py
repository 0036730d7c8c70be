"""A spec run (the app's own networks, `vg-studio train`, the app's training child: all train through the Trainer)
measures the loss of guessing on its probe rows' targets, as a user's model given `probe_targets` does: on tabular
data whose labels are nine in ten of one class, a network that learns only the prior sits at guessing — against
ln(classes) its loss "fell 66 %" and nothing was found."""

from __future__ import annotations

import json
import math

import numpy as np

from vg_studio.diagnose.engine import Diagnoser, diagnose_run
from vg_studio.diagnose.listener import DiagnosisListener
from vg_studio.spec import ExperimentSpec
from vg_studio.train import events
from vg_studio.train.trainer import Trainer

CLASSES = 3


def _skewed_npz(path) -> np.ndarray:
    """Two features of noise (nothing to learn but the prior) and labels nine in ten of class 0; the training
    labels."""
    rng = np.random.default_rng(0)
    y = np.where(rng.random(1500) < 0.9, 0, rng.integers(1, CLASSES, 1500)).astype("int64")
    x = rng.normal(size=(1500, 2)).astype("float32")
    np.savez(path, x_train=x[:1200], y_train=y[:1200], x_test=x[1200:], y_test=y[1200:])
    return y[:1200]


def _spec(path, epochs: int, layers=({"units": 8, "activation": "relu"},)) -> ExperimentSpec:
    # no validation split: the training rows keep the file's order, and the probe rows are all of them
    return ExperimentSpec.from_dict({
        "name": "prior", "data": {"dataset": f"npz:{path}"}, "network": {"layers": list(layers)},
        "optimizer": {"name": "adam", "learning_rate": 0.01},
        "training": {"epochs": epochs, "batch_size": 50, "seed": 1, "validation_split": 0.0},
        "monitoring": {"record_every": 4, "probe_batch_size": 2000}})


def _prior_level(labels: np.ndarray) -> float:
    """The entropy of the labels' frequencies with Miller–Madow's (classes seen − 1) / 2n (docs/diagnostics.md)."""
    p = np.bincount(labels, minlength=CLASSES) / len(labels)
    p = p[p > 0]
    return float(-np.sum(p * np.log(p)) + (len(p) - 1) / (2 * len(labels)))


def test_a_spec_run_on_a_skewed_prior_is_judged_against_the_priors_loss(tmp_path):
    labels = _skewed_npz(tmp_path / "skewed.npz")
    level = _prior_level(labels)
    assert level < 0.4 < math.log(CLASSES)  # the prior, far below ln 3 = 1.10
    seen, live, spec = [], DiagnosisListener(), _spec(tmp_path / "skewed.npz", epochs=8)
    result = Trainer(spec, tmp_path / "run", listeners=[seen.append, live]).run()
    assert result.status == "completed"
    started = next(e for e in seen if isinstance(e, events.RunStarted))
    stored = started.model_summary["guessing"]["outputs"]
    assert len(stored) == 1 and stored[0]["basis"] == "prior" and abs(stored[0]["level"] - level) < 1e-9
    report = json.loads((tmp_path / "run" / "report.json").read_text())
    assert report["guessing"] == started.model_summary["guessing"]  # the run directory keeps spec.json, not model.json
    offline, _ = diagnose_run(tmp_path / "run")
    assert live.diagnoser.facts.chance_loss == offline.facts.chance_loss == stored[0]["level"]

    # the loss fell from ln 3 to the prior's and stayed there: at guessing, live and offline alike
    losses = [e.loss for e in seen if isinstance(e, events.ProbeRecord)]
    assert abs(np.mean(losses[-10:]) - level) < 0.05 and losses[0] > 2.5 * level
    for diagnoser in (live.diagnoser, offline):
        found = {f.kind: f for f in diagnoser.findings}
        assert "loss_plateau" in found
        assert any("Guessing the label prior gives a loss of" in line for line in found["loss_plateau"].details)
    # judged against ln 3 the same records show no plateau: the loss "fell 66 %"
    uniform = Diagnoser.from_history(result.history, spec, None, CLASSES)
    assert uniform.facts.chance_loss == math.log(CLASSES)
    assert "loss_plateau" not in {f.kind for f in uniform.findings}


def test_with_auxiliary_heads_the_level_is_the_main_outputs(tmp_path):
    """With an auxiliary head the compiled loss is the main output's plus the head's, weighted; the loss the run logs
    and the diagnosis reads is the main output's alone, and so is the level measured."""
    labels = _skewed_npz(tmp_path / "skewed.npz")
    seen, layer = [], {"units": 8, "activation": "relu"}
    spec = _spec(tmp_path / "skewed.npz", epochs=1, layers=[layer, {**layer, "aux_head": True}, layer])
    Trainer(spec, listeners=[seen.append]).run()
    started = next(e for e in seen if isinstance(e, events.RunStarted))
    stored = started.model_summary["guessing"]["outputs"]
    assert [row["output"] for row in stored] == ["output"] and abs(stored[0]["level"] - _prior_level(labels)) < 1e-9
    first = next(e for e in seen if isinstance(e, events.ProbeRecord))
    assert "total_loss" in first.metrics and first.loss == first.metrics["loss"] != first.metrics["total_loss"]
