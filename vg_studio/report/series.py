"""Training curves that do not jump at every epoch start.

Keras reports loss and accuracy as a running mean over the epoch so far, which restarts at every epoch: drawn as
is, the accuracy curve drops back at each epoch boundary and looks like a bug. From two running means of one epoch,
m_j after j batches and m_k after k, the mean over the batches in between is exact: (k·m_k − j·m_j) / (k − j). The
plots draw those interval means (per batch when every step is recorded) and a smoothed line over them.
"""

from __future__ import annotations

import numpy as np

SMOOTHING = 0.6  # weight of the past in the smoothed line, as TensorBoard's default slider
# The weight of the past in the smoothed line over each batch's own loss. SMOOTHING (TensorBoard's default 0.6)
# suits the records' interval means, 10 batches apart by default; over single batches it would follow their noise.
# 0.95 spans about 20 batches (0.6 per record is about 25): the line reads the same whichever curve it smooths.
BATCH_SMOOTHING = 0.95


def interval_means(steps: np.ndarray, epochs: np.ndarray, running: np.ndarray, steps_per_epoch: int) -> np.ndarray:
    """Mean of the metric over the batches since the previous record of the same epoch (or the epoch's start).

    steps: global 1-based step of each record; epochs: its 0-based epoch; running: the running epoch mean Keras
    reported at that step. Without steps_per_epoch the batches of an epoch cannot be counted: running means back."""
    running = np.asarray(running, dtype=np.float64)
    if not steps_per_epoch or len(running) == 0:
        return running.copy()
    steps, epochs = np.asarray(steps, dtype=np.float64), np.asarray(epochs, dtype=np.float64)
    done = steps - epochs * steps_per_epoch  # batches of its epoch done at each record
    total = done * running
    same_epoch = np.r_[False, epochs[1:] == epochs[:-1]]
    done_before = np.where(same_epoch, np.r_[0.0, done[:-1]], 0.0)
    total_before = np.where(same_epoch, np.r_[0.0, total[:-1]], 0.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        out = (total - total_before) / (done - done_before)
    return np.where((done - done_before) > 0, out, np.nan)


def smoothed(values: np.ndarray, weight: float = SMOOTHING) -> np.ndarray:
    """TensorBoard's debiased exponential moving average; NaNs are skipped, not spread."""
    return Smoother(weight).extend(np.asarray(values, dtype=np.float64))


class Smoother:
    """`smoothed` over a growing series, keeping its state so each new value costs O(1) (a Python loop:
    scipy.signal.lfilter cannot skip NaNs, and only new values pass through it)."""

    def __init__(self, weight: float = SMOOTHING):
        self.weight, self.last, self.norm, self.done = weight, 0.0, 0.0, 0

    def extend(self, values: np.ndarray) -> np.ndarray:
        out = np.full(len(values), np.nan)
        for i, value in enumerate(values):
            if np.isfinite(value):
                self.last = self.last * self.weight + (1 - self.weight) * value
                self.norm = self.norm * self.weight + (1 - self.weight)
                out[i] = self.last / self.norm
        self.done += len(values)
        return out
