"""One record's numbers for a list of variables, in the step: a (V, ROW_WIDTH) row block.

Per variable: every registered in-step sum (vg_studio.train.statistics.SUMS), stacked, so that XLA fuses them into
one pass over the variable (scaled up to the whole variable where only a sample was read); then one binning and
one segment sum for every histogram of every variable (their entries concatenated): on TensorFlow's CPU kernels
per-operation overhead, not arithmetic, is the cost. The segment sum has a static number of segments, so it
compiles under XLA (a bincount's output size would not be a compile-time constant).
"""

from __future__ import annotations

import numpy as np
from keras import ops

from vg_studio.train.statistics import HIST_BINS, HISTOGRAMS, ROW_WIDTH, SUMS, Quantities, log10_bins


def measure(quantities: list, samples: list):
    """`quantities[j]`: variable j's Quantities (flat, `samples[j].count` entries) or None (not measured: a zero
    row). Returns the (V, ROW_WIDTH) float32 rows."""
    n = len(quantities)
    width = len(HISTOGRAMS) * HIST_BINS
    zero = ops.zeros((len(SUMS),), "float32")
    sums, pieces, offsets = [], [], []
    for j, (q, sample) in enumerate(zip(quantities, samples)):
        if q is None:
            sums.append(zero)
            continue
        row = ops.stack([ops.sum(s.term(q)) for s in SUMS])
        sums.append(row if sample.exact else row * (sample.size / sample.count))  # the whole variable's sums
        length = sample.hist_count
        for h, histogram in enumerate(HISTOGRAMS):
            x = histogram.of(q)
            x = x[::sample.hist_stride] if sample.hist_stride > 1 else x
            pieces.append(ops.reshape(x, (length,)))  # a static length, whatever the gradient's shape said
            offsets.append(np.full(length, j * width + h * HIST_BINS, dtype=np.int32))
    if not pieces:
        return ops.zeros((max(n, 1), ROW_WIDTH), "float32")
    values = ops.concatenate(pieces)
    bins = log10_bins(values)
    ids = ops.where(bins >= HIST_BINS, n * width, bins + offsets_tensor(offsets))  # NaN: one past the end, dropped
    counts = ops.segment_sum(ops.ones_like(values), ids, num_segments=n * width + 1, sorted=False)[: n * width]
    return ops.concatenate([ops.stack(sums), ops.reshape(counts, (n, width))], axis=1)


def offsets_tensor(offsets: list):
    return ops.convert_to_tensor(np.concatenate(offsets), "int32")


def quantities(grad, before, after) -> Quantities:
    """Quantities from a variable's sampled gradient and weights before and after the update (flat)."""
    w1 = ops.cast(after, "float32")
    return Quantities(grad=ops.cast(grad, "float32"), update=w1 - ops.cast(before, "float32"), weight=w1)
