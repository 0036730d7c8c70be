"""Slow convergence: the loss falls, but at its pace it would need far more than the run's budget to get anywhere
near a good loss (below `plateau_far` × the loss of guessing, or half its first value without classes). Where the
best constant prediction was measured on the targets, the way is counted from it (or from the first loss, if lower):
falling to the label prior or the targets' mean is the output's bias learning, quick at any rate.

Judged once `slow_budget_fraction` of the budget (epochs × steps per epoch) and the start-up steps have passed: the
share of the way to the target covered so far is compared with the share of the budget spent; steps far too small
(a median update ratio below `update_ratio_low`) while the loss is still that far are slow whatever the pace — a
loss over skewed labels falls fast at first as the output learns their prior, at any rate. A loss that has
hardly moved at all is the extreme of the same problem (the loss of a short run's batches cannot tell a fall of
0.5 % from one of 1 %): the finding then says the loss has not come down. A network that computes otherwise in
training (BatchNorm, Dropout) must be that slow by its loss on the probe batch in inference mode too, where the
records carry it (counted the same way, from its first measurement): the training mode's batches can hold its
logged loss far above what the network reaches in use. Weights that do not move (`flat_weights`), an explosion or dead units explain it when they hold.
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
        if not self._judgeable():
            return None  # (the first steps of a healthy network can be slow to start: not judged)
        last = self._last_step()
        elapsed = (last - state.first_step + 1) / budget
        if not state.early_losses or len(state.batch_losses.items) < 2:
            return None
        chance = facts.chance_loss
        # the loss of the batches (not Keras's running mean): the median of the first baseline_steps steps, and of the
        # last twice as many
        start = float(np.median(state.early_losses))
        # (where records are too sparse to recover the batches' loss, the latest recorded loss: the epoch's mean)
        recent = state.batch_losses.since(last, 2 * c.baseline_steps)
        now = float(np.median(recent)) if recent else float(state.batch_loss)
        if not (np.isfinite(start) and np.isfinite(now)):
            return None
        first = facts.learning_from(start)
        since = f"{first:.3g}" if first == start else f"{first:.3g}, the loss of guessing {facts.guessing_words}"
        target = c.plateau_far * chance if chance is not None else 0.5 * first
        if first <= target or now <= target:
            return NOT_HELD
        progress = (first - now) / (first - target)
        update = state.median_update_ratio()
        typical = float(np.nanmedian(update)) if update is not None and np.any(np.isfinite(update)) else None
        # steps far too small while the loss is still far from good: the pace of a loss whose first fall is the
        # output's bias learning a skewed prior of the labels (quick, whatever the rate) says nothing of the rest
        tiny_steps = typical is not None and typical < c.update_ratio_low
        if progress >= elapsed / c.slow_progress_factor and not tiny_steps:
            return NOT_HELD
        if self.progresses_in_inference(target, elapsed, tiny_steps):
            return NOT_HELD
        moved = (first - now) / max(abs(first), 1e-12) >= c.plateau_tolerance
        needed = elapsed / progress if progress > 0 else float("inf")
        evidence = {"loss": now, "first_loss": first, "target_loss": target, "progress": progress,
                    "budget_used": elapsed, "budgets_needed": needed}
        details = [f"After {elapsed:.0%} of the {budget} steps the loss went from {first:.3g} to {now:.3g}: "
                   f"{max(progress, 0.0):.1%} of the way to {target:.3g}.",
                   f"At this pace it needs about {needed:.0f}× the budget (threshold {c.slow_progress_factor:g}×)."
                   if moved else f"It has not come down by {c.plateau_tolerance:.0%} of its value: at this pace "
                                 "no budget is enough."]
        if first < start:
            details.insert(0, f"It fell from {start:.3g} to the {first:.3g} of guessing {facts.guessing_words} — "
                              "what the output's bias alone reaches — and is counted from there.")
        inference = state.inference.over_run()
        if inference is not None:
            evidence["inference_loss"] = inference[1]
            details.append(state.inference.words(state.inference.first[0]))
        if typical is not None:
            evidence["median_update_ratio"] = typical
            if update_ratio_words(typical, c):
                details.append(update_ratio_words(typical, c))
        message = (f"The loss falls, but far too slowly: after {elapsed:.0%} of the training budget it has come "
                   f"{progress:.1%} of the way to a good loss — at this pace it needs about {needed:.0f}× the "
                   "steps.") if moved else (
                   f"The loss has hardly come down: after {elapsed:.0%} of the training budget it is {now:.3g} "
                   f"(from {since}), still far from a good loss — training converges far too slowly.")
        rule = (f"progress {progress:.1%} < budget used {elapsed:.0%} / slow_progress_factor "
                f"{c.slow_progress_factor:g}")
        if progress >= elapsed / c.slow_progress_factor:  # held on the steps' size alone
            message = (f"The loss falls, but every step is far too small: after {elapsed:.0%} of the training "
                       f"budget it is {now:.3g} (from {since}), still far from a good loss.")
            rule = (f"median update ratio {typical:.1e} < update_ratio_low {c.update_ratio_low:g} with the loss "
                    f"{now:.3g} above {target:.3g}")
        return Verdict("warning", (), evidence, message, tuple(details), rule=rule)

    def on_epoch(self, epoch: int, logs: dict):
        """An epoch's end brings the own losses of its batches after its last record: judged again with them (a
        run's last record can fall a few steps short of its last step, and of the start-up steps)."""
        return self.on_record(True)

    def _last_step(self) -> int:
        """The newest step the run is known to have trained: its last record's, or that of a later batch whose own
        loss came with the epoch's end."""
        items = self.state.batch_losses.items
        return max(self.state.step, int(items[-1][0])) if items else self.state.step

    def progresses_in_inference(self, target: float, elapsed: float, tiny_steps: bool) -> bool:
        """The loss on the probe batch in inference mode, where measured, is good, or came at least as far towards
        `target` (from its first measurement, or the loss of guessing if lower) as the budget spent asks."""
        inference = self.state.inference.over_run()
        if inference is None:
            return False
        first, now = self.facts.learning_from(inference[0]), inference[1]
        if first <= target or now <= target:
            return True
        return (first - now) / (first - target) >= elapsed / self.config.slow_progress_factor and not tiny_steps

    def _judgeable(self) -> bool:
        """Half the budget spent and the start-up steps covered (a healthy BatchNorm CNN under Adam can take 24
        steps to move 10 % of the way: a run shorter than the start-up steps is not judged)."""
        facts, state, c = self.facts, self.state, self.config
        covered = self._last_step() - state.first_step + 1
        return covered / facts.budget_steps >= c.slow_budget_fraction and covered >= c.startup_steps

    def unmet_need(self):
        facts, state, c = self.facts, self.state, self.config
        if not facts.budget_steps or state.first_loss is None:
            return None
        last = self._last_step()
        elapsed = (last - state.first_step + 1) / facts.budget_steps
        if self._judgeable():
            return None
        return (f"{c.slow_budget_fraction:.0%} of the run's budget and at least {c.startup_steps:g} steps; the "
                f"records span {last - state.first_step} steps, {elapsed:.0%} of the {facts.budget_steps} "
                "planned")
