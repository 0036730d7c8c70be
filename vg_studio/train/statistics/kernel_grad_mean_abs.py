"""kernel_grad_mean_abs: mean |∂L/∂W| over a column's weight matrices only — the gradient that trains what the
layer computes. A bias's gradient is the backward signal alone, not shrunk by the layer's input: where the forward
signal collapses (tiny weights), an output layer's bias gradient stays at the loss's own scale while its kernel's
falls with the signal, so a mean over both reads a first/output ratio that is the collapse's, not the decay's.
The vanishing-gradient rule compares this one across depth. No sum of its own: the host adds up `abs_grad` over
the column's matrices."""

from dataclasses import replace

from vg_studio.train.statistics import grad_mean_abs

STATISTIC = replace(grad_mean_abs.STATISTIC, name="kernel_grad_mean_abs", over="matrices")
