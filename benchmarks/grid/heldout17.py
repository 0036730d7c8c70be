"""A seventeenth held-out grid: seeds 191–197, never used by any other set, fixed in this file before any of its
runs was trained or diagnosed, together with the eighteenth, with the rules that compare depth on the kernels'
gradients (kernel_grad_mean_abs): nothing is changed after it is scored. The ninth set's configurations with new
seeds, every record interval of 1 and 2 swapped and the learning-rate spikes moved. What each run shows is measured
by `checks.truth`, as for every set.

    nice -n 10 python benchmarks/diagnostics_grid.py --set heldout17 --jobs 2 --runs runs/heldout17-grid
"""

from __future__ import annotations

from grid.heldout9 import SETS as EARLIER
from grid.variants import varied

SPIKE_STARTS = {(50, 1.5): 44, (40, 1.0): 47, (45, 1.2): 52, (45, 0.004): 41}


def heldout17_spec_set():
    """The app's dense networks."""
    return varied(EARLIER["heldout9-spec"](), 80, SPIKE_STARTS)


def heldout17_model_set():
    """Users' own Keras models, trained with `model.fit` and `GradientMonitor`."""
    return varied(EARLIER["heldout9-model"](), 80, SPIKE_STARTS)


SETS = {"heldout17-spec": heldout17_spec_set, "heldout17-model": heldout17_model_set}
