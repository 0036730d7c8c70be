"""Training curves without a jump at every epoch start: vg_studio.report.series (shared with the report)."""

from vg_studio.report.series import SMOOTHING, Smoother, interval_means, smoothed  # noqa: F401

# The weight of the past in the smoothed line over each batch's own loss. SMOOTHING (TensorBoard's default 0.6)
# suits the records' interval means, 10 batches apart by default; over single batches it would follow their noise.
# 0.95 spans about 20 batches (0.6 per record is about 25): the line reads the same whichever curve it smooths.
BATCH_SMOOTHING = 0.95
