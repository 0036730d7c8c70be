"""The loss of a training step as Keras logs it, and each batch's own loss.

Keras's "loss" log is the running mean of the loss since the epoch began (its loss tracker is reset as each epoch
starts), so one bad batch is averaged into the batches before it and stays in the mean for the rest of the epoch.
A batch's own loss comes back from two consecutive means: with m_b the mean after the epoch's first b batches,
batch b's loss is b·m_b − (b−1)·m_(b−1). The logs already reach the callbacks as Python floats, so this costs no
device work. (Keras itself is imported only where logs are read: readers of a run directory use the cursor.)

What is and is not known:
- `steps_per_execution` > 1: Keras calls the batch-end hooks once per execution, with the mean up to its last
  batch; each entry is then the mean loss of that execution's batches, at its last step.
- Keras weighs each batch in the mean by its size: an epoch's smaller last batch comes back blended with the mean
  of the batches before it (full batches are exact).
- A custom `train_step` returns what it likes (a GAN's d_loss and g_loss, a loss of its own batch or a running
  mean): nothing is kept for it, and readers fall back to the recorded running means.
- Once the running mean is not finite, no later batch of that epoch can be recovered: the batch that made it so
  carries the non-finite mean, the ones after NaN.
"""

from __future__ import annotations

import math

import numpy as np


def loss_of(logs) -> tuple[float | None, str]:
    """(the step's loss, where it came from): Keras's "loss", else the sum of the `*_loss` entries a custom
    train_step returns (a GAN's d_loss and g_loss), else (None, "") — unknown."""
    import keras  # here: the module's readers of run directories (the cursor) need no Keras

    try:
        if "loss" in logs:
            return float(np.asarray(keras.ops.convert_to_numpy(logs["loss"]))), "loss"
        keys = sorted(k for k in logs if k.endswith("_loss") and not k.startswith("val_"))
        if keys:
            return float(sum(float(np.asarray(keras.ops.convert_to_numpy(logs[k]))) for k in keys)), " + ".join(keys)
    except (TypeError, ValueError):
        return None, ""
    return None, ""


def non_finite(logs) -> bool:
    loss = loss_of(logs)[0]
    return loss is not None and not math.isfinite(loss)


def keras_train_step(model) -> bool:
    """Whether `model` trains with Keras's own train_step, whose "loss" log is the running mean of the epoch."""
    if "train_step" in vars(model):
        return False
    owner = next((cls for cls in type(model).__mro__ if "train_step" in vars(cls)), None)
    return owner is not None and owner.__module__.startswith("keras.")


def in_step_order(items: list, last_step: int, stride) -> tuple[list, list]:
    """(ready, waiting): the batch ends (step first, sorted) that follow `last_step` without a gap, steps `stride`
    apart (`steps_per_execution`; an epoch's last execution may be shorter), and those after a gap, which wait until
    the batch ends before them have arrived — a batch's own loss needs the running mean of the batch before it."""
    stride = max(1, int(stride or 1))
    expected = last_step + stride
    for i, item in enumerate(items):
        if item[0] > expected:
            return items[:i], items[i:]
        expected = item[0] + stride
    return items, []


class BatchLosses:
    """Turns the running means a fit logs into each batch's own loss: `add` at each batch end (in step order),
    `take` hands out what is known so far as (step, epoch, loss)."""

    def __init__(self):
        self.pending: list[tuple[int, int, float]] = []
        self._epoch: int | None = None
        self._done, self._mean = 0, 0.0

    def add(self, step: int, epoch: int, done: int, mean: float) -> None:
        """`done`: the epoch's batches finished with this step (this one included); `mean`: the logged running mean
        over them."""
        if epoch != self._epoch:
            self._epoch, self._done, self._mean = epoch, 0, 0.0
        if done <= self._done:  # a step seen twice, or a count that went backwards: nothing to recover
            return
        if not math.isfinite(self._mean):
            value = math.nan
        elif not math.isfinite(mean):
            value = mean
        else:
            value = (done * mean - self._done * self._mean) / (done - self._done)
        self._done, self._mean = done, mean
        self.pending.append((int(step), int(epoch), float(value)))

    def take(self, upto_step: float = math.inf) -> list[tuple[int, int, float]]:
        """The batches known up to `upto_step` (all: the end of an epoch), no longer pending."""
        cut = next((i for i, batch in enumerate(self.pending) if batch[0] > upto_step), len(self.pending))
        taken, self.pending = self.pending[:cut], self.pending[cut:]
        return taken


class BatchCursor:
    """Replays a History's batches with its records and epochs, in the order a run emitted them: a record takes
    the batches up to its step, a completed epoch the rest of its batches (those after its last record). The
    run directory's log, the offline diagnosis and a follower of a running run group them this way."""

    def __init__(self, history, start: int = 0):
        self.history, self.at = history, int(start)

    def _upto(self, keep) -> tuple[int, int]:
        h, lo = self.history, self.at
        while self.at < len(h.batch_steps) and keep(self.at):
            self.at += 1
        return lo, self.at

    def for_record(self, r: int) -> tuple[int, int]:
        step = self.history.steps[r]
        return self._upto(lambda i: self.history.batch_steps[i] <= step)

    def for_epoch(self, i: int) -> tuple[int, int]:
        epoch = self.history.epochs["epoch"][i]
        return self._upto(lambda b: self.history.batch_epochs[b] <= epoch)

    def pairs(self, span: tuple[int, int]) -> tuple:
        """((step, loss), …) of a span, as the events carry them."""
        h = self.history
        return tuple(zip(h.batch_steps[span[0]:span[1]], h.batch_loss[span[0]:span[1]]))


# ---- how the run directory stores them (vg_studio.train.history_file) -----------------------------------------
def batch_columns(history, lo: int = 0, hi: int | None = None) -> list:
    """(name, values, dtype) of a History's batch columns (history.h5's /batches), from `lo` to `hi`."""
    return [("step", history.batch_steps[lo:hi], np.int64), ("epoch", history.batch_epochs[lo:hi], np.int32),
            ("loss", history.batch_loss[lo:hi], np.float64)]


def batch_arrays(history, batches: tuple[int, int] | None) -> dict:
    """The batches' losses a log frame carries (index from, to): arrays batch_step, batch_epoch, batch_loss, which
    readers that do not know them skip."""
    if batches is None or batches[0] == batches[1]:
        return {}
    return {f"batch_{name}": np.asarray(values, dtype=dtype) for name, values, dtype in
            batch_columns(history, *batches)}


def read_batches(reader, history) -> None:
    """history.h5's /batches into `history`, through history_file's strict reader (nothing for a run without them)."""
    g = reader.group("batches", required=False)
    if g is None:
        return
    columns = reader.members(g)
    if set(columns) != {"step", "epoch", "loss"}:
        reader.fail("batches/ must hold step, epoch and loss")
    n = columns["step"].shape[0] if columns["step"].ndim == 1 else -1
    steps = reader.column(columns["step"], "batches/step", n, integer=True)
    epochs = reader.column(columns["epoch"], "batches/epoch", n, integer=True)
    try:
        history.add_batches(zip(steps, epochs, reader.column(columns["loss"], "batches/loss", n)))
    except ValueError as exc:
        reader.fail(str(exc))


def frame_batches(history, arrays: dict, fail) -> None:
    """The batches' losses a log's record or epoch frame carries into `history` (none in logs of runs without
    them); `fail(problem)` raises."""
    columns = [arrays.get(f"batch_{name}") for name in ("step", "epoch", "loss")]
    if all(c is None for c in columns):
        return
    if any(c is None or c.ndim != 1 or len(c) != len(columns[0]) for c in columns) \
            or any(c.dtype.kind not in "iu" for c in columns[:2]):
        fail("a frame's batch losses are not three columns of one length (steps, epochs, losses)")
    history.add_batches(zip(columns[0].tolist(), columns[1].tolist(), columns[2].tolist()))
