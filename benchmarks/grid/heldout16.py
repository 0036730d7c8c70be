"""A sixteenth held-out grid: seeds 181–187, never used by any other set, fixed in this file before any of its runs
was trained or diagnosed, together with the fifteenth, with the rules as they were scored on the thirteenth and
fourteenth sets (nothing is changed after it is scored): a further unseen sample for the same rules. The sixth
set's configurations with new seeds, every record interval of 1 and 2 swapped and the learning-rate spikes moved.
What each run shows is measured by `checks.truth`, as for every set.

    nice -n 10 python benchmarks/diagnostics_grid.py --set heldout16 --jobs 2 --runs runs/heldout16-grid
"""

from __future__ import annotations

from grid.heldout6 import SETS as EARLIER
from grid.variants import varied

SPIKE_STARTS = {(40, 1.0): 43}


def heldout16_spec_set():
    """The app's dense networks."""
    return varied(EARLIER["heldout6-spec"](), 110, SPIKE_STARTS)


def heldout16_model_set():
    """Users' own Keras models, trained with `model.fit` and `GradientMonitor`."""
    return varied(EARLIER["heldout6-model"](), 110, SPIKE_STARTS)


SETS = {"heldout16-spec": heldout16_spec_set, "heldout16-model": heldout16_model_set}
