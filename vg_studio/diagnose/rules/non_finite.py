"""Non-finite loss or gradients: training cannot go on."""

from __future__ import annotations

import math

import numpy as np

from vg_studio.diagnose.rules.base import NOT_HELD, Rule, Verdict


def non_finite_columns(state, n: int) -> list[int]:
    norm = state.stats.get("grad_norm", np.zeros(n))
    return [i for i in range(n) if i < len(norm) and not np.isfinite(norm[i])]


def non_finite_details(state, facts) -> tuple:
    bad = non_finite_columns(state, len(facts.layer_names))
    what = "the loss" if not math.isfinite(state.loss) else "the gradients"
    value = state.loss if not math.isfinite(state.loss) else "not a number"
    return (f"At step {state.step} {what} was {value}"
            + (f"; non-finite gradients in {facts.label(bad)}." if bad else "."),)


class NonFinite(Rule):
    kind = "non_finite"

    def on_record(self, finite: bool):
        if finite:
            return NOT_HELD
        bad = non_finite_columns(self.state, len(self.facts.layer_names))
        return Verdict("error", tuple(bad), {"loss": self.state.loss},
                       "The loss or the gradients became infinite or NaN (not a number), so training cannot "
                       "continue.", non_finite_details(self.state, self.facts),
                       rule=f"non-finite {'loss' if not math.isfinite(self.state.loss) else 'gradient'} at step "
                            f"{self.state.step}")
