"""Medians for SDAGD's per-layer diagnostics that stay cheap on 700-wide layers: a fixed, evenly spread sample of a
variable's entries, and the median of values that each stand for several weights (μ has one value per output unit)."""

from __future__ import annotations

import math

import numpy as np
from keras import ops

DIAGNOSTIC_SAMPLE = 4096  # weights per variable whose curvature enters the median of h in the diagnostics


def diagnostic_sample(shape) -> np.ndarray | None:
    """A fixed, evenly spread sample of flat indices of a variable this shape (None: take every entry). The stride
    is coprime with the last axis, so every output unit (column) of a kernel is represented."""
    size = math.prod(shape)
    if size <= DIAGNOSTIC_SAMPLE:
        return None
    stride, columns = -(-size // DIAGNOSTIC_SAMPLE), shape[-1] if shape else 1
    while math.gcd(stride, columns) != 1:
        stride += 1
    return np.arange(0, size, stride, dtype=np.int32)


def weighted_median(parts):
    """The median of the multiset in which each value of part i appears weight_i times (NumPy's median when the
    weights are whole numbers: the mean of the two middle entries for an even total)."""
    values = ops.concatenate([v for v, _ in parts])
    weights = ops.concatenate([ops.full(v.shape, w, "float32") for v, w in parts])
    order = ops.argsort(values)
    values, cumulative = ops.take(values, order), ops.cumsum(ops.take(weights, order))
    total = float(sum(w * v.shape[0] for v, w in parts))
    last = values.shape[0] - 1

    def at(position):  # the value at this 0-based position of the expanded, sorted multiset
        index = ops.sum(ops.cast(ops.less_equal(cumulative, position), "int32"))
        return ops.take(values, ops.minimum(index, last))

    return 0.5 * (at(math.floor((total - 1) / 2)) + at(math.floor(total / 2)))
