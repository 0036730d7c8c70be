"""Training curves without a jump at every epoch start: vg_studio.report.series (shared with the report)."""

from vg_studio.report.series import BATCH_SMOOTHING, SMOOTHING, Smoother, interval_means, smoothed  # noqa: F401
