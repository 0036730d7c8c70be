"""Unit statistics: which share of a layer's units sit where their activation passes (almost) no gradient.

They need activations, not gradients, so they are measured on a fixed probe batch now and then (the recorder's
`UnitTaps`), not inside the training step. Values are pre-activations, or the activation's outputs with
`post_activation`. Where each activation is flat or dead is one table, `catalog.UNIT_REGIONS`; an activation it
does not hold is not measured: the statistics are NaN, never a made-up 0. `is_measurable` is the one place to ask
whether a column's unit statistics can be tapped.
"""

from __future__ import annotations

import math

import numpy as np

from vg_studio import catalog

# |pre-activation| beyond which a sigmoid/tanh unit is saturated (the table's symmetric bounds)
SATURATION_THRESHOLD = {a: r.flat_above for a, r in catalog.UNIT_REGIONS.items()
                        if r.flat_above is not None and r.flat_below == -r.flat_above}


def is_measurable(activation: str, post_activation: bool = False) -> bool:
    """Whether the unit statistics of `activation` can be measured — on pre-activations, or on its outputs with
    `post_activation` (not for activations that are not monotone on their flat region, such as GELU)."""
    regions = catalog.UNIT_REGIONS.get(str(activation))
    return regions is not None and (regions.outputs or not post_activation)


def saturated_fraction(activation: str, values: np.ndarray, post_activation: bool = False) -> float:
    """Share of (example, unit) values in the activation's flat tails (slope under 2.7 % of its maximum); NaN when
    the activation is not measurable; 0 for one without flat tails (ReLU, linear)."""
    if not is_measurable(activation, post_activation):
        return math.nan
    regions = catalog.UNIT_REGIONS[activation]
    below, above = ((regions.out_flat_below, regions.out_flat_above) if post_activation
                    else (regions.flat_below, regions.flat_above))
    values = np.asarray(values)
    if values.size == 0:
        return math.nan
    flat = np.zeros(values.shape, dtype=bool)
    if below is not None:
        flat |= values <= below
    if above is not None:
        flat |= values >= above
    return float(np.mean(flat))


def dead_fraction(activation: str, values: np.ndarray, post_activation: bool = False) -> float:
    """Share of units in the activation's dead region (zero slope, constant output: a ReLU's z ≤ 0) on every probe
    example — they pass no gradient at all. A convolution's unit is its channel (the last axis), at every position
    of every example. NaN when not measurable; 0 for an activation that cannot die."""
    values = np.asarray(values)
    if not is_measurable(activation, post_activation) or values.ndim < 2 or values.size == 0:
        return math.nan
    regions = catalog.UNIT_REGIONS[activation]
    limit = regions.out_dead_at_most if post_activation else regions.dead_at_most
    if limit is None:
        return 0.0
    flat = values.reshape(-1, values.shape[-1])
    off = flat <= limit
    if post_activation and regions.out_dead_at_least is not None:
        off &= flat >= regions.out_dead_at_least
    return float(np.mean(np.all(off, axis=0)))
