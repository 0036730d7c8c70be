"""Grid cells for the reproductions: `vg_studio.train.cells` with the diagnosis attached to every cell, so each
cell's report.json carries its findings. The machinery (processes, Ray, progress, resuming) lives in the training
layer, where the fix trials of `vg_studio.diagnose.trials` use it too."""

from __future__ import annotations

from vg_studio.diagnose.listener import DiagnosisListener
from vg_studio.train import cells as _cells
from vg_studio.train.cells import RUN_FILES, Cell, CellOutcome, Progress, is_finished, read_report  # noqa: F401

DIAGNOSIS = (DiagnosisListener,)


def run_cell(key: str, spec_dict: dict, run_dir: str, events=None, threads: int = 0, max_steps: int | None = None,
             stop=None) -> dict:
    """Train one cell (with its diagnosis) into `run_dir`; never raises (see `vg_studio.train.cells.run_cell`)."""
    return _cells.run_cell(key, spec_dict, run_dir, events, threads, max_steps, stop, DIAGNOSIS)


def run_cells(cells: list[Cell], jobs: int = 1, ray_address: str | None = None, progress: Progress | None = None,
              stop=None) -> list[CellOutcome]:
    """Run every unfinished cell with its diagnosis; one outcome per cell, in the order given."""
    return _cells.run_cells(cells, jobs, ray_address, progress, stop, listeners=DIAGNOSIS)
