"""Drawing a series of any length at a bounded cost.

An `Overview` keeps at most `capacity` buckets of consecutive records, each summarised per column by its minimum,
maximum and mean. New records fold into the last bucket (O(new rows)); when the buckets are full, neighbours merge
and the bucket size doubles. A 50,000-record run therefore costs the same to draw as a 1,000-record one.
pyqtgraph's own downsampling (`setDownsampling`, `setClipToView`) still runs on what is drawn, but it works on the
whole array it is given on every update, i.e. O(run length) per frame: this sits in front of it. The report draws
a long run's per-batch loss through the same envelope, so its SVG stays small.
"""

from __future__ import annotations

import numpy as np

CAPACITY = 512  # buckets, i.e. 1,024 points per curve: more than a plot is wide in pixels on a full-HD screen


class Overview:
    def __init__(self, capacity: int = CAPACITY):
        self.capacity = capacity - capacity % 2
        self.size = 1  # records per bucket
        self.rows = 0  # records folded in so far
        self.x_first = self.x_last = self.low = self.high = self.total = self.count = None

    @property
    def used(self) -> int:
        return -(-self.rows // self.size)

    def extend(self, x: np.ndarray, values: np.ndarray) -> None:
        """Fold in the next records: x (n,), values (n, …) with NaN for missing entries."""
        x, values = np.asarray(x, dtype=np.float64), np.asarray(values)
        if len(x) == 0:
            return
        if self.low is None:
            self._allocate(values.shape[1:], values.dtype)
        start, end = self.rows, self.rows + len(x)
        while (end - 1) // self.size >= self.capacity:
            self._merge()
        buckets = np.arange(start, end) // self.size
        cuts = np.flatnonzero(np.diff(buckets)) + 1
        starts, ends = np.r_[0, cuts], np.r_[cuts, len(x)] - 1
        ids = buckets[starts]
        finite = np.isfinite(values)
        with np.errstate(invalid="ignore"):
            low = np.fmin.reduceat(values, starts, axis=0)
            high = np.fmax.reduceat(values, starts, axis=0)
        total = np.add.reduceat(np.where(finite, values, 0), starts, axis=0, dtype=np.float64)
        count = np.add.reduceat(finite, starts, axis=0, dtype=np.int64)
        if start % self.size:  # the first bucket already holds records: combine with them
            b = ids[0]
            low[0], high[0] = np.fmin(self.low[b], low[0]), np.fmax(self.high[b], high[0])
            total[0] += self.total[b]
            count[0] += self.count[b]
            first_x = self.x_first[b]
        else:
            first_x = x[0]
        self.low[ids], self.high[ids], self.total[ids], self.count[ids] = low, high, total, count
        self.x_first[ids], self.x_last[ids] = x[starts], x[ends]
        self.x_first[ids[0]] = first_x
        self.rows = end

    def _allocate(self, shape: tuple, dtype) -> None:
        n = self.capacity
        self.x_first, self.x_last = np.empty(n), np.empty(n)
        self.low, self.high = np.full((n, *shape), np.nan, dtype), np.full((n, *shape), np.nan, dtype)
        self.total, self.count = np.zeros((n, *shape)), np.zeros((n, *shape), dtype=np.int64)

    def _merge(self) -> None:
        """Pairs of neighbouring buckets become one. Bucket b of size 2s holds records [2bs, 2bs + 2s), so a
        half-filled last bucket stays aligned; slots past the last used one are always empty (NaN / 0), which makes
        an odd last bucket merge with an empty one."""
        used = self.used
        pairs = 2 * (-(-used // 2))
        for array, join in ((self.low, np.fmin), (self.high, np.fmax), (self.total, np.add), (self.count, np.add)):
            merged = join(array[0:pairs:2], array[1:pairs:2])
            array[:pairs] = np.nan if array.dtype.kind == "f" and array is not self.total else 0
            array[:pairs // 2] = merged
        last = self.x_last[:used].copy()
        self.x_first[:pairs // 2] = self.x_first[0:pairs:2]
        self.x_last[:pairs // 2] = last[np.minimum(np.arange(1, pairs, 2), used - 1)]
        self.size *= 2

    def envelope(self, column=...) -> tuple[np.ndarray, np.ndarray]:
        """Points to draw: the records themselves while a bucket holds one, else each bucket's minimum and maximum
        (pyqtgraph's "peak" downsampling, done once per bucket instead of once per frame)."""
        n = self.used
        if n == 0:
            return np.empty(0), np.empty(0)
        low, high = self.low[:n][:, column], self.high[:n][:, column]
        if self.size == 1:
            return self.x_first[:n].copy(), low.copy()
        x = np.column_stack([self.x_first[:n], self.x_last[:n]]).ravel()
        return x, np.column_stack([low, high]).ravel()

    def means(self, columns=...) -> tuple[np.ndarray, np.ndarray]:
        """(bucket centres (n,), mean of each column's finite values per bucket (n, …), NaN where none);
        `columns` picks some columns first (an index list), so only those are computed."""
        n = self.used
        total, count = self.total[:n][:, columns], self.count[:n][:, columns]
        with np.errstate(invalid="ignore", divide="ignore"):
            mean = total / count
        return (self.x_first[:n] + self.x_last[:n]) / 2, np.where(count > 0, mean, np.nan)


def overview_of(x: np.ndarray, values: np.ndarray, capacity: int = CAPACITY) -> Overview:
    """A one-off overview of a slice (a zoomed-in view): O(slice length)."""
    overview = Overview(capacity)
    overview.extend(x, values)
    return overview


class Overviews:
    """The overviews one plot keeps between frames, one per (run, series): each frame folds in only the records
    that arrived since the last one."""

    def __init__(self):
        self._cache: dict = {}

    def get(self, key, x: np.ndarray, values, transform=None) -> Overview:
        """`values`: an (records, …) array, or a function giving the rows from a record on (to build only new
        rows); `transform` (e.g. log10) is applied to the new records only."""
        overview, done = self._cache.get(key, (None, 0))
        if overview is None or len(x) < done:  # a restarted run: start again
            overview, done = Overview(), 0
        fresh = values(done) if callable(values) else values[done:]
        overview.extend(x[done:], transform(fresh) if transform is not None else fresh)
        self._cache[key] = (overview, len(x))
        return overview

    def envelope(self, key, x: np.ndarray, values: np.ndarray, column=..., zoom: tuple | None = None,
                 transform=None):
        """Points to draw for one column: the whole run's overview, or, zoomed in, the records in view."""
        return self.view(key, x, values, zoom, transform).envelope(column)

    def view(self, key, x: np.ndarray, values: np.ndarray, zoom: tuple | None = None, transform=None) -> Overview:
        if zoom is None:
            return self.get(key, x, values, transform)
        lo, hi = np.searchsorted(x, zoom[0]), np.searchsorted(x, zoom[1], side="right")
        lo, hi = max(lo - 1, 0), min(hi + 1, len(x))  # one beyond each edge, so lines reach the border
        part = values[lo:hi]
        return overview_of(x[lo:hi], transform(part) if transform is not None else part)

    def keep(self, keys) -> None:
        """Forget the runs no longer shown."""
        keys = set(keys)
        self._cache = {k: v for k, v in self._cache.items() if k in keys}
