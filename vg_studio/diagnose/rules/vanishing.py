"""Vanishing gradient ("Analysis of the Causes and Solutions…", SNS notes): the gradients reaching the first layer
are a tiny share of those at the output, so the early layers barely learn.

The ratio r = mean |g| over the first main layer's weight matrices / that over the output layer's (a bias's
gradient is not shrunk by a collapsing forward signal: kernel_grad_mean_abs), the median over the last
`vanishing_window_steps` steps; while the loss has sat at the loss of guessing since step 1, the lesser of that and
the ratio over all the weights (the output kernel's input is then the collapsed signal itself). Beside r below
`vanishing_ratio`, four tests for a ratio near it (within 10×): the first layer's gradient under an absolute floor,
a ratio that fell since the first steps, a loss stuck where it started (a loss plateau holds), or a loss sitting at
the loss of guessing since step 1 (tiny weights shrink the forward signal too, which hides the decay). Each finding
names the test that fired with its own figures.
"""

from __future__ import annotations

from vg_studio.diagnose.rules.base import NOT_HELD, Rule, Verdict
from vg_studio.references import cite


class Vanishing(Rule):
    kind = "vanishing_gradient"

    def on_record(self, finite: bool):
        if not finite or "grad_mean_abs" not in self.state.stats:
            return None
        return self.judge()

    def on_epoch(self, epoch: int, logs: dict):
        # a plateau found at an epoch's end re-judges the gradients
        if self.state.active.get("loss_plateau") and not self.state.active.get(self.kind) \
                and "grad_mean_abs" in self.state.stats:
            return self.judge()
        return None

    def judge(self):
        facts, state, c = self.facts, self.state, self.config
        first, last = facts.first, facts.last
        if first == last or not state.grad_window.items:
            return None
        g = state.grad_window.median()
        if not g[last] > 0:
            return None
        ratio = g[first] / g[last]
        base = state.first_grad
        first_ratio = base[first] / max(base[last], 1e-300)
        trend = first_ratio / ratio if ratio > 0 else float("inf")
        if not state.output_moves(facts):
            return NOT_HELD  # nothing moves: the problem is the learning rate, not the gradients' decay
        near = ratio < 10 * c.vanishing_ratio
        stalled = bool(state.active.get("loss_plateau"))
        chance_held = state.step - state.first_step >= c.vanishing_chance_steps
        if state.at_chance:
            # the output ignores the input: its kernel's input is the collapsed signal, so its gradient falls with
            # the collapse and hides the decay; its bias's gradient, the error alone, keeps the backward signal's
            # scale — here the ratio over all the weights is the one that shows whether the error reaches the start
            every = state.weight_grad_window.median()
            if every[last] > 0:
                ratio = min(ratio, every[first] / every[last])
                near = ratio < 10 * c.vanishing_ratio
        at_chance = state.at_chance and (near or (ratio < c.vanishing_chance_ratio and chance_held))
        tests = [("ratio", ratio < c.vanishing_ratio,
                  f"first/output gradient ratio {ratio:.2g} < vanishing_ratio {c.vanishing_ratio:g}"),
                 ("floor", near and g[first] < c.vanishing_floor,
                  f"first layer's mean |gradient| {g[first]:.2g} < vanishing_floor {c.vanishing_floor:g} "
                  f"(ratio {ratio:.2g})"),
                 ("trend", near and trend >= c.vanishing_trend,
                  f"ratio {ratio:.2g} fell {trend:.3g}x >= vanishing_trend {c.vanishing_trend:g}"),
                 ("stalled", near and stalled, f"ratio {ratio:.2g} near the threshold with the loss stuck"),
                 ("chance", at_chance, f"loss {state.loss:.4g} at the loss of guessing since step "
                                       f"{state.first_step} with ratio {ratio:.2g}")]
        fired = [text for _, on, text in tests if on]
        if not fired:
            return NOT_HELD
        between = [i for i in facts.main if first <= i <= last]
        depth = len(between) - 1  # weight layers the gradient crosses from the output back to the first
        factor = ratio ** (1.0 / depth) if ratio > 0 else 0.0
        layers = [i for i in facts.main if i != last and g[i] / g[last] < c.vanishing_layer_ratio] or [first]
        evidence = {"first_to_last_grad_ratio": float(ratio), "first_layer_grad_mean_abs": float(g[first]),
                    "last_layer_grad_mean_abs": float(g[last]), "per_layer_factor": float(factor),
                    "layers_crossed": depth, "ratio_fall_since_start": float(trend)}
        threshold = f"the rule's threshold is {c.vanishing_ratio:g}" if tests[0][1] else \
            f"near the threshold {c.vanishing_ratio:g}"
        details = [f"Mean |gradient| of {facts.labels[first]}'s weights is {g[first]:.2g}, of {facts.labels[last]} "
                   f"{g[last]:.2g}: a ratio of {ratio:.2g} ({threshold})."]
        details.append(f"Across the {depth} layers between them that is about {factor:.2g}× per layer.")
        if all(facts.activations[i] == "sigmoid" for i in between[:-1]):
            evidence["sigmoid_bound_power_L"] = 0.25 ** depth
            if 0.1 <= factor <= 0.3:
                details.append(f"That is close to 0.25, the most a sigmoid's derivative passes back per layer "
                               f"{cite('causes-solutions')}.")
            elif factor < 0.1:
                details.append("That is well below 0.25, the most a sigmoid's derivative passes back per layer "
                               f"{cite('causes-solutions')}: small weights shrink the gradient too.")
        if trend >= c.vanishing_trend:
            details.append(f"The ratio has fallen {trend:.3g}× since the first steps.")
        if stalled and not (at_chance and facts.measured_chance is not None):
            details.append("The loss has not moved from where it started.")
        elif at_chance:
            details.append(f"The loss has stayed at {state.loss:.4g}, the loss of guessing "
                           f"{facts.guessing_words}: the output does not depend on the input yet.")
        # dead ReLUs and saturated units zero the backward signal too: then those units are the cause to fix
        because = "dead_units" if state.unit_hits(facts, "dead_fraction", c.dead_fraction) else \
            "saturated_units" if any(first <= i < last for i in state.unit_hits(
                facts, "saturated_fraction", c.saturated_fraction)) else None
        severe = ratio < c.vanishing_ratio / 100 or g[first] < c.vanishing_floor
        return Verdict("error" if severe else "warning", tuple(layers), evidence,
                       f"The gradients reaching {facts.labels[first]} are {ratio:.1e} times those at "
                       f"{facts.labels[last]}, so {{layers}} barely learn: the gradients vanish.", tuple(details),
                       rule="; ".join(fired), because=because)
