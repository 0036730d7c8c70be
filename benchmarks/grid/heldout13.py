"""A thirteenth held-out grid: seeds 151–157, never used by any other set, fixed in this file before any of its runs
was trained or diagnosed, with the rules as they stand after the twelfth set (nothing is changed after it is scored).
It is trained and scored once, and reported as it comes out: the seventh set's configurations with new seeds, every
record interval of 1 and 2 swapped and the learning-rate spikes moved. What each run shows is measured by
`checks.truth`, as for every set.

    nice -n 10 python benchmarks/diagnostics_grid.py --set heldout13 --jobs 2 --runs runs/heldout13-grid
"""

from __future__ import annotations

from grid.heldout7 import SETS as EARLIER
from grid.variants import varied

SPIKE_STARTS = {(50, 1.0): 46, (40, 0.8): 43, (35, 1.0): 38, (45, 1.2): 41, (50, 0.1): 46, (40, 0.01): 43}


def heldout13_spec_set():
    """The app's dense networks."""
    return varied(EARLIER["heldout7-spec"](), 70, SPIKE_STARTS)


def heldout13_model_set():
    """Users' own Keras models, trained with `model.fit` and `GradientMonitor`."""
    return varied(EARLIER["heldout7-model"](), 70, SPIKE_STARTS)


SETS = {"heldout13-spec": heldout13_spec_set, "heldout13-model": heldout13_model_set}
