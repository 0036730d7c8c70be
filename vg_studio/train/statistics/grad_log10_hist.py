"""grad_log10_hist: the share of a column's gradient entries per bin of log10|∂L/∂w| (HIST_EDGES)."""

from vg_studio.train.statistics.base import Histogram

STATISTIC = Histogram("grad_log10_hist", lambda q: q.grad)
