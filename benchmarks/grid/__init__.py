"""The labelled grid of benchmarks/diagnostics_grid.py: its runs and the checks that measure them."""
