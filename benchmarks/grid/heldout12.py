"""A twelfth held-out grid: seeds 141–147, never used by any other set, fixed in this file before any of its runs
was trained or diagnosed, together with the eleventh and with the same rules. It is trained and scored once, and
reported as it comes out: the ninth set's configurations (spec runs on digits 8×8, the tabular five-class set,
mnist-5k and shapes10; users' own Keras models on the image sets) with new seeds, every record interval of 1 and 2
swapped and the learning-rate spikes moved. What each run shows is measured by `checks.truth`, as for every set.

    nice -n 10 python benchmarks/diagnostics_grid.py --set heldout12 --jobs 2 --runs runs/heldout12-grid
"""

from __future__ import annotations

from grid.heldout9 import SETS as EARLIER
from grid.variants import varied

SPIKE_STARTS = {(45, 1.2): 41, (40, 1.0): 46, (50, 1.5): 44, (45, 0.004): 49}


def heldout12_spec_set():
    """The app's dense networks."""
    return varied(EARLIER["heldout9-spec"](), 30, SPIKE_STARTS)


def heldout12_model_set():
    """Users' own Keras models, trained with `model.fit` and `GradientMonitor`."""
    return varied(EARLIER["heldout9-model"](), 30, SPIKE_STARTS)


SETS = {"heldout12-spec": heldout12_spec_set, "heldout12-model": heldout12_model_set}
