"""Drawing a series of any length at a bounded cost: vg_studio.report.decimate (shared with the report)."""

from vg_studio.report.decimate import CAPACITY, Overview, Overviews, overview_of  # noqa: F401
