"""Optimizer name (catalog.OPTIMIZERS) → a configured keras optimizer."""

from __future__ import annotations

import keras

from vg_studio.catalog import OPTIMIZERS
from vg_studio.spec import OptimizerSpec, SpecError

SDAGD_DEFAULTS = OPTIMIZERS["sdagd"]["params"]
_KERAS_CLASSES = {
    "sgd": keras.optimizers.SGD,
    "sgd_momentum": keras.optimizers.SGD,
    "adagrad": keras.optimizers.Adagrad,
    "adadelta": keras.optimizers.Adadelta,
    "rmsprop": keras.optimizers.RMSprop,
    "adam": keras.optimizers.Adam,
}


def optimizer_class(name: str):
    if name == "sdagd":
        from vg_studio.nn.sdagd import SDAGD  # registered serializable; imported only when used

        return SDAGD
    try:
        return _KERAS_CLASSES[name]
    except KeyError:
        raise ValueError(f"optimizer.name: unknown optimizer {name!r}") from None


def training_graph_hooks(spec, batch_size: int):
    """What the spec's optimizer adds to the training graph (never to the user's network), as hooks the builder
    calls while it applies the layers (`applied(layer, inputs, output)`, `before_output(layer, x)`); None:
    nothing. SDAGD with its Gauss–Newton curvature: the taps of vg_studio.nn.curvature."""
    if spec.optimizer.name == "sdagd":
        from vg_studio.nn.sdagd import uses_gauss_newton

        if uses_gauss_newton(spec.optimizer.params):
            from vg_studio.nn.curvature import GaussNewtonPlan

            examples = spec.optimizer.params.get("curvature_examples", SDAGD_DEFAULTS["curvature_examples"])
            return GaussNewtonPlan.for_spec(spec, batch_size, int(examples))
    return None


def make_optimizer(spec: OptimizerSpec, batch_size: int | None = None) -> keras.optimizers.Optimizer:
    """`batch_size` (the training batch size, `training.batch_size`) is what SDAGD's curvature estimate is scaled
    by: it always wins over a `batch_size` an older spec still carries in SDAGD's params."""
    kwargs = dict(spec.params)
    if spec.name == "sdagd":
        kwargs.pop("batch_size", None)
        if batch_size is not None:
            kwargs["batch_size"] = batch_size
    if spec.name == "sgd_momentum":
        kwargs.setdefault("momentum", 0.9)
    for clip in ("clipnorm", "clipvalue", "global_clipnorm"):
        if getattr(spec, clip) is not None:
            kwargs[clip] = getattr(spec, clip)
    try:
        return optimizer_class(spec.name)(learning_rate=spec.learning_rate, **kwargs)
    except ValueError as exc:  # a hyperparameter out of range (SDAGD's norm_scope, SGD's momentum): one line
        raise SpecError([f"optimizer.params: {exc}"]) from None
