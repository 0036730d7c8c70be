"""Oscillating loss: the loss of the batches swings up and down by a large share of its level without coming down,
far above a good loss — the learning rate is too high (each step overshoots the minimum it aims at).

The recorded loss is Keras's running mean since the epoch began; the engine recovers from it the mean loss of the
batches between two records (`RunState.batch_losses`), which is what swings. A large update ratio ‖ΔW‖/‖W‖ per
step (far above the ~1e-3 of healthy training) is cited as evidence.
"""

from __future__ import annotations

import numpy as np

from vg_studio.diagnose.rules.base import NOT_HELD, Rule, Verdict
from vg_studio.diagnose.state import update_ratio_words

MIN_POINTS = 8
SMOOTH_STEPS = 5  # the loss of the batches is averaged over this many steps: one noisy batch is no swing


class OscillatingLoss(Rule):
    kind = "oscillating_loss"
    transient_at_start = True

    def on_record(self, finite: bool):
        facts, state, c = self.facts, self.state, self.config
        window = state.batch_losses
        if not finite or state.first_loss is None:
            return None
        if len(window.items) < MIN_POINTS or window.span() < c.oscillation_window_steps / 2:
            return None
        steps = np.asarray([s for s, _ in window.items], dtype=np.float64)
        values = np.asarray(window.values(), dtype=np.float64)
        if not np.all(np.isfinite(values)):
            return None
        gap = max(1.0, float(np.median(np.diff(steps))))
        k = max(1, int(round(SMOOTH_STEPS / gap)))
        smooth = np.convolve(values, np.ones(k) / k, mode="valid") if len(values) >= k + 3 else values
        level = float(np.median(smooth))
        chance = facts.chance_loss
        good = c.plateau_far * chance if chance is not None else c.plateau_far * state.first_loss
        swing = float(smooth.max() - smooth.min()) / max(level, 1e-12)
        rises = float(np.mean(np.diff(smooth) > 0))
        third = max(1, len(values) // 3)
        early, late = float(np.median(values[:third])), float(np.median(values[-third:]))
        progress = (early - late) / max(early, 1e-12)
        if not (level >= good and swing >= c.oscillation_swing and rises >= c.oscillation_rises
                and progress < c.oscillation_progress):
            return NOT_HELD
        span = window.span()
        evidence = {"median_loss": level, "swing": swing, "share_of_rises": rises, "progress": progress,
                    "window_steps": span}
        details = [f"Over the last {span} steps the loss (averaged over {SMOOTH_STEPS} steps) ranged over "
                   f"{swing:.0%} of its level ({level:.3g}), rising {rises:.0%} of the time (thresholds "
                   f"{c.oscillation_swing:.0%}, {c.oscillation_rises:.0%}).",
                   f"It went from {early:.3g} to {late:.3g} over that window: no progress."]
        update = state.median_update_ratio()
        if update is not None and np.any(np.isfinite(update)):
            largest = float(np.nanmax(update))
            evidence["median_max_update_ratio"] = largest
            if update_ratio_words(largest, c):
                details.append(update_ratio_words(largest, c))
        return Verdict("warning", (), evidence,
                       f"The loss swings up and down over {swing:.0%} of its level ({level:.3g}) without coming "
                       "down: each step overshoots — the learning rate is too high.", tuple(details),
                       rule=f"loss swing {swing:.0%} >= oscillation_swing {c.oscillation_swing:g} with progress "
                            f"{progress:.0%} < oscillation_progress {c.oscillation_progress:g}, level {level:.3g} "
                            f">= {good:.3g}")
