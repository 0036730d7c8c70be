"""A fifteenth held-out grid: seeds 171–177, never used by any other set, fixed in this file before any of its runs
was trained or diagnosed, together with the sixteenth, with the rules as they were scored on the thirteenth and
fourteenth sets (nothing is changed after it is scored): a further unseen sample for the same rules. The fifth
set's configurations with new seeds, every record interval of 1 and 2 swapped and the learning-rate spikes moved.
What each run shows is measured by `checks.truth`, as for every set.

    nice -n 10 python benchmarks/diagnostics_grid.py --set heldout15 --jobs 2 --runs runs/heldout15-grid
"""

from __future__ import annotations

from grid.heldout5 import SETS as EARLIER
from grid.variants import varied

SPIKE_STARTS = {(40, 1.0): 43, (45, 0.2): 41}


def heldout15_spec_set():
    """The app's dense networks."""
    return varied(EARLIER["heldout5-spec"](), 110, SPIKE_STARTS)


def heldout15_model_set():
    """Users' own Keras models, trained with `model.fit` and `GradientMonitor`."""
    return varied(EARLIER["heldout5-model"](), 110, SPIKE_STARTS)


SETS = {"heldout15-spec": heldout15_spec_set, "heldout15-model": heldout15_model_set}
