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
    variable by one segment sum; the histograms' entries are picked from them by one gather: the graph holds a few
    operations per variable (its slices), whatever the number of statistics — on TensorFlow's CPU kernels each
    operation's dispatch costs more than its arithmetic."""
    n = len(quantities)
    present = [j for j, q in enumerate(quantities) if q is not None]
    if not present:
        return ops.zeros((max(n, 1), ROW_WIDTH), "float32")
    layout = _Layout(present, samples, n)
    every = quantities[present[0]] if len(present) == 1 else Quantities(
        *(ops.concatenate([getattr(quantities[j], name) for j in present]) for name in ("grad", "update", "weight")))
    terms = ops.stack([s.term(every) for s in SUMS], axis=1)  # (entries, sums)
    sums = ops.segment_sum(terms, ops.convert_to_tensor(layout.owner), num_segments=n)
    if layout.scale is not None:  # a sampled variable's sums estimate the whole variable's
        sums = sums * ops.convert_to_tensor(layout.scale)
    values = ops.take(ops.concatenate([h.of(every) for h in HISTOGRAMS]), ops.convert_to_tensor(layout.picks))
    bins = log10_bins(values)
    width = len(HISTOGRAMS) * HIST_BINS
    ids = ops.where(bins >= HIST_BINS, n * width, bins + ops.convert_to_tensor(layout.offsets))  # NaN: dropped
    counts = ops.segment_sum(ops.ones_like(bins, "float32"), ids, num_segments=n * width + 1)[: n * width]
    return ops.concatenate([sums, ops.reshape(counts, (n, width))], axis=1)


class _Layout:
    """Where each variable's entries sit in the concatenation of the measured ones (computed once per trace)."""

    def __init__(self, present: list, samples: list, n: int):
        counts = [samples[j].count for j in present]
        total = sum(counts)
        self.owner = np.repeat(np.array(present, dtype=np.int32), counts)
        scale = np.ones((n, 1), dtype=np.float32)
        for j in present:
            scale[j] = samples[j].size / samples[j].count
        self.scale = scale if (scale != 1).any() else None
        picks, offsets, start = [], [], 0
        for j, count in zip(present, counts):
            stride = samples[j].hist_stride
            for h in range(len(HISTOGRAMS)):  # every hist_stride-th entry of each histogram's quantity
                chosen = np.arange(start, start + count, stride) + h * total
                picks.append(chosen)
                offsets.append(np.full(len(chosen), (j * len(HISTOGRAMS) + h) * HIST_BINS))
            start += count
        self.picks = np.concatenate(picks).astype(np.int32)
        self.offsets = np.concatenate(offsets).astype(np.int32)


def quantities(grad, before, after) -> Quantities:
    """Quantities from a variable's sampled gradient and weights before and after the update (flat)."""
    w1 = ops.cast(after, "float32")
    return Quantities(grad=ops.cast(grad, "float32"), update=w1 - ops.cast(before, "float32"), weight=w1)
