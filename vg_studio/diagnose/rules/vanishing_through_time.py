"""Vanishing through time (recurrent networks, "Causes and Solutions…" §1.3): through a recurrent layer the gradient
is multiplied once per time step on its way back, so the input steps far from the end get a vanishing share of it.
The probes record mean |∂L/∂x_t| per input time step; the first 5 % of the steps are compared with the last. As for
vanishing through depth, the output layer must move: at a learning rate of 1e-9 an untrained GRU's gates forget
within a few steps, yet nothing learns anything — the frozen weights are the finding."""

from __future__ import annotations

import numpy as np

from vg_studio.diagnose.rules.base import NOT_HELD, Rule, Verdict
from vg_studio.references import cite


class VanishingThroughTime(Rule):
    kind = "vanishing_through_time"

    def on_record(self, finite: bool):
        time_grad = self.state.time_grad
        if not finite or time_grad is None:
            return None
        g = np.asarray(time_grad, dtype=np.float64)
        if g.size < 4 or not np.all(np.isfinite(g)) or not g[-1] > 0:
            return None
        c, facts = self.config, self.facts
        head = max(1, int(round(0.05 * g.size)))
        ratio = float(np.mean(g[:head]) / g[-1])
        if ratio >= c.time_vanishing_ratio or not self.state.output_moves(facts):
            return NOT_HELD  # (where nothing moves, the untrained gates' decay is no finding: the rate is)
        below = np.nonzero(g / g[-1] < c.time_horizon_fraction)[0]
        horizon = int(g.size - 1 - below.max()) if below.size else int(g.size)
        factor = ratio ** (1.0 / max(g.size - head, 1))
        evidence = {"first_to_last_step_ratio": ratio, "effective_horizon_steps": horizon,
                    "sequence_length": int(g.size), "per_step_factor": float(factor),
                    "horizon_fraction": float(c.time_horizon_fraction)}
        recurrent = facts.recurrent()
        kinds = sorted({facts.layer_kinds[i] for i in recurrent}) or ["recurrent"]
        details = (f"Mean |∂L/∂x_t| over the first {head} of {g.size} time steps is {ratio:.2g}× that at the "
                   f"last step: about {factor:.3g}× per step back.",
                   f"It stays above {c.time_horizon_fraction:.0%} of the last step's over the last {horizon} "
                   "steps only.")
        return Verdict("error" if ratio < c.time_vanishing_ratio / 1000 else "warning", tuple(recurrent), evidence,
                       f"The gradient reaching the first time steps is {ratio:.1e} times that at the last step "
                       f"(about {factor:.2f}x per step back through the {'/'.join(kinds)} layer), so the network "
                       f"cannot learn dependencies longer than about {horizon} steps: the gradient vanishes through "
                       f"time {cite('causes-solutions')}.", details,
                       rule=f"first/last time-step gradient ratio {ratio:.2g} < time_vanishing_ratio "
                            f"{c.time_vanishing_ratio:g}")
