"""The free-form parts of a spec, typed: each dataset's options and each optimizer's hyperparameters."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator
from typing_extensions import Annotated

from vg_studio import catalog
from vg_studio.limits import LIMITS
from vg_studio.spec.base import Bool, Float, Int, Options, Seed, problem

class DatasetOptions(Options):
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
            raise problem(f"n × length: {self.n:,} sequences of {self.length:,} steps are {values:,} numbers; the "
                           f"limit is {LIMITS.dataset_values:,} (VG_STUDIO_LIMITS dataset_values)")
        return self


class FolderOptions(DatasetOptions):
    """An image folder (folder:PATH)."""

    image_size: Annotated[tuple[Annotated[Int, Field(ge=1, le=1024)], Annotated[Int, Field(ge=1, le=1024)]],
                          Field(description="[height, width] images are resized to")] = None  # type: ignore


def dataset_options_model(dataset: str) -> type[Options]:
    if dataset in ("adding", "recall"):
        return SequenceTaskOptions
    if dataset.startswith("folder:"):
        return FolderOptions
    return DatasetOptions


class NoParams(Options):
    """sgd: plain stochastic gradient descent takes no hyperparameters besides the learning rate."""


Unit = Annotated[Float, Field(ge=0.0, lt=1.0)]  # a decay or momentum rate
Epsilon = Annotated[Float, Field(ge=0.0, le=1.0)]


class SGDMomentumParams(Options):
    momentum: Unit = 0.9
    nesterov: Bool = False


class AdagradParams(Options):
    initial_accumulator_value: Annotated[Float, Field(ge=0.0)] = 0.1
    epsilon: Epsilon = 1e-7


class AdadeltaParams(Options):
    rho: Unit = 0.95
    epsilon: Epsilon = 1e-7


class RMSpropParams(Options):
    rho: Unit = 0.9
    momentum: Unit = 0.0
    epsilon: Epsilon = 1e-7


class AdamParams(Options):
    beta_1: Unit = 0.9
    beta_2: Unit = 0.999
    epsilon: Epsilon = 1e-7


_SDAGD_DEFAULTS = catalog.OPTIMIZERS["sdagd"]["params"]


class SDAGDParams(Options):
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
    preactivation_radius: Annotated[Float, Field(ge=0.0, le=1e6)] = _SDAGD_DEFAULTS["preactivation_radius"]
    curvature_examples: Annotated[Int, Field(ge=0, le=1_000_000)] = _SDAGD_DEFAULTS["curvature_examples"]
    radius_warmup_steps: Annotated[Float, Field(ge=0.0, le=1e9)] = _SDAGD_DEFAULTS["radius_warmup_steps"]
    use_ema: Bool = _SDAGD_DEFAULTS["use_ema"]
    ema_momentum: Unit = _SDAGD_DEFAULTS["ema_momentum"]
    ema_every: Annotated[Int, Field(ge=1, le=100_000)] = _SDAGD_DEFAULTS["ema_every"]


OPTIMIZER_PARAMS: dict[str, type[Options]] = {
    "sgd": NoParams, "sgd_momentum": SGDMomentumParams, "adagrad": AdagradParams, "adadelta": AdadeltaParams,
    "rmsprop": RMSpropParams, "adam": AdamParams, "sdagd": SDAGDParams}

