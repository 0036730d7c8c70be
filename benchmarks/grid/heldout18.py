"""An eighteenth held-out grid: seeds 201–207, never used by any other set, fixed in this file before any of its
runs was trained or diagnosed, together with the seventeenth and with the same rules. The tenth set's
configurations with new seeds, every record interval of 1 and 2 swapped and the learning-rate spikes moved. What
each run shows is measured by `checks.truth`, as for every set.

    nice -n 10 python benchmarks/diagnostics_grid.py --set heldout18 --jobs 2 --runs runs/heldout18-grid
"""

from __future__ import annotations

from grid.heldout10 import SETS as EARLIER
from grid.variants import varied

SPIKE_STARTS = {(45, 1.0): 51, (50, 0.9): 43, (40, 0.003): 46, (40, 1.2): 48}


def heldout18_spec_set():
    """The app's dense networks."""
    return varied(EARLIER["heldout10-spec"](), 80, SPIKE_STARTS)


def heldout18_model_set():
    """Users' own Keras models, trained with `model.fit` and `GradientMonitor`."""
    return varied(EARLIER["heldout10-model"](), 80, SPIKE_STARTS)


SETS = {"heldout18-spec": heldout18_spec_set, "heldout18-model": heldout18_model_set}
