"""grad_norm: ‖∂L/∂w‖, the L2 norm of a column's gradient (the exploding-gradient rule follows its growth)."""

import numpy as np
from keras import ops

from vg_studio.train.statistics.base import Scalar, Sum

SQ_GRAD = Sum("sq_grad", lambda q: ops.square(q.grad))

STATISTIC = Scalar("grad_norm", (SQ_GRAD,), lambda sums, count: np.sqrt(sums["sq_grad"]))
