"""update_ratio: ‖ΔW‖ / ‖W‖, the relative size of the record step's update (NaN where ‖W‖ is 0)."""

import numpy as np
from keras import ops

from vg_studio.train.statistics.base import Scalar, Sum
from vg_studio.train.statistics.weight_norm import SQ_WEIGHT

SQ_UPDATE = Sum("sq_update", lambda q: ops.square(q.update))


def _ratio(sums, count):
    weight = np.sqrt(sums["sq_weight"])
    with np.errstate(invalid="ignore", over="ignore", divide="ignore"):  # an exploding run's inf/inf: said elsewhere
        return np.where(weight > 0, np.sqrt(sums["sq_update"]) / weight, np.nan)


STATISTIC = Scalar("update_ratio", (SQ_UPDATE, SQ_WEIGHT), _ratio)
