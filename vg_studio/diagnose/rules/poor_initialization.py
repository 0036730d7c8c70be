"""Poor initialisation, as training shows it: the loss starts far above the loss of guessing (`init_loss_factor` ×
ln(classes), the uniform guess's loss whatever the labels' prior: an untrained network with small outputs starts
there), so the outputs start huge and confidently wrong — the scale of the output layer, or of a residual sum, is
off from the first step. It is an early transient when the loss comes down within the first steps, and a
warning while it stays there. The activations' scale across depth before training is `diagnose.preflight`'s."""

from __future__ import annotations

from vg_studio.diagnose.rules.base import NOT_HELD, Rule, Verdict


class PoorInitialization(Rule):
    kind = "poor_initialization"
    transient_at_start = True
    overcome_at_start = True

    def on_record(self, finite: bool):
        facts, state, c = self.facts, self.state, self.config
        chance = facts.uniform_loss
        if not finite or chance is None or state.first_loss is None:
            return None
        limit = c.init_loss_factor * chance
        if state.first_loss < limit:
            return NOT_HELD
        # where it is now: the last baseline_steps steps, or the last exploding_steps where the loss swings back up
        # at the end (the longer median lags it)
        now = max(state.recent_loss(), state.recent_loss(c.exploding_steps))
        if now < limit:
            return NOT_HELD
        evidence = {"first_loss": state.first_loss, "loss": now, "chance_loss": chance,
                    "first_loss_vs_chance": state.first_loss / chance}
        details = (f"The loss at step {state.first_step} was {state.first_loss:.3g}, {state.first_loss / chance:.2g}× "
                   f"the {chance:.3g} of guessing {facts.uniform_words} (threshold "
                   f"{c.init_loss_factor:g}×); a well-initialised network starts close to it.",
                   f"It is {now:.3g} now (median of the last steps).")
        return Verdict("warning", (facts.last,), evidence,
                       f"The network started with a loss of {state.first_loss:.3g}, {state.first_loss / chance:.2g}× "
                       "the loss of guessing: its outputs start far too large and confidently wrong — the scale of "
                       "its initial weights (the output layer's, or a residual sum's) is off.", details,
                       rule=f"first loss {state.first_loss:.3g} >= init_loss_factor {c.init_loss_factor:g} × "
                            f"{chance:.3g}, still {now:.3g}")
