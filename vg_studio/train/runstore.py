"""The run directory: spec.json, model.keras, history.h5, report.json — every file written atomically.

history.h5 is rewritten whole (to a temporary file, then renamed over the old one) at the end of every epoch: a
run killed at any moment leaves the previous, complete history behind. Probe records are small (records × layers),
so the rewrite costs milliseconds. Layout (HISTORY_SCHEMA 1):

    /                 attrs: schema, vg_studio_version, layer_names, activations, status, record_every
    /epochs/epoch     (E,) int32, 0-based
    /epochs/<metric>  (E,) float64: loss, accuracy, val_loss, val_accuracy, epoch_time
    /probes/step      (R,) int64, global step of each record
    /probes/epoch     (R,) int32
    /probes/loss      (R,) float64, training loss (running epoch mean) at the record
    /probes/<stat>    (R, L) float64, one column per layer group (probes.LAYER_STATS)
    /probes/time_grad (R, T) float64, recurrent networks only: mean |dL/dx_t| per input time step
    /optimizer/<name> (R,) float64, optimizer-reported scalars at each record (e.g. SDAGD's mu)
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

import h5py
import numpy as np

from vg_studio import __version__
from vg_studio.safeio import atomic_path, atomic_write_text
from vg_studio.spec import ExperimentSpec
from vg_studio.catalog import LAYER_STATS

HISTORY_SCHEMA = 1


class RunStoreError(ValueError):
    """A run directory or one of its files that cannot be read; the message names the file."""


@dataclass
class History:
    layer_names: list
    activations: list
    record_every: int = 1
    status: str = "running"
    epochs: dict = field(default_factory=dict)  # metric -> list[float]
    steps: list = field(default_factory=list)
    record_epochs: list = field(default_factory=list)
    record_loss: list = field(default_factory=list)
    stats: dict = field(default_factory=dict)  # stat -> list[np.ndarray (L,)]
    optimizer: dict = field(default_factory=dict)  # name -> list[float]
    time_grad: list = field(default_factory=list)  # recurrent networks: one (T,) array per record

    def add_epoch(self, epoch: int, logs: dict) -> None:
        self.epochs.setdefault("epoch", []).append(epoch)
        for key, value in logs.items():
            # a metric first seen late is padded with NaN so every column has one value per epoch
            column = self.epochs.setdefault(key, [float("nan")] * (len(self.epochs["epoch"]) - 1))
            column.append(float(value))
        for column in self.epochs.values():
            while len(column) < len(self.epochs["epoch"]):
                column.append(float("nan"))

    def add_record(self, step: int, epoch: int, loss: float, stats: dict, optimizer: dict,
                   time_grad: np.ndarray | None = None) -> None:
        if time_grad is not None:
            self.time_grad.append(np.asarray(time_grad, dtype=np.float64))
        self.steps.append(int(step))
        self.record_epochs.append(int(epoch))
        self.record_loss.append(float(loss))
        for name in LAYER_STATS:
            self.stats.setdefault(name, []).append(np.asarray(stats[name], dtype=np.float64))
        for name, value in optimizer.items():
            column = self.optimizer.setdefault(name, [float("nan")] * (len(self.steps) - 1))
            column.append(float(value))
        for column in self.optimizer.values():
            while len(column) < len(self.steps):
                column.append(float("nan"))

    @property
    def num_records(self) -> int:
        return len(self.steps)

    def stat(self, name: str) -> np.ndarray:
        """(records, layers) array of one probe statistic."""
        rows = self.stats.get(name, [])
        return np.vstack(rows) if rows else np.empty((0, len(self.layer_names)))

    # ---- HDF5 -------------------------------------------------------------------------------------------
    def write(self, path: str | os.PathLike) -> None:
        path = Path(path)
        with atomic_path(path) as tmp, h5py.File(tmp, "w") as f:
            strings = h5py.string_dtype()
            f.attrs["schema"] = HISTORY_SCHEMA
            f.attrs["vg_studio_version"] = __version__
            f.attrs["layer_names"] = np.array(self.layer_names, dtype=strings)
            f.attrs["activations"] = np.array(self.activations, dtype=strings)
            f.attrs["status"] = self.status
            f.attrs["record_every"] = self.record_every
            epochs = f.create_group("epochs")
            for key, values in self.epochs.items():
                epochs.create_dataset(key, data=np.asarray(values, dtype=np.int32 if key == "epoch" else
                                                           np.float64))
            probes = f.create_group("probes")
            probes.create_dataset("step", data=np.asarray(self.steps, dtype=np.int64))
            probes.create_dataset("epoch", data=np.asarray(self.record_epochs, dtype=np.int32))
            probes.create_dataset("loss", data=np.asarray(self.record_loss, dtype=np.float64))
            for name in LAYER_STATS:
                probes.create_dataset(name, data=self.stat(name))
            if self.time_grad:
                probes.create_dataset("time_grad", data=np.vstack(self.time_grad))
            opt = f.create_group("optimizer")
            for name, values in self.optimizer.items():
                opt.create_dataset(name, data=np.asarray(values, dtype=np.float64))

    @classmethod
    def read(cls, path: str | os.PathLike) -> "History":
        path = Path(path)
        if not path.is_file():
            raise RunStoreError(f"{path}: file not found")
        try:
            with h5py.File(path, "r") as f:
                schema = int(f.attrs.get("schema", -1))
                if schema != HISTORY_SCHEMA:
                    raise RunStoreError(f"{path}: not a VG Studio history (schema {schema}, expected "
                                        f"{HISTORY_SCHEMA})")
                names = [_text(n) for n in f.attrs["layer_names"]]
                history = cls(names, [_text(a) for a in f.attrs["activations"]],
                              int(f.attrs.get("record_every", 1)), _text(f.attrs.get("status", "unknown")))
                for key, ds in f["epochs"].items():
                    history.epochs[key] = ds[()].tolist()
                history.steps = f["probes/step"][()].tolist()
                history.record_epochs = f["probes/epoch"][()].tolist()
                history.record_loss = f["probes/loss"][()].tolist()
                for name in LAYER_STATS:
                    if name in f["probes"]:
                        history.stats[name] = list(f["probes"][name][()])
                if "time_grad" in f["probes"]:
                    history.time_grad = list(f["probes/time_grad"][()])
                for key, ds in f["optimizer"].items():
                    history.optimizer[key] = ds[()].tolist()
                return history
        except RunStoreError:
            raise
        except (OSError, KeyError, ValueError, TypeError) as exc:
            raise RunStoreError(f"{path}: not a readable VG Studio history ({exc})") from None

    def to_csv(self) -> str:
        """Per-record probe table: step, epoch, loss, then stat[layer] columns."""
        header = ["step", "epoch", "loss"] + [f"{s}[{n}]" for s in LAYER_STATS for n in self.layer_names] + list(
            self.optimizer)
        lines = [",".join(header)]
        for r in range(self.num_records):
            row = [str(self.steps[r]), str(self.record_epochs[r]), repr(self.record_loss[r])]
            row += [repr(float(v)) for s in LAYER_STATS for v in self.stats[s][r]]
            row += [repr(self.optimizer[k][r]) for k in self.optimizer]
            lines.append(",".join(row))
        return "\n".join(lines) + "\n"


def _text(value) -> str:
    return value.decode("utf-8") if isinstance(value, bytes) else str(value)


class RunStore:
    """Writes one run directory."""

    def __init__(self, run_dir: str | os.PathLike):
        self.dir = Path(run_dir)
        try:
            self.dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise RunStoreError(f"{self.dir}: cannot create the run directory ({exc.strerror or exc})") from None
        if not os.access(self.dir, os.W_OK):
            raise RunStoreError(f"{self.dir}: the run directory is not writable")

    @property
    def spec_path(self) -> Path:
        return self.dir / "spec.json"

    @property
    def model_path(self) -> Path:
        return self.dir / "model.keras"

    @property
    def history_path(self) -> Path:
        return self.dir / "history.h5"

    @property
    def report_path(self) -> Path:
        return self.dir / "report.json"

    def write_spec(self, spec: ExperimentSpec) -> None:
        spec.save(self.spec_path)

    def write_history(self, history: History) -> None:
        history.write(self.history_path)

    def write_report(self, report: dict) -> None:
        atomic_write_text(self.report_path, json.dumps(report, indent=2, default=_jsonable) + "\n")


def _jsonable(value):
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if hasattr(value, "to_dict"):
        return value.to_dict()
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def load_run(run_dir: str | os.PathLike) -> tuple[ExperimentSpec, History, dict]:
    """Read a run directory written by `vg-studio train` or the GUI (no code from it is executed)."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise RunStoreError(f"{run_dir}: not a directory")
    spec = ExperimentSpec.load(run_dir / "spec.json")
    history = History.read(run_dir / "history.h5")
    report_path = run_dir / "report.json"
    report = {}
    if report_path.is_file():
        try:
            report = json.loads(report_path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise RunStoreError(f"{report_path}: not readable JSON ({exc})") from None
    return spec, history, report
