"""Loss plateau (SNS notes, method 1): the loss varies by less than `plateau_tolerance` over the records spanning
at least `plateau_steps` steps (or the last `plateau_epochs` epochs) while it is still far from a good loss — at
least `plateau_progress` of the first recorded loss, or of the best constant's loss where that was measured on the
targets and is lower (a loss that fell only to the label prior learned nothing) (or, where no layer's weights move any
more, `plateau_far` of where it started or of guessing: a loss that fell a little and stopped with the steps) and, for
a loss of known scale, `plateau_far` of the loss of guessing. The step span matters because the recorded loss is
Keras's running mean within an epoch. Where no layer's weights move, the loss changes only with the batch: its level
(the medians of the window's halves) is what must stay within the tolerance, over the steps since the weights stood
still where they span enough records (a small first fall before the window's end would hide that it stopped), and
the epochs' means, which still hold the steps before the weights froze, do not overrule a window in steps that
holds. A network that computes otherwise in training (BatchNorm, Dropout) must be that far from good by its loss on
the probe batch in inference mode too, where the records carry it: a training-mode loss held up by its batches'
statistics is no stall of the network."""

from __future__ import annotations

import math

import numpy as np

from vg_studio.diagnose.rules.base import NOT_HELD, Rule, Verdict
from vg_studio.references import cite


class LossPlateau(Rule):
    kind = "loss_plateau"

    def __init__(self, facts, state):
        super().__init__(facts, state)
        self.by_epochs = None  # the last epoch-window judgement (None before the first)
        self.by_steps = None  # the last step-window judgement

    def on_record(self, finite: bool):
        state = self.state
        if not finite or state.first_loss is None:
            return None
        if not self._steps_judged():
            return self.by_epochs
        losses, span = self._window()
        verdict = self.by_steps = self.judge([v for _, v in losses], span)
        return verdict if verdict is not NOT_HELD or self.by_epochs is None else self.by_epochs

    def _window(self) -> tuple[list, str]:
        """The records judged in steps, and their span in words: the last plateau_steps steps' — or, where no layer's
        weights move any more, those since they stood still (state.still_from): the loss cannot move after, and the
        steps before (a small first fall, then a schedule decayed to ~0) would hide that it stopped. Those need three
        records, as the whole window does, over the flat_steps steps after which the weights are called flat: a span
        that short is judged because the weights' standing still is the evidence, the loss's records only confirm
        it."""
        state, losses = self.state, list(self.state.losses)
        since = state.still_from if state.no_layer_moves(self.facts) else None
        if since is not None:
            still = [(s, v) for s, v in losses if s >= since]
            if len(still) >= 3 and still[-1][0] - still[0][0] >= self.config.flat_steps:
                return still, f"{state.step - still[0][0]} steps since the weights froze"
        return losses, f"{state.step - losses[0][0]} steps"

    def on_epoch(self, epoch: int, logs: dict):
        loss = logs.get("loss")
        if loss is None or not math.isfinite(float(loss)):
            return None
        state, c = self.state, self.config
        state.epoch_losses.append(float(loss))
        if len(state.epoch_losses) < max(2, int(c.plateau_epochs)) or state.first_loss is None:
            return None
        self.by_epochs = self.judge(list(state.epoch_losses), f"{len(state.epoch_losses)} epochs")
        if self.by_epochs is NOT_HELD and self.by_steps not in (None, NOT_HELD) and state.no_layer_moves(self.facts):
            return self.by_steps  # frozen weights: the epochs' means still hold the steps before they froze
        return self.by_epochs

    def _steps_judged(self) -> bool:
        """The records span plateau_steps steps (three or more of them): the window in steps can be judged."""
        losses = self.state.losses
        return len(losses) >= 3 and self.state.step - losses[0][0] >= self.config.plateau_steps

    def judge(self, losses: list, span: str):
        facts, state, c = self.facts, self.state, self.config
        values = np.asarray(losses)
        mean = float(values.mean())
        spread = float(values.max() - values.min()) / max(abs(mean), 1e-12)
        measure = "the loss moved by"
        frozen = state.no_layer_moves(facts)
        if len(values) >= 4 and frozen:
            # weights that do not move change the loss only with the batch (and Keras's running mean restarts each
            # epoch): whether its level moves is what the halves' medians say
            half = len(values) // 2
            drift = abs(float(np.median(values[:half])) - float(np.median(values[half:]))) / max(abs(mean), 1e-12)
            if drift < spread:
                spread, measure = drift, "the loss's level (its halves' medians, the weights frozen) moved by"
        first = state.first_loss
        # ... or, where no layer's weights move any more, still at least plateau_far of where it started or of
        # guessing: the loss stopped because the steps did (a schedule decayed to ~0 after a first fall), and an early
        # fall does not make it good
        far = mean >= c.plateau_progress * facts.learning_from(first) \
            or (frozen and state.far_from_good(facts))
        chance = facts.chance_loss
        if chance is not None:
            far = far and mean >= c.plateau_far * chance
        inference = state.inference.over_run()
        if inference is not None:
            then, now = inference
            far = far and now >= c.plateau_progress * facts.learning_from(then) and (
                chance is None or now >= c.plateau_far * chance)
        if not (spread < c.plateau_tolerance and far):
            return NOT_HELD
        evidence = {"loss": mean, "relative_change": spread, "first_loss": first, "window": len(values)}
        details = [f"Over the last {span} {measure} {spread:.1%} of its value (threshold "
                   f"{c.plateau_tolerance:.0%}); it started at {first:.3g}."]
        if chance is not None:
            evidence["chance_loss"] = chance
            details.append(f"Guessing {facts.guessing_words} gives a loss of {chance:.3g}.")
        if inference is not None:
            evidence["inference_loss"] = inference[1]
            details.append(state.inference.words(state.inference.first[0]))
        return Verdict("warning", (), evidence,
                       f"The loss has stayed at about {mean:.3g} over the last {span} (it started at {first:.3g}), "
                       f"so training has stalled {cite('sns-recognise')}.", tuple(details),
                       rule=f"loss moved {spread:.1%} < plateau_tolerance {c.plateau_tolerance:g} over {span}, "
                            f"still {mean / first:.0%} of its first value")

    def unmet_need(self):
        state, c = self.state, self.config
        if state.first_loss is None or self.by_epochs is not None or \
                (state.step - state.losses[0][0] >= c.plateau_steps and len(state.losses) >= 3):
            return None
        return (f"three or more records spanning {c.plateau_steps:g} steps, or {c.plateau_epochs:g} epochs; the "
                f"run's {state.records} record(s) span {state.step - state.first_step} steps")
