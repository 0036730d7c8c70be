"""Where users already look: figures described once (drawn by the app and the report), a self-contained HTML
report that also renders in notebooks, TensorBoard event files, and opening the app from a notebook.

Qt-free: it reads run directories and findings, and the GUI may import it.
"""

from __future__ import annotations

import sys
import types

__all__ = ["report_for", "open_app", "TensorBoardWriter", "export_tensorboard", "RunView"]


def __getattr__(name: str):
    # loaded on first use: `import vg_studio.report` must stay cheap for the CLI and the app
    if name == "report_for":
        from vg_studio.report.html import report_for
        return report_for
    if name == "open_app":
        from vg_studio.report.notebook import open_app
        return open_app
    if name in ("TensorBoardWriter", "export_tensorboard"):
        from vg_studio.report import tensorboard
        return getattr(tensorboard, name)
    if name == "RunView":
        from vg_studio.report.run import RunView
        return RunView
    raise AttributeError(f"module 'vg_studio.report' has no attribute {name!r}")


class _Report(types.ModuleType):
    """`vg_studio.report(run_dir)` is the report of a run: the package, called, is `report_for`."""

    def __call__(self, runs, title: str | None = None, theme: str = "light"):
        from vg_studio.report.html import report_for

        return report_for(runs, title, theme)


sys.modules[__name__].__class__ = _Report
