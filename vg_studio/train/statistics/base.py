"""What an in-step statistic is made of (one statistic per module of this package, registered in `__init__`).

In the training step, on record steps, every measured variable offers its `Quantities` — the gradient the
optimizer applies, this step's update ΔW and the weights after it, each flat (a fixed sample of a large
variable's entries) — and each `Sum` adds one term over the variable's entries; all sums of a variable are
stacked into one row, so that XLA fuses them into one pass. A `Histogram` counts the entries per bin of log10|x|.
On the host, a `Scalar` turns the sums of a column's variables (added up, the column's entry count beside them)
into its value, and a histogram's counts become the column's share of entries per bin.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from keras import ops

from vg_studio.catalog import HIST_EDGES  # bins of log10|x|; below -12 (and 0) -> bin 0, above 2 -> the last

HIST_BINS = len(HIST_EDGES) - 1
_BINS_PER_DECADE = HIST_BINS / (HIST_EDGES[-1] - HIST_EDGES[0])


@dataclass(frozen=True)
class Quantities:
    """One variable's entries at a record step, flat float32 tensors of one length."""

    grad: object  # the gradient the optimizer applies (unscaled, summed across replicas, accumulated)
    update: object  # ΔW = W after − W before this step's update
    weight: object  # W after the update


@dataclass(frozen=True)
class Sum:
    """Σ over a variable's entries of `term(quantities)`, computed in the step. Statistics that need the same sum
    share the object (the registry computes each sum once)."""

    name: str
    term: Callable


@dataclass(frozen=True)
class Scalar:
    """A per-column number from in-step sums: `value(sums, count)`, where `sums` maps each sum's name to a
    (columns,) array of the column's totals and `count` is its (columns,) number of entries. `over` says which
    of the column's variables are added up: "all", or "matrices" — those of two or more dimensions (kernels,
    recurrent kernels, convolution filters) but not named as biases (an attention layer's per-head biases), all
    of them where a column has none (a normalisation layer)."""

    name: str
    sums: tuple
    value: Callable
    over: str = "all"


@dataclass(frozen=True)
class Histogram:
    """A per-column distribution: the share of the column's entries in each bin of log10|of(quantities)|."""

    name: str
    of: Callable


def log10_bins(x):
    """The HIST_EDGES bin of each entry of `x` (int32): 0 and tiny values -> the first bin, huge values and inf ->
    the last, NaN -> HIST_BINS (one past the end: counted nowhere)."""
    nan = ops.isnan(x)
    magnitude = ops.where(nan, ops.zeros_like(x), ops.abs(x))
    position = (ops.log10(ops.maximum(magnitude, 1e-30)) - float(HIST_EDGES[0])) * float(_BINS_PER_DECADE)
    bins = ops.cast(ops.clip(ops.floor(position), 0.0, float(HIST_BINS - 1)), "int32")
    return ops.where(nan, HIST_BINS, bins)
