"""The history of one run, in memory: probe records (one row per record, one column per layer) and epoch metrics.

Neutral on purpose (no Keras, no Qt, no h5py): the trainer, the monitor callback, the app's plots and the rules all
hold one. How it is stored is `vg_studio.train.runstore`'s business (docs/file-formats.md).

Per-layer statistics are kept in growable arrays, so appending a record costs O(its size) and `stat(name)` is a
view that costs nothing however long the run — the plots read it ten times a second.
"""

from __future__ import annotations

import csv
import io
import math

import numpy as np

# Root attributes the storage writes itself; `History.attrs` may not use these names.
RESERVED_ATTRS = frozenset({"schema", "vg_studio_version", "layer_names", "activations", "status", "record_every",
                            "log_id", "log_bytes"})
# Per-record columns stored beside the statistics; a statistic may not take these names.
RESERVED_STATS = frozenset({"step", "epoch", "loss", "time_grad", "probe_loss"})


class Rows:
    """Rows of one shape, appended one at a time: amortised O(row) per append, `array` is an O(1) view."""

    def __init__(self, row_shape: tuple, dtype, capacity: int = 16):
        self.row_shape = tuple(row_shape)
        self._data = np.empty((capacity, *self.row_shape), dtype=dtype)
        self._n = 0

    def __len__(self) -> int:
        return self._n

    def append(self, row) -> None:
        if self._n == len(self._data):
            grown = np.empty((2 * len(self._data), *self.row_shape), dtype=self._data.dtype)
            grown[: self._n] = self._data[: self._n]
            self._data = grown
        self._data[self._n] = row
        self._n += 1

    @property
    def array(self) -> np.ndarray:
        view = self._data[: self._n]
        view.flags.writeable = False  # a view handed out must not change the history behind its back
        return view

    @classmethod
    def of(cls, array: np.ndarray) -> "Rows":
        rows = cls(array.shape[1:], array.dtype, capacity=max(16, len(array)))
        rows._data[: len(array)] = array
        rows._n = len(array)
        return rows


def stat_dtype(row_shape: tuple):
    """(L,) statistics in float64; (L, k) ones (histograms: fractions) in float32, a quarter of a run's bytes."""
    return np.float64 if len(row_shape) == 1 else np.float32


class History:
    """What a run recorded. `stats` maps any name to rows of shape (L,) or (L, k) (L = len(layer_names)); a name
    first seen late, or missing from a record, reads NaN there. `attrs` are run-level facts stored beside it
    (e.g. `hist_edges`, `layer_kinds`, `layer_units`, `layer_groups`, `epochs`, `steps_per_epoch`)."""

    def __init__(self, layer_names, activations, record_every: int = 1, status: str = "running", *,
                 attrs: dict | None = None, layer_kinds=None, layer_units=None, layer_groups=None):
        self.layer_names = [str(n) for n in layer_names]
        self.activations = [str(a) for a in activations]
        if len(self.activations) != len(self.layer_names):
            raise ValueError(f"history: {len(self.layer_names)} layer names but {len(self.activations)} activations")
        self.record_every = int(record_every)
        self.status = status
        self.attrs = dict(attrs or {})
        if layer_kinds is not None:
            self.layer_kinds = layer_kinds
        if layer_units is not None:
            self.layer_units = layer_units
        if layer_groups is not None:
            self.layer_groups = layer_groups
        self.epochs: dict[str, list] = {}  # metric -> one value per completed epoch ("epoch": 0-based index)
        self.steps: list[int] = []
        self.record_epochs: list[int] = []
        self.record_loss: list[float] = []
        # the loss on the probe batch in inference mode (vg_studio.train.probe_loss), NaN where not measured
        self.record_probe_loss: list[float] = []
        self.record_metrics: dict[str, list] = {}  # Keras's batch logs at the record (running epoch means)
        self.optimizer: dict[str, list] = {}  # optimizer-reported scalars at each record (e.g. SDAGD's mu)
        self.time_grad: list = []  # recurrent networks: one (T,) array per record
        # every training batch's own loss (vg_studio.train.batch_losses), in step order; runs without them: empty
        self.batch_steps: list[int] = []
        self.batch_epochs: list[int] = []
        self.batch_loss: list[float] = []
        self._stats: dict[str, Rows] = {}

    # ---- layer metadata (stored as attrs) -------------------------------------------------------------
    @property
    def layer_kinds(self) -> list:
        return list(self.attrs.get("layer_kinds", []))

    @layer_kinds.setter
    def layer_kinds(self, kinds) -> None:
        self.attrs["layer_kinds"] = self._per_layer("layer_kinds", [str(k) for k in kinds])

    @property
    def layer_units(self) -> list:
        return [int(u) for u in self.attrs.get("layer_units", [])]

    @layer_units.setter
    def layer_units(self, units) -> None:
        self.attrs["layer_units"] = self._per_layer("layer_units", [int(u) for u in units])

    @property
    def layer_groups(self) -> list:
        """Per column, the group it is shown in: the top-level layer it belongs to (a nested model's or block's
        name); a history without groups has each column in a group of its own."""
        groups = self.attrs.get("layer_groups")
        return [str(g) for g in groups] if groups is not None and len(groups) else list(self.layer_names)

    @layer_groups.setter
    def layer_groups(self, groups) -> None:
        self.attrs["layer_groups"] = self._per_layer("layer_groups", [str(g) for g in groups])

    def _per_layer(self, name: str, values: list) -> list:
        if len(values) != len(self.layer_names):
            raise ValueError(f"history.{name}: {len(values)} values for {len(self.layer_names)} layers")
        return values

    # ---- appending ----------------------------------------------------------------------------------------
    def add_epoch(self, epoch: int, logs: dict) -> None:
        self.epochs.setdefault("epoch", []).append(int(epoch))
        done = len(self.epochs["epoch"])
        for key, value in logs.items():
            if key == "epoch":
                continue
            # a metric first seen late is padded with NaN so every column has one value per epoch
            self.epochs.setdefault(key, [math.nan] * (done - 1)).append(float(value))
        _pad(self.epochs.values(), done)

    def add_record(self, step: int, epoch: int, loss: float, stats: dict, optimizer: dict | None = None,
                   time_grad=None, metrics: dict | None = None, probe_loss: float = math.nan) -> None:
        rows = {name: np.asarray(value) for name, value in stats.items()}
        for name, row in rows.items():  # check everything before changing anything
            self._check_row(name, row)
        n = len(self.steps)
        self.steps.append(int(step))
        self.record_epochs.append(int(epoch))
        self.record_loss.append(float(loss))
        self.record_probe_loss.append(float(probe_loss))
        for name, row in rows.items():
            column = self._stats.get(name)
            if column is None:
                column = self._stats[name] = Rows(row.shape, stat_dtype(row.shape))
                for _ in range(n):
                    column.append(np.nan)
            column.append(row)
        for name, column in self._stats.items():
            if name not in rows:
                column.append(np.nan)
        for target, values in ((self.optimizer, optimizer or {}), (self.record_metrics, metrics or {})):
            for key, value in values.items():
                target.setdefault(key, [math.nan] * n).append(float(value))
            _pad(target.values(), n + 1)
        if time_grad is not None:
            grad = np.asarray(time_grad, dtype=np.float64).reshape(-1)
            while len(self.time_grad) < n:  # records before the first one that carried it
                self.time_grad.append(np.full(grad.shape, np.nan))
            self.time_grad.append(grad)
        elif self.time_grad:
            self.time_grad.append(np.full(self.time_grad[-1].shape, np.nan))

    def add_batches(self, batches) -> None:
        """Append (step, epoch, loss) of training batches, each a batch's own loss (not a running mean)."""
        for step, epoch, loss in batches:
            if self.batch_steps and int(step) <= self.batch_steps[-1]:
                raise ValueError(f"history: batch of step {step} after step {self.batch_steps[-1]}")
            self.batch_steps.append(int(step))
            self.batch_epochs.append(int(epoch))
            self.batch_loss.append(float(loss))

    def _check_row(self, name: str, row: np.ndarray) -> None:
        layers = len(self.layer_names)
        if name in RESERVED_STATS or not isinstance(name, str) or not name:
            raise ValueError(f"stats[{name!r}]: a reserved or empty name")
        if row.ndim not in (1, 2) or row.shape[0] != layers:
            raise ValueError(f"stats[{name!r}]: shape {row.shape}, expected ({layers},) or ({layers}, k)")
        if row.dtype.kind not in "biuf":
            raise ValueError(f"stats[{name!r}]: not numbers (dtype {row.dtype})")
        column = self._stats.get(name)
        if column is not None and column.row_shape != row.shape:
            raise ValueError(f"stats[{name!r}]: shape {row.shape} after {column.row_shape} in earlier records")

    # ---- reading -----------------------------------------------------------------------------------------
    @property
    def num_records(self) -> int:
        return len(self.steps)

    @property
    def num_epochs(self) -> int:
        return len(self.epochs.get("epoch", []))

    @property
    def stats(self) -> dict:
        """name -> (records, layers[, k]) read-only view."""
        return {name: column.array for name, column in self._stats.items()}

    def stat(self, name: str) -> np.ndarray:
        """(records, layers) — or (records, layers, k) — array of one statistic; O(1), a read-only view."""
        column = self._stats.get(name)
        if column is None:
            return np.empty((0, len(self.layer_names)))
        return column.array

    def set_stat(self, name: str, array: np.ndarray) -> None:
        """Install a whole column at once (a reader filling a history from a file)."""
        array = np.asarray(array)
        if len(array) != self.num_records:
            raise ValueError(f"stats[{name!r}]: {len(array)} rows for {self.num_records} records")
        if array.ndim > 1:
            self._check_row(name, array[0] if len(array) else np.empty(array.shape[1:]))
        self._stats[name] = Rows.of(array.astype(stat_dtype(array.shape[1:]), copy=False))

    # files: vg_studio.train.history_file (write_h5, load_history) — this module stays below the engine

    # ---- export ---------------------------------------------------------------------------------------------
    def to_csv(self) -> str:
        """One table for a spreadsheet: a `record` row per probe record (step, epoch, running loss and metrics,
        every per-layer statistic as `stat[layer]`, the optimizer's scalars) and an `epoch` row after each
        completed epoch (its loss, accuracy, val_loss, val_accuracy … in the same metric columns). Per-layer
        histograms ((L, k) statistics) are left out: they are thousands of columns; history.h5 has them."""
        columns = [name for name, column in self._stats.items() if len(column.row_shape) == 1]
        epoch_metrics = [k for k in self.epochs if k != "epoch"]
        metrics = list(dict.fromkeys(["loss", *epoch_metrics, *self.record_metrics]))
        header = (["row", "step", "epoch", *metrics] + [f"{s}[{n}]" for s in columns for n in self.layer_names]
                  + list(self.optimizer))
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow([_cell_text(h) for h in header])
        arrays = [self._stats[s].array for s in columns]
        epoch_row = {e: i for i, e in enumerate(self.epochs.get("epoch", []))}
        blanks_after = len(header) - 3 - len(metrics)

        def write_epoch(e: int) -> None:
            i = epoch_row.pop(e)
            writer.writerow(["epoch", "", e, *(_number(self.epochs[m][i]) if m in self.epochs else "" for m in metrics),
                             *[""] * blanks_after])

        for r in range(self.num_records):
            epoch = self.record_epochs[r]
            for e in sorted(e for e in epoch_row if e < epoch):
                write_epoch(e)
            values = {"loss": self.record_loss[r], **{k: v[r] for k, v in self.record_metrics.items()}}
            row = ["record", self.steps[r], epoch, *(_number(values[m]) if m in values else "" for m in metrics)]
            row += [_number(a[r, j]) for a in arrays for j in range(len(self.layer_names))]
            row += [_number(v[r]) for v in self.optimizer.values()]
            writer.writerow(row)
        for e in sorted(epoch_row):
            write_epoch(e)
        return out.getvalue()


def _pad(columns, length: int) -> None:
    for column in columns:
        while len(column) < length:
            column.append(math.nan)


def _number(value) -> str:
    return repr(float(value))


def _cell_text(text: str) -> str:
    """A layer name is the user's text: one starting with = + - @ would be a formula to a spreadsheet."""
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text
