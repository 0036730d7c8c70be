"""An eleventh held-out grid: seeds 131–137, never used by any other set, fixed in this file before any of its runs
was trained or diagnosed, after the rules learnt to judge an explosion on the gradients of its last steps and to
recover the batches after an epoch's last record. It is trained and scored once, and reported as it comes out: the
tenth set's configurations (spec runs on shapes10, mnist-5k, the tabular five-class set and digits 8×8; users' own
Keras models on the image sets) with new seeds, every record interval of 1 and 2 swapped and the learning-rate
spikes moved. What each run shows is measured by `checks.truth`, as for every set.

    nice -n 10 python benchmarks/diagnostics_grid.py --set heldout11 --jobs 2 --runs runs/heldout11-grid
"""

from __future__ import annotations

from grid.heldout10 import SETS as EARLIER
from grid.variants import varied

SPIKE_STARTS = {(40, 1.2): 43, (50, 0.9): 47, (45, 1.0): 39, (40, 0.003): 44}


def heldout11_spec_set():
    """The app's dense networks."""
    return varied(EARLIER["heldout10-spec"](), 10, SPIKE_STARTS)


def heldout11_model_set():
    """Users' own Keras models, trained with `model.fit` and `GradientMonitor`."""
    return varied(EARLIER["heldout10-model"](), 10, SPIKE_STARTS)


SETS = {"heldout11-spec": heldout11_spec_set, "heldout11-model": heldout11_model_set}
