"""The checks of GradientMonitor's own arguments: at construction (`check_init_arguments`) and, once the model is
known, at `on_train_begin` (`check_probe_data`).

Each problem is a ValueError (a value out of range, data that does not fit the model) or a TypeError (a value of
the wrong kind) whose message is one line naming the argument: `GradientMonitor: record_every: must be an integer
between 1 and 2,147,483,647, got 1,000,000,000,000`. The ranges are those the run directory's readers accept
(`vg_studio.train.history_file`, `vg_studio.train.run_files`), so whatever the monitor writes can be read back.

    values = check_init_arguments(run_dir=run_dir, record_every=record_every, probe_data=probe_data, ...)
    ...
    probe = check_probe_data(model, values["probe_data"])      # at on_train_begin, before the model is touched
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable, Iterator, Mapping

import numpy as np

from vg_studio.text import inert, one_line

WHO = "GradientMonitor"
MAX_COUNT = 2**31 - 1  # record_every and sync_every: what history.h5, model.json and report.json accept
MAX_PROBE_BATCH = 65_536  # rows of the probe batch run through the model at each unit measurement
FLAGS = ("diagnose", "overwrite", "stop_on_nan", "save_model", "preflight")
WARNINGS = ("warnings", "logging")  # where live findings are said, besides a logging.Logger or a text stream


def _fail(kind: type, argument: str, problem: str):
    raise kind(f"{WHO}: {argument}: {problem}")


def _shown(value, limit: int = 60) -> str:
    text = inert(repr(value) if isinstance(value, str) else value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def check_count(argument: str, value, low: int = 1, high: int = MAX_COUNT) -> int:
    """`value` as an int in [low, high]: a Python or NumPy integer (not a bool, a float or a text)."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
        _fail(TypeError, argument, f"must be an integer between {low:,} and {high:,}, got "
                                   f"{type(value).__name__} {_shown(value)}")
    value = int(value)
    if not low <= value <= high:
        digits = len(str(abs(value)))
        shown = f"{value:,}" if digits <= 24 else f"an integer of {digits:,} digits"
        _fail(ValueError, argument, f"must be an integer between {low:,} and {high:,}, got {shown}")
    return value


def check_init_arguments(**kwargs) -> dict:
    """The monitor's keyword arguments, checked and normalised (the same keys; arguments it does not know are
    passed through unchanged). Raises ValueError / TypeError with one line naming the argument."""
    values = dict(kwargs)
    if "run_dir" in values:
        values["run_dir"] = check_run_dir(values["run_dir"])
    if values.get("tensorboard_dir") is not None:
        values["tensorboard_dir"] = check_run_dir(values["tensorboard_dir"], "tensorboard_dir")
    if "warnings" in values:
        values["warnings"] = check_warnings(values["warnings"])
    if values.get("on_finding") is not None:
        values["on_finding"] = check_on_finding(values["on_finding"])
    if "record_every" in values:
        values["record_every"] = check_count("record_every", values["record_every"])
    if values.get("sync_every") is not None:
        values["sync_every"] = check_count("sync_every", values["sync_every"])
    if "probe_batch_size" in values:
        values["probe_batch_size"] = check_count("probe_batch_size", values["probe_batch_size"], 1, MAX_PROBE_BATCH)
    rows = values.get("probe_batch_size", 128)
    if values.get("probe_data") is not None:
        inputs, targets = dataset_batch(values["probe_data"])
        if values.get("probe_targets") is None and targets is not None:
            values["probe_targets"] = targets  # a dataset's first batch: its targets come with its inputs
        values["probe_data"] = _arrays("probe_data", inputs, rows)  # already unpacked
    if values.get("probe_targets") is not None:
        values["probe_targets"] = check_probe_targets(values["probe_targets"], values.get("probe_data"), rows)
    if "listeners" in values:
        values["listeners"] = check_listeners(values["listeners"])
    if values.get("name") is not None:
        values["name"] = check_text("name", values["name"])
    if values.get("cancel") is not None and not callable(getattr(values["cancel"], "is_set", None)):
        _fail(TypeError, "cancel", f"must be a threading.Event (or have is_set()), got {type(values['cancel']).__name__}")
    for flag in FLAGS:
        if flag in values and not isinstance(values[flag], (bool, np.bool_)):
            _fail(TypeError, flag, f"must be True or False, got {type(values[flag]).__name__} {_shown(values[flag])}")
        if flag in values:
            values[flag] = bool(values[flag])
    return values


def check_run_dir(value, argument: str = "run_dir"):
    """None (record without writing), or a folder path: text or os.PathLike, not empty, no NUL."""
    if value is None:
        return None
    if isinstance(value, bytes) or not isinstance(value, (str, os.PathLike)):
        _fail(TypeError, argument, f"must be a folder path (text or pathlib.Path) or None, got "
                                   f"{type(value).__name__}")
    text = os.fspath(value)
    if not isinstance(text, str) or not text.strip():
        _fail(ValueError, argument, "is an empty path; give a folder name")
    if "\0" in text:
        _fail(ValueError, argument, f"holds a NUL character: {_shown(text)}")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        _fail(ValueError, argument, f"is not valid text (a lone surrogate): {_shown(text)}")
    return value


def check_warnings(value):
    """Where live findings are said: "warnings" (or True), "logging", a logging.Logger, a text stream (with
    write()); None or False: nowhere. Returns None for quiet, else the target."""
    if value is None or value is False or (isinstance(value, np.bool_) and not value):
        return None
    if value is True or (isinstance(value, np.bool_) and value):
        return "warnings"
    if isinstance(value, str):
        if value not in WARNINGS:
            _fail(ValueError, "warnings", f"must be 'warnings', 'logging', a logging.Logger, a text stream or "
                                          f"None (quiet), got {_shown(value)}")
        return value
    if isinstance(value, logging.Logger) or callable(getattr(value, "write", None)):
        return value
    _fail(TypeError, "warnings", f"must be 'warnings', 'logging', a logging.Logger, a text stream or None "
                                 f"(quiet), got {type(value).__name__}")


def check_on_finding(value):
    """None, "stop" (end training at the first warning-or-worse finding) or a callable taking each new one."""
    if value is None or value == "stop" or (callable(value) and not isinstance(value, (str, bytes))):
        return value
    _fail(ValueError if isinstance(value, str) else TypeError, "on_finding",
          f"must be None, 'stop' or a callable taking each new finding, got "
          f"{_shown(value) if isinstance(value, str) else type(value).__name__}")


def check_text(argument: str, value) -> str:
    """Text report.json can hold: a str, UTF-8 encodable (no lone surrogate), at most 1,000 characters."""
    if not isinstance(value, str):
        _fail(TypeError, argument, f"must be text, got {type(value).__name__}")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        _fail(ValueError, argument, f"is not valid text (a lone surrogate): {_shown(value)}")
    if len(value) > 1000:
        _fail(ValueError, argument, f"is {len(value):,} characters long; at most 1,000")
    return value


def check_listeners(value) -> list:
    if callable(value) or isinstance(value, (str, bytes, Mapping)) or not isinstance(value, Iterable):
        _fail(TypeError, "listeners", f"must be a list of callables, got {type(value).__name__}")
    listeners = list(value)
    for i, listener in enumerate(listeners):
        if not callable(listener):
            _fail(TypeError, f"listeners[{i}]", f"must be callable (a function taking one event), got "
                                                f"{type(listener).__name__}")
    return listeners


# ---- probe data --------------------------------------------------------------------------------------------
def check_probe_rows(data, rows: int = 128):
    """`data` (an array, a dict of arrays by input name, or a list of arrays) as NumPy arrays of numbers, the same
    number of examples in each (at least one), finite, cut to its first `rows` examples. A dataset gives the
    inputs of its first batch."""
    return _arrays("probe_data", dataset_batch(data)[0], rows)


def check_probe_targets(targets, data, rows: int = 128):
    """The probe rows' targets (an array, or a list / dict of arrays by output name for several outputs), checked as
    the inputs are and cut to the same rows: the diagnosis measures the loss of guessing on them (the label prior's
    entropy, the targets' variance). They need `probe_data`, and as many examples as it has (or more)."""
    if data is None:
        _fail(ValueError, "probe_targets", "needs probe_data (the inputs the targets belong to)")
    targets = _arrays("probe_targets", targets, rows)
    have = _examples(targets)
    wanted = _examples(data)
    if have < wanted:
        _fail(ValueError, "probe_targets", f"gives {have} examples but probe_data gives {wanted}; give the targets of "
                                           "the same examples")
    return targets


def _arrays(argument: str, data, rows: int):
    if isinstance(data, Mapping):
        if not data:
            _fail(ValueError, argument, "is an empty dict; give at least one array of examples")
        for key in data:
            if not isinstance(key, str):
                _fail(TypeError, argument, f"its keys must be names (text), got {type(key).__name__}")
        arrays = {key: _numbers(f"{argument}[{_shown(key, 40)!s}]", value, rows) for key, value in data.items()}
    elif isinstance(data, (list, tuple)) and data and not _is_scalar_rows(data):
        arrays = [_numbers(f"{argument}[{i}]", value, rows) for i, value in enumerate(data)]
    else:
        return _numbers(argument, data, rows)
    counts = {len(a) for a in (arrays.values() if isinstance(arrays, dict) else arrays)}
    if len(counts) > 1:
        _fail(ValueError, argument, "gives its arrays different numbers of examples "
                                    f"({', '.join(map(str, sorted(counts)))})")
    return arrays if isinstance(arrays, dict) else type(data)(arrays)


def _examples(arrays) -> int:
    values = list(arrays.values()) if isinstance(arrays, dict) else arrays if isinstance(arrays, (list, tuple)) \
        else [arrays]
    return min(len(a) for a in values)


def dataset_batch(data):
    """(inputs, targets) of a tf.data.Dataset's or keras.utils.PyDataset's first batch given as probe_data, unpacked
    as `fit` unpacks a batch ((x,), (x, y) or (x, y, sample_weight)); anything else is (data, None). A generator is
    refused: reading it would take a batch from training."""
    if hasattr(data, "element_spec") and callable(getattr(data, "take", None)):  # tf.data
        batch = next(iter(data.take(1)), None)
    elif any(cls.__name__ == "PyDataset" for cls in type(data).__mro__):
        batch = data[0] if len(data) else None
    elif isinstance(data, Iterator):
        _fail(TypeError, "probe_data", "is an iterator or generator (reading it would take a batch from training); "
                                       "give a few input examples, e.g. x[:128]")
    else:
        return data, None
    if batch is None:
        _fail(ValueError, "probe_data", "is an empty dataset")
    unpacked = isinstance(batch, tuple) and 1 <= len(batch) <= 3
    inputs = batch[0] if unpacked else batch
    targets = batch[1] if unpacked and len(batch) >= 2 else None
    return _as_numpy(inputs), (None if targets is None else _as_numpy(targets))


def _as_numpy(value):
    if isinstance(value, Mapping):
        return {key: np.asarray(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [np.asarray(item) for item in value]
    return np.asarray(value)


def _is_scalar_rows(data) -> bool:
    """A list of numbers (or of lists of numbers): one array written as nested lists, not several inputs."""
    first = data[0]
    return isinstance(first, (int, float, np.number)) or (isinstance(first, (list, tuple)) and bool(first) and
                                                          isinstance(first[0], (int, float, np.number)))


def _numbers(argument: str, value, rows: int) -> np.ndarray:
    if isinstance(value, (str, bytes)):
        _fail(TypeError, argument, "must be examples (an array of numbers), got text")
    try:
        array = np.asarray(value)
    except (ValueError, TypeError) as exc:  # ragged nested lists
        _fail(ValueError, argument, f"is not an array of numbers ({inert(str(exc).splitlines()[0])[:80]})")
    if array.dtype.kind not in "biuf":
        what = {"U": "text", "S": "bytes", "O": "Python objects (ragged lists?)", "c": "complex numbers",
                "M": "dates", "m": "time spans", "V": "records"}.get(array.dtype.kind, str(array.dtype))
        _fail(TypeError, argument, f"must hold numbers, got {what}")
    if array.ndim == 0:
        _fail(ValueError, argument, "is a single number; give examples (an array with one row per example)")
    if len(array) == 0:
        _fail(ValueError, argument, f"holds no examples (shape {array.shape})")
    array = array[:rows]
    if array.dtype.kind == "f" and not np.isfinite(array).all():
        _fail(ValueError, argument, "holds NaN or infinite values")
    return np.ascontiguousarray(array)


def check_probe_data(model, data):
    """`data` (as check_probe_rows gave it, or None) for `model`, whose inputs are known by now: one array per
    input, in the input's shape. Returns what the model is called with (an array, a list or a dict by input
    name); raises ValueError / TypeError naming `probe_data`. A model without a static input signature (a
    subclassed model) is called once on two examples instead, once built (a model built by its first batch is
    left to it)."""
    if data is None:
        return None
    inputs = list(getattr(model, "inputs", None) or [])
    if not inputs:  # a model built by its first batch is not called here: that would build it before fit does
        return _try_call(model, data) if model.built else data
    names = [getattr(getattr(t, "_keras_history", None), "operation", None) for t in inputs]
    names = [getattr(op, "name", None) or getattr(t, "name", f"input_{i}") for i, (op, t) in
             enumerate(zip(names, inputs))]
    if isinstance(data, dict):
        if len(inputs) == 1 and len(data) == 1 and names[0] not in data:
            _fail(ValueError, "probe_data", f"has the key {_shown(next(iter(data)))} but the model's input is "
                                            f"named {_shown(names[0])}")
        unknown = [k for k in data if k not in names]
        missing = [n for n in names if n not in data]
        if unknown or missing:
            parts = ([f"unknown key(s) {', '.join(_shown(k, 30) for k in unknown[:5])}"] if unknown else []) + \
                    ([f"no examples for {', '.join(_shown(n, 30) for n in missing[:5])}"] if missing else [])
            _fail(ValueError, "probe_data", f"{'; '.join(parts)} (the model's inputs: "
                                            f"{', '.join(_shown(n, 30) for n in names[:8])})")
        arrays = [data[n] for n in names]
    elif isinstance(data, (list, tuple)):
        if len(data) != len(inputs):
            hint = " (the inputs alone, not (x, y))" if len(data) in (2, 3) and len(inputs) == 1 else ""
            _fail(ValueError, "probe_data", f"gives {len(data)} array{'s' * (len(data) != 1)} but the model takes "
                                            f"{len(inputs)} input{'s' * (len(inputs) != 1)}{hint}")
        arrays = list(data)
    else:
        if len(inputs) != 1:
            _fail(ValueError, "probe_data", f"is one array but the model takes {len(inputs)} inputs (give a list "
                                            "or a dict by input name)")
        arrays = [data]
    for i, (array, tensor) in enumerate(zip(arrays, inputs)):
        where = "probe_data" if len(inputs) == 1 else f"probe_data for input {_shown(names[i], 40)}"
        wanted = tuple(tensor.shape[1:])
        have = tuple(array.shape[1:])
        if len(wanted) != len(have) or any(w is not None and w != h for w, h in zip(wanted, have)):
            if None not in wanted and int(np.prod(wanted)) == int(np.prod(have)):
                arrays[i] = array.reshape((len(array), *wanted))  # 784 vs 28x28x1: only the layout differs
                continue
            _fail(ValueError, where, f"has examples of shape {_shape(have)} but the model's input takes "
                                     f"{_shape(wanted)}")
    if isinstance(data, dict):
        return dict(zip(names, arrays))
    return arrays[0] if len(inputs) == 1 else type(data)(arrays)  # [x] for one input: the model is called with x


def _try_call(model, data):
    try:
        model(_head(data, 2), training=False)
    except Exception as exc:  # noqa: BLE001 - whatever the model says, it cannot take this data
        message = one_line(exc)
        if len(message) > 200:
            message = message[:200].rsplit(" ", 1)[0] + " …"
        _fail(ValueError, "probe_data", f"cannot be given to the model ({type(exc).__name__}: {message})")
    return data


def _head(data, n: int):
    if isinstance(data, dict):
        return {k: v[:n] for k, v in data.items()}
    if isinstance(data, (list, tuple)):
        return type(data)(v[:n] for v in data)
    return data[:n]


def _shape(shape) -> str:
    return "(" + ", ".join("any" if d is None else str(d) for d in shape) + ")"
