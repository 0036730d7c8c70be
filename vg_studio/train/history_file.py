"""history.h5 and history.log as one history: the HDF5 layout (written whole, atomically), the frames a running
run appends to the log, and strict reading of both — a file VG Studio did not write is refused with one line.

Layout (HISTORY_SCHEMA 2; schema 1 files of earlier versions read too) — see docs/file-formats.md:

    /                  attrs: schema, vg_studio_version, layer_names, activations, status, record_every,
                              log_id, log_bytes, and the history's own attrs (hist_edges, layer_kinds, …)
    /epochs/epoch      (E,) int32, 0-based;  /epochs/<metric> (E,) float64
    /probes/step       (R,) int64;  /probes/epoch (R,) int32;  /probes/loss (R,) float64
    /probes/<stat>     (R, L) float64 or (R, L, k) float32, one column per layer
    /probes/time_grad  (R, T) float64, recurrent networks only
    /metrics/<name>    (R,) float64, Keras's batch logs at each record
    /optimizer/<name>  (R,) float64
    /batches/step, /batches/epoch, /batches/loss   (B,) int64, int32, float64: every training batch's own loss
                       (absent in runs without them; readers that do not know the group skip it)
    /inference/probe_loss  (R,) float64: the loss on the probe batch in inference mode (vg_studio.train.probe_loss;
                       absent in runs without it)
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np

from vg_studio import __version__
from vg_studio.history import RESERVED_ATTRS, History, stat_dtype
from vg_studio.safeio import UnreadableFile, atomic_path, regular_file
from vg_studio.train import probe_loss
from vg_studio.train.history_log import LogError, LogReader, encode_payload
from vg_studio.train.rundir import RunStoreError
from vg_studio.train.step_loss import batch_arrays, batch_columns, frame_batches, read_batches

HISTORY_SCHEMA = 2
READABLE_SCHEMAS = (1, 2)
RECORD_COLUMNS = ("step", "epoch", "loss", "time_grad")  # fixed datasets under /probes: not statistic names
MAX_BINS = 4096  # histogram bins per layer (the probes record 28)
MAX_GROUP_MEMBERS = 10_000  # statistics, metrics or optimizer scalars: a history has tens
IN_MEMORY_IMAGE = 512 * 2**20  # histories up to this size are built in memory and written with plain file I/O


# ---- names: any text a user or Keras gives, as one HDF5 link name ---------------------------------------------
def encode_name(name: str) -> str:
    return name.replace("%", "%25").replace("/", "%2F") if name not in (".", "") else f"%2E{name}"


def decode_name(name: str) -> str:
    if name.startswith("%2E") and name[3:] in (".", ""):
        return name[3:]
    return name.replace("%2F", "/").replace("%25", "%")


# ---- what any history must be (h5 and log alike) ------------------------------------------------------------
STATUSES = ("running", "completed", "cancelled", "diverged", "failed", "unknown")
MAX_STEP = 2**62  # steps are stored as int64, epochs as int32: larger values could not be written back
MAX_EPOCH = 2**31 - 1
RUN_FACTS = ("epochs", "steps_per_epoch", "param_count", "sample_count", "num_classes")  # counts (RunStarted)


def layers_problem(names: list, activations: list, max_layers: int) -> str:
    """What is wrong with a history's layer columns ('' if nothing)."""
    if not 0 < len(names) <= max_layers:
        return f"{len(names):,} layers; between 1 and {max_layers:,} expected"
    if len(activations) != len(names):
        return f"{len(names)} layer names but {len(activations)} activations"
    if not all(names):
        return "a layer without a name"
    if len(set(names)) != len(names):
        twice = next(n for i, n in enumerate(names) if n in names[:i])
        return f"two layer columns are named {twice[:40]!r}"
    return ""


def attrs_problem(attrs: dict, layers: int) -> str:
    """What is wrong with the run facts and layer metadata a history carries ('' if nothing): the app and the
    rules read them (RunStarted, the network diagram, histogram axes)."""

    for key in RUN_FACTS:
        value = attrs.get(key)
        if value is not None and (isinstance(value, bool) or not isinstance(value, (int, np.integer))
                                  or not 0 <= value <= (MAX_EPOCH if key == "num_classes" else MAX_STEP)):
            return f"attribute {key!r} must be a count, got {str(value)[:40]!r}"
    if "device" in attrs and not isinstance(attrs["device"], str):
        return "attribute 'device' must be text"
    for key, kind in (("layer_kinds", str), ("layer_units", int)):
        value = attrs.get(key)
        if value is None:
            continue
        values = value.tolist() if isinstance(value, np.ndarray) else value
        if (not isinstance(values, list) or len(values) != layers
                or not all(isinstance(v, kind) and not isinstance(v, bool) for v in values)
                or (kind is int and min(values, default=0) < 0)):
            what = "names" if kind is str else "unit counts >= 0"
            return f"attribute {key!r} must be {layers} {what}, got {str(values)[:60]}"
    edges = attrs.get("hist_edges")
    if edges is not None:
        edges = np.asarray(edges)
        if (edges.dtype.kind not in "iuf" or edges.ndim != 1 or len(edges) < 2 or not np.isfinite(edges).all()
                or not (np.diff(edges) > 0).all()):
            return "attribute 'hist_edges' must be increasing finite bin edges"
    return ""


def histograms_problem(history: History) -> str:
    """Per-layer histograms must have one bin per pair of the run's bin edges (the plots' axis)."""
    edges = history.attrs.get("hist_edges")
    bins = {a.shape[2] for a in history.stats.values() if a.ndim == 3}
    if edges is not None and bins - {len(edges) - 1}:
        return f"histograms of {', '.join(map(str, sorted(bins)))} bins, but {len(edges)} bin edges"
    return ""


def order_problem(steps, record_epochs, epochs) -> str:
    """Records come in training order, epochs once each, all within what the files can store."""
    steps, record_epochs, epochs = (np.asarray(a, dtype=np.float64) for a in (steps, record_epochs, epochs))
    for name, values, high in (("probe step", steps, MAX_STEP), ("record epoch", record_epochs, MAX_EPOCH),
                               ("epoch", epochs, MAX_EPOCH)):
        if len(values) and not (0 <= values.min() and values.max() <= high):
            return f"a {name} of {values.min() if values.min() < 0 else values.max():.0f}"
    if (np.diff(steps) < 0).any() or (np.diff(record_epochs) < 0).any():
        return "probe records out of order (a step or an epoch goes backwards)"
    if (np.diff(epochs) <= 0).any():
        return "completed epochs out of order or repeated"
    return ""


# ---- attributes ----------------------------------------------------------------------------------------------
def attr_value(value):
    """A history attribute as stored: text, a list of texts, a number, or a numeric array."""
    if isinstance(value, (str, bool, int, float, np.generic)):
        return value.item() if isinstance(value, np.generic) else value
    if isinstance(value, (list, tuple)) and value and all(isinstance(v, str) for v in value):
        return [str(v) for v in value]
    array = np.asarray(value)
    if array.dtype.kind not in "biuf":
        raise TypeError(f"history attribute of type {type(value).__name__} (text, numbers or arrays only)")
    return array


# ---- writing history.h5 ------------------------------------------------------------------------------------
def write_h5(history: History, path: str | os.PathLike, log_id: bytes = b"", log_bytes: int = 0) -> None:
    """Write the whole history to `path` atomically. Below IN_MEMORY_IMAGE bytes HDF5 builds the file in memory
    and Python writes it, so a full disk is one clean OSError naming the file, never HDF5 failing mid-file."""
    import h5py

    path = Path(path)
    size = estimated_bytes(history)
    with atomic_path(path) as tmp:
        if size <= IN_MEMORY_IMAGE:
            with h5py.File(f"{path.name}.image", "w", driver="core", backing_store=False) as f:
                _fill(f, history, log_id, log_bytes)
                f.flush()
                image = f.id.get_file_image()
            with open(tmp, "wb") as fh:
                fh.write(image)
        else:
            free = shutil.disk_usage(path.parent).free
            if free < size + 64 * 2**20:
                raise OSError(28, f"No space left on device ({size / 2**20:,.0f} MiB needed, "
                                  f"{free / 2**20:,.0f} MiB free)", str(path))
            try:
                with h5py.File(tmp, "w") as f:
                    _fill(f, history, log_id, log_bytes)
            except OSError as exc:  # HDF5's messages run over several lines
                raise OSError(exc.errno or 5, str(exc).splitlines()[0], str(path)) from None


def estimated_bytes(history: History) -> int:
    n = history.num_records
    total = sum(a.nbytes for a in history.stats.values()) + n * 8 * (3 + len(history.optimizer)
                                                                     + len(history.record_metrics))
    total += sum(np.asarray(t).nbytes for t in history.time_grad) + 8 * history.num_epochs * len(history.epochs)
    total += 20 * len(history.batch_steps)  # each batch's step, epoch and loss
    return total + 64 * 1024 + 64 * len(history.layer_names)


def _fill(f, history: History, log_id: bytes, log_bytes: int) -> None:
    import h5py

    strings = h5py.string_dtype()
    f.attrs["schema"] = HISTORY_SCHEMA
    f.attrs["vg_studio_version"] = __version__
    f.attrs["layer_names"] = np.array(history.layer_names, dtype=strings)
    f.attrs["activations"] = np.array(history.activations, dtype=strings)
    f.attrs["status"] = history.status
    f.attrs["record_every"] = history.record_every
    f.attrs["log_id"] = log_id.hex()
    f.attrs["log_bytes"] = int(log_bytes)
    for key, value in history.attrs.items():
        if key in RESERVED_ATTRS:
            raise ValueError(f"history.attrs[{key!r}]: a reserved name")
        value = attr_value(value)
        f.attrs[key] = np.array(value, dtype=strings) if isinstance(value, list) else value
    epochs = f.create_group("epochs")
    for key, values in history.epochs.items():
        epochs.create_dataset(encode_name(key), data=np.asarray(values, dtype=np.int32 if key == "epoch" else
                                                                 np.float64))
    probes = f.create_group("probes")
    probes.create_dataset("step", data=np.asarray(history.steps, dtype=np.int64))
    probes.create_dataset("epoch", data=np.asarray(history.record_epochs, dtype=np.int32))
    probes.create_dataset("loss", data=np.asarray(history.record_loss, dtype=np.float64))
    for name, array in history.stats.items():
        probes.create_dataset(encode_name(name), data=array, chunks=True if array.size else None)
    if history.time_grad:
        probes.create_dataset("time_grad", data=np.vstack(history.time_grad))
    for group, columns in (("metrics", history.record_metrics), ("optimizer", history.optimizer)):
        g = f.create_group(group)
        for name, values in columns.items():
            g.create_dataset(encode_name(name), data=np.asarray(values, dtype=np.float64))
    if history.batch_steps:
        g = f.create_group("batches")
        for name, values, dtype in batch_columns(history):
            g.create_dataset(name, data=np.asarray(values, dtype=dtype))
    probe_loss.write_h5(f, history)


# ---- reading history.h5 strictly ---------------------------------------------------------------------------
def read_h5(path: str | os.PathLike, max_bytes: int, max_layers: int) -> tuple[History, bytes, int]:
    """(history, log_id, log_bytes). Anything that is not a VG Studio history raises RunStoreError naming the
    file: the structure, every dtype and shape and the declared sizes are checked before any array is read."""
    import h5py

    path = Path(path)
    try:
        regular_file(path, "history", max_bytes + 64 * 2**20, "history_bytes")  # + the file's own structure
    except UnreadableFile as exc:
        raise RunStoreError(str(exc)) from None
    try:
        with h5py.File(path, "r", locking=False) as f:
            return _Reader(f, path, max_bytes, max_layers).read()
    except RunStoreError:
        raise
    except (OSError, KeyError, ValueError, TypeError, RuntimeError, UnicodeDecodeError) as exc:
        text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise RunStoreError(f"{path}: not a readable VG Studio history ({text})") from None


class _Reader:
    def __init__(self, f, path: Path, max_bytes: int, max_layers: int):
        self.f, self.path, self.max_bytes, self.max_layers = f, path, max_bytes, max_layers
        self.declared = 0

    def fail(self, problem: str):
        raise RunStoreError(f"{self.path}: {problem}")

    # attributes
    def attr(self, name: str, required: bool = True):
        if name not in self.f.attrs:
            if required:
                self.fail(f"not a VG Studio history (no {name!r} attribute)")
            return None
        aid = self.f.attrs.get_id(name)
        count = int(np.prod(aid.shape)) if aid.shape else 1
        if count > max(self.max_layers, 4096):
            self.fail(f"attribute {name!r} holds {count:,} values")
        value = self.f.attrs[name]
        if isinstance(value, bytes):
            return value.decode("utf-8")
        dtype = np.asarray(value).dtype
        if dtype.kind not in "biufOSU" or dtype.names:
            self.fail(f"attribute {name!r} has an unusable type ({dtype})")
        if isinstance(value, np.ndarray) and dtype.kind in "OSU":
            if value.ndim != 1 or not all(isinstance(v, (bytes, str)) for v in value):
                self.fail(f"attribute {name!r} must be a list of texts")
            return [v.decode("utf-8") if isinstance(v, bytes) else v for v in value]
        if isinstance(value, np.generic):
            return value.item()
        return value

    def text_list(self, name: str) -> list:
        value = self.attr(name)
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list):
            self.fail(f"attribute {name!r} must be a list of names")
        return value

    def integer(self, name: str, default: int) -> int:
        value = self.attr(name, required=False)
        if value is None:
            return default
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
            self.fail(f"attribute {name!r} must be an integer, got {str(value)[:40]!r}")
        return int(value)

    # datasets
    def group(self, name: str, required: bool = True):
        import h5py

        link = self.f.get(name, getlink=True)
        if link is None:
            if required:
                self.fail(f"not a VG Studio history (no {name!r} group)")
            return None
        if not isinstance(link, h5py.HardLink):
            self.fail(f"{name!r} is a link to somewhere else")
        group = self.f[name]
        if not isinstance(group, h5py.Group):
            self.fail(f"{name!r} should be a group")
        return group

    def members(self, group) -> dict:
        import h5py

        if len(group) > MAX_GROUP_MEMBERS:
            self.fail(f"{group.name.strip('/')}/ holds {len(group):,} arrays; at most {MAX_GROUP_MEMBERS:,} are read")
        out = {}
        for key in group:
            where = f"{group.name.strip('/')}/{key}"
            if not isinstance(group.get(key, getlink=True), h5py.HardLink):
                self.fail(f"{where} is a link to somewhere else")
            ds = group[key]
            if not isinstance(ds, h5py.Dataset):
                self.fail(f"{where} should be an array")
            if ds.is_virtual or ds.external:
                self.fail(f"{where} stores its data in another file")
            if ds.dtype.kind not in "biuf" or ds.dtype.names:
                self.fail(f"{where} holds {_kind(ds.dtype)}, not numbers")
            if ds.ndim > 3:
                self.fail(f"{where} has {ds.ndim} dimensions")
            self.declared += int(np.prod(ds.shape, dtype=np.float64)) * ds.dtype.itemsize
            if self.declared > self.max_bytes:
                self.fail(f"arrays declare more than {self.max_bytes:,} bytes (shape {ds.shape} of {where}); "
                          "the limit is VG_STUDIO_LIMITS history_bytes")
            out[decode_name(key)] = ds
        return out

    def column(self, ds, where: str, length: int, integer: bool = False) -> list:
        if ds.shape != (length,):
            self.fail(f"{where} has shape {ds.shape}; expected ({length},)")
        if integer and ds.dtype.kind not in "iu":
            self.fail(f"{where} must hold integers, not {ds.dtype}")
        return ds[()].tolist()

    def read(self) -> tuple[History, bytes, int]:
        schema = self.integer("schema", -1)
        if schema not in READABLE_SCHEMAS:
            self.fail(f"not a VG Studio history (schema {schema}, this version reads "
                      f"{', '.join(map(str, READABLE_SCHEMAS))})")
        names, activations = self.text_list("layer_names"), self.text_list("activations")
        problem = layers_problem(names, activations, self.max_layers)
        if problem:
            self.fail(problem)
        record_every = self.integer("record_every", 1)
        if not 1 <= record_every <= MAX_EPOCH:
            self.fail(f"record_every is {record_every}")
        status = self.attr("status", required=False)
        if status is not None and status not in STATUSES:
            self.fail(f"attribute 'status' is {str(status)[:40]!r}, not one of {', '.join(STATUSES)}")
        history = History(names, activations, record_every, status or "unknown")
        if len(self.f.attrs) > MAX_GROUP_MEMBERS // 10:  # reading each costs more the more there are
            self.fail(f"{len(self.f.attrs):,} attributes; a history has tens")
        for key in self.f.attrs:
            if key not in RESERVED_ATTRS:
                history.attrs[key] = self.attr(key)
        problem = attrs_problem(history.attrs, len(names))
        if problem:
            self.fail(problem)
        log_id = self.attr("log_id", required=False) or ""
        try:
            log_bytes_id = bytes.fromhex(log_id)
        except (ValueError, TypeError):
            self.fail("attribute 'log_id' is not hexadecimal text")
        log_bytes = self.integer("log_bytes", 0)
        if log_bytes < 0:
            self.fail(f"attribute 'log_bytes' is {log_bytes}")

        epochs = self.members(self.group("epochs"))
        n_epochs = len(epochs["epoch"]) if "epoch" in epochs else 0
        if epochs and "epoch" not in epochs:
            self.fail("epochs/ has metrics but no epochs/epoch")
        for key, ds in epochs.items():
            history.epochs[key] = self.column(ds, f"epochs/{key}", n_epochs, integer=key == "epoch")
        probes = self.members(self.group("probes"))
        for key in ("step", "epoch", "loss"):
            if key not in probes:
                self.fail(f"not a VG Studio history (no probes/{key})")
        n = probes["step"].shape[0] if probes["step"].ndim == 1 else -1
        history.steps = self.column(probes["step"], "probes/step", n, integer=True)
        history.record_epochs = self.column(probes["epoch"], "probes/epoch", n, integer=True)
        history.record_loss = [float(v) for v in self.column(probes["loss"], "probes/loss", n)]
        problem = order_problem(history.steps, history.record_epochs, history.epochs.get("epoch", []))
        if problem:
            self.fail(problem)
        for key, ds in probes.items():
            if key in RECORD_COLUMNS:
                continue
            if ds.ndim not in (2, 3) or ds.shape[:2] != (n, len(names)) or (ds.ndim == 3 and not
                                                                             1 <= ds.shape[2] <= MAX_BINS):
                self.fail(f"probes/{key} has shape {ds.shape}; expected ({n}, {len(names)}) or "
                          f"({n}, {len(names)}, k) with k from 1 to {MAX_BINS}")
            history.set_stat(key, ds[()].astype(stat_dtype(ds.shape[1:]), copy=False))
        if "time_grad" in probes:
            ds = probes["time_grad"]
            if ds.ndim != 2 or ds.shape[0] not in (0, n):
                self.fail(f"probes/time_grad has shape {ds.shape}; expected ({n}, time steps)")
            history.time_grad = list(ds[()].astype(np.float64))
        for group, target in (("metrics", history.record_metrics), ("optimizer", history.optimizer)):
            g = self.group(group, required=False)
            for key, ds in (self.members(g) if g is not None else {}).items():
                target[key] = [float(v) for v in self.column(ds, f"{group}/{key}", n)]
        read_batches(self, history)
        probe_loss.read_h5(self, history)
        problem = histograms_problem(history)
        if problem:
            self.fail(problem)
        return history, log_bytes_id, log_bytes


def _kind(dtype) -> str:
    if dtype.kind in "OSU":
        return "text"
    if dtype.names:
        return "records"
    return f"{dtype}"


# ---- the log: frame payloads from a History and back -------------------------------------------------------------------
def start_payload(history: History) -> bytes:
    return encode_payload({"t": "start", "schema": HISTORY_SCHEMA, "layer_names": history.layer_names,
                         "activations": history.activations, "record_every": history.record_every})


def attrs_payload(attrs: dict) -> bytes:
    texts, arrays = {}, {}
    for key, value in attrs.items():
        if key in RESERVED_ATTRS:
            raise ValueError(f"history.attrs[{key!r}]: a reserved name")
        value = attr_value(value)
        if isinstance(value, (str, list)):
            texts[key] = value
        else:
            arrays[key] = value
    return encode_payload({"t": "attrs", "texts": texts}, arrays)


def record_payload(history: History, r: int, batches: tuple[int, int] | None = None) -> bytes:
    arrays = {f"s/{name}": column[r] for name, column in history.stats.items()}
    arrays.update(batch_arrays(history, batches), **probe_loss.frame_arrays(history, r))
    if len(history.time_grad) > r:
        arrays["time_grad"] = history.time_grad[r]
    opt, metrics = list(history.optimizer), list(history.record_metrics)
    arrays["scalars"] = np.array([history.record_loss[r], *(history.optimizer[k][r] for k in opt),
                                  *(history.record_metrics[k][r] for k in metrics)], dtype=np.float64)
    return encode_payload({"t": "record", "step": history.steps[r], "epoch": history.record_epochs[r],
                         "optimizer": opt, "metrics": metrics}, arrays)


def epoch_payload(history: History, i: int, batches: tuple[int, int] | None = None) -> bytes:
    keys = [k for k in history.epochs if k != "epoch"]
    return encode_payload({"t": "epoch", "epoch": history.epochs["epoch"][i], "keys": keys},
                        {"values": np.array([history.epochs[k][i] for k in keys], dtype=np.float64),
                         **batch_arrays(history, batches)})


class LogReplay:
    """Applies log frames to a History; each applied frame is also returned as what it was (for followers)."""

    def __init__(self, history: History | None, where: str):
        self.history, self.where = history, where

    def fail(self, problem: str):
        raise RunStoreError(f"{self.where}: {problem}")

    def apply(self, meta: dict, arrays: dict):
        """Returns ("start"|"attrs"|"record"|"epoch", index) — index of the record or epoch added."""
        kind = meta.get("t")
        try:
            if kind == "start":
                from vg_studio.limits import LIMITS

                names, activations = _texts(meta, "layer_names"), _texts(meta, "activations")
                problem = layers_problem(names, activations, LIMITS.history_layers)
                if problem:
                    self.fail(problem)
                record_every = _int(meta, "record_every", 1, MAX_EPOCH)  # checked even where history.h5 has it
                if self.history is None:
                    self.history = History(names, activations, record_every)
                elif names != self.history.layer_names:
                    self.fail("its layers differ from those in history.h5")
                return "start", 0
            if self.history is None:
                self.fail("the log does not begin with its start frame")
            if kind == "attrs":
                texts = meta.get("texts", {})
                if not isinstance(texts, dict):
                    self.fail("attributes frame without texts")
                for key, value in {**texts, **arrays}.items():
                    if key in RESERVED_ATTRS:
                        continue
                    if not isinstance(value, (str, np.ndarray)) and not (
                            isinstance(value, list) and all(isinstance(v, str) for v in value)):
                        self.fail(f"attribute {key[:40]!r} is neither text nor numbers")
                    scalar = isinstance(value, np.ndarray) and (value.ndim == 0 or (  # earlier logs wrote
                        key in RUN_FACTS and value.shape == (1,)))  # scalars as 1-element arrays
                    self.history.attrs[key] = (value.item() if scalar else np.array(value)
                                               if isinstance(value, np.ndarray) else value)
                problem = attrs_problem(self.history.attrs, len(self.history.layer_names))
                if problem:
                    self.fail(problem)
                return "attrs", 0
            if kind == "record":
                opt, metrics = _texts(meta, "optimizer", empty=True), _texts(meta, "metrics", empty=True)
                scalars = arrays.get("scalars")
                if scalars is None or scalars.shape != (1 + len(opt) + len(metrics),):
                    self.fail("record frame with the wrong number of scalars")
                stats = {k[2:]: v for k, v in arrays.items() if k.startswith("s/")}
                h = self.history
                step, epoch = _int(meta, "step", 0, MAX_STEP), _int(meta, "epoch", 0, MAX_EPOCH)
                if h.num_records and (step < h.steps[-1] or epoch < h.record_epochs[-1]):
                    self.fail(f"record of step {step} (epoch {epoch}) after step {h.steps[-1]} (epoch "
                              f"{h.record_epochs[-1]}): out of order")
                if any(a.ndim == 3 and not 1 <= a.shape[2] <= MAX_BINS for a in stats.values()):
                    self.fail(f"a statistic with more than {MAX_BINS} bins per layer")
                if len(set(opt) | set(metrics)) != len(opt) + len(metrics):
                    self.fail("a record names a scalar twice")
                frame_batches(self.history, arrays, self.fail)
                self.history.add_record(step, epoch, float(scalars[0]), stats,
                                        dict(zip(opt, scalars[1:1 + len(opt)].tolist())),
                                        arrays.get("time_grad"),
                                        dict(zip(metrics, scalars[1 + len(opt):].tolist())),
                                        probe_loss.from_frame(arrays))
                return "record", self.history.num_records - 1
            if kind == "epoch":
                keys, values = _texts(meta, "keys", empty=True), arrays.get("values")
                if values is None or values.shape != (len(keys),):
                    self.fail("epoch frame with the wrong number of values")
                epoch, done = _int(meta, "epoch", 0, MAX_EPOCH), self.history.epochs.get("epoch", [])
                if done and epoch <= done[-1]:
                    self.fail(f"epoch {epoch} completed after epoch {done[-1]}")
                if len(set(keys)) != len(keys) or "epoch" in keys:
                    self.fail("an epoch frame names a metric twice")
                frame_batches(self.history, arrays, self.fail)
                self.history.add_epoch(epoch, dict(zip(keys, values.tolist())))
                return "epoch", self.history.num_epochs - 1
        except (TypeError, ValueError) as exc:
            if isinstance(exc, RunStoreError):
                raise
            self.fail(str(exc).splitlines()[0])
        self.fail(f"unknown frame type {str(kind)[:20]!r}")


def _texts(meta: dict, key: str, empty: bool = False) -> list:
    value = meta.get(key)
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value) or (not value and not empty):
        raise ValueError(f"{key}: a list of names expected")
    return value


def _int(meta: dict, key: str, low: int = -2**63, high: int = 2**63 - 1) -> int:
    value = meta.get(key)
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"{key}: an integer expected")
    if not low <= value <= high:
        raise ValueError(f"{key}: {value} is not between {low} and {high}")
    return value


def load_history(h5_path: str | os.PathLike) -> History:
    """history.h5 (and the history.log beside it, if the run was interrupted or is still running), strictly and
    within the limits: anything else raises RunStoreError with one line naming the file."""
    from vg_studio.limits import LIMITS

    return read_history(h5_path, LIMITS.history_bytes, LIMITS.history_layers)[0]


def read_history(h5_path: str | os.PathLike, max_bytes: int, max_layers: int) -> tuple[History, list]:
    """The history in `h5_path` and the log beside it (history.log: records appended after the h5 was written).
    Returns (history, notes) — notes say what a reader should know (e.g. an interrupted last write)."""
    h5_path = Path(h5_path)
    log_path = h5_path.with_suffix(".log")
    notes = []
    reader = None
    try:
        reader = LogReader(log_path, max_bytes)  # opened first: if the writer folds it in now, we still hold it
    except FileNotFoundError:
        pass
    except (LogError, OSError) as exc:
        raise RunStoreError(str(exc) if isinstance(exc, LogError) else
                               f"{log_path}: cannot read ({exc.strerror or exc})") from None
    try:
        history, log_id, log_bytes = None, b"", 0
        if os.path.lexists(h5_path) or reader is None:
            history, log_id, log_bytes = read_h5(h5_path, max_bytes, max_layers)
        if reader is not None:
            try:
                if not reader.header():
                    return _required(history, log_path), notes
                if history is not None and reader.log_id != log_id:
                    raise RunStoreError(f"{log_path}: belongs to another run than {h5_path.name}")
                reader.skip_to(log_bytes)
                replay = LogReplay(history, str(log_path))
                for meta, arrays in reader.frames():
                    replay.apply(meta, arrays)
                history = replay.history
                notes.extend(reader.notes())
            except LogError as exc:
                raise RunStoreError(str(exc)) from None
            except OSError as exc:
                raise RunStoreError(f"{log_path}: cannot read ({exc.strerror or exc})") from None
        return _required(history, log_path), notes
    finally:
        if reader is not None:
            reader.close()


def _required(history: History | None, log_path: Path) -> History:
    if history is None:
        raise RunStoreError(f"{log_path}: no records yet (the run has not written its first frame)")
    if len(history.layer_names) == 0:
        raise RunStoreError(f"{log_path}: a history without layers")
    problem = histograms_problem(history)
    if problem:
        raise RunStoreError(f"{log_path}: {problem}")
    return history
