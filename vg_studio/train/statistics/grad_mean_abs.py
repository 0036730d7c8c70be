"""grad_mean_abs: mean |∂L/∂w| over a column's weights — the gradient per weight, comparable across layers of any
size (the vanishing-gradient rule compares it across depth)."""

from keras import ops

from vg_studio.train.statistics.base import Scalar, Sum

ABS_GRAD = Sum("abs_grad", lambda q: ops.abs(q.grad))

STATISTIC = Scalar("grad_mean_abs", (ABS_GRAD,), lambda sums, count: sums["abs_grad"] / count)
