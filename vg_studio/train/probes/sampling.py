"""Which entries of a variable the step reads: all of a small variable, a fixed systematic sample of a large one.

A full pass of the statistics (and of log10 and binning for the histograms) over millions of weights would cost
as much as the update itself. A variable with more than SUM_LIMIT entries has its sums estimated on a fixed
sample of SUM_LIMIT entries (typically < 1 % off, checked against NumPy in tests/test_probes.py) and its
histograms on HIST_LIMIT of those; smaller variables are exact. The sample is drawn once (seeded), so successive
records compare the same entries.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from keras import ops

SUM_LIMIT = 16384  # a variable with more entries has its sums estimated on a fixed systematic sample this size
HIST_LIMIT = 2048  # entries per variable (of those read) that go into the histograms
SAMPLE_SEED = 20240607
# A sampled variable is read as this many contiguous runs, evenly spaced; a prime, so that the runs of a weight
# matrix whose rows divide the spacing do not all sit at the same columns.
SAMPLE_CHUNKS = 61


@dataclass(frozen=True)
class Sample:
    """`chunks` contiguous runs of `run` entries, one at `offset` within each of `chunks` equal periods of the
    flattened variable — a systematic sample spread over the whole tensor (for a weight matrix, over its rows and,
    the period being no multiple of a row, its columns) that touches only the memory it reads (an every-k-th-entry
    sample would pull in most cache lines and cost as much as a full pass). `run == size` reads everything."""

    size: int
    chunks: int
    period: int
    run: int
    offset: int

    @classmethod
    def plan(cls, size: int, limit: int | None, rng: np.random.Generator) -> "Sample":
        if limit is None or size <= limit:
            return cls(size, 1, size, size, 0)
        period = size // SAMPLE_CHUNKS
        run = max(1, limit // SAMPLE_CHUNKS)
        return cls(size, SAMPLE_CHUNKS, period, run, int(rng.integers(period - run + 1)))

    @property
    def exact(self) -> bool:
        return self.run == self.size

    @property
    def count(self) -> int:
        return self.chunks * self.run

    @property
    def hist_stride(self) -> int:
        """Every hist_stride-th value read goes into the histograms (HIST_LIMIT per variable)."""
        return max(1, -(-self.count // HIST_LIMIT))

    @property
    def hist_count(self) -> int:
        return -(-self.count // self.hist_stride)

    def take(self, x):
        """The sampled entries of a tensor of this variable's shape, flat."""
        flat = ops.reshape(x, (-1,))
        if self.exact:
            return flat
        runs = ops.reshape(flat[: self.chunks * self.period], (self.chunks, self.period))
        return ops.reshape(runs[:, self.offset:self.offset + self.run], (-1,))

    def positions(self) -> np.ndarray:
        """Flat indices of the sampled entries, in the order `take` returns them."""
        if self.exact:
            return np.arange(self.size)
        starts = np.arange(self.chunks) * self.period + self.offset
        return (starts[:, None] + np.arange(self.run)[None, :]).ravel()


def plan_samples(sizes) -> list[Sample]:
    """One Sample per variable size, drawn from one seeded generator (the same plan for the same variables);
    SUM_LIMIT = None reads every entry of every variable."""
    rng = np.random.default_rng(SAMPLE_SEED)
    return [Sample.plan(int(size), SUM_LIMIT, rng) for size in sizes]
