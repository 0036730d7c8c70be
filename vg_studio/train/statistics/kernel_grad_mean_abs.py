"""kernel_grad_mean_abs: mean |∂L/∂W| over a column's weight matrices only — the gradient that trains what the
layer computes. A bias's gradient is the backward signal alone, not shrunk by the layer's input: where the forward
signal collapses (tiny weights), an output layer's bias gradient stays at the loss's own scale while its kernel's
falls with the signal, so a mean over both reads a first/output ratio that is the collapse's, not the decay's.
The vanishing-gradient rule compares this one across depth. No sum of its own: the host adds up `abs_grad` over
the column's matrices."""

from vg_studio.train.statistics.base import Scalar
from vg_studio.train.statistics.grad_mean_abs import ABS_GRAD

STATISTIC = Scalar("kernel_grad_mean_abs", (ABS_GRAD,), lambda sums, count: sums["abs_grad"] / count, over="matrices")
