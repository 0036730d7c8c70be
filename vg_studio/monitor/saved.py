"""`fit_saved_model`: a user's saved `.keras` model trained with the GradientMonitor on a VG Studio dataset — the
core of `vg-studio train --model FILE`. Anything wrong with the file or its fit to the data is one line naming
the file and the mismatch (SavedModelError). Before Keras reads the file, `vg_studio.keras_file` checks it within
the limits and counts the weights its config declares; here Keras counts the layer kinds that table does not know
(in a stateless scope: shapes only, nothing allocated), every class the config needs must be known to Keras, and
every layer name usable on the backend. The model is loaded with `safe_mode` (no Python code from it runs)."""

from __future__ import annotations

import math
import os
import re
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import keras
import numpy as np


class SavedModelError(ValueError):
    """A model file that cannot be trained on the data; the message names the file and what does not fit."""


@dataclass
class FitOptions:
    """The spec flags that apply to a user's model: only those given (None) change what the file says."""

    optimizer: str | None = None  # a catalog optimizer name; replaces the file's compiled optimizer
    learning_rate: float | None = None
    clipnorm: float | None = None
    epochs: int = 5
    batch_size: int = 32
    seed: int = 0
    validation_split: float = 0.1
    record_every: int = 10
    probe_batch_size: int = 128
    data_options: dict = field(default_factory=dict)


def fit_saved_model(model_path, dataset, out, options: FitOptions | None = None, listeners=(),
                    overwrite: bool = False, cancel=None):
    """Train the model in `model_path` on `dataset` (a name or a loaded vg_studio Dataset) with the monitor
    writing `out`; returns the Trainer's RunResult (status, message, report, history, model, run_dir). Raises
    SavedModelError / DatasetError / RunStoreError with one line before anything is written. `cancel`: a
    threading.Event that stops training after the current batch (the run is then "cancelled")."""
    from vg_studio.data import load_dataset

    options = options or FitOptions()
    check_fit_options(options)
    path = Path(model_path)
    data = load_dataset(dataset, dict(options.data_options)) if isinstance(dataset, str) else dataset
    data = data.with_validation(options.validation_split, options.seed)
    keras.utils.set_random_seed(options.seed)
    model = load_checked_model(path)
    x_train, x_val, x_test = (_fit_inputs(model, x, path, data.name) if x is not None else None
                              for x in (data.x_train, data.x_val, data.x_test))
    _compile(model, options, data.num_classes, path)
    labels = _labels_for(model, data.num_classes, path)
    return _train(model, path, data, (x_train, x_val, x_test), labels, out, options, listeners, overwrite, cancel)


def check_fit_options(options: FitOptions) -> None:
    """The counts among the options within what Keras and the run's readers take; SavedModelError names the flag."""
    from vg_studio.monitor.arguments import MAX_PROBE_BATCH, check_count

    for name, high in (("epochs", 100_000), ("batch_size", 1_000_000), ("record_every", 1_000_000),
                       ("probe_batch_size", MAX_PROBE_BATCH)):
        try:
            check_count(f"--{name.replace('_', '-')}", getattr(options, name), 1, high)
        except (TypeError, ValueError) as exc:
            raise SavedModelError(str(exc).removeprefix("GradientMonitor: ")) from None


def load_checked_model(path: Path):
    """The model in `path`, loaded only once everything `vg_studio.keras_file` and this module check holds;
    SavedModelError (one line naming the file) otherwise."""
    from vg_studio.keras_file import check_keras_file, check_weight_count
    from vg_studio.safeio import UnreadableFile

    try:
        found = check_keras_file(path)
        unknown = unregistered_classes(found.config)
        if unknown:
            raise SavedModelError(_custom_class_message(path, *unknown[0], more=len(unknown) - 1))
        extra = sum(_keras_count(path, layer, shape) for layer, shape in found.uncounted)
        check_weight_count(str(path), found.weights + extra)
    except UnreadableFile as exc:
        raise SavedModelError(str(exc)) from None
    model = _load(path)
    check_layer_names(model, path)
    return model


KERAS_PACKAGES = ("keras", "keras_hub", "keras_cv", "keras_nlp")  # Keras imports these itself when a config names them


def unregistered_classes(config: dict) -> list[tuple[str, str]]:
    """(module.ClassName, registered name) of every object in the config whose class is not Keras's own and not
    registered in this process (keras.saving.register_keras_serializable or custom_object_scope): Keras could not
    build it."""
    out, stack, seen = [], [config], set()
    while stack:
        node = stack.pop()
        if isinstance(node, list):
            stack.extend(node)
            continue
        if not isinstance(node, dict):
            continue
        stack.extend(node.values())
        module, name = node.get("module"), node.get("class_name")
        if not isinstance(name, str) or not isinstance(module, str) or module.split(".")[0] in KERAS_PACKAGES:
            continue
        if name == "function" and isinstance(node.get("config"), str):  # a function: its name is its config
            name = node["config"]
        registered = node.get("registered_name") if isinstance(node.get("registered_name"), str) else name
        if registered == "function":
            registered = name
        if registered in seen or keras.saving.get_registered_object(registered) is not None:
            continue
        seen.add(registered)
        out.append((f"{module}.{name}", registered))
    return out


def _custom_class_message(path: Path, qualified: str, registered: str, more: int = 0) -> str:
    from vg_studio.text import inert

    others = f" (and {more} other class{'es' * (more > 1)})" if more else ""
    return (f"{path}: needs custom objects Keras does not know here: the class {inert(qualified)}{others} "
            f"(registered name '{inert(registered)}'); train it in your own script with GradientMonitor, where the "
            "class is imported and registered with @keras.saving.register_keras_serializable() or passed to "
            "keras.saving.load_model(..., custom_objects={...})")


def _keras_count(path: Path, layer: dict, shape) -> int:
    """The weights of one layer whose kind the config table does not know, from Keras itself: built in a
    stateless scope, its variables have shapes but no memory. Raises SavedModelError if it cannot be built."""
    from keras.src.backend.common import global_state

    from vg_studio.keras_file import layer_name
    from vg_studio.text import inert, one_line

    pending = global_state.get_global_attribute("uninitialized_variables", [], set_to_default=True)
    before = len(pending)
    try:
        with keras.StatelessScope(initialize_variables=False):
            built = keras.saving.deserialize_keras_object(layer, safe_mode=True)  # builds from its build_config
            if not built.built and shape is not None:
                built.build(tuple(shape))
            return int(sum(math.prod(int(d) for d in v.shape) for v in built.weights))
    except Exception as exc:  # noqa: BLE001 - a layer Keras cannot build from its own config
        reason = _cut(one_line(exc), 160) or type(exc).__name__
        raise SavedModelError(f"{path}: cannot count the weights of layer '{inert(layer_name(layer))}' "
                              f"({inert(layer.get('class_name'))}) before loading it ({reason})") from None
    finally:
        del pending[before:]  # the deferred variables must never be created for real


# TensorFlow builds every layer inside a name scope, and a scope name must match this (tf.name_scope)
TF_SCOPE_NAME = re.compile(r"[A-Za-z0-9_.\\/>-]*")


def check_layer_names(model, path: Path) -> None:
    """On TensorFlow, refuse a model whose layer names TensorFlow cannot use (it would fail at the first step)."""
    from vg_studio.text import inert

    if keras.backend.backend() != "tensorflow":
        return
    stack = [model]
    while stack:  # the model, its layers, nested models' layers, wrapped layers
        layer = stack.pop()
        stack.extend(getattr(layer, "layers", None) or [])
        stack.extend(getattr(layer, key) for key in ("layer", "forward_layer", "backward_layer", "cell")
                     if isinstance(getattr(layer, key, None), keras.layers.Layer))
        if not TF_SCOPE_NAME.fullmatch(layer.name):
            raise SavedModelError(f"{path}: the layer name '{inert(layer.name)}' is not usable on the TensorFlow "
                                  "backend (a name may hold letters, digits and _ . - / \\ >); rename the layer, or "
                                  "train with KERAS_BACKEND=jax")


def _load(path: Path):
    from vg_studio.text import one_line

    try:
        with warnings.catch_warnings():  # "Skipping variable loading for optimizer …": a fresh optimizer is fine
            warnings.filterwarnings("ignore", message="Skipping variable loading for optimizer")
            return keras.saving.load_model(path, compile=True, safe_mode=True)
    except Exception as exc:  # noqa: BLE001 - every failure to deserialise becomes one line
        text = one_line(exc)
        located = re.search(r"Could not locate (?:class|function) '([^']+)'", text)
        if located:
            raise SavedModelError(_custom_class_message(path, located.group(1), located.group(1))) from None
        raise SavedModelError(f"{path}: not a Keras model VG Studio can load ({_cut(text, 240)})") from None


def _cut(text: str, limit: int) -> str:
    """`text` up to `limit` characters, cut between words."""
    return text if len(text) <= limit else text[:limit].rsplit(" ", 1)[0] + " …"


def _fit_inputs(model, x: np.ndarray, path: Path, dataset: str) -> np.ndarray:
    """`x` as the model takes it: as is, or reshaped when only the layout differs (784 vs 28×28×1)."""
    if len(getattr(model, "inputs", None) or []) != 1:
        raise SavedModelError(f"{path}: the model takes {len(model.inputs or [])} inputs; a dataset gives one")
    wanted = tuple(model.inputs[0].shape[1:])
    have = tuple(x.shape[1:])
    if len(wanted) == len(have) and all(w is None or w == h for w, h in zip(wanted, have)):
        return x
    if None not in wanted and int(np.prod(wanted)) == int(np.prod(have)):
        return x.reshape((len(x), *wanted))
    raise SavedModelError(f"{path}: the model takes inputs of shape {_shape(wanted)} but {dataset} has examples "
                          f"of shape {_shape(have)}")


def _shape(shape) -> str:
    return "(" + ", ".join("any" if d is None else str(d) for d in shape) + ")"


def _compile(model, options: FitOptions, num_classes: int, path: Path) -> None:
    """Keep the file's compiled optimizer and loss unless flags change them; an uncompiled model gets the flags'
    optimizer (Adam by default) and a cross-entropy that fits its output."""
    from vg_studio import catalog
    from vg_studio.nn.optimizers import make_optimizer
    from vg_studio.spec import OptimizerSpec

    compiled = getattr(model, "optimizer", None) is not None and getattr(model, "loss", None) is not None
    optimizer = model.optimizer if compiled else None
    if options.optimizer or options.learning_rate is not None or options.clipnorm is not None or not compiled:
        kept = type(optimizer).__name__.lower() if optimizer is not None else None
        name = options.optimizer or (kept if kept in catalog.OPTIMIZERS else "adam")
        settings = {"name": name, "learning_rate": catalog.OPTIMIZERS[name]["learning_rate"]}
        if options.learning_rate is not None:
            settings["learning_rate"] = options.learning_rate
        elif name == kept:  # the file's own learning rate for the file's own optimizer
            settings["learning_rate"] = float(np.asarray(keras.ops.convert_to_numpy(optimizer.learning_rate)))
        if options.clipnorm is not None:
            settings["clipnorm"] = options.clipnorm
        optimizer = make_optimizer(OptimizerSpec(**settings), options.batch_size)
    loss = model.loss if compiled else _default_loss(model, num_classes)
    model.compile(optimizer=optimizer, loss=loss, metrics=["accuracy"])


def _output_width(model) -> int | None:
    try:
        return int(model.outputs[0].shape[-1])
    except (AttributeError, TypeError, IndexError):
        return None


def _default_loss(model, num_classes: int) -> str:
    width = _output_width(model)
    if width == 1 and num_classes == 2:
        return "binary_crossentropy"
    return "sparse_categorical_crossentropy"


def _labels_for(model, num_classes: int, path: Path):
    """How the integer labels are given to the loss: as they are, one-hot, or a single 0/1 column."""
    loss = model.loss if isinstance(model.loss, str) else getattr(model.loss, "name", type(model.loss).__name__)
    loss = str(loss).lower()
    width = _output_width(model)
    if "binary" in loss:
        if width != 1 or num_classes != 2:
            raise SavedModelError(f"{path}: a binary cross-entropy model with {width} outputs cannot learn "
                                  f"{num_classes} classes")
        return lambda y: y.astype("float32").reshape(-1, 1)
    if width is not None and width != num_classes:
        raise SavedModelError(f"{path}: the model has {width} outputs but the dataset has {num_classes} classes")
    if "categorical" in loss and "sparse" not in loss:
        return lambda y: np.eye(num_classes, dtype="float32")[y]
    return lambda y: y


def _train(model, path, data, xs, labels, out, options: FitOptions, listeners, overwrite: bool, cancel):
    from vg_studio.monitor.callback import GradientMonitor
    from vg_studio.train.metrics import test_metrics
    from vg_studio.train.trainer import RunResult

    x_train, x_val, x_test = xs
    monitor = GradientMonitor(out, record_every=options.record_every, probe_data=x_train,
                              probe_targets=labels(data.y_train[:options.probe_batch_size]),
                              probe_batch_size=options.probe_batch_size, listeners=listeners, overwrite=overwrite,
                              stop_on_nan=True, name=path.stem, save_model=True, cancel=cancel,
                              warnings=None)  # the caller's listeners say the findings (the CLI prints them)
    monitor.sample_count = len(x_train)

    class _Evaluate(keras.callbacks.Callback):  # runs before the monitor's on_train_end writes the report
        def on_train_end(self, logs=None):
            monitor.report_extras["dataset"] = {
                "name": data.name, "train": len(x_train), "val": 0 if x_val is None else len(x_val),
                "test": len(x_test), "input_shape": list(data.input_shape), "classes": data.class_names}
            monitor.report_extras["model_file"] = os.fspath(path)
            if monitor.step >= monitor.first_step and monitor.diverged_at is None:
                try:
                    monitor.report_extras["test_metrics"] = test_metrics(self.model, x_test, data.y_test)
                except Exception as exc:  # noqa: BLE001 - a model whose outputs are not class scores
                    monitor.report_extras["test_metrics_error"] = f"{type(exc).__name__}: {exc}"

    validation = (x_val, labels(data.y_val)) if x_val is not None and len(x_val) else None
    model.fit(x_train, labels(data.y_train), validation_data=validation, epochs=options.epochs,
              batch_size=options.batch_size, callbacks=[_Evaluate(), monitor], verbose=0)
    report = monitor.report_data or {}
    return RunResult(report.get("status", "failed"), report.get("message", ""), report, monitor.history, model,
                     Path(out) if out is not None else None)
