"""The experiment spec: one versioned JSON document that is the single source of truth for a run.

The spec is a tree of frozen pydantic models. Reading one (`from_dict`, `from_json`, `load`, or keyword
construction) checks every field and reports *all* problems at once by raising `SpecError`, whose `issues` carry
each problem's location (`("network", "layers", 1, "units")`) and whose `problems` are the same as one-line texts
that name rows as the app shows them: ``h2 (network.layers[1]).units: must be >= 1``.

Specs are immutable values: change one with `vg_studio.edits` (or `spec.model_copy(update=...)`). Edits do not
validate — the builder must be able to show a network that is invalid while the user is half-way through a change
— so call `validate()`/`check()` before using an edited spec.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from typing import Any, Callable, Literal

from pydantic import BaseModel, ConfigDict, Field, GetCoreSchemaHandler, ValidationError, \
    ValidationInfo, field_validator, model_validator
from pydantic_core import InitErrorDetails, PydanticCustomError, core_schema
from typing_extensions import Annotated

from vg_studio import catalog
from vg_studio.limits import LIMITS

SCHEMA_VERSION = 2


# ---- errors ------------------------------------------------------------------------------------------------
Loc = tuple  # ("network", "layers", 1, "units")


@dataclass(frozen=True)
class Issue:
    """One problem of a spec: where (`loc`, as in the JSON document) and what (`message`)."""

    loc: Loc
    message: str

    @property
    def path(self) -> str:
        """The JSON path: 'network.layers[1].units'."""
        return _dotted(self.loc)

    @property
    def layer(self) -> int | None:
        """The hidden layer's index (0 = the row labelled h1) when the problem is in one, else None."""
        if len(self.loc) >= 3 and self.loc[:2] == ("network", "layers") and isinstance(self.loc[2], int):
            return self.loc[2]
        return None

    @property
    def field(self) -> str | None:
        """The field's name inside its section or layer ('units'), or None for a whole section."""
        rest = self.loc[3:] if self.layer is not None else self.loc[1:]
        return str(rest[0]) if rest else None

    def __str__(self) -> str:
        if self.layer is None:
            where = self.path
        else:  # the row as the builder labels it, then the JSON path
            where = f"h{self.layer + 1} ({_dotted(self.loc[:3])})" + _dotted(self.loc[3:], leading=True)
        return f"{where}: {self.message}" if where else self.message


class SpecError(ValueError):
    """A spec with one or more problems: `problems` (one-line texts) and `issues` (the same with locations)."""

    def __init__(self, problems: list[str] | None = None, source: str | None = None,
                 issues: list[Issue] | None = None):
        self.issues = list(issues) if issues is not None else [Issue((), p) for p in problems or []]
        self.problems = [str(i) for i in self.issues] if issues is not None else list(problems or [])
        self.source = source
        where = f"{source}: " if source else ""
        if len(self.problems) == 1:
            text = where + self.problems[0]
        else:
            text = where + f"{len(self.problems)} problems: " + "; ".join(self.problems)
        super().__init__(text)


def _dotted(loc: Loc, leading: bool = False) -> str:
    text = ""
    for part in loc:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            shown = part if str(part).isidentifier() else repr(part)  # a key with a newline must not break the line
            text += f".{shown}" if text or leading else shown
    return text


def _problem(message: str) -> PydanticCustomError:
    """A validation error whose text is used as written (the context carries it so braces are not formatted)."""
    return PydanticCustomError("spec", "{message}", {"message": message})


def _fail(errors: list[tuple[Loc, str, Any]], title: str) -> None:
    if errors:
        raise ValidationError.from_exception_data(title, [
            InitErrorDetails(type=_problem(message), loc=loc, input=value) for loc, message, value in errors])


# ---- field types -------------------------------------------------------------------------------------------
Int = Annotated[int, Field(strict=True)]  # strict: no "7", no true, no 7.0
Float = Annotated[float, Field(strict=True, allow_inf_nan=False)]  # strict: no "0.1", no true; ints are fine
Bool = Annotated[bool, Field(strict=True)]
Str = Annotated[str, Field(strict=True)]
Seed = Annotated[Int, Field(ge=0, le=2**32 - 1)]


def _choice(options) -> Any:
    return Literal.__getitem__(tuple(options))


class FrozenDict(dict):
    """A read-only dict (nested lists become tuples): the free-form parts of a spec (dataset options, optimizer
    hyperparameters, diagnostic thresholds) are as immutable as the rest of it. Compares equal to a plain dict."""

    def _refuse(self, *args, **kwargs):
        raise TypeError("a spec is immutable: change it with vg_studio.edits or spec.model_copy(update=...)")

    __setitem__ = __delitem__ = clear = pop = popitem = setdefault = update = __ior__ = _refuse  # type: ignore

    def __reduce__(self):  # pickling and deepcopy rebuild it in one call instead of item by item
        return FrozenDict, (dict(self),)

    def __hash__(self) -> int:  # type: ignore[override]
        return hash(tuple(sorted(self.items(), key=lambda kv: str(kv[0]))))

    @classmethod
    def of(cls, value: dict) -> "FrozenDict":
        return cls({k: _freeze(v) for k, v in value.items()})

    @classmethod
    def __get_pydantic_core_schema__(cls, source: Any, handler: GetCoreSchemaHandler):
        return core_schema.no_info_after_validator_function(
            cls.of, core_schema.dict_schema(core_schema.str_schema(strict=True), core_schema.any_schema(), strict=True),
            serialization=core_schema.plain_serializer_function_ser_schema(_thaw))


def _freeze(value: Any) -> Any:
    if isinstance(value, dict):
        return FrozenDict.of(value)
    if isinstance(value, (list, tuple)):
        return tuple(_freeze(v) for v in value)
    return value


def _thaw(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _thaw(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_thaw(v) for v in value]
    return value


# ---- per-dataset options and per-optimizer hyperparameters ---------------------------------------------------
class _Options(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class DatasetOptions(_Options):
    """Options every dataset takes."""

    limit: Annotated[Int, Field(ge=10, le=2**31 - 1, description="train on at most this many examples")] = None  # type: ignore
    seed: Annotated[Seed, Field(description="split/generation seed, independent of the training seed so the "
                                            "test set stays fixed")] = 0


class SequenceTaskOptions(DatasetOptions):
    """The generated sequence tasks (adding, recall)."""

    length: Annotated[Int, Field(ge=2, le=10_000, description="time steps per sequence")] = 100
    n: Annotated[Int, Field(ge=20, le=1_000_000, description="sequences generated (train + test)")] = 5000

    @model_validator(mode="after")
    def _fits(self) -> "SequenceTaskOptions":
        values = self.n * self.length * 2  # two features per time step
        if values > LIMITS.dataset_values:  # refused here, before 75 GiB are asked of numpy
            raise _problem(f"n × length: {self.n:,} sequences of {self.length:,} steps are {values:,} numbers; the "
                           f"limit is {LIMITS.dataset_values:,} (VG_STUDIO_LIMITS dataset_values)")
        return self


class FolderOptions(DatasetOptions):
    """An image folder (folder:PATH)."""

    image_size: Annotated[tuple[Annotated[Int, Field(ge=1, le=1024)], Annotated[Int, Field(ge=1, le=1024)]],
                          Field(description="[height, width] images are resized to")] = None  # type: ignore


def dataset_options_model(dataset: str) -> type[_Options]:
    if dataset in ("adding", "recall"):
        return SequenceTaskOptions
    if dataset.startswith("folder:"):
        return FolderOptions
    return DatasetOptions


class NoParams(_Options):
    """sgd: plain stochastic gradient descent takes no hyperparameters besides the learning rate."""


Unit = Annotated[Float, Field(ge=0.0, lt=1.0)]  # a decay or momentum rate
Epsilon = Annotated[Float, Field(ge=0.0, le=1.0)]


class SGDMomentumParams(_Options):
    momentum: Unit = 0.9
    nesterov: Bool = False


class AdagradParams(_Options):
    initial_accumulator_value: Annotated[Float, Field(ge=0.0)] = 0.1
    epsilon: Epsilon = 1e-7


class AdadeltaParams(_Options):
    rho: Unit = 0.95
    epsilon: Epsilon = 1e-7


class RMSpropParams(_Options):
    rho: Unit = 0.9
    momentum: Unit = 0.0
    epsilon: Epsilon = 1e-7


class AdamParams(_Options):
    beta_1: Unit = 0.9
    beta_2: Unit = 0.999
    epsilon: Epsilon = 1e-7


_SDAGD_DEFAULTS = catalog.OPTIMIZERS["sdagd"]["params"]


class SDAGDParams(_Options):
    """SDAGD's own hyperparameters; its batch size is always `training.batch_size` (vg_studio.nn.sdagd). The
    defaults are the catalog's."""

    radius: Annotated[Float, Field(gt=0.0, le=1e6)] = _SDAGD_DEFAULTS["radius"]
    curvature_decay: Unit = _SDAGD_DEFAULTS["curvature_decay"]
    epsilon: Epsilon = _SDAGD_DEFAULTS["epsilon"]
    norm_scope: Literal["unit", "rms", "tensor", "global"] = _SDAGD_DEFAULTS["norm_scope"]
    curvature: Literal["gauss_newton", "difference", "second_moment"] = _SDAGD_DEFAULTS["curvature"]
    curvature_every: Annotated[Int, Field(ge=1, le=100_000)] = _SDAGD_DEFAULTS["curvature_every"]
    momentum: Unit = _SDAGD_DEFAULTS["momentum"]
    radius_growth_steps: Annotated[Float, Field(ge=0.0, le=1e9)] = _SDAGD_DEFAULTS["radius_growth_steps"]
    radius_decay_steps: Annotated[Float, Field(ge=0.0, le=1e9)] = _SDAGD_DEFAULTS["radius_decay_steps"]
    curvature_scale: Literal["diagonal", "unit", "layer"] = _SDAGD_DEFAULTS["curvature_scale"]


OPTIMIZER_PARAMS: dict[str, type[_Options]] = {
    "sgd": NoParams, "sgd_momentum": SGDMomentumParams, "adagrad": AdagradParams, "adadelta": AdadeltaParams,
    "rmsprop": RMSpropParams, "adam": AdamParams, "sdagd": SDAGDParams}


def _check_against(model: type[_Options], value: dict, what: str) -> dict:
    """Validate a free-form dict with `model`, re-raising its errors in the spec's wording."""
    try:
        model.model_validate(dict(value))
    except ValidationError as exc:
        fields = list(model.model_fields)
        _fail([(err["loc"], _message(err, model, unknown=f"not {what}" + (
            f" (expected one of {', '.join(fields)})" if fields else " (it takes none)")), err.get("input"))
               for err in exc.errors()], model.__name__)
    return value


def _schema_of(models: dict[str, type[_Options]], by: str) -> dict:
    """A JSON Schema 'anyOf' with one alternative per option model (named after what selects it)."""
    return {"anyOf": [{**model.model_json_schema(), "title": f"{by} {key}"} for key, model in models.items()]}


# ---- the spec ----------------------------------------------------------------------------------------------
class _RaisesSpecError(type(BaseModel)):
    """Construction (`LayerSpec(units=0)`) raises SpecError like reading a file does. Done in the metaclass because
    a custom __init__ would also run, and wrap errors, inside the validation of every enclosing spec."""

    def __call__(cls, *args: Any, **kwargs: Any):
        if args:  # positional fields in declaration order, as the dataclasses before took them
            if len(args) > len(cls.model_fields):
                raise TypeError(f"{cls.__name__} takes at most {len(cls.model_fields)} positional arguments")
            kwargs = {**dict(zip(cls.model_fields, args)), **kwargs}
        try:
            return super().__call__(**kwargs)
        except ValidationError as exc:
            raise SpecError(issues=_issues(exc, cls)) from None


class _Section(BaseModel, metaclass=_RaisesSpecError):
    model_config = ConfigDict(extra="forbid", frozen=True)


class DataSpec(_Section):
    dataset: Annotated[Str, Field(description="a built-in name, npz:PATH or folder:PATH")] = "mnist-5k"
    options: Annotated[FrozenDict, Field(json_schema_extra=_schema_of(
        {"every dataset": DatasetOptions, "adding/recall": SequenceTaskOptions, "folder:PATH": FolderOptions},
        "dataset"))] = FrozenDict()

    @field_validator("dataset")
    @classmethod
    def _known(cls, name: str) -> str:
        if not name.isprintable():  # a NUL or a lone surrogate would fail deep inside the file system calls
            raise _problem("must be printable text (no control characters)")
        if not catalog.is_known_dataset(name):
            raise _problem(f"unknown dataset {name!r}; expected one of {', '.join(catalog.DATASETS)}, npz:PATH or "
                           "folder:PATH")
        return name

    @field_validator("options")
    @classmethod
    def _options_of_the_dataset(cls, options: FrozenDict, info: ValidationInfo) -> FrozenDict:
        dataset = info.data.get("dataset")
        if dataset is None:
            return options  # the dataset is wrong: its options cannot be judged
        return _check_against(dataset_options_model(dataset), options, f"an option of dataset {dataset}")


class LayerSpec(_Section):
    kind: Annotated[_choice(catalog.LAYER_KINDS), Field(
        description="dense, or a recurrent layer (recurrent layers come first)")] = "dense"
    units: Annotated[Int, Field(ge=1, le=LIMITS.units)] = 64
    activation: _choice(catalog.ACTIVATIONS) = "relu"
    initializer: _choice(catalog.INITIALIZERS) = "glorot_uniform"
    init_stddev: Annotated[Float, Field(gt=0.0, le=1e3, description="used by random_normal")] = 0.05
    bias_init: Annotated[Float, Field(ge=-1e3, le=1e3, description="constant starting bias")] = 0.0
    attention: Annotated[Bool, Field(description="Wu's attention block in front of this dense layer")] = False
    attention_tokens: Annotated[Int, Field(ge=0, le=LIMITS.units,
                                           description="tokens the block splits its input into; 0 = auto")] = 0
    attention_value: Literal["input", "projected"] = "input"
    batch_norm: Bool = False
    residual: Bool = False
    dropout: Annotated[Float, Field(ge=0.0, lt=1.0)] = 0.0
    return_sequences: Annotated[Bool, Field(description="recurrent only; forced on when another recurrent layer "
                                                        "follows")] = False
    aux_head: Annotated[Bool, Field(description="an auxiliary softmax classifier after this layer (training only)")] \
        = False
    aux_weight: Annotated[Float, Field(gt=0.0, le=10.0, description="the auxiliary classifier's loss weight")] = 0.3

    @field_validator("activation")
    @classmethod
    def _activation_fits_the_kind(cls, activation: str, info: ValidationInfo) -> str:
        kind = info.data.get("kind")
        if kind in catalog.GATED_KINDS and activation not in catalog.GATED_ACTIVATIONS:
            raise _problem(f"{kind} layers take {', '.join(catalog.GATED_ACTIVATIONS[:-1])} or "
                           f"{catalog.GATED_ACTIVATIONS[-1]}")
        if kind in catalog.RECURRENT_KINDS and activation == "prelu":
            raise _problem("prelu is not available on a recurrent layer")
        return activation

    @field_validator(*catalog.DENSE_ONLY_OPTIONS)
    @classmethod
    def _dense_only(cls, value: bool, info: ValidationInfo) -> bool:
        if value and info.data.get("kind") in catalog.RECURRENT_KINDS:
            raise _problem("not available on a recurrent layer")
        return value


class NetworkSpec(_Section):
    layers: tuple[LayerSpec, ...] = Field(default_factory=lambda: tuple(LayerSpec() for _ in range(3)),
                                          description="the hidden layers, input side first")
    output_activation: _choice(catalog.OUTPUT_ACTIVATIONS) = "softmax"
    output_initializer: _choice(catalog.INITIALIZERS) = "glorot_uniform"

    @field_validator("layers", mode="before")
    @classmethod
    def _not_too_many(cls, layers: Any) -> Any:
        if isinstance(layers, (list, tuple)) and len(layers) > LIMITS.layers:
            raise _problem(f"{len(layers):,} hidden layers; at most {LIMITS.layers} are supported "
                           "(the limit layers)")
        return layers

    @field_validator("layers")
    @classmethod
    def _recurrent_first(cls, layers: tuple) -> tuple:
        first_dense = next((i for i, layer in enumerate(layers) if layer.kind == "dense"), len(layers))
        _fail([((i, "kind"), "recurrent layers must come before the dense layers", layer.kind)
               for i, layer in enumerate(layers) if i > first_dense and layer.kind in catalog.RECURRENT_KINDS],
              "NetworkSpec")
        return layers


class OptimizerSpec(_Section):
    name: _choice(catalog.OPTIMIZERS) = "adam"
    learning_rate: Annotated[Float, Field(ge=0.0, le=1e6)] = 0.001
    params: Annotated[FrozenDict, Field(
        description="hyperparameters besides the learning rate (see catalog.OPTIMIZERS)",
        json_schema_extra=_schema_of(OPTIMIZER_PARAMS, "optimizer"))] = FrozenDict()
    clipnorm: Annotated[Float, Field(gt=0.0)] | None = None
    clipvalue: Annotated[Float, Field(gt=0.0)] | None = None
    global_clipnorm: Annotated[Float, Field(gt=0.0)] | None = None

    @field_validator("params")
    @classmethod
    def _params_of_the_optimizer(cls, params: FrozenDict, info: ValidationInfo) -> FrozenDict:
        name = info.data.get("name")
        if name is None:
            return params
        return _check_against(OPTIMIZER_PARAMS[name], params, f"a hyperparameter of {name}")

    @model_validator(mode="after")
    def _one_clip(self) -> "OptimizerSpec":
        if sum(c is not None for c in (self.clipnorm, self.clipvalue, self.global_clipnorm)) > 1:
            raise _problem("set at most one of clipnorm, clipvalue, global_clipnorm")
        return self


class TrainingSpec(_Section):
    epochs: Annotated[Int, Field(ge=1, le=100_000)] = 5
    batch_size: Annotated[Int, Field(ge=1, le=1_000_000)] = 100
    seed: Seed = 0
    validation_split: Annotated[Float, Field(
        ge=0.0, lt=1.0, description="used when the dataset has no validation split of its own")] = 0.1
    shuffle: Bool = True


class MonitoringSpec(_Section):
    record_every: Annotated[Int, Field(ge=1, le=1_000_000, description="training steps between probe records")] = 10
    unit_stats: Annotated[Bool, Field(description="dead/saturated unit fractions on a fixed probe batch")] = True
    probe_batch_size: Annotated[Int, Field(ge=1, le=100_000)] = 128


Threshold = Annotated[Float, Field(ge=0.0)]


class ExperimentSpec(_Section):
    schema_version: Literal[SCHEMA_VERSION] = SCHEMA_VERSION
    name: Annotated[Str, Field(min_length=1, max_length=200, description="any printable text")] = "experiment"
    description: Annotated[Str, Field(max_length=4000, description="what this experiment shows")] = ""
    data: DataSpec = Field(default_factory=DataSpec)
    network: NetworkSpec = Field(default_factory=NetworkSpec)
    loss: _choice(catalog.LOSSES) = "sparse_categorical_crossentropy"
    optimizer: OptimizerSpec = Field(default_factory=OptimizerSpec)
    training: TrainingSpec = Field(default_factory=TrainingSpec)
    monitoring: MonitoringSpec = Field(default_factory=MonitoringSpec)
    diagnostics: Annotated[dict[Str, Threshold], Field(
        description="rule thresholds overriding the defaults (docs/diagnostics.md)")] = FrozenDict()

    @field_validator("name")
    @classmethod
    def _printable(cls, name: str) -> str:
        if not name.isprintable() or _unencodable(name):
            raise _problem("must be printable text")
        return name

    @field_validator("description")
    @classmethod
    def _text(cls, text: str) -> str:
        if _unencodable(text) or not text.replace("\n", " ").isprintable():
            raise _problem("must be printable text")
        return text

    @field_validator("diagnostics")
    @classmethod
    def _frozen(cls, thresholds: dict) -> FrozenDict:
        return FrozenDict.of(thresholds)

    # ---- (de)serialisation -------------------------------------------------------------------------------
    def to_dict(self) -> dict:
        return self.model_dump(mode="json", warnings=False)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, ensure_ascii=False)

    @classmethod
    def from_dict(cls, data: Any, source: str | None = None) -> "ExperimentSpec":
        if not isinstance(data, dict):
            raise SpecError([f"spec: must be a JSON object, got {_type_name(data)}"], source)
        data = migrate(data, source)
        try:
            return cls.model_validate(data)
        except ValidationError as exc:
            raise SpecError(source=source, issues=_issues(exc, cls)) from None

    @classmethod
    def from_json(cls, text: str | bytes, source: str | None = None) -> "ExperimentSpec":
        from vg_studio.safeio import UnreadableFile

        try:
            data = _parse_json(text, source or "spec")
        except UnreadableFile as exc:
            message = str(exc)
            if source and message.startswith(f"{source}: "):
                message = message[len(source) + 2:]
            elif message.startswith("spec: "):
                message = message[len("spec: "):]
            raise SpecError([message], source) from None
        return cls.from_dict(data, source)

    @classmethod
    def load(cls, path: str | os.PathLike) -> "ExperimentSpec":
        from vg_studio.safeio import UnreadableFile, read_regular_file

        source = os.fspath(path)
        try:
            text = read_regular_file(path, LIMITS.spec_bytes, "spec file").decode("utf-8")
        except UnreadableFile as exc:
            reason = str(exc)[len(source) + 2:] if str(exc).startswith(f"{source}: ") else str(exc)
            reason = "file not found" if reason.endswith("not found") else \
                reason if reason.startswith("cannot read") else f"cannot read: {reason}"
            raise SpecError([reason], source) from None
        except UnicodeDecodeError as exc:
            raise SpecError([f"cannot read: not UTF-8 text (byte {exc.start})"], source) from None
        return cls.from_json(text, source)

    def save(self, path: str | os.PathLike) -> None:
        from vg_studio.safeio import atomic_write_text

        atomic_write_text(path, self.to_json() + "\n")

    def copy(self) -> "ExperimentSpec":  # type: ignore[override]
        """The spec itself is immutable; kept for callers written when it was not."""
        return self.model_copy()

    # ---- checks --------------------------------------------------------------------------------------------
    def issues(self) -> list[Issue]:
        """Every problem of this spec (one built by edits may be invalid), with its location."""
        try:
            type(self).model_validate(self.model_dump(warnings=False))
        except ValidationError as exc:
            return _issues(exc, type(self))
        return []

    def validate(self) -> list[str]:  # type: ignore[override]
        """Every problem as a one-line text ('h2 (network.layers[1]).units: must be >= 1'); [] when valid."""
        return [str(issue) for issue in self.issues()]

    def check(self) -> "ExperimentSpec":
        """Raise SpecError if the spec has any problem; returns self for chaining."""
        issues = self.issues()
        if issues:
            raise SpecError(issues=issues)
        return self


def _parse_json(text: str | bytes, source: str) -> Any:
    """safeio's strict parser (size, depth, UTF-8); NaN, Infinity and over-long integers are parsed as non-finite
    numbers instead, so that the schema refuses them naming their field."""
    from vg_studio.safeio import UnreadableFile, loads_json, unique_keys

    try:
        return loads_json(text, source)
    except UnreadableFile as exc:
        if not any(word in str(exc) for word in ("NaN is not", "Infinity is not", "an integer with", "beyond the float range")):
            raise
    if isinstance(text, bytes):
        text = text.decode("utf-8")  # loads_json decoded it once already
    text = text.removeprefix("\ufeff")

    def capped_int(digits: str) -> Any:
        return int(digits) if len(digits.lstrip("-")) <= LIMITS.json_int_digits else float("inf")

    return json.loads(text, parse_constant=float, parse_int=capped_int, object_pairs_hook=unique_keys(source))


# ---- schema versions ---------------------------------------------------------------------------------------
def _v1_to_v2(data: dict) -> dict:
    """v2: SDAGD's batch size is training.batch_size alone (v1 files could carry a second, disagreeing one);
    the optional `description` is new."""
    optimizer = data.get("optimizer")
    if isinstance(optimizer, dict) and optimizer.get("name") == "sdagd" and isinstance(optimizer.get("params"), dict):
        params = {k: v for k, v in optimizer["params"].items() if k != "batch_size"}
        data = {**data, "optimizer": {**optimizer, "params": params}}
    return data


# MIGRATIONS[v] turns a version-v document into a version-(v + 1) one.
MIGRATIONS: dict[int, Callable[[dict], dict]] = {1: _v1_to_v2}


def migrate(data: dict, source: str | None = None) -> dict:
    """A document of any version this VG Studio knows, upgraded to SCHEMA_VERSION (a missing version is 1)."""
    version = data.get("schema_version", 1)
    if isinstance(version, bool) or not isinstance(version, int):
        raise SpecError([f"schema_version: must be an integer, got {version!r}"], source)
    if version > SCHEMA_VERSION:
        raise SpecError([f"schema_version: {version} is newer than this VG Studio understands ({SCHEMA_VERSION}); "
                         "upgrade VG Studio"], source)
    if version < 1:
        raise SpecError([f"schema_version: must be between 1 and {SCHEMA_VERSION}"], source)
    while version < SCHEMA_VERSION:
        data = MIGRATIONS[version](data)
        version += 1
    return {**data, "schema_version": SCHEMA_VERSION}


def json_schema() -> dict:
    """The JSON Schema of a spec file (`vg-studio spec --schema`)."""
    schema = ExperimentSpec.model_json_schema()
    return {"$schema": "https://json-schema.org/draft/2020-12/schema", "$id": "vg-studio-spec", **schema}


# ---- pydantic's errors in the spec's words -----------------------------------------------------------------
_SECTIONS: dict[Loc, type[BaseModel]] = {
    ("data",): DataSpec, ("network",): NetworkSpec, ("network", "layers", int): LayerSpec,
    ("optimizer",): OptimizerSpec, ("training",): TrainingSpec, ("monitoring",): MonitoringSpec}
_NOUNS = {"kind": "layer kind", "name": "optimizer", "output_activation": "activation",
          "output_initializer": "initializer"}


def _issues(exc: ValidationError, root: type[BaseModel]) -> list[Issue]:
    """Locations are relative to `root` (a section built by keyword gives 'units', a whole spec the full path)."""
    section = next((loc for loc, model in _SECTIONS.items() if model is root), ())
    return [Issue(tuple(err["loc"]), _message(err, _owner(section + tuple(err["loc"])[:-1])))
            for err in exc.errors(include_url=False)]


def _owner(loc: Loc) -> type[BaseModel] | None:
    if not loc:
        return ExperimentSpec
    key = tuple(int if isinstance(part, int) else part for part in loc)
    return _SECTIONS.get(key)


def _message(err: dict, model: type[BaseModel] | None, unknown: str | None = None) -> str:
    kind, value = err["type"], err.get("input")
    ctx = err.get("ctx") or {}
    name = err["loc"][-1] if err["loc"] else ""
    if kind == "spec":
        return ctx["message"]
    if kind == "extra_forbidden":
        fields = list(model.model_fields) if model is not None else []
        return unknown or "unknown field" + (f" (expected one of {', '.join(fields)})" if fields else "")
    if kind == "literal_error":
        import re

        choices = re.findall(r"'((?:[^'\\]|\\.)*)'", ctx.get("expected", ""))
        noun = _NOUNS.get(name, str(name).replace("_", " "))
        return f"unknown {noun} {value!r}; expected one of {', '.join(choices)}"
    if value is None and kind.endswith("_type"):
        return "must not be null"
    if kind in ("int_type", "int_parsing", "int_from_float"):
        return f"must be an integer, got {value!r}"
    if kind in ("bool_type", "bool_parsing"):
        return f"must be true or false, got {_type_name(value)}"
    if kind in ("float_type", "float_parsing"):
        if isinstance(value, int) and not isinstance(value, bool):
            return "must be a finite number"
        return f"must be a number, got {_type_name(value)}"
    if kind == "finite_number":
        return "must be a finite number"
    if kind == "string_unicode":
        return "must be printable text"
    if kind == "string_type":
        return f"must be a string, got {_type_name(value)}"
    if kind == "string_too_short":
        return "must not be empty"
    if kind == "string_too_long":
        return f"must be at most {ctx.get('max_length')} characters"
    if kind in ("model_type", "model_attributes_type", "dict_type"):
        return f"must be an object, got {_type_name(value)}"
    if kind in ("tuple_type", "list_type"):
        return f"must be a list, got {_type_name(value)}"
    if kind in ("too_short", "too_long"):
        return f"must be a list of {ctx.get('min_length', ctx.get('max_length'))}"
    if kind in ("greater_than_equal", "greater_than", "less_than_equal", "less_than"):
        return _range_text(name, kind, ctx)
    text = err["msg"]
    return text[0].lower() + text[1:] if text else kind


def _range_text(name: Any, kind: str, ctx: dict) -> str:
    """'must be >= 1': the bound that failed, and the limit's name when the bound is one of vg_studio.limits."""
    op, bound = {"greater_than_equal": (">=", ctx.get("ge")), "greater_than": (">", ctx.get("gt")),
                 "less_than_equal": ("<=", ctx.get("le")), "less_than": ("<", ctx.get("lt"))}[kind]
    limit = _LIMITED.get(name) if op in ("<=", "<") else None
    return f"must be {op} {_number(bound)}" + (f" (the limit {limit}; VG_STUDIO_LIMITS raises it)" if limit else "")


_LIMITED = {"units": "units", "attention_tokens": "units"}


def _number(value: Any) -> str:
    return str(value) if isinstance(value, int) else f"{value:g}"


def _type_name(value: Any) -> str:
    return {dict: "an object", list: "a list", str: "a string", bool: "true/false", type(None): "null",
            int: "a number", float: "a number"}.get(type(value), type(value).__name__)


def _unencodable(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate ("\ud800") cannot be written to spec.json or a folder name
        return True
    return False


# The atomic file helpers live in vg_studio.safeio; re-exported here for existing callers.
from vg_studio.safeio import atomic_path, atomic_write_bytes, atomic_write_text  # noqa: E402,F401


def example_spec() -> ExperimentSpec:
    """The ready example network the app and `vg-studio spec --example` start from: a deep sigmoid MLP whose
    early-layer gradients vanish under plain SGD (Tan & Lim's hl-5 set-up, narrowed to run in seconds)."""
    return ExperimentSpec(
        name="deep-sigmoid-sgd",
        description="Six sigmoid layers trained with plain SGD: the first layers' gradients vanish.",
        data=DataSpec(dataset="mnist-5k"),
        network=NetworkSpec(layers=[LayerSpec(units=128, activation="sigmoid", initializer="glorot_uniform")
                                    for _ in range(6)]),
        optimizer=OptimizerSpec(name="sgd", learning_rate=0.1),
        training=TrainingSpec(epochs=5, batch_size=100, seed=0),
    )


__all__ = ["SCHEMA_VERSION", "DataSpec", "ExperimentSpec", "FrozenDict", "Issue", "LayerSpec", "MonitoringSpec",
           "NetworkSpec", "OPTIMIZER_PARAMS", "OptimizerSpec", "SpecError", "TrainingSpec", "dataset_options_model",
           "example_spec", "json_schema", "migrate"]
