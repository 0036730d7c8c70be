"""Held-out sets made from an earlier set's configurations: new seeds, the record intervals of 1 and 2 swapped and
the learning-rate spikes moved, so that the same kinds of runs are trained again on runs no rule has seen."""

from __future__ import annotations

from dataclasses import replace

SWAPPED_INTERVALS = {1: 2, 2: 1}


def varied(configs: list, seed_shift: int, spike_starts: dict) -> list:
    """`configs` with seed + `seed_shift`, record_every 1 ↔ 2 (others kept), and each spike (start, rate, steps)
    started at `spike_starts[(start, rate)]`."""
    out = []
    for config in configs:
        changes = {"seed": config.seed + seed_shift,
                   "record_every": SWAPPED_INTERVALS.get(config.record_every, config.record_every)}
        spike = getattr(config, "spike", ())
        if spike:
            changes["spike"] = (spike_starts[spike[:2]],) + tuple(spike[1:])
        out.append(replace(config, **changes))
    return out
