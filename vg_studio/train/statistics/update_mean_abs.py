"""update_mean_abs: mean |ΔW| of the record step's own update over a column's weights (flat weights: the update
vanishes while the loss stalls)."""

from keras import ops

from vg_studio.train.statistics.base import Scalar, Sum

ABS_UPDATE = Sum("abs_update", lambda q: ops.abs(q.update))

STATISTIC = Scalar("update_mean_abs", (ABS_UPDATE,), lambda sums, count: sums["abs_update"] / count)
