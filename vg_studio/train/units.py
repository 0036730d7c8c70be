"""Unit statistics: which share of a layer's units sit where their activation passes (almost) no gradient.

They need activations, not gradients, so they are measured on a fixed probe batch now and then (the recorder's
`UnitTaps`), not inside the training step. Values are pre-activations, or the activation's outputs with
`post_activation`.
"""

from __future__ import annotations

import numpy as np

from vg_studio import catalog

# Pre-activation magnitude beyond which a unit is "saturated": σ'(5) ≈ 0.0066 (2.7 % of σ's maximum 0.25, the
# ±5 of DeepDiagnosis); tanh'(2.5) ≈ 0.027 (2.7 % of its maximum 1). Same relative flatness for both.
SATURATION_THRESHOLD = {"sigmoid": 5.0, "tanh": 2.5}


def saturated_fraction(activation: str, values: np.ndarray, post_activation: bool = False) -> float:
    """Share of (example, unit) values in the flat tails; `values` are pre-activations, or the activation's
    outputs with `post_activation` (σ(z) beyond σ(±5), |tanh(z)| beyond tanh(2.5): the same units)."""
    if activation not in catalog.SATURATING:
        return 0.0
    limit = SATURATION_THRESHOLD[activation]
    if not post_activation:
        return float(np.mean(np.abs(values) > limit))
    if activation == "sigmoid":
        low = 1.0 / (1.0 + np.exp(limit))
        return float(np.mean((values < low) | (values > 1.0 - low)))
    return float(np.mean(np.abs(values) > np.tanh(limit)))


def dead_fraction(activation: str, values: np.ndarray, post_activation: bool = False) -> float:
    """Units whose pre-activation is ≤ 0 (ReLU output exactly 0) on every probe example — for ReLU they pass no
    gradient at all. A convolution's unit is its channel (the last axis), at every position of every example."""
    if activation not in catalog.DYING or values.ndim < 2:
        return 0.0
    flat = values.reshape(-1, values.shape[-1])
    return float(np.mean(np.all(flat <= 0, axis=0)))
