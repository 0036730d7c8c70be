"""VG Studio: see, diagnose and fix vanishing and exploding gradients.

The package is split into a Qt-free engine (spec, nn, data, train, diagnose, experiments, cli) and the GUI
(`vg_studio.gui`, the only place that imports PySide6 or pyqtgraph).
"""

__version__ = "0.1.0"


def __getattr__(name: str):
    """`vg_studio.report(run_dir)` (a run's HTML report, shown inline in Jupyter) and `vg_studio.open(run_dir)` (the
    app following the run, in its own process), loaded on first use."""
    import importlib  # by name: the root package is imported by every layer, and must not pull the report in

    if name == "report":
        return importlib.import_module("vg_studio.report")
    if name == "open":
        return importlib.import_module("vg_studio.report.notebook").open_app
    raise AttributeError(f"module 'vg_studio' has no attribute {name!r}")
