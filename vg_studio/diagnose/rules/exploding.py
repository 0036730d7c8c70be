"""Exploding gradients: gradients (or the steps they cause) so large that each step throws the weights away.

Judged on medians over the records of the last `exploding_window_steps` steps, once that window spans
`exploding_steps` steps: a single large first step is not an explosion. Where the loss is far above chance, how large
the gradients are now is read over the last `exploding_steps` steps alone: the window's median lags an explosion, and
its end, by up to half a window. Large gradients while the weights do not
move are not one either (a learning rate of 1e-8 on a network whose loss starts far above chance): that is flat
weights, and the starting loss an initialisation problem (`poor_initialization`). Nor is a loss far above chance
that comes down steadily: the steps improve the network, and what is off is where it started. A non-finite loss or gradient
is an explosion's end point and an error at once. Nor are gradients that grew a hundredfold from their first steps
once the loss has come down far (below `plateau_far` of where it started or of guessing): a network that started flat
at guessing and then learned has gradients far larger than its first ones. A gradient's size (its norm, its growth)
is measured against a loss of known scale (cross-entropy, where guessing costs ln(classes)); for a loss of no known
scale (a squared error on targets in the thousands has gradients in the millions) it counts only where the steps it
causes are large (an update ratio above `update_ratio_high`). "Guessing" here is the uniform guess (`uniform_loss`),
never the best constant measured on the targets: a skewed label prior does not make an untrained network's loss
"far above guessing", and a regression's measured target variance gives its loss a level, not its gradients a scale.

An explosion has ended when the network has recovered from it, not when its gradients or steps have shrunk: weights
thrown to a huge scale take small relative steps and can pass back small gradients (their ReLUs dead) while the loss
stays where the explosion left it. So once the evidence has held, it goes on holding while the loss (the median of
the last `exploding_window_steps` steps) stays above both `exploding_loss_factor` x guessing and
`exploding_loss_growth` x its level before the explosion (the median of the window before the evidence first held,
or the first loss when it held from the start) — both the window's median and that of its last `exploding_steps`
steps, where a recovery shows first.
"""

from __future__ import annotations

import numpy as np

from vg_studio.diagnose.rules.base import NOT_HELD, Rule, Verdict
from vg_studio.diagnose.rules.non_finite import non_finite_columns, non_finite_details
from vg_studio.diagnose.state import Window, update_ratio_words

SIGNALS = {"norm": "largest layer gradient norm {norm:.3g} > exploding_norm {exploding_norm:g}",
           "growth": "gradient norm grew {growth:.3g}x > exploding_growth {exploding_growth:g}",
           "update": "largest update ratio {update:.2g} > exploding_update_ratio {exploding_update_ratio:g} with "
                     "gradient norms above {exploding_growth_norm:g}",
           "reverse": "first/output gradient ratio {reverse:.3g} > exploding_ratio {exploding_ratio:g} with gradient "
                      "norms above exploding_loss_norm {exploding_loss_norm:g}",
           "loss": "loss {loss:.3g} > exploding_loss_factor {exploding_loss_factor:g} x guessing with gradient "
                   "norms above exploding_loss_norm {exploding_loss_norm:g}",
           "climb": "loss {loss:.3g} > exploding_loss_growth {exploding_loss_growth:g} x its first value"}


class Exploding(Rule):
    kind = "exploding_gradient"
    transient_at_start = True

    def __init__(self, facts, state):
        super().__init__(facts, state)
        self.window = Window(self.config.exploding_window_steps)
        self.losses = Window(2 * self.config.exploding_window_steps)  # the batches' loss, two windows' worth
        self.onset: tuple[int, float] | None = None  # (step, loss level before it) where the evidence first held
        self.held_layers: tuple = ()

    def on_record(self, finite: bool):
        facts, state, c = self.facts, self.state, self.config
        if not finite:
            bad = non_finite_columns(state, len(facts.layer_names)) or list(range(len(facts.layer_names)))
            return Verdict("error", tuple(bad), {"loss": state.loss},
                           "The gradients grew until they overflowed to infinity or NaN, which wrecks the weights: "
                           "the gradients exploded.", non_finite_details(state, facts),
                           rule=f"non-finite loss or gradient at step {state.step}")
        stats = state.stats
        if "grad_mean_abs" not in stats or "grad_norm" not in stats:
            return None
        g, norm = stats["grad_mean_abs"], stats["grad_norm"]
        upd = stats.get("update_ratio")
        reverse = g[facts.first] / g[facts.last] if g[facts.last] > 0 else 0.0
        max_update = float(np.nanmax(upd)) if upd is not None and np.any(np.isfinite(upd)) else np.nan
        self.window.add(state.step, np.concatenate([norm, [reverse, max_update, state.batch_loss]]))
        self.losses.add(state.step, state.batch_loss)
        if self.window.span() < c.exploding_steps:
            return None
        med = self.window.median()
        norms, reverse, max_update, loss = med[:-3], float(med[-3]), float(med[-2]), float(med[-1])
        base = np.median(np.asarray(state.baseline), axis=0)
        with np.errstate(divide="ignore", invalid="ignore"):
            growth_per_layer = np.where(base > 0, norms / base, np.nan)
        growth_per_layer = np.where(norms > c.exploding_growth_norm, growth_per_layer, np.nan)
        growth = float(np.nanmax(growth_per_layer)) if np.any(np.isfinite(growth_per_layer)) else 1.0
        max_norm = float(np.nanmax(norms))
        # how large the gradients are now: the median over the records of the last exploding_steps steps (the
        # window's median lags an explosion in its second half by up to half a window)
        now = [v[:-3] for v in self.window.since(state.step, c.exploding_steps)]
        norm_now = float(np.nanmax(np.nanmedian(np.asarray(now, dtype=np.float64), axis=0))) if now else max_norm
        chance = facts.uniform_loss
        # large gradients on weights that hardly move throw nothing away: an explosion needs steps of some size (an
        # update ratio not measured counts as moving: the first records have none)
        moving = not np.isfinite(max_update) or max_update >= c.update_ratio_low
        update = max_update if np.isfinite(max_update) else 0.0
        # a gradient's size is measured against a loss of known scale (cross-entropy: guessing is ln(classes)); a
        # squared error on targets in the thousands has gradients in the millions while Adam's steps stay ordinary
        # and the loss falls. Without that scale the gradients count only where the steps they cause are large
        sized = chance is not None or update > c.update_ratio_high
        signals = {"norm": max_norm > c.exploding_norm and sized,
                   # gradients that grew from a flat start (a network at guessing whose tiny gradients pick up) to
                   # an ordinary size while the loss came down are learning, not throwing weights away
                   "growth": growth > c.exploding_growth and state.far_from_good(facts) and sized,
                   # tiny weights make a large relative step out of a small gradient: not an explosion
                   "update": update > c.exploding_update_ratio and max_norm > c.exploding_growth_norm,
                   # gradients that grow on their way back throw weights away only where they are large: an
                   # output kernel scaled 40x multiplies the backward signal without any step being too long
                   "reverse": reverse > c.exploding_ratio and max_norm > c.exploding_loss_norm,
                   "loss": chance is not None and loss > c.exploding_loss_factor * chance
                   and norm_now > c.exploding_loss_norm and not self.coming_down(loss),
                   "climb": loss > c.exploding_loss_growth * state.first_loss > 0
                   and (chance is None or loss > c.exploding_loss_factor * chance)}
        if not moving or not any(signals.values()):
            return self._lasting_damage(loss)
        if self.onset is None:
            self.onset = (state.step, self._level_before())
        figures = {"norm": max_norm, "growth": growth, "update": update, "reverse": reverse, "loss": loss,
                   **c.values()}
        fired = "; ".join(SIGNALS[name].format(**figures) for name, on in signals.items() if on)
        return self._verdict(signals, norms, max_norm, growth, update, reverse, loss, fired)

    def coming_down(self, loss: float) -> bool:
        """The loss of the last exploding_window_steps steps (median) is a tenth (1 − plateau_progress) or more
        below that of the window before: the steps improve the network, so a loss still far above guessing is
        where it started (an output layer scaled 30× under Adam), not steps that throw the weights away."""
        earlier = self._window_before()
        return earlier is not None and loss <= self.config.plateau_progress * earlier

    def _level_before(self) -> float:
        """The loss before the evidence first held: the median of the window before the current one, or the first
        loss where there is none (it held from the start)."""
        earlier = self._window_before()
        return earlier if earlier is not None else float(self.state.first_loss)

    def _window_before(self) -> float | None:
        """The median loss of the batches of the exploding_window_steps steps before the current window (None where
        there are none, or one is not finite)."""
        width, now = self.config.exploding_window_steps, self.state.step
        earlier = [v for s, v in self.losses.items if width <= now - s < 2 * width]
        return float(np.median(earlier)) if earlier and np.all(np.isfinite(earlier)) else None

    def _lasting_damage(self, loss: float):
        """The explosion's evidence no longer holds, but the loss has not recovered: still far above guessing and
        above where it was before the explosion. The explosion is what holds."""
        facts, c = self.facts, self.config
        if self.onset is None or not np.isfinite(loss):
            return NOT_HELD
        step, before = self.onset
        chance = facts.uniform_loss
        # a loss coming back shows first in the last steps: the window's median lags it by up to half a window
        recent = self.losses.since(self.state.step, c.exploding_steps)
        if recent and np.all(np.isfinite(recent)):
            loss = min(loss, float(np.median(recent)))
        if not (loss > c.exploding_loss_growth * before and (chance is None or loss > c.exploding_loss_factor * chance)):
            self.onset = None  # recovered: a later explosion is measured from where the loss is then
            return NOT_HELD
        span = self.window.span() + 1
        evidence = {"median_loss": loss, "loss_before_explosion": before, "explosion_step": step,
                    "window_steps": span}
        details = [f"The loss is {loss:.3g} (median of the last {span} steps), {loss / before:.2g}× the {before:.3g} "
                   f"it had before the gradients exploded at step {step}."]
        if chance is not None:
            evidence["chance_loss"] = chance
            details.append(f"That is {loss / chance:.2g}× the {chance:.3g} of guessing {facts.uniform_words}: "
                           "the network has not recovered.")
        fired = (f"loss {loss:.3g} > exploding_loss_growth {c.exploding_loss_growth:g} x its level before the "
                 f"explosion at step {step} ({before:.3g})"
                 + (f" and > exploding_loss_factor {c.exploding_loss_factor:g} x guessing" if chance else ""))
        layers = self.held_layers or (facts.last,)
        return Verdict("warning", layers, evidence,
                       f"The gradients exploded at step {step} and the network has not recovered: the loss stays at "
                       f"{loss:.3g}, {loss / before:.2g}× where it was before, although the gradients of {{layers}} "
                       "have come down — the weights the explosion threw away are still where it left them.",
                       tuple(details), fired)

    def unmet_need(self):
        return self.span_need(self.config.exploding_steps)

    def _verdict(self, signals, norms, max_norm, growth, max_update, reverse, loss, fired):
        facts, state, c = self.facts, self.state, self.config
        chance = facts.uniform_loss
        layers = [i for i in range(len(norms)) if norms[i] > c.exploding_norm] or [int(np.nanargmax(norms))]
        span = self.window.span() + 1
        evidence = {"median_max_grad_norm": max_norm, "max_grad_norm_growth": growth,
                    "median_max_update_ratio": max_update, "first_to_last_grad_ratio": reverse,
                    "median_loss": loss, "window_steps": span}
        details = [f"Over the last {span} steps the largest layer gradient norm was {max_norm:.3g} (median; "
                   f"threshold {c.exploding_norm:.3g}), {growth:.3g}× its size in the first steps."]
        upd = state.stats.get("update_ratio")
        if signals["update"] and upd is not None:
            details.append(f"One step changes {facts.label([int(np.nanargmax(upd))])}'s weights by "
                           f"{max_update:.0%} of their size (threshold {c.exploding_update_ratio:.0%}).")
        elif update_ratio_words(max_update, c):
            details.append(update_ratio_words(max_update, c))
        if signals["reverse"]:
            details.append(f"{facts.labels[facts.first]}'s gradients are {reverse:.3g}× "
                           f"{facts.labels[facts.last]}'s: they grow on their way back.")
        if chance is not None:
            evidence["chance_loss"] = chance
            details.append(f"The loss is {loss:.3g} (median), {loss / chance:.2g}× the {chance:.3g} of "
                           f"guessing {facts.uniform_words}.")
        if signals["climb"]:
            evidence["loss_vs_first"] = loss / state.first_loss
            details.append(f"It started at {state.first_loss:.3g}: it has grown {loss / state.first_loss:.2g}×.")
        severe = max_norm > 100 * c.exploding_norm or max_update > 10 * c.exploding_update_ratio
        if signals["norm"] or signals["growth"] or signals["update"]:
            message = (f"The gradients of {{layers}} are huge (norm about {max_norm:.3g}, {growth:.3g}× their size "
                       "in the first steps), so each step throws the weights far away instead of improving them: "
                       "the gradients explode.")
        elif signals["loss"]:
            message = (f"The loss stays at {loss:.3g}, {loss / chance:.2g}× the loss of guessing, with large "
                       f"gradients in {{layers}} (norm about {max_norm:.3g}): the outputs are huge and confidently "
                       "wrong and each step overshoots — the gradients explode.")
        elif signals["climb"]:
            message = (f"The loss climbed from {state.first_loss:.3g} to {loss:.3g} (median of the last {span} "
                       "steps): each step overshoots and makes things worse instead of better — the updates "
                       f"explode (largest step {max_update:.0%} of a layer's weights).")
        else:
            message = (f"{facts.labels[facts.first]}'s gradients are {reverse:.3g}× {facts.labels[facts.last]}'s: "
                       "they grow on their way back to the input, so the early layers take huge steps — the "
                       "gradients explode.")
        self.held_layers = tuple(layers)
        return Verdict("error" if severe else "warning", tuple(layers), evidence, message, tuple(details), fired)
