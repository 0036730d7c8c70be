"""The model summary a run carries (RunStarted.model_summary, and model.json for a user's own model): the model's
Keras config, its optimizer and loss, the layer table — one row per probe column, input → output — and, where the
probe batch's targets are known, the loss of guessing measured on them (`guessing_levels`)."""

from __future__ import annotations

import json
import math

import keras
import numpy as np
from scipy import stats

from vg_studio.train.loss_names import for_output, loss_name
from vg_studio.train.runstore import SUMMARY_FORMAT, SUMMARY_VERSION  # one definition, beside its reader


def spec_layer_table(spec, num_classes: int) -> tuple[list[str], list[int]]:
    """(layer_kinds, layer_units) of a spec run's columns hidden_1 … hidden_L, output."""
    kinds = [layer.kind for layer in spec.network.layers] + ["dense"]
    units = [int(layer.units) for layer in spec.network.layers] + [int(num_classes)]
    return kinds, units


def model_summary(model: keras.Model, columns: list[dict], optimizer=None, loss=None, targets=None) -> dict:
    """`columns`: one dict per probe column with at least name, kind, units, activation (and, for a user's model,
    the Keras layers it groups). `targets`: the probe rows' targets (an array, or a list / dict by output name for
    several outputs), or None. JSON-serialisable."""
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
    if targets is not None:
        try:
            levels = guessing_levels(model, summary["loss"], targets)
        except Exception:  # a measurement beside the run: targets it cannot read must not stop the recording
            levels = None
        if levels:
            summary["guessing"] = levels
    return summary


def spec_model_summary(model: keras.Model, spec, names: list[str], kinds: list[str], units: list[int],
                       targets=None) -> dict:
    """A spec run's summary (carried by RunStarted; the run directory keeps spec.json). `targets`: the probe rows'
    targets as the user's network's output is trained on them (class indices, or one-hot under a squared error)."""
    activations = [layer.activation for layer in spec.network.layers] + [spec.network.output_activation]
    columns = [{"name": n, "kind": k, "units": u, "activation": a}
               for n, k, u, a in zip(names, kinds, units, activations)]
    optimizer = {"class_name": spec.optimizer.name, "config": spec.to_dict()["optimizer"]}
    return model_summary(model, columns, optimizer=optimizer, loss=spec.loss, targets=targets)


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



# ---- the loss of guessing, measured on the probe rows' targets ------------------------------------------------
UNIFORM_P = 0.01  # class frequencies this likely under a uniform prior (G-test) keep the uniform level, ln(k)
BOOTSTRAP = 100  # resamples of the examples for the level's standard error
MAX_VALUES = 4_000_000  # larger targets: their first examples up to this many values (the level's cost stays small)


def guessing_levels(model, loss, targets) -> dict | None:
    """The loss of the best constant prediction — what a network that learned only its output's bias reaches — per
    output, from the probe rows' targets, where the compiled loss has a closed form: a cross-entropy's class
    frequencies (their entropy, Miller–Madow corrected; ln k where they are within sampling noise of uniform), a
    binary cross-entropy's rate of yes per output, a squared error's variance, an absolute error's deviation from
    the median. Each output: {"output", "loss", "level", "uniform" (ln k, ln 2, or None), "se", "basis", "rows"}
    or {"output", "loss", "level": None, "why"}. Sample weights and class weights are not seen here: the level is
    that of the unweighted loss. None where the targets do not match the outputs."""
    outputs = list(getattr(model, "outputs", None) or [])
    names = [getattr(getattr(getattr(t, "_keras_history", None), "operation", None), "name", None) or f"output_{i}"
             for i, t in enumerate(outputs)]
    widths = [t.shape[-1] if len(t.shape) > 1 else 1 for t in outputs]
    if not outputs:  # a subclassed model: one output, its width read from the targets' last axis
        names, widths = ["output"], [None]
    if isinstance(targets, dict):
        targets = [targets.get(n) for n in names]
    elif not isinstance(targets, (list, tuple)) or len(names) == 1:
        targets = [targets]
    if len(targets) != len(names):
        return None
    rows = []
    for i, (name, width, y) in enumerate(zip(names, widths, targets)):
        each = for_output(loss, i, name)
        rows.append({"output": name, "loss": loss_name(each), **_level(each, y, width)})
    return {"outputs": rows}


def _level(loss, y, width) -> dict:
    if y is None:
        return {"level": None, "why": "no targets for this output"}
    try:
        y = np.asarray(y)
        y = np.asarray(y[:max(2, MAX_VALUES // max(1, y[:1].size))] if y.ndim else y, dtype=np.float64)
    except (TypeError, ValueError):
        return {"level": None, "why": "targets that are not numbers"}
    if y.size == 0 or y.ndim == 0 or not np.all(np.isfinite(y)):
        return {"level": None, "why": "empty or non-finite targets"}
    name = loss_name(loss).lower().replace("_", "")
    config = loss.get("config") if isinstance(loss, dict) and isinstance(loss.get("config"), dict) else {}
    smoothing = float(config.get("label_smoothing") or 0.0)
    if name in ("sparsecategoricalcrossentropy",):
        labels = y.reshape(len(y), -1)  # (examples, positions): a sequence's labels belong to its example
        ignore = config.get("ignore_class")
        valid = labels[labels != ignore] if ignore is not None else labels.reshape(-1)
        k = int(width) if width else int(valid.max()) + 1 if valid.size else 0
        if valid.size == 0 or k < 2 or np.any(valid < 0) or np.any(valid >= k) or np.any(valid != np.round(valid)):
            return {"level": None, "why": "labels that do not index the output's classes"}
        return _hard_labels(np.where(labels == ignore, -1, labels).astype(np.int64) if ignore is not None
                            else labels.astype(np.int64), k, 0.0)
    if name in ("categoricalcrossentropy",):
        if y.ndim < 2 or y.shape[-1] < 2 or (width and y.shape[-1] != int(width)):
            return {"level": None, "why": "targets whose last axis is not the output's classes"}
        rows = y.reshape(len(y), -1, y.shape[-1])
        if np.all((rows == 0) | (rows == 1)) and np.all(rows.sum(axis=-1) == 1):  # one-hot
            return _hard_labels(np.argmax(rows, axis=-1), y.shape[-1], smoothing)
        return _soft_labels(rows, smoothing)
    # (examples, positions, outputs): a constant prediction is one value per output, whatever the position
    rows = y.reshape(len(y), -1, 1) if y.ndim < 2 else y.reshape(len(y), -1, y.shape[-1])
    if name in ("binarycrossentropy",):
        if np.any((rows < 0) | (rows > 1)):
            return {"level": None, "why": "targets outside [0, 1]"}
        return _binary(rows, smoothing)
    if name in ("meansquarederror", "mse"):
        return _spread(rows, "mean", lambda v: float(np.mean(np.var(v, axis=0, ddof=1))))
    if name in ("meanabsoluteerror", "mae"):
        return _spread(rows, "median", lambda v: float(np.mean(np.abs(v - np.median(v, axis=0)))))
    return {"level": None, "why": "a loss without a closed form for its best constant"}


def _hard_labels(labels: np.ndarray, k: int, smoothing: float) -> dict:
    """Class labels, (examples, positions), -1 where ignored: the best constant is the class frequencies
    (label-smoothed as the loss smooths the targets), and its loss their entropy."""
    frequencies = lambda ex: np.bincount(ex[ex >= 0], minlength=k) / max(1, int(np.count_nonzero(ex >= 0)))
    plugin = lambda ex: plugin_entropy(frequencies(ex) * (1.0 - smoothing) + smoothing / k)
    n, uniform = int(np.count_nonzero(labels >= 0)), math.log(k)
    observed = int(np.count_nonzero(frequencies(labels)))
    if observed < 2:
        return {"level": None, "why": "a single class in the probe rows"}
    g = 2.0 * n * (uniform - plugin_entropy(frequencies(labels)))
    if stats.chi2.sf(g, k - 1) > UNIFORM_P:
        return _row(uniform, uniform, 0.0, "uniform", len(labels))
    level = plugin(labels) + (observed - 1) / (2.0 * n) * (1.0 - smoothing)  # Miller–Madow: the plug-in is low
    return _row(min(level, uniform), uniform, _bootstrap(labels, plugin), "prior", len(labels))


def _soft_labels(rows: np.ndarray, smoothing: float) -> dict:
    """Class probabilities, (examples, positions, classes): the best constant is their mean, costing the entropy of
    that mean."""
    k = rows.shape[-1]
    plugin = lambda ex: plugin_entropy(ex.reshape(-1, k).mean(axis=0) * (1.0 - smoothing) + smoothing / k)
    level, uniform = plugin(rows), math.log(k)
    if uniform - level <= 1e-3 * uniform:
        return _row(uniform, uniform, 0.0, "uniform", len(rows))
    return _row(min(level, uniform), uniform, _bootstrap(rows, plugin), "prior", len(rows))


def _binary(rows: np.ndarray, smoothing: float) -> dict:
    """Each output's rate of yes (examples, positions, outputs): the best constant, costing that rate's Bernoulli
    entropy; the mean over outputs."""
    d = rows.shape[-1]
    rate = lambda ex: ex.reshape(-1, d).mean(axis=0) * (1 - smoothing) + smoothing / 2
    plugin = lambda ex: float(np.mean(bernoulli_entropy(rate(ex))))
    n, uniform, rates = rows.size // d, math.log(2), rows.reshape(-1, d).mean(axis=0)
    if np.all((rates == 0) | (rates == 1)):
        return {"level": None, "why": "every output constant in the probe rows"}
    level = plugin(rows)
    if np.all((rows == 0) | (rows == 1)):
        g = 2.0 * n * float(np.sum(uniform - bernoulli_entropy(rates)))
        if stats.chi2.sf(g, d) > UNIFORM_P:
            return _row(uniform, uniform, 0.0, "uniform", len(rows))
        level += float(np.mean((rates > 0) & (rates < 1))) / (2.0 * n) * (1.0 - smoothing)  # Miller–Madow
    return _row(min(level, uniform), uniform, _bootstrap(rows, plugin), "prior", len(rows))


def _spread(rows: np.ndarray, basis: str, measure) -> dict:
    """A squared or absolute error (examples, positions, outputs): the targets' spread around their mean (median)
    per output, averaged."""
    flat = lambda ex: measure(ex.reshape(-1, ex.shape[-1]))
    if rows.size // rows.shape[-1] < 2:
        return {"level": None, "why": "fewer than two probe rows"}
    level = flat(rows)
    if not level > 0:
        return {"level": None, "why": "constant targets in the probe rows"}
    return _row(level, None, _bootstrap(rows, flat), basis, len(rows))


def plugin_entropy(p: np.ndarray) -> float:
    p = np.asarray(p, dtype=np.float64)
    p = p[p > 0]
    return float(-np.sum(p * np.log(p)))


def bernoulli_entropy(p: np.ndarray) -> np.ndarray:
    p = np.asarray(p, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        h = -(p * np.log(p) + (1 - p) * np.log1p(-p))
    return np.where((p > 0) & (p < 1), h, 0.0)


def _bootstrap(y: np.ndarray, measure) -> float:
    """The standard error of `measure` over the examples (the first axis: a sequence's positions or an image's pixels
    are not independent draws), by resampling them (a fixed seed: the same rows give the same figure)."""
    rng = np.random.default_rng(0)
    values = [measure(y[rng.integers(0, len(y), len(y))]) for _ in range(BOOTSTRAP)]
    return float(np.std(values, ddof=1))


def _row(level: float, uniform, se: float, basis: str, rows: int) -> dict:
    return {"level": float(level), "uniform": uniform, "se": float(se), "basis": basis, "rows": int(rows)}
