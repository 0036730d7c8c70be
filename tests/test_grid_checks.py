"""The labelled grid's measured labels (benchmarks/grid/checks.py): "learned nothing" reads the loss of guessing the
label prior, not the uniform guess."""
import importlib.util
import math
import sys
from pathlib import Path

import numpy as np
import pytest

_spec = importlib.util.spec_from_file_location(
    "grid_checks", Path(__file__).resolve().parents[1] / "benchmarks" / "grid" / "checks.py")
checks = sys.modules[_spec.name] = importlib.util.module_from_spec(_spec)  # (its dataclasses look it up)
_spec.loader.exec_module(checks)

K = 10
SKEWED = np.array([0] * 109 + [c for c in range(1, K) for _ in range(2)] + [1])  # 128 rows, 85 % class 0


def _constant_guess_loss(y, num_classes):
    """The mean cross-entropy, row by row, of predicting the rows' own class frequencies."""
    p = np.bincount(y, minlength=num_classes) / len(y)
    return float(np.mean(-np.log(p[y])))


def _measured(after_loss, prior, **after):
    """A run whose network started at the uniform guess and ended at `after_loss`, its batch losses falling there
    smoothly over 100 steps; `prior` its labels' guessing loss (None: stored before the prior was measured)."""
    net = {"grad_ratio": 0.5, "max_grad_norm": 0.5, "dead": 0.0, "saturated": 0.0, "signal_change": 1.0,
           "weight_scale": 1.0, "weight_change": math.nan, "finite": True, "time_ratio": math.nan}
    before = {**net, "loss": math.log(K)}
    if prior is not None:
        before["prior_loss"] = prior
    steps = np.arange(1, 101)
    losses = after_loss + (math.log(K) - after_loss) * np.exp(-steps / 10)
    return {"before": before, "after": {**net, "loss": after_loss, "weight_change": 0.05, **after},
            "batch_losses": [[int(s), float(v)] for s, v in zip(steps, losses)], "num_classes": K, "steps": 100}


def test_prior_loss_is_the_constant_guess_of_skewed_labels_and_ln_k_for_balanced_ones():
    assert checks.prior_loss(SKEWED, K) == pytest.approx(_constant_guess_loss(SKEWED, K), rel=1e-9)
    assert checks.prior_loss(SKEWED, K) < 0.5 * math.log(K)
    balanced = np.random.default_rng(0).integers(0, K, 128)  # within sampling noise of uniform
    assert checks.prior_loss(balanced, K) == pytest.approx(math.log(K), rel=1e-12)


def test_a_network_that_learned_only_a_skewed_prior_is_stuck_not_trained():
    prior = _constant_guess_loss(SKEWED, K)
    dead = _measured(prior + 0.01, prior, dead=0.6)  # most ReLUs dead, the output bias learned the prior
    assert "dead" in checks.truth(dead)
    assert not checks.trained(dead)
    frozen = _measured(prior + 0.01, prior)  # the last epoch's steps ~0 (a schedule decayed) at the prior's loss
    frozen["last_epoch_change"] = 1e-7
    assert "flat" in checks.truth(frozen)
    assert not checks.trained(frozen)
    # still far above the prior's loss after a whole run at a tiny rate: slow, however skewed the labels
    assert checks.truth(_measured(math.log(K) - 0.1, prior)) == {"slow"}
    # a measurement stored without the prior reads the uniform guess, as it did: below half of it, it learned
    stored = _measured(prior + 0.01, None, dead=0.6)
    assert "dead" not in checks.truth(stored) and checks.trained(stored)
