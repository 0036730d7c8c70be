"""VG Studio: see, diagnose and fix vanishing and exploding gradients.

The package is split into a Qt-free engine (spec, nn, data, train, diagnose, experiments, cli) and the GUI
(`vg_studio.gui`, the only place that imports PySide6 or pyqtgraph).
"""

__version__ = "0.1.0"
