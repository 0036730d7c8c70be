"""Dead units: a share of a layer's units sit in their activation's dead region (a ReLU's z ≤ 0) for every probe
example, so they pass no gradient and stop learning."""

from __future__ import annotations

from vg_studio.diagnose.rules.base import NOT_HELD, Rule, Verdict


class DeadUnits(Rule):
    kind = "dead_units"

    def on_record(self, finite: bool):
        if not finite:
            return None
        facts, state, c = self.facts, self.state, self.config
        found = state.held_units(facts, "dead_fraction", c.dead_fraction)
        if found is None:
            return None
        if found is False:
            return NOT_HELD
        hits, held, values, worst, lasted = found
        evidence = {f"dead_fraction[{facts.layer_names[i]}]": float(values[i]) for i in hits}
        evidence.update(threshold=float(c.dead_fraction), held_steps=held, loss_vs_first=state.loss_vs_first())
        # Below 90 % a network can still learn around its dead units (Adam at lr 0.01 leaves ~60 % of an MNIST
        # first layer dead and reaches 89 %): warn only while the loss is still far from good — not below
        # plateau_far of where it started or of guessing, whichever is lower (a BatchNorm net at SGD 5 swings ±20 %
        # around it)
        full = "error" if values[worst] >= 0.9 else ("warning" if state.far_from_good(facts) else "info")
        severity = full if lasted else "info"  # not yet held for unit_steps: it waits (and holds if the run ends)
        details = [f"{facts.labels[i]}: {values[i]:.0%} of the units are in the {facts.activations[i]} dead region "
                   "for every probe example" for i in hits]
        details.append(f"Held for {held} steps" + ("" if lasted else f" (it counts once it has held "
                                                               f"{c.unit_steps:g}, or until the run ends)") +
                       f"; the loss is {evidence['loss_vs_first']:.0%} of its first value.")
        if facts.measured_chance is not None and facts.chance_loss:
            details.append(f"It is {state.recent_loss() / facts.chance_loss:.0%} of the {facts.chance_loss:.3g} of "
                           f"guessing {facts.guessing_words}" + (": still far from good." if full == "warning"
                                                                  else "."))
        activation = facts.activations[worst]
        return Verdict(severity, tuple(hits), evidence,
                       f"{values[worst]:.0%} of the units in {facts.labels[worst]} output zero for every "
                       f"example, so they pass no gradient and stop learning: these {activation} units are dead.",
                       tuple(details), rule=f"dead fraction {values[worst]:.0%} >= dead_fraction "
                                            f"{c.dead_fraction:g}, held {held} steps",
                       at_end=None if lasted else full)
