"""pyqtgraph views of runs: they read RunData and redraw on demand (the panel throttles how often)."""
