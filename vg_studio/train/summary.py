"""The model summary a run carries (RunStarted.model_summary, and model.json for a user's own model): the model's
Keras config, its optimizer and loss, and the layer table — one row per probe column, input → output."""

from __future__ import annotations

import json

import keras
import numpy as np

from vg_studio.train.runstore import SUMMARY_FORMAT, SUMMARY_VERSION  # one definition, beside its reader


def spec_layer_table(spec, num_classes: int) -> tuple[list[str], list[int]]:
    """(layer_kinds, layer_units) of a spec run's columns hidden_1 … hidden_L, output."""
    kinds = [layer.kind for layer in spec.network.layers] + ["dense"]
    units = [int(layer.units) for layer in spec.network.layers] + [int(num_classes)]
    return kinds, units


def model_summary(model: keras.Model, columns: list[dict], optimizer=None, loss=None) -> dict:
    """`columns`: one dict per probe column with at least name, kind, units, activation (and, for a user's model,
    the Keras layers it groups). JSON-serialisable."""
    optimizer = optimizer if optimizer is not None else getattr(model, "optimizer", None)
    summary = {
        "format": SUMMARY_FORMAT,
        "version": SUMMARY_VERSION,
        "name": model.name,
        "class_name": type(model).__name__,
        "param_count": int(model.count_params()) if model.built else None,
        "trainable_param_count": int(sum(int(np.prod(v.shape)) for v in model.trainable_variables)),
        "layers": [_jsonable(c) for c in columns],
        "optimizer": _optimizer_summary(optimizer),
        "loss": _jsonable(loss if loss is not None else getattr(model, "loss", None)),
        "config": _model_config(model),
    }
    return summary


def spec_model_summary(model: keras.Model, spec, names: list[str], kinds: list[str], units: list[int]) -> dict:
    activations = [layer.activation for layer in spec.network.layers] + [spec.network.output_activation]
    columns = [{"name": n, "kind": k, "units": u, "activation": a}
               for n, k, u, a in zip(names, kinds, units, activations)]
    optimizer = {"class_name": spec.optimizer.name, "config": spec.to_dict()["optimizer"]}
    return model_summary(model, columns, optimizer=optimizer, loss=spec.loss)


def _optimizer_summary(optimizer) -> dict | None:
    if optimizer is None:
        return None
    if isinstance(optimizer, dict):
        return _jsonable(optimizer)
    if isinstance(optimizer, str):
        return {"class_name": optimizer, "config": {}}
    inner = getattr(optimizer, "inner_optimizer", None)  # a LossScaleOptimizer names what it wraps
    summary = {"class_name": type(optimizer).__name__, "config": _jsonable(optimizer.get_config())}
    if inner is not None:
        summary["inner"] = _optimizer_summary(inner)
    return summary


def _model_config(model: keras.Model) -> dict | None:
    """The Keras config (as `model.to_json()` writes it), or None for a subclassed model without one."""
    try:
        return json.loads(model.to_json())
    except Exception:  # a subclassed model without get_config: the layer table still describes it
        return None


def _jsonable(value):
    """Plain JSON values only: numbers, strings, lists, dicts (anything else becomes its repr)."""
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        return value if value == value and abs(value) != float("inf") else None
    if hasattr(value, "item"):  # numpy scalars
        try:
            return _jsonable(value.item())
        except (TypeError, ValueError):
            pass
    try:
        return _jsonable(keras.saving.serialize_keras_object(value))
    except Exception:
        return repr(value)

