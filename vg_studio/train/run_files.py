"""The run directory's JSON files — report.json, model.json, spec.json — each with its one reader and writer.

A reader is strict: a file VG Studio did not write is one RunStoreError line naming the file and the field; every
field VG Studio reads has a type and a range (REPORT_SCHEMA, MODEL_SCHEMA); other keys (what a listener adds to
the report) are kept as they are. Sizes, nesting and integer lengths are bounded by vg_studio.limits before
anything is parsed. Every file is written atomically (a temporary file beside it, renamed over it).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from vg_studio import catalog
from vg_studio.safeio import (
    UnreadableFile,
    atomic_write_text,
    read_json_file,
    strict_json,
)
from vg_studio.train import rundir
from vg_studio.train.rundir import RunStoreError

FINISHED = ("completed", "cancelled", "diverged", "failed")
SUMMARY_FORMAT, SUMMARY_VERSION = rundir.SUMMARY_FORMAT, 1  # what train/summary.py writes


# ---- writing -----------------------------------------------------------------------------------------------
def write_json(path: Path, value: dict) -> None:
    """`value` as strict JSON (NaN and infinities as null), written atomically."""
    text = json.dumps(strict_json(_plain(value)), indent=2, allow_nan=False, ensure_ascii=False)
    atomic_write_text(path, text + "\n")


def _plain(value):
    """numpy values and objects with to_dict() as plain JSON data."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if hasattr(value, "to_dict"):
        return _plain(value.to_dict())
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


# ---- reading -----------------------------------------------------------------------------------------------
def read_spec(path: Path):
    """spec.json, read by the spec's own reader (ExperimentSpec.load: its size limit, strict JSON, the schema)."""
    from vg_studio.spec import ExperimentSpec, SpecError

    try:
        return ExperimentSpec.load(path)
    except SpecError as exc:
        text = str(exc).splitlines()[0] if str(exc) else "not a valid spec"
        raise RunStoreError(text if str(path) in text else f"{path}: {text}") from None
    except Exception as exc:  # noqa: BLE001 - a file we did not write must never become a traceback
        raise RunStoreError(f"{path}: not a valid spec ({type(exc).__name__})") from None


def read_model_summary(path: Path) -> dict:
    """model.json (a user's own model's run): its layer table, optimizer, loss and Keras config, checked."""
    data = _json_object(path, "model summary")
    if data.get("format", SUMMARY_FORMAT) != SUMMARY_FORMAT:
        raise RunStoreError(f"{path}: not a VG Studio model summary (format {str(data['format'])[:40]!r})")
    _check_fields(path, data, MODEL_SCHEMA, "")
    if data.get("version", 1) > SUMMARY_VERSION:
        raise RunStoreError(f"{path}: version {data['version']} is newer than this VG Studio understands "
                            f"({SUMMARY_VERSION}); upgrade VG Studio")
    for i, layer in enumerate(data.get("layers", [])):
        if not isinstance(layer, dict):
            raise RunStoreError(f"{path}: layers[{i}]: must be an object, got {_json_kind(layer)}")
        _check_fields(path, layer, LAYER_SCHEMA, f"layers[{i}].")
    if isinstance(data.get("optimizer"), dict):
        _check_fields(path, data["optimizer"], {"class_name": str, "config": dict}, "optimizer.")
    _check_fields(path, data.get("dataset", {}), DATASET_SCHEMA, "dataset.")
    return data


def _json_object(path: Path, what: str, nan_as_none: bool = False) -> dict:
    try:
        data = read_json_file(path, what=what, nan_as_none=nan_as_none)
    except UnreadableFile as exc:
        raise RunStoreError(str(exc)) from None
    if not isinstance(data, dict):
        raise RunStoreError(f"{path}: must be a JSON object, got {_json_kind(data)}")
    return data


def _json_kind(value) -> str:
    return {dict: "an object", list: "a list", str: "a string", bool: "true/false",
            type(None): "null"}.get(type(value), "a number")



# The fields VG Studio reads from report.json and model.json, each with what it must be: a type (a tuple: one of
# them; None in it: may be null), or a Field with a range. Other keys (a listener's report items) are kept as they
# are. A file that breaks one is refused: the app and `diagnose` would otherwise show nonsense or fail later.
@dataclass(frozen=True)
class Field:
    kind: type | tuple
    low: float | None = None
    high: float | str | None = None  # a number, or the name of a limit in vg_studio.limits
    items: object = None  # for a list: what each item must be (a type or a Field)
    choices: tuple = ()


_NUMBER = (int, float)
_COUNT = Field(int, 0, 2**63 - 1)
_TEXTS = Field(list, items=str)
_FRACTION = Field((int, float, type(None)), 0, 1)
FINISHED_OR_RUNNING = (*FINISHED, "running")
REPORT_SCHEMA = {
    "status": Field(str, choices=FINISHED_OR_RUNNING), "message": str, "name": str, "device": str,
    "wall_time_s": Field((int, float, type(None)), 0), "epochs_completed": _COUNT, "steps": _COUNT,
    "param_count": _COUNT, "record_every": Field(int, 1, 2**31 - 1), "num_classes": Field(int, 0, 2**31 - 1),
    "versions": dict, "dataset": dict, "test_metrics": dict, "findings": Field(list, items=dict), "notes": _TEXTS,
}
DATASET_SCHEMA = {"name": str, "train": _COUNT, "val": _COUNT, "test": _COUNT,
                  "input_shape": Field(list, items=Field(int, 0, 2**31 - 1)), "classes": _TEXTS}
TEST_METRICS_SCHEMA = {"accuracy": _FRACTION, "recall_macro": _FRACTION, "f1_macro": _FRACTION,
                       "misclassification_rate": _FRACTION, "images_per_second": Field((int, float, type(None)), 0),
                       "test_examples": _COUNT, "confusion_matrix": Field(list, items=Field(list, items=_COUNT))}
TEST_METRICS = tuple(TEST_METRICS_SCHEMA)
FINDING_SCHEMA = {"kind": Field(str, choices=catalog.FINDING_KINDS),
                  "severity": Field(str, choices=catalog.FINDING_SEVERITIES), "step": _COUNT,
                  "epoch": Field(int, 0, 2**31 - 1), "layers": _TEXTS, "labels": _TEXTS, "details": _TEXTS,
                  "advice": _TEXTS, "evidence": dict, "message": str,
                  "fixes": Field(list, items=(str, dict))}
MODEL_SCHEMA = {"format": str, "version": Field(int, 1, None), "name": str, "class_name": str,
                "param_count": Field((int, type(None)), 0, None), "trainable_param_count": Field((int, type(None)), 0),
                "layers": Field(list, items=dict), "optimizer": (dict, type(None)), "config": (dict, type(None)),
                "record_every": Field(int, 1, 2**31 - 1), "num_classes": Field(int, 0, 2**31 - 1),
                "input_shape": Field(list, items=Field((int, type(None)), 0, 2**31 - 1)), "dataset": dict}
LAYER_SCHEMA = {"name": str, "kind": str, "units": Field((int, type(None)), 0, 2**31 - 1),
                "activation": (str, type(None)), "keras_layers": _TEXTS, "params": Field((int, type(None)), 0)}


def read_report(path: Path) -> dict:
    report = _json_object(path, "report", nan_as_none=True)
    if "status" not in report:
        raise RunStoreError(f"{path}: no 'status' (not a VG Studio report)")
    _check_fields(path, report, REPORT_SCHEMA, "")
    _check_fields(path, report.get("dataset", {}), DATASET_SCHEMA, "dataset.")
    metrics = report.get("test_metrics", {})
    _check_fields(path, metrics, TEST_METRICS_SCHEMA, "test_metrics.")
    matrix = metrics.get("confusion_matrix")
    if matrix is not None and any(len(row) != len(matrix) for row in matrix):
        raise RunStoreError(f"{path}: test_metrics.confusion_matrix: must be square (one row and column per class)")
    for i, finding in enumerate(report.get("findings", [])):
        for key in ("kind", "severity"):
            if key not in finding:
                raise RunStoreError(f"{path}: findings[{i}]: no {key!r}")
        _check_fields(path, finding, FINDING_SCHEMA, f"findings[{i}].")
        for j, fix in enumerate(finding.get("fixes", [])):
            if isinstance(fix, dict) and not isinstance(fix.get("id"), str):
                raise RunStoreError(f"{path}: findings[{i}].fixes[{j}]: a fix without an 'id'")
        if not all(v is None or isinstance(v, (int, float, str)) for v in finding.get("evidence", {}).values()):
            raise RunStoreError(f"{path}: findings[{i}].evidence: must map names to numbers or texts")
    return report


def _check_fields(path: Path, data: dict, schema: dict, prefix: str) -> None:
    for key, rule in schema.items():
        if key in data:
            problem = _problem(data[key], rule if isinstance(rule, Field) else Field(rule))
            if problem:
                raise RunStoreError(f"{path}: {prefix}{key}: {problem}")


def _problem(value, rule: Field) -> str:
    """What is wrong with `value` under `rule` ('' if nothing)."""
    from vg_studio.limits import LIMITS

    kinds = rule.kind if isinstance(rule.kind, tuple) else (rule.kind,)
    if (isinstance(value, bool) and bool not in kinds) or not isinstance(value, kinds):
        names = {str: "text", int: "an integer", dict: "an object", list: "a list", float: "a number",
                 type(None): "null"}
        expected = " or ".join(dict.fromkeys(names[k] for k in kinds if not (k is float and int in kinds)))
        return f"must be {expected}, got {_json_kind(value)}"
    if rule.choices and value not in rule.choices:
        return f"{str(value)[:40]!r} is not one of {', '.join(rule.choices)}"
    if isinstance(value, _NUMBER) and not isinstance(value, bool):
        if rule.low is not None and value < rule.low:
            return f"must be >= {rule.low:g}, got {value:g}"
        high = getattr(LIMITS, rule.high) if isinstance(rule.high, str) else rule.high
        if high is not None and value > high:
            return f"must be <= {high:g}, got {value:g}"
    if isinstance(value, list):
        if len(value) > max(LIMITS.classes, LIMITS.history_layers):
            return f"{len(value):,} items"
        if rule.items is not None:
            item = rule.items if isinstance(rule.items, Field) else Field(rule.items)
            for i, v in enumerate(value):
                problem = _problem(v, item)
                if problem:
                    return f"[{i}] {problem}"
    if isinstance(value, str) and not value and rule.choices:
        return "empty"
    return ""

def report_in(run_dir: str | os.PathLike) -> dict | None:
    """The run's report.json, read and checked like any other reader does, or None if it is missing or not
    usable (for code that only asks whether a run ended, e.g. a grid skipping finished cells)."""
    path = Path(run_dir) / "report.json"
    if not os.path.lexists(path):
        return None
    try:
        return read_report(path)
    except RunStoreError:
        return None
