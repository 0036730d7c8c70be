"""weight_norm: ‖W‖, the L2 norm of a column's weights after the record step's update."""

import numpy as np
from keras import ops

from vg_studio.train.statistics.base import Scalar, Sum

SQ_WEIGHT = Sum("sq_weight", lambda q: ops.square(q.weight))

STATISTIC = Scalar("weight_norm", (SQ_WEIGHT,), lambda sums, count: np.sqrt(sums["sq_weight"]))
