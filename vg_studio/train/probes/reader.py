"""The host side of the probes: the records the device holds, read in one go, turned into per-column statistics.

Each optimizer probe keeps its own records (its variables' rows, labelled with their steps), the time-step tap its
own; a read takes every record of a step after the last one read and joins the parts of one step into one
`RawRecord` (an optimizer's several updates in one step: each variable's last). A column's statistics come from the rows of the variables it groups, added up (sums and entry
counts, never averages of averages); a column no probe measured at that step reads NaN there.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from vg_studio.train.statistics import HIST_BINS, HISTOGRAMS, HIST_STATS, LAYER_STATS, SCALARS, SUMS


@dataclass
class RawRecord:
    """One step's record as the probes hold it: per optimizer probe (by index) its (V, ROW_WIDTH) rows."""

    step: int
    rows: dict = field(default_factory=dict)  # probe index -> (V, ROW_WIDTH) array
    scalars: dict = field(default_factory=dict)  # the optimizers' reported scalars
    time_grad: np.ndarray | None = None


class ProbeReader:
    """Reads a StepProbe's records: those of the steps after the last read, oldest first."""

    def __init__(self, step_probe, first_step: int = 1):
        self.probe = step_probe
        self.last_step = first_step - 1
        self._last = {}  # per probe index (and "time"): the last step read

    def read(self) -> list[RawRecord]:
        records: dict[int, RawRecord] = {}
        several = sum(1 for p in self.probe.probes if p.scalar_names) > 1
        for probe in self.probe.probes:
            for step, rows, scalars in probe.read(self._last.get(probe.index, self.last_step)):
                record = records.setdefault(step, RawRecord(step))
                record.rows[probe.index] = _latest(record.rows.get(probe.index), rows)
                record.scalars.update({f"{probe.label}/{k}" if several else k: v for k, v in scalars.items()})
                self._last[probe.index] = max(self._last.get(probe.index, self.last_step), step)
        tap = self.probe.time_tap
        if tap is not None:
            for step, row in tap.read(self._last.get("time", self.last_step)).items():
                if step in records:
                    records[step].time_grad = row
                self._last["time"] = max(self._last.get("time", self.last_step), step)
        out = [records[step] for step in sorted(records)]
        if out:
            self.last_step = max(self.last_step, out[-1].step)
        return out


def _latest(earlier, later):
    """One optimizer applied several times in a step (a critic's extra updates, or each part of the model in turn):
    per variable the row of its last update that step. A variable the later update did not touch has an all-zero
    row there (a measured one never does: its histograms count its entries, or its sums are NaN)."""
    if earlier is None:
        return later
    untouched = ~np.any(later != 0, axis=1)
    return np.where(untouched[:, None], earlier, later)


class ColumnIndex:
    """Where each column's variables sit in the probes' rows: (probe index, row, size, is a matrix) per variable."""

    def __init__(self, columns: list, probes: list):
        where = {}
        for probe in probes:
            for j, variable in enumerate(probe.variables or []):
                if probe.measured[j]:  # a variable without a gradient is not one the optimizer updates
                    # (a multi-head attention layer's biases are (heads, size): matrices by shape, biases by name)
                    matrix = len(getattr(variable, "shape", ()) or ()) >= 2 \
                        and not str(getattr(variable, "name", "")).endswith("bias")
                    where.setdefault(id(variable), (probe.index, j, float(probe.sizes[j]), matrix))
        self.parts = [[where[id(v)] for v in column.variables if id(v) in where] for column in columns]
        labels = {probe.index: probe.label for probe in probes}
        self.optimizers = [labels[parts[0][0]] if parts else "" for parts in self.parts]


def column_stats(raw: RawRecord, index: ColumnIndex) -> dict:
    """Per-column statistics of one record: LAYER_STATS (unit statistics NaN; the recorder adds them) and the
    (L, HIST_BINS) histograms, each row the estimated share of the column's entries per bin."""
    n = len(index.parts)
    out = {name: np.full(n, np.nan) for name in LAYER_STATS}
    hists = {name: np.full((n, HIST_BINS), np.nan) for name in HIST_STATS}
    sums = {over: {s.name: np.full(n, np.nan) for s in SUMS} for over in ("all", "matrices")}
    count = {over: np.full(n, np.nan) for over in ("all", "matrices")}
    for c, parts in enumerate(index.parts):
        parts = [part for part in parts if part[0] in raw.rows]
        if not parts:
            continue
        rows = np.stack([raw.rows[p][j] for p, j, _, _ in parts])
        sizes = np.array([size for _, _, size, _ in parts])
        matrices = np.array([matrix for *_, matrix in parts])
        if not matrices.any():  # a column without matrices (a normalisation layer): all its variables
            matrices[:] = True
        for i, s in enumerate(SUMS):
            sums["all"][s.name][c] = rows[:, i].sum()
            sums["matrices"][s.name][c] = rows[matrices, i].sum()
        count["all"][c], count["matrices"][c] = sizes.sum(), sizes[matrices].sum()
        for h, histogram in enumerate(HISTOGRAMS):
            start = len(SUMS) + h * HIST_BINS
            counts = rows[:, start:start + HIST_BINS]
            seen = counts.sum(axis=1)
            used = seen > 0
            if used.any():  # each variable's share of its sample, weighted by its size
                shares = counts[used] / seen[used, None]
                hists[histogram.name][c] = (shares * sizes[used, None]).sum(axis=0) / sizes[used].sum()
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        for scalar in SCALARS:
            out[scalar.name] = np.asarray(scalar.value(sums[scalar.over], count[scalar.over]), dtype=np.float64)
    out.update(hists)
    return out


def blank_stats(n_columns: int) -> dict:
    """A record of `n_columns` columns with nothing measured."""
    stats = {name: np.full(n_columns, np.nan) for name in LAYER_STATS}
    stats.update({name: np.full((n_columns, HIST_BINS), np.nan) for name in HIST_STATS})
    return stats
