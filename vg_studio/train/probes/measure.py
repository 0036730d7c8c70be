"""One record's numbers for a list of variables, in the step: a (V, ROW_WIDTH) row block.

Every registered in-step sum (vg_studio.train.statistics.SUMS) over every variable's entries at once, summed per
variable by a segment sum (XLA fuses the terms into one pass; a sampled variable's sums are scaled up to the whole
variable); then one binning and one segment sum for every histogram of every variable: on TensorFlow's CPU kernels
per-operation overhead, not arithmetic, is the cost, and a small graph is quick to trace and compile. The segment
sums have a static number of segments, so they compile under XLA (a bincount's output size would not be a
compile-time constant).
"""

from __future__ import annotations

import numpy as np
from keras import ops

from vg_studio.train.statistics import HIST_BINS, HISTOGRAMS, ROW_WIDTH, SUMS, Quantities, log10_bins


def measure(quantities: list, samples: list):
    """`quantities[j]`: variable j's Quantities (flat, `samples[j].count` entries) or None (not measured: a zero
    row). Returns the (V, ROW_WIDTH) float32 rows.

    The variables' entries are concatenated and every sum's terms computed once over all of them, then summed per
    variable by one segment sum: the graph (and its trace) grows with the number of variables only by the slices
    that pick each one's entries."""
    n = len(quantities)
    present = [j for j, q in enumerate(quantities) if q is not None]
    if not present:
        return ops.zeros((max(n, 1), ROW_WIDTH), "float32")
    if len(present) == 1:
        every = quantities[present[0]]
    else:
        every = Quantities(*(ops.concatenate([getattr(quantities[j], name) for j in present])
                             for name in ("grad", "update", "weight")))
    owner = _segments([(j, samples[j].count) for j in present])
    terms = ops.stack([s.term(every) for s in SUMS], axis=1)  # (entries, sums)
    sums = ops.segment_sum(terms, owner, num_segments=n)
    scale = np.ones((n, 1), dtype=np.float32)  # a sampled variable's sums estimate the whole variable's
    for j in present:
        scale[j] = samples[j].size / samples[j].count
    if (scale != 1).any():
        sums = sums * ops.convert_to_tensor(scale)
    width = len(HISTOGRAMS) * HIST_BINS
    pieces, slots, start = [], [], 0
    for j in present:  # each variable's histogram entries: every hist_stride-th of those read
        sample = samples[j]
        for h, histogram in enumerate(HISTOGRAMS):
            x = histogram.of(every)[start:start + sample.count:sample.hist_stride]
            pieces.append(ops.reshape(x, (sample.hist_count,)))  # a static length
            slots.append((j * len(HISTOGRAMS) + h, sample.hist_count))
        start += sample.count
    bins = log10_bins(ops.concatenate(pieces))
    ids = ops.where(bins >= HIST_BINS, n * width, bins + _segments(slots) * HIST_BINS)  # NaN: dropped
    counts = ops.segment_sum(ops.ones_like(bins, "float32"), ids, num_segments=n * width + 1)[: n * width]
    return ops.concatenate([sums, ops.reshape(counts, (n, width))], axis=1)


def _segments(spans: list):
    """[(id, length), …] -> the id of each entry, int32: a fill per span (no constant as long as the entries)."""
    return ops.concatenate([ops.full((length,), index, "int32") for index, length in spans])


def quantities(grad, before, after) -> Quantities:
    """Quantities from a variable's sampled gradient and weights before and after the update (flat)."""
    w1 = ops.cast(after, "float32")
    return Quantities(grad=ops.cast(grad, "float32"), update=w1 - ops.cast(before, "float32"), weight=w1)
