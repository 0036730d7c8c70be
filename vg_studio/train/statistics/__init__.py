"""The in-step statistics: one module each, registered here (a new statistic is one module and its line below).

The probes compute every registered statistic inside the compiled training step on record steps (in one fused
pass per variable, `vg_studio.train.probes.measure`); the host turns them into per-column values
(`vg_studio.train.probes.reader`). The unit statistics (dead / saturated fractions) are not computed in the step:
the recorder measures them on the probe batch (`vg_studio.train.columns.UnitTaps`).
"""

from vg_studio.train.statistics import (grad_log10_hist, grad_mean_abs, grad_norm, kernel_grad_mean_abs,
                                        update_log10_hist, update_mean_abs, update_ratio, weight_norm)
from vg_studio.train.statistics.base import HIST_BINS, HIST_EDGES, Histogram, Quantities, Scalar, Sum, log10_bins

STATISTICS = (
    grad_mean_abs.STATISTIC,
    kernel_grad_mean_abs.STATISTIC,
    grad_norm.STATISTIC,
    weight_norm.STATISTIC,
    update_mean_abs.STATISTIC,
    update_ratio.STATISTIC,
    grad_log10_hist.STATISTIC,
    update_log10_hist.STATISTIC,
)

SCALARS = tuple(s for s in STATISTICS if isinstance(s, Scalar))
HISTOGRAMS = tuple(s for s in STATISTICS if isinstance(s, Histogram))


def _unique_sums(scalars) -> tuple:
    sums: dict = {}
    for scalar in scalars:
        for s in scalar.sums:
            if sums.setdefault(s.name, s) is not s:
                raise ValueError(f"two different in-step sums are named {s.name!r}")
    return tuple(sums.values())


SUMS = _unique_sums(SCALARS)  # the in-step sums, each once, in this order in a record's row
UNIT_STATS = ("saturated_fraction", "dead_fraction")  # measured on the probe batch, not in the step
LAYER_STATS = tuple(s.name for s in SCALARS) + UNIT_STATS  # a record's (L,) statistics
HIST_STATS = tuple(h.name for h in HISTOGRAMS)  # a record's (L, HIST_BINS) statistics
ROW_WIDTH = len(SUMS) + len(HISTOGRAMS) * HIST_BINS  # one variable's numbers in a record

__all__ = ["STATISTICS", "SCALARS", "HISTOGRAMS", "SUMS", "UNIT_STATS", "LAYER_STATS", "HIST_STATS", "HIST_EDGES",
           "HIST_BINS", "ROW_WIDTH", "Quantities", "Scalar", "Sum", "Histogram", "log10_bins"]
