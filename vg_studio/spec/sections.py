"""The sections of an experiment spec: data, network (its layers), optimizer, training and monitoring."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, ValidationInfo, field_validator, model_validator
from typing_extensions import Annotated

from vg_studio import catalog
from vg_studio.limits import LIMITS
from vg_studio.spec.base import SECTIONS, Bool, Float, FrozenDict, Int, Section, Seed, Str, check_against, choice, \
    fail, problem, schema_of
from vg_studio.spec.options import OPTIMIZER_PARAMS, DatasetOptions, FolderOptions, SequenceTaskOptions, \
    dataset_options_model

class DataSpec(Section):
    dataset: Annotated[Str, Field(description="a built-in name, npz:PATH or folder:PATH")] = "mnist-5k"
    options: Annotated[FrozenDict, Field(json_schema_extra=schema_of(
        {"every dataset": DatasetOptions, "adding/recall": SequenceTaskOptions, "folder:PATH": FolderOptions},
        "dataset"))] = FrozenDict()

    @field_validator("dataset")
    @classmethod
    def _known(cls, name: str) -> str:
        if not name.isprintable():  # a NUL or a lone surrogate would fail deep inside the file system calls
            raise problem("must be printable text (no control characters)")
        if not catalog.is_known_dataset(name):
            raise problem(f"unknown dataset {name!r}; expected one of {', '.join(catalog.DATASETS)}, npz:PATH or "
                           "folder:PATH")
        return name

    @field_validator("options")
    @classmethod
    def _options_of_the_dataset(cls, options: FrozenDict, info: ValidationInfo) -> FrozenDict:
        dataset = info.data.get("dataset")
        if dataset is None:
            return options  # the dataset is wrong: its options cannot be judged
        return check_against(dataset_options_model(dataset), options, f"an option of dataset {dataset}")


class LayerSpec(Section):
    kind: Annotated[choice(catalog.LAYER_KINDS), Field(
        description="dense, or a recurrent layer (recurrent layers come first)")] = "dense"
    units: Annotated[Int, Field(ge=1, le=LIMITS.units)] = 64
    activation: choice(catalog.ACTIVATIONS) = "relu"
    initializer: choice(catalog.INITIALIZERS) = "glorot_uniform"
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
            raise problem(f"{kind} layers take {', '.join(catalog.GATED_ACTIVATIONS[:-1])} or "
                           f"{catalog.GATED_ACTIVATIONS[-1]}")
        if kind in catalog.RECURRENT_KINDS and activation == "prelu":
            raise problem("prelu is not available on a recurrent layer")
        return activation

    @field_validator(*catalog.DENSE_ONLY_OPTIONS)
    @classmethod
    def _dense_only(cls, value: bool, info: ValidationInfo) -> bool:
        if value and info.data.get("kind") in catalog.RECURRENT_KINDS:
            raise problem("not available on a recurrent layer")
        return value


class NetworkSpec(Section):
    layers: tuple[LayerSpec, ...] = Field(default_factory=lambda: tuple(LayerSpec() for _ in range(3)),
                                          description="the hidden layers, input side first")
    output_activation: choice(catalog.OUTPUT_ACTIVATIONS) = "softmax"
    output_initializer: choice(catalog.INITIALIZERS) = "glorot_uniform"

    @field_validator("layers", mode="before")
    @classmethod
    def _not_too_many(cls, layers: Any) -> Any:
        if isinstance(layers, (list, tuple)) and len(layers) > LIMITS.layers:
            raise problem(f"{len(layers):,} hidden layers; at most {LIMITS.layers} are supported "
                           "(the limit layers)")
        return layers

    @field_validator("layers")
    @classmethod
    def _recurrent_first(cls, layers: tuple) -> tuple:
        first_dense = next((i for i, layer in enumerate(layers) if layer.kind == "dense"), len(layers))
        fail([((i, "kind"), "recurrent layers must come before the dense layers", layer.kind)
               for i, layer in enumerate(layers) if i > first_dense and layer.kind in catalog.RECURRENT_KINDS],
              "NetworkSpec")
        return layers


class OptimizerSpec(Section):
    name: choice(catalog.OPTIMIZERS) = "adam"
    learning_rate: Annotated[Float, Field(ge=0.0, le=1e6)] = 0.001
    params: Annotated[FrozenDict, Field(
        description="hyperparameters besides the learning rate (see catalog.OPTIMIZERS)",
        json_schema_extra=schema_of(OPTIMIZER_PARAMS, "optimizer"))] = FrozenDict()
    clipnorm: Annotated[Float, Field(gt=0.0)] | None = None
    clipvalue: Annotated[Float, Field(gt=0.0)] | None = None
    global_clipnorm: Annotated[Float, Field(gt=0.0)] | None = None

    @field_validator("params")
    @classmethod
    def _params_of_the_optimizer(cls, params: FrozenDict, info: ValidationInfo) -> FrozenDict:
        name = info.data.get("name")
        if name is None:
            return params
        return check_against(OPTIMIZER_PARAMS[name], params, f"a hyperparameter of {name}")

    @model_validator(mode="after")
    def _one_clip(self) -> "OptimizerSpec":
        if sum(c is not None for c in (self.clipnorm, self.clipvalue, self.global_clipnorm)) > 1:
            raise problem("set at most one of clipnorm, clipvalue, global_clipnorm")
        return self


class TrainingSpec(Section):
    epochs: Annotated[Int, Field(ge=1, le=100_000)] = 5
    batch_size: Annotated[Int, Field(ge=1, le=1_000_000)] = 100
    seed: Seed = 0
    validation_split: Annotated[Float, Field(
        ge=0.0, lt=1.0, description="used when the dataset has no validation split of its own")] = 0.1
    shuffle: Bool = True


class MonitoringSpec(Section):
    record_every: Annotated[Int, Field(ge=1, le=1_000_000, description="training steps between probe records")] = 10
    unit_stats: Annotated[Bool, Field(description="dead/saturated unit fractions on a fixed probe batch")] = True
    probe_batch_size: Annotated[Int, Field(ge=1, le=100_000)] = 128




SECTIONS.update({("data",): DataSpec, ("network",): NetworkSpec, ("network", "layers", int): LayerSpec,
                 ("optimizer",): OptimizerSpec, ("training",): TrainingSpec, ("monitoring",): MonitoringSpec})
