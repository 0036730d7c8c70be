"""update_log10_hist: the share of a column's update entries per bin of log10|ΔW| (HIST_EDGES)."""

from vg_studio.train.statistics.base import Histogram

STATISTIC = Histogram("update_log10_hist", lambda q: q.update)
