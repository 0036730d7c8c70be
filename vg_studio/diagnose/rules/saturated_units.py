"""Saturated units: most of a layer's values sit in its activation's flat tails, where the slope is under 3 % of
its maximum, so the units learn slowly. Brief saturation (right after a large initialisation) is info; held for
`saturated_steps` — or until the run ends — it slows learning whether or not the loss still falls, so it is a
warning (an error from 90 %)."""

from __future__ import annotations

from vg_studio.diagnose.rules.base import NOT_HELD, Rule, Verdict


class SaturatedUnits(Rule):
    kind = "saturated_units"

    def on_record(self, finite: bool):
        if not finite:
            return None
        facts, state, c = self.facts, self.state, self.config
        found = state.held_units(facts, "saturated_fraction", c.saturated_fraction)
        if found is None:
            return None
        if found is False:
            return NOT_HELD
        hits, held, values, worst, _ = found
        sustained = held >= c.saturated_steps
        full = "error" if values[worst] >= 0.9 else "warning"
        severity = full if sustained else "info"
        evidence = {f"saturated_fraction[{facts.layer_names[i]}]": float(values[i]) for i in hits}
        evidence.update(threshold=float(c.saturated_fraction), held_steps=held)
        details = [f"{facts.labels[i]}: {values[i]:.0%} of the {facts.activations[i]} values sit in its flat "
                   "tails (slope under 3 % of its maximum)" for i in hits]
        details.append(f"Held for {held} steps" + ("." if sustained else
                                                   f"; it becomes a warning if it lasts {c.saturated_steps:g}."))
        activation = facts.activations[worst]
        return Verdict(severity, tuple(hits), evidence,
                       f"{values[worst]:.0%} of the inputs to {facts.labels[worst]}'s {activation} units sit in its "
                       "flat tails, where the slope is almost zero: the units are saturated and learn slowly.",
                       tuple(details), rule=f"saturated fraction {values[worst]:.0%} >= saturated_fraction "
                                            f"{c.saturated_fraction:g}, held {held} steps",
                       at_end=None if sustained else full)
