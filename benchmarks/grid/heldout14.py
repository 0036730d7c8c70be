"""A fourteenth held-out grid: seeds 161–167, never used by any other set, fixed in this file before any of its runs
was trained or diagnosed, together with the thirteenth and with the same rules. It is trained and scored once, and
reported as it comes out: the eighth set's configurations with new seeds, every record interval of 1 and 2 swapped
and the learning-rate spikes moved. What each run shows is measured by `checks.truth`, as for every set.

    nice -n 10 python benchmarks/diagnostics_grid.py --set heldout14 --jobs 2 --runs runs/heldout14-grid
"""

from __future__ import annotations

from grid.heldout8 import SETS as EARLIER
from grid.variants import varied

SPIKE_STARTS = {(45, 1.5): 41, (40, 0.8): 43, (50, 1.0): 46, (40, 0.005): 43}


def heldout14_spec_set():
    """The app's dense networks."""
    return varied(EARLIER["heldout8-spec"](), 60, SPIKE_STARTS)


def heldout14_model_set():
    """Users' own Keras models, trained with `model.fit` and `GradientMonitor`."""
    return varied(EARLIER["heldout8-model"](), 60, SPIKE_STARTS)


SETS = {"heldout14-spec": heldout14_spec_set, "heldout14-model": heldout14_model_set}
