"""Oscillating loss: the loss of the batches swings up and down by a large share of its level without coming down,
far above a good loss — the learning rate is too high (each step overshoots the minimum it aims at). Judged on the
steps past the run's first `startup_steps`: a loss that starts far too high swings on its way down.

The recorded loss is Keras's running mean since the epoch began; the engine recovers from it the mean loss of the
batches between two records (`RunState.batch_losses`), which is what swings. A large update ratio ‖ΔW‖/‖W‖ per
step (far above the ~1e-3 of healthy training) is cited as evidence. Where no layer's weights move (a schedule
decayed to ~0), the loss swings only with the batch: no step overshoots anything, so it is no oscillation. The
same holds where every layer's steps are small (BatchNorm under batches of 2: each batch's statistics are noise)
and the swing is of the size of the loss's step-to-step spread; a burst far above that spread (a spike of the rate)
is an oscillation whatever the steps' size now.

A network that computes otherwise in training (BatchNorm under tiny batches normalises each example by a few
examples' mean; heavy Dropout) swings in training mode while it learns: where the records carry the loss on the
probe batch in inference mode (`RunState.inference`), no oscillation holds while that loss is below the training
mode's level and came down by `oscillation_progress` over the window or is below the good level. (A network that
overshoots does so in either mode: its loss in inference mode is no lower than its batches'.)
"""

from __future__ import annotations

import numpy as np

from vg_studio.diagnose.rules.base import NOT_HELD, Rule, Verdict
from vg_studio.diagnose.state import update_ratio_words

MIN_POINTS = 8
SMOOTH_STEPS = 5  # the loss of the batches is averaged over this many steps: one noisy batch is no swing
# a swing this many times the loss's step-to-step spread is more than the batches' sampling noise (white noise, averaged
# as the rule averages it, spans ~2-3.5 times its spread over the window; a swing that builds over steps or a burst
# spans far more)
COHERENT_SPREAD = 6.0


class OscillatingLoss(Rule):
    kind = "oscillating_loss"
    transient_at_start = True

    def on_record(self, finite: bool):
        facts, state, c = self.facts, self.state, self.config
        if not finite or state.first_loss is None:
            return None
        items = self.settled()
        if len(items) < MIN_POINTS or items[-1][0] - items[0][0] + 1 < c.oscillation_window_steps / 2:
            return None
        steps = np.asarray([s for s, _ in items], dtype=np.float64)
        values = np.asarray([v for _, v in items], dtype=np.float64)
        if not np.all(np.isfinite(values)):
            return None
        gap = max(1.0, float(np.median(np.diff(steps))))
        k = max(1, int(round(SMOOTH_STEPS / gap)))
        smooth = np.convolve(values, np.ones(k) / k, mode="valid") if len(values) >= k + 3 else values
        level = float(np.median(smooth))
        # far above a good loss by the uniform guess's scale: a loss at a skewed label prior swings with each batch's
        # share of the rare classes, which is no overshoot
        chance = facts.uniform_loss
        good = c.plateau_far * chance if chance is not None else c.plateau_far * state.first_loss
        swing = float(smooth.max() - smooth.min()) / max(level, 1e-12)
        rises = float(np.mean(np.diff(smooth) > 0))
        third = max(1, len(values) // 3)
        early, late = float(np.median(values[:third])), float(np.median(values[-third:]))
        progress = (early - late) / max(early, 1e-12)
        # an overshoot needs steps: where no layer's weights move, the loss swings only with the batch
        if not (level >= good and swing >= c.oscillation_swing and rises >= c.oscillation_rises
                and progress < c.oscillation_progress) or state.no_layer_moves(facts) \
                or self.sampling_noise(values, smooth) or self.learns_in_inference(int(steps[0]), good, level):
            return NOT_HELD
        span = int(steps[-1] - steps[0])
        evidence = {"median_loss": level, "swing": swing, "share_of_rises": rises, "progress": progress,
                    "window_steps": span}
        rises_needed = f", {c.oscillation_rises:.0%}" if c.oscillation_rises else ""
        details = [f"Over the last {span} steps the loss (averaged over {SMOOTH_STEPS} steps) ranged over "
                   f"{swing:.0%} of its level ({level:.3g}), rising {rises:.0%} of the time (threshold"
                   f"{'s' if rises_needed else ''} {c.oscillation_swing:.0%}{rises_needed}).",
                   f"It went from {early:.3g} to {late:.3g} over that window: no progress."]
        inference = state.inference.change(int(steps[0]))
        if inference is not None:
            evidence["inference_loss"] = inference[1]
            details.append(state.inference.words(int(steps[0])))
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

    def sampling_noise(self, values: np.ndarray, smooth: np.ndarray) -> bool:
        """Every layer's steps small (the largest median update ratio below oscillation_update_ratio) and the swing
        within COHERENT_SPREAD times the loss's step-to-step spread (a robust one: a burst does not widen it)."""
        update = self.state.median_update_ratio()
        if update is None or not np.any(np.isfinite(update)) \
                or float(np.nanmax(update)) >= self.config.oscillation_update_ratio:
            return False
        step_to_step = np.diff(values)
        spread = 1.4826 * float(np.median(np.abs(step_to_step - np.median(step_to_step)))) / np.sqrt(2)
        return float(smooth.max() - smooth.min()) < COHERENT_SPREAD * spread

    def learns_in_inference(self, start: int, good: float, level: float) -> bool:
        """The loss on the probe batch in inference mode, where measured, is below the training mode's `level` and
        came down by oscillation_progress since the window's start or is below `good`: the swing is the training
        mode's (its batches' statistics, its dropout), not steps that overshoot."""
        change = self.state.inference.change(start)
        if change is None:
            return False
        then, now = change
        return now < level and (now < good or (then - now) / max(abs(then), 1e-12) >= self.config.oscillation_progress)

    def settled(self) -> list:
        """(step, loss of the batches) over the window, past the run's first startup_steps steps: a loss that
        starts far too high and comes down swings too, and that is the start, not what holds."""
        state = self.state
        return [(s, v) for s, v in state.batch_losses.items if s - state.first_step >= self.config.startup_steps]

    def unmet_need(self):
        state, c = self.state, self.config
        items = self.settled()
        span = items[-1][0] - items[0][0] + 1 if items else 0  # the steps whose losses the points are
        if state.first_loss is None or (len(items) >= MIN_POINTS and span >= c.oscillation_window_steps / 2):
            return None
        return (f"the loss of the batches at {MIN_POINTS}+ records spanning {c.oscillation_window_steps / 2:g} "
                f"steps after the first {c.startup_steps:g}; the run gives {len(items)} spanning {span} steps")
