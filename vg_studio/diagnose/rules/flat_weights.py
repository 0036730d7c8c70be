"""Flat weights (SNS notes, method 2): per layer, ‖ΔW‖/‖W‖ per step below `flat_update_ratio` held for
`flat_steps` steps. A warning when the whole network is frozen (no layer moves, the output layer included) or at
least half the layers are, while the loss is still far from good; info for a few layers — early ones (a symptom of
vanishing), or an output layer whose weights are so large that Adam's steps of about the learning rate are a tiny
share of them (an output scaled 30× while every other layer moves and the loss comes down) — and info once the loss
has come down far (below `plateau_far` of where it started or of guessing): a learning-rate schedule that anneals to
~0 (cosine decay, a steep exponential one) stops the weights of a network that has learned."""

from __future__ import annotations

import numpy as np

from vg_studio.diagnose.rules.base import NOT_HELD, Rule, Verdict
from vg_studio.references import cite


class FlatWeights(Rule):
    kind = "flat_weights"

    def on_record(self, finite: bool):
        upd = self.state.stats.get("update_ratio")
        facts, state, c = self.facts, self.state, self.config
        if not finite or upd is None or len(upd) != len(facts.layer_names):
            return None
        held = []
        for i in range(len(upd)):
            if not np.isfinite(upd[i]):
                continue  # not measured at this record (e.g. the first): neither flat nor moving
            steps = state.since.held(f"flat{i}", bool(upd[i] < c.flat_update_ratio), state.step)
            if steps is not None and steps >= c.flat_steps:
                held.append(i)
        if not held:
            return NOT_HELD
        # nothing moves, the output layer included: nothing learns (a large output layer alone can take steps that
        # are a small share of its weights while the layers before it learn)
        moving = [i for i in range(len(upd)) if np.isfinite(upd[i]) and upd[i] >= c.flat_update_ratio]
        frozen_network = facts.last in held and not moving
        # ... because the steps are tiny for the gradients it gets (a learning rate of 0 or 1e-8), not because no
        # gradient reaches it (dead units, vanishing): then nothing else explains it
        alone = frozen_network and _step_size(state.stats, facts.last) < c.flat_update_ratio
        evidence = {f"update_ratio[{facts.layer_names[i]}]": float(upd[i]) for i in held}
        evidence["threshold"] = float(c.flat_update_ratio)
        details = [f"{facts.labels[i]}: each step changes the weights by {upd[i]:.2g} of their size" for i in held]
        learned = not state.far_from_good(facts)
        if frozen_network and learned:
            message = ("No layer's weights change from step to step any more (relative change below "
                       f"{c.flat_update_ratio:.0e}): training has stopped, after the network learned "
                       f"{cite('sns-recognise')}.")
        elif frozen_network:
            message = ("No layer's weights change from step to step (relative change below "
                       f"{c.flat_update_ratio:.0e}), so the network is not learning at all "
                       f"{cite('sns-recognise')}.")
        else:
            message = "The weights of {layers} hardly change from step to step, so those layers are " \
                      f"not learning {cite('sns-recognise')}."
        worst = min(held, key=lambda i: upd[i])
        if learned:
            details.append(f"The loss has come down to {state.recent_loss():.3g} (from {state.start_loss():.3g}): "
                           "the network learned before its steps stopped — a learning rate annealed to ~0 at the end "
                           "of a schedule, or a run that has converged.")
        severe = (frozen_network or len(held) * 2 >= len(upd)) and not learned
        return Verdict("warning" if severe else "info", tuple(held), evidence,
                       message, tuple(details), stands_alone=alone and not learned,
                       rule=f"update ratio {upd[worst]:.2g} < flat_update_ratio {c.flat_update_ratio:g} in "
                            f"{len(held)} of {len(upd)} layers for {c.flat_steps:g}+ steps")

    def unmet_need(self):
        return self.span_need(self.config.flat_steps, "update ratios at records")


def _step_size(stats: dict, i: int) -> float:
    """‖ΔW‖ / ‖g‖ per step of column i — the learning rate the weights actually see (inf when unknown)."""
    try:
        step = float(stats["update_ratio"][i]) * float(stats["weight_norm"][i])
        grad = float(stats["grad_norm"][i])
    except (KeyError, IndexError):
        return float("inf")
    return step / grad if grad > 0 and np.isfinite(step) else float("inf")
