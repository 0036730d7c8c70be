"""The experiment spec: one versioned JSON document that is the single source of truth for a run.

`ExperimentSpec.from_dict` checks every field and reports *all* problems at once, each with its field path
(`network.layers[3].units: must be >= 1`), by raising `SpecError`. `to_dict`/`from_dict` round-trip exactly.
"""

from __future__ import annotations

import copy
import dataclasses
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from vg_studio import catalog

SCHEMA_VERSION = 1


class SpecError(ValueError):
    """A spec with one or more problems; `problems` is a list of 'path: message' strings."""

    def __init__(self, problems: list[str], source: str | None = None):
        self.problems = list(problems)
        self.source = source
        where = f"{source}: " if source else ""
        if len(self.problems) == 1:
            text = where + self.problems[0]
        else:
            text = where + f"{len(self.problems)} problems: " + "; ".join(self.problems)
        super().__init__(text)


@dataclass
class DataSpec:
    dataset: str = "mnist-5k"
    # Dataset options: "limit" (max training examples), "image_size" ([h, w] for folder:), "seed" (split and
    # generation seed, independent of the training seed so the test set stays fixed).
    options: dict = field(default_factory=dict)


@dataclass
class LayerSpec:
    kind: str = "dense"  # "dense", or a recurrent layer: "simple_rnn", "lstm", "gru" (seed 001 §1.3, §2.3)
    units: int = 64
    activation: str = "relu"
    initializer: str = "glorot_uniform"
    init_stddev: float = 0.05  # used by random_normal
    bias_init: float = 0.0  # constant bias; strongly negative values kill ReLU units (a teaching case)
    attention: bool = False  # seed 000's attention block in front of this layer's Dense
    attention_tokens: int = 0  # tokens the block splits its input into; 0 = image rows / auto
    attention_value: str = "input"  # "input": alpha·x as in seed 000 eq. 4; "projected": alpha·v, v = W_v x
    batch_norm: bool = False
    residual: bool = False
    dropout: float = 0.0
    return_sequences: bool = False  # recurrent only; forced on when another recurrent layer follows
    aux_head: bool = False  # an auxiliary softmax classifier after this layer (seed 001 §2.2), training only
    aux_weight: float = 0.3  # its loss weight


@dataclass
class NetworkSpec:
    layers: list = field(default_factory=lambda: [LayerSpec() for _ in range(3)])
    output_activation: str = "softmax"
    output_initializer: str = "glorot_uniform"


@dataclass
class OptimizerSpec:
    name: str = "adam"
    learning_rate: float = 0.001
    params: dict = field(default_factory=dict)  # optimizer-specific hyperparameters, see catalog.OPTIMIZERS
    clipnorm: float | None = None
    clipvalue: float | None = None
    global_clipnorm: float | None = None


@dataclass
class TrainingSpec:
    epochs: int = 5
    batch_size: int = 100
    seed: int = 0
    validation_split: float = 0.1  # used when the dataset has no validation split of its own
    shuffle: bool = True


@dataclass
class MonitoringSpec:
    record_every: int = 10  # training steps between probe records
    unit_stats: bool = True  # dead/saturated unit fractions on a fixed probe batch at each record
    probe_batch_size: int = 128


@dataclass
class ExperimentSpec:
    name: str = "experiment"
    data: DataSpec = field(default_factory=DataSpec)
    network: NetworkSpec = field(default_factory=NetworkSpec)
    loss: str = "sparse_categorical_crossentropy"
    optimizer: OptimizerSpec = field(default_factory=OptimizerSpec)
    training: TrainingSpec = field(default_factory=TrainingSpec)
    monitoring: MonitoringSpec = field(default_factory=MonitoringSpec)
    diagnostics: dict = field(default_factory=dict)  # rule thresholds overriding the defaults (docs/diagnostics.md)
    schema_version: int = SCHEMA_VERSION

    # ---- (de)serialisation -------------------------------------------------------------------------------
    def to_dict(self) -> dict:
        d = dataclasses.asdict(self)
        return {"schema_version": d.pop("schema_version"), **d}

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2)

    @classmethod
    def from_dict(cls, data: Any, source: str | None = None) -> "ExperimentSpec":
        problems: list[str] = []
        if not isinstance(data, dict):
            raise SpecError([f"spec: must be a JSON object, got {_type_name(data)}"], source)
        version = data.get("schema_version", SCHEMA_VERSION)
        if not isinstance(version, int) or isinstance(version, bool):
            problems.append("schema_version: must be an integer")
        elif version > SCHEMA_VERSION:
            raise SpecError([f"schema_version: {version} is newer than this VG Studio understands "
                             f"({SCHEMA_VERSION}); upgrade VG Studio"], source)
        elif version < 1:
            problems.append("schema_version: must be >= 1")
        spec = _read_dataclass(cls, data, "", problems)
        if not problems:
            problems.extend(spec.validate())
        if problems:
            raise SpecError(problems, source)
        return spec

    @classmethod
    def from_json(cls, text: str, source: str | None = None) -> "ExperimentSpec":
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise SpecError([f"not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg})"], source) from None
        except RecursionError:
            raise SpecError(["not valid JSON (nested too deeply)"], source) from None
        return cls.from_dict(data, source)

    @classmethod
    def load(cls, path: str | os.PathLike) -> "ExperimentSpec":
        path = Path(path)
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise SpecError(["file not found"], str(path)) from None
        except (OSError, UnicodeDecodeError) as exc:
            raise SpecError([f"cannot read: {exc}"], str(path)) from None
        return cls.from_json(text, str(path))

    def save(self, path: str | os.PathLike) -> None:
        atomic_write_text(path, self.to_json() + "\n")

    def copy(self) -> "ExperimentSpec":
        return copy.deepcopy(self)

    # ---- semantic checks ---------------------------------------------------------------------------------
    def validate(self) -> list[str]:
        """Every semantic problem as 'path: message' (types were checked while reading)."""
        p: list[str] = []
        if not catalog.is_known_dataset(self.data.dataset):
            p.append(f"data.dataset: unknown dataset {self.data.dataset!r}; expected one of "
                     f"{', '.join(catalog.DATASETS)}, npz:PATH or folder:PATH")
        p.extend(_option_problems(self.data.options))
        p.extend(_non_finite(self))  # the GUI's number fields accept "inf"; JSON could not store it
        if not isinstance(self.name, str) or not self.name.isprintable() or _unencodable(self.name):
            p.append("name: must be printable text")
        limit = self.data.options.get("limit")
        if limit is not None and (not isinstance(limit, int) or isinstance(limit, bool) or limit < 10):
            p.append("data.options.limit: must be an integer >= 10")
        layers = self.network.layers
        if len(layers) > 200:
            p.append(f"network.layers: {len(layers)} hidden layers; at most 200 are supported")
        seen_dense = False
        for i, layer in enumerate(layers):
            at = f"network.layers[{i}]"
            if layer.kind not in catalog.LAYER_KINDS:
                p.append(f"{at}.kind: unknown layer kind {layer.kind!r}; expected one of "
                         f"{', '.join(catalog.LAYER_KINDS)}")
            elif layer.kind in catalog.RECURRENT_KINDS:
                if seen_dense:
                    p.append(f"{at}.kind: recurrent layers must come before the dense layers")
                for option in ("attention", "batch_norm", "residual"):
                    if getattr(layer, option):
                        p.append(f"{at}.{option}: not available on a recurrent layer")
                if layer.kind != "simple_rnn" and layer.activation not in ("tanh", "sigmoid", "relu", "linear"):
                    p.append(f"{at}.activation: {layer.kind} layers take tanh, sigmoid, relu or linear")
                if layer.activation == "prelu":
                    p.append(f"{at}.activation: prelu is not available on a recurrent layer")
            else:
                seen_dense = True
            if not 0.0 < layer.aux_weight <= 10.0:
                p.append(f"{at}.aux_weight: must be in (0, 10]")
            if layer.units < 1:
                p.append(f"{at}.units: must be >= 1")
            elif layer.units > 65536:
                p.append(f"{at}.units: {layer.units} is more than 65536")
            if layer.activation not in catalog.ACTIVATIONS:
                p.append(f"{at}.activation: unknown activation {layer.activation!r}; expected one of "
                         f"{', '.join(catalog.ACTIVATIONS)}")
            if layer.initializer not in catalog.INITIALIZERS:
                p.append(f"{at}.initializer: unknown initializer {layer.initializer!r}; expected one of "
                         f"{', '.join(catalog.INITIALIZERS)}")
            if not layer.init_stddev > 0:
                p.append(f"{at}.init_stddev: must be > 0")
            if not -1e3 <= layer.bias_init <= 1e3:
                p.append(f"{at}.bias_init: must be between -1000 and 1000")
            if layer.attention_tokens < 0:
                p.append(f"{at}.attention_tokens: must be >= 0 (0 = automatic)")
            if layer.attention_value not in ("input", "projected"):
                p.append(f"{at}.attention_value: must be 'input' or 'projected'")
            if not 0.0 <= layer.dropout < 1.0:
                p.append(f"{at}.dropout: must be in [0, 1)")
        if self.network.output_activation not in catalog.OUTPUT_ACTIVATIONS:
            p.append(f"network.output_activation: must be one of {', '.join(catalog.OUTPUT_ACTIVATIONS)}")
        if self.network.output_initializer not in catalog.INITIALIZERS:
            p.append(f"network.output_initializer: unknown initializer {self.network.output_initializer!r}")
        if self.loss not in catalog.LOSSES:
            p.append(f"loss: must be one of {', '.join(catalog.LOSSES)}")
        opt = self.optimizer
        if opt.name not in catalog.OPTIMIZERS:
            p.append(f"optimizer.name: unknown optimizer {opt.name!r}; expected one of "
                     f"{', '.join(catalog.OPTIMIZERS)}")
        else:
            allowed = catalog.OPTIMIZERS[opt.name]["params"]
            for key in opt.params:
                if key not in allowed:
                    p.append(f"optimizer.params.{key}: not a hyperparameter of {opt.name}"
                             + (f" (expected {', '.join(allowed)})" if allowed else " (it takes none)"))
                elif not _same_kind(opt.params[key], allowed[key]):
                    p.append(f"optimizer.params.{key}: must be {_kind_name(allowed[key])}, got {opt.params[key]!r}")
        if not opt.learning_rate >= 0:
            p.append("optimizer.learning_rate: must be >= 0")
        for name in ("clipnorm", "clipvalue", "global_clipnorm"):
            value = getattr(opt, name)
            if value is not None and not value > 0:
                p.append(f"optimizer.{name}: must be > 0 when set")
        if sum(getattr(opt, n) is not None for n in ("clipnorm", "clipvalue", "global_clipnorm")) > 1:
            p.append("optimizer: set at most one of clipnorm, clipvalue, global_clipnorm")
        t = self.training
        if not 1 <= t.epochs <= 100000:
            p.append("training.epochs: must be between 1 and 100000")
        if not 1 <= t.batch_size <= 1_000_000:
            p.append("training.batch_size: must be between 1 and 1000000")
        if not 0.0 <= t.validation_split < 1.0:
            p.append("training.validation_split: must be in [0, 1)")
        if not 0 <= t.seed < 2**32:
            p.append("training.seed: must be between 0 and 4294967295")
        m = self.monitoring
        if m.record_every < 1:
            p.append("monitoring.record_every: must be >= 1")
        if not 1 <= m.probe_batch_size <= 100000:
            p.append("monitoring.probe_batch_size: must be between 1 and 100000")
        return p

    def check(self) -> "ExperimentSpec":
        """Raise SpecError if `validate` finds anything; returns self for chaining."""
        problems = self.validate()
        if problems:
            raise SpecError(problems)
        return self


def _option_problems(options: dict) -> list[str]:
    p = []
    seed = options.get("seed")
    if seed is not None and (not isinstance(seed, int) or isinstance(seed, bool) or not 0 <= seed < 2**32):
        p.append("data.options.seed: must be an integer between 0 and 4294967295")
    size = options.get("image_size")
    if size is not None and not (isinstance(size, list) and len(size) == 2 and all(
            isinstance(s, int) and not isinstance(s, bool) and 1 <= s <= 1024 for s in size)):
        p.append("data.options.image_size: must be [height, width], each between 1 and 1024")
    return p


def _non_finite(obj: Any, path: str = "") -> list[str]:
    """'path: must be a finite number' for every inf/NaN float in a spec (nested dataclasses and layer lists)."""
    if isinstance(obj, float):
        return [] if abs(obj) < float("inf") else [f"{path}: must be a finite number"]
    if isinstance(obj, list):
        return [p for i, item in enumerate(obj) for p in _non_finite(item, f"{path}[{i}]")]
    if dataclasses.is_dataclass(obj):
        return [p for f in dataclasses.fields(obj)
                for p in _non_finite(getattr(obj, f.name), f"{path}.{f.name}" if path else f.name)]
    return []


def _same_kind(value: Any, default: Any) -> bool:
    """An optimizer hyperparameter must have its default's type: a flag, a finite number or a word."""
    if isinstance(default, bool) or isinstance(value, bool):
        return isinstance(value, bool) and isinstance(default, bool)
    if isinstance(default, (int, float)):
        return isinstance(value, (int, float)) and abs(value) < float("inf")
    return isinstance(value, type(default))


def _kind_name(default: Any) -> str:
    return "true or false" if isinstance(default, bool) else "a number" if isinstance(default, (int, float)) \
        else "a string"


def _unencodable(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate ("\ud800") cannot be written to spec.json or a folder name
        return True
    return False


# ---- generic, strict reading of nested dataclasses ---------------------------------------------------------
_LAYER_LISTS = {(NetworkSpec, "layers"): LayerSpec}


def _type_name(value: Any) -> str:
    return {dict: "an object", list: "a list", str: "a string", bool: "true/false", type(None): "null"}.get(
        type(value), type(value).__name__)


def _read_dataclass(cls, data: dict, path: str, problems: list[str]):
    kwargs = {}
    fields = {f.name: f for f in dataclasses.fields(cls)}
    for key in data:
        if key not in fields:
            shown = key if key.isidentifier() else repr(key)  # a key with a newline must not break the line
            problems.append(f"{path}{shown}: unknown field (expected one of {', '.join(fields)})")
    for name, f in fields.items():
        if name not in data:
            continue  # missing fields take their defaults: old specs keep loading
        value = data[name]
        at = f"{path}{name}"
        kind = _LAYER_LISTS.get((cls, name))
        if kind is not None:
            if not isinstance(value, list):
                problems.append(f"{at}: must be a list, got {_type_name(value)}")
                continue
            items = []
            for i, item in enumerate(value):
                if not isinstance(item, dict):
                    problems.append(f"{at}[{i}]: must be an object, got {_type_name(item)}")
                    continue
                items.append(_read_dataclass(kind, item, f"{at}[{i}].", problems))
            kwargs[name] = items
        elif dataclasses.is_dataclass(f.default_factory if f.default_factory is not dataclasses.MISSING else None):
            if not isinstance(value, dict):
                problems.append(f"{at}: must be an object, got {_type_name(value)}")
                continue
            kwargs[name] = _read_dataclass(f.default_factory, value, f"{at}.", problems)
        else:
            checked = _check_scalar(f, value, at, problems)
            if checked is not _INVALID:
                kwargs[name] = checked
    return cls(**kwargs)


_INVALID = object()


def _check_scalar(f: dataclasses.Field, value: Any, at: str, problems: list[str]):
    annotation = str(f.type)
    optional = "None" in annotation
    if value is None:
        if optional:
            return None
        problems.append(f"{at}: must not be null")
        return _INVALID
    if annotation.startswith("dict"):
        if not isinstance(value, dict):
            problems.append(f"{at}: must be an object, got {_type_name(value)}")
            return _INVALID
        return copy.deepcopy(value)
    if annotation.startswith("bool"):
        if not isinstance(value, bool):
            problems.append(f"{at}: must be true or false, got {_type_name(value)}")
            return _INVALID
        return value
    if annotation.startswith("int"):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or (
                isinstance(value, float) and not value.is_integer()):
            problems.append(f"{at}: must be an integer, got {value!r}")
            return _INVALID
        return int(value)
    if annotation.startswith("float"):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            problems.append(f"{at}: must be a number, got {_type_name(value)}")
            return _INVALID
        if isinstance(value, int) and abs(value) > 1e300 or value != value or value in (float("inf"), float("-inf")):
            problems.append(f"{at}: must be a finite number")
            return _INVALID
        return float(value)
    if annotation.startswith("str"):
        if not isinstance(value, str):
            problems.append(f"{at}: must be a string, got {_type_name(value)}")
            return _INVALID
        return value
    return value


# The atomic file helpers live in vg_studio.safeio; re-exported here for existing callers.
from vg_studio.safeio import atomic_path, atomic_write_bytes, atomic_write_text  # noqa: E402,F401


def example_spec() -> ExperimentSpec:
    """The ready example network the app and `vg-studio spec --example` start from: a deep sigmoid MLP whose
    early-layer gradients vanish under plain SGD (seed 003's hl-5 set-up, narrowed to run in seconds)."""
    return ExperimentSpec(
        name="deep-sigmoid-sgd",
        data=DataSpec(dataset="mnist-5k"),
        network=NetworkSpec(layers=[LayerSpec(units=128, activation="sigmoid", initializer="glorot_uniform")
                                    for _ in range(6)]),
        optimizer=OptimizerSpec(name="sgd", learning_rate=0.1),
        training=TrainingSpec(epochs=5, batch_size=100, seed=0),
    )
