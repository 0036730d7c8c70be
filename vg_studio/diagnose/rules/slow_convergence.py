"""Slow convergence: the loss falls, but at its pace it would need far more than the run's budget to get anywhere
near a good loss (below `plateau_far` × the loss of guessing, or half its first value without classes).

Judged once `slow_budget_fraction` of the budget (epochs × steps per epoch) and the start-up steps have passed: the share of the way to the
target covered so far is compared with the share of the budget spent. A flat loss is a plateau, a rising one an
explosion; this rule is for the loss that moves, too slowly (a learning rate far too small, a poor optimizer).
"""

from __future__ import annotations

import numpy as np

from vg_studio.diagnose.rules.base import NOT_HELD, Rule, Verdict
from vg_studio.diagnose.state import update_ratio_words


class SlowConvergence(Rule):
    kind = "slow_convergence"

    def on_record(self, finite: bool):
        facts, state, c = self.facts, self.state, self.config
        budget = facts.budget_steps
        if not finite or not budget or state.first_loss is None:
            return None
        elapsed = (state.step - state.first_step + 1) / budget
        if elapsed < c.slow_budget_fraction or state.step - state.first_step < c.startup_steps:
            return None  # (the first steps of a healthy network can be slow to start: not judged)
        if len(state.early_losses) < 2 or len(state.batch_losses.items) < 2:
            return None
        chance = facts.chance_loss
        # the loss of the batches (not Keras's running mean): the median of the first baseline_steps steps, and of the
        # last twice as many
        first = float(np.median(state.early_losses))
        recent = [v for s, v in state.batch_losses.items if state.step - s < 2 * c.baseline_steps]
        now = float(np.median(recent))
        target = c.plateau_far * chance if chance is not None else 0.5 * first
        if first <= target or now <= target:
            return NOT_HELD
        progress = (first - now) / (first - target)
        moved = (first - now) / max(abs(first), 1e-12) >= c.plateau_tolerance
        if not moved or progress >= elapsed / c.slow_progress_factor:
            return NOT_HELD
        needed = elapsed / progress if progress > 0 else float("inf")
        evidence = {"loss": now, "first_loss": first, "target_loss": target, "progress": progress,
                    "budget_used": elapsed, "budgets_needed": needed}
        details = [f"After {elapsed:.0%} of the {budget} steps the loss went from {first:.3g} to {now:.3g}: "
                   f"{progress:.1%} of the way to {target:.3g}.",
                   f"At this pace it needs about {needed:.0f}× the budget (threshold {c.slow_progress_factor:g}×)."]
        update = state.median_update_ratio()
        if update is not None and np.any(np.isfinite(update)):
            typical = float(np.nanmedian(update))
            evidence["median_update_ratio"] = typical
            if update_ratio_words(typical, c):
                details.append(update_ratio_words(typical, c))
        return Verdict("warning", (), evidence,
                       f"The loss falls, but far too slowly: after {elapsed:.0%} of the training budget it has come "
                       f"{progress:.1%} of the way to a good loss — at this pace it needs about {needed:.0f}× the "
                       "steps.", tuple(details),
                       rule=f"progress {progress:.1%} < budget used {elapsed:.0%} / slow_progress_factor "
                            f"{c.slow_progress_factor:g}")
