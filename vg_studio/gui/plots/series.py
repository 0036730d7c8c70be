"""Training curves without a jump at every epoch start: vg_studio.report.series (shared with the report)."""

from vg_studio.report.series import SMOOTHING, Smoother, interval_means, smoothed  # noqa: F401
