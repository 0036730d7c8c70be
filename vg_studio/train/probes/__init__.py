"""The in-step probes: per-variable gradient, update and weight statistics computed inside the compiled training
step from the very gradients the optimizer applies, kept on the device and read by the host in blocks.

    step.py            the probed step of a model: its optimizers, the step counter, the probed train function
    optimizer_probe.py one optimizer's probe around its update
    time_steps.py      the gradient per input time step (recurrent models)
    measure.py         one record's numbers, one fused pass per variable (the statistics: vg_studio.train.statistics)
    sampling.py        which entries of a large variable are read
    stores.py          where the probe state lives between steps, per backend
    reader.py          the host side: records -> per-column statistics
    schedule.py        which steps are record steps

docs/architecture.md describes how a step is probed and why.
"""

from vg_studio.train.probes.optimizer_probe import RING_SIZE
from vg_studio.train.probes.reader import ColumnIndex, ProbeReader, RawRecord, blank_stats, column_stats
from vg_studio.train.probes.sampling import HIST_LIMIT, SUM_LIMIT, Sample
from vg_studio.train.probes.schedule import count_records, is_record_step
from vg_studio.train.probes.step import CannotWatch, StepProbe, model_optimizers
from vg_studio.train.statistics import HIST_BINS, HIST_EDGES, HIST_STATS, LAYER_STATS

__all__ = ["RING_SIZE", "ColumnIndex", "ProbeReader", "RawRecord", "blank_stats", "column_stats", "HIST_LIMIT",
           "SUM_LIMIT", "Sample", "count_records", "is_record_step", "CannotWatch", "StepProbe",
           "model_optimizers", "HIST_BINS", "HIST_EDGES", "HIST_STATS", "LAYER_STATS"]
