"""Every change to an experiment spec, as a pure function spec → new spec.

The builder, the optimizer and data panels, the CLI's flags and the diagnostic fixes all change a spec through
these functions, so a rule such as "new layers copy the last one" or "switching the optimizer resets its
hyperparameters but keeps the clipping" is written once. Specs are immutable: nothing here changes its argument.

Edits do not validate: the builder must be able to hold a network that is invalid half-way through a change (a
recurrent layer moved behind a dense one) and show what is wrong. Call `spec.check()` before using the result.
Edits that would make a spec absurdly large (a depth beyond the limit) raise SpecError at once instead.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

from vg_studio import catalog
from vg_studio.limits import LIMITS
from vg_studio.spec import ExperimentSpec, LayerSpec, SpecError, dataset_options_model

Layers = tuple[LayerSpec, ...]


# ---- sections ----------------------------------------------------------------------------------------------
def set_field(spec: ExperimentSpec, path: str, value: Any) -> ExperimentSpec:
    """A field of a section or of the spec itself: set_field(spec, "training.epochs", 3), (spec, "name", "x")."""
    *sections, name = path.split(".")
    if not sections:
        return spec.model_copy(update={name: value})
    if len(sections) != 1 or sections[0] not in ("data", "network", "optimizer", "training", "monitoring",
                                                 "diagnostics"):
        raise ValueError(f"set_field: {path!r} is not a section field (use the layer edits for layers)")
    section = getattr(spec, sections[0])
    return spec.model_copy(update={sections[0]: section.model_copy(update={name: value})})


def set_name(spec: ExperimentSpec, name: str) -> ExperimentSpec:
    return set_field(spec, "name", name)


def set_threshold(spec: ExperimentSpec, name: str, value: float | None) -> ExperimentSpec:
    """One diagnosis threshold (docs/diagnostics.md); None restores its default."""
    fields = type(spec.diagnostics).model_fields
    if name not in fields:
        raise SpecError([f"diagnostics.{name}: unknown threshold"])
    return set_field(spec, f"diagnostics.{name}", fields[name].default if value is None else value)


# ---- data --------------------------------------------------------------------------------------------------
def set_dataset(spec: ExperimentSpec, dataset: str) -> ExperimentSpec:
    """Another dataset; options it does not take (a sequence length, an image size) are dropped."""
    accepted = dataset_options_model(dataset).model_fields
    options = {k: v for k, v in spec.data.options.items() if k in accepted}
    return spec.model_copy(update={"data": spec.data.model_copy(update={"dataset": dataset, "options": options})})


def set_data_option(spec: ExperimentSpec, key: str, value: Any) -> ExperimentSpec:
    """One dataset option; None removes it (the dataset's default applies)."""
    options = {k: v for k, v in spec.data.options.items() if k != key}
    if value is not None:
        options[key] = value
    return spec.model_copy(update={"data": spec.data.model_copy(update={"options": options})})


# ---- layers ------------------------------------------------------------------------------------------------
def _with_layers(spec: ExperimentSpec, layers) -> ExperimentSpec:
    return spec.model_copy(update={"network": spec.network.model_copy(update={"layers": tuple(layers)})})


def set_layers(spec: ExperimentSpec, layers) -> ExperimentSpec:
    return _with_layers(spec, layers)


def _template(layers: Layers, index: int | None = None) -> LayerSpec:
    """The layer a new one copies: the given one, else the last, else the default layer."""
    if index is not None and 0 <= index < len(layers):
        return layers[index]
    return layers[-1] if layers else LayerSpec()


def set_depth(spec: ExperimentSpec, depth: int) -> ExperimentSpec:
    """`depth` hidden layers: extra ones are dropped from the output side; new ones copy the last layer."""
    if depth < 0:
        raise SpecError(["network.layers: the number of hidden layers must be >= 0"])
    if depth > LIMITS.layers:
        raise SpecError([f"network.layers: {depth:,} hidden layers; at most {LIMITS.layers} are supported "
                         "(the limit layers; VG_STUDIO_LIMITS raises it)"])
    layers = spec.network.layers
    return _with_layers(spec, layers[:depth] + (_template(layers),) * max(0, depth - len(layers)))


def add_layer(spec: ExperimentSpec, after: int | None = None, layer: LayerSpec | None = None) -> ExperimentSpec:
    """A new layer after index `after` (default: at the end), a copy of that layer unless one is given."""
    layers = spec.network.layers
    at = len(layers) if after is None or not 0 <= after < len(layers) else after + 1
    if len(layers) >= LIMITS.layers:
        raise SpecError([f"network.layers: at most {LIMITS.layers} hidden layers are supported"])
    new = layer if layer is not None else _template(layers, after)
    return _with_layers(spec, layers[:at] + (new,) + layers[at:])


def duplicate_layer(spec: ExperimentSpec, index: int) -> ExperimentSpec:
    return add_layer(spec, after=index)


def remove_layer(spec: ExperimentSpec, index: int) -> ExperimentSpec:
    layers = spec.network.layers
    return _with_layers(spec, layers[:index] + layers[index + 1:]) if 0 <= index < len(layers) else spec


def move_layer(spec: ExperimentSpec, index: int, to: int) -> ExperimentSpec:
    """Move layer `index` to position `to` (the others keep their order)."""
    layers = list(spec.network.layers)
    if not (0 <= index < len(layers) and 0 <= to < len(layers)) or index == to:
        return spec
    layers.insert(to, layers.pop(index))
    return _with_layers(spec, layers)


def _indices(spec: ExperimentSpec, where) -> list[int]:
    """Layer indices: all (None), one (an int), several (an iterable) or those a predicate accepts."""
    n = len(spec.network.layers)
    if where is None:
        return list(range(n))
    if isinstance(where, int):
        return [where] if 0 <= where < n else []
    if callable(where):
        return [i for i, layer in enumerate(spec.network.layers) if where(layer)]
    return [i for i in where if 0 <= i < n]


def update_layers(spec: ExperimentSpec, where=None, **fields: Any) -> ExperimentSpec:
    """Set fields on some layers: update_layers(spec, 2, units=64), (spec, None, dropout=0.1) for all,
    (spec, lambda layer: layer.kind == "dense", batch_norm=True)."""
    chosen = set(_indices(spec, where))
    if not chosen:
        return spec
    return _with_layers(spec, [layer.model_copy(update=fields) if i in chosen else layer
                               for i, layer in enumerate(spec.network.layers)])


def set_layer_field(spec: ExperimentSpec, index: int, name: str, value: Any) -> ExperimentSpec:
    """One field of one layer; the kind and the activation go through their own edits (they bring others along)."""
    if name == "kind":
        return set_kind(spec, value, index)
    if name == "activation":
        return set_activation(spec, value, index)
    return update_layers(spec, index, **{name: value})


def _kind_update(layer: LayerSpec, kind: str) -> dict:
    """A layer of another kind: options the kind lacks are cleared, an activation the gated cells refuse is tanh."""
    recurrent = kind in catalog.RECURRENT_KINDS
    update: dict[str, Any] = {"kind": kind}
    update.update({name: False for name in (catalog.DENSE_ONLY_OPTIONS if recurrent else
                                            catalog.RECURRENT_ONLY_OPTIONS)})
    if kind in catalog.GATED_KINDS and layer.activation not in catalog.GATED_ACTIVATIONS:
        update["activation"] = "tanh"
    elif recurrent and layer.activation == "prelu":
        update["activation"] = "tanh"
    return update


def set_kind(spec: ExperimentSpec, kind: str, where=None) -> ExperimentSpec:
    chosen = set(_indices(spec, where))
    return _with_layers(spec, [layer.model_copy(update=_kind_update(layer, kind)) if i in chosen else layer
                               for i, layer in enumerate(spec.network.layers)])


def matching_initializer(activation: str) -> str:
    return catalog.MATCHING_INITIALIZER.get(activation, "glorot_uniform")


def set_activation(spec: ExperimentSpec, activation: str, where=None, initializer: str | None = None) \
        -> ExperimentSpec:
    """A new activation on some layers (all by default). The initializer becomes `initializer` when given;
    otherwise a layer whose initializer matched its old activation gets the one that matches the new one (He for
    ReLU…) and a layer whose initializer the user chose keeps it."""
    def changed(layer: LayerSpec) -> LayerSpec:
        init = initializer or (matching_initializer(activation)
                               if layer.initializer == matching_initializer(layer.activation) else layer.initializer)
        return layer.model_copy(update={"activation": activation, "initializer": init})

    chosen = set(_indices(spec, where))
    return _with_layers(spec, [changed(layer) if i in chosen else layer for i, layer in enumerate(spec.network.layers)])


# ---- optimizer ---------------------------------------------------------------------------------------------
def set_optimizer(spec: ExperimentSpec, name: str) -> ExperimentSpec:
    """Switch optimizer: the learning rate and hyperparameters become the new optimizer's defaults (a rate tuned
    for SGD means nothing to Adam, and a same-named hyperparameter — epsilon — can mean something else); gradient
    clipping carries over. Choosing the current optimizer changes nothing."""
    if name == spec.optimizer.name:
        return spec
    defaults = catalog.OPTIMIZERS.get(name, {"learning_rate": spec.optimizer.learning_rate, "params": {}})
    return spec.model_copy(update={"optimizer": spec.optimizer.model_copy(update={
        "name": name, "learning_rate": defaults["learning_rate"], "params": dict(defaults["params"])})})


def set_optimizer_param(spec: ExperimentSpec, key: str, value: Any) -> ExperimentSpec:
    """One hyperparameter; None removes it (the optimizer's default applies)."""
    params = {k: v for k, v in spec.optimizer.params.items() if k != key}
    if value is not None:
        params[key] = value
    return set_field(spec, "optimizer.params", params)


CLIPS = ("clipnorm", "clipvalue", "global_clipnorm")


def set_clipping(spec: ExperimentSpec, kind: str | None, value: float | None = None) -> ExperimentSpec:
    """One kind of gradient clipping ("clipnorm", "clipvalue", "global_clipnorm") or none (None/"none"). Without
    a value the current clipping value (or 1.0) is kept."""
    current = next((getattr(spec.optimizer, c) for c in CLIPS if getattr(spec.optimizer, c) is not None), 1.0)
    update = {c: None for c in CLIPS}
    if kind not in (None, "none"):
        update[kind] = current if value is None else value
    return spec.model_copy(update={"optimizer": spec.optimizer.model_copy(update=update)})


# ---- fixes -------------------------------------------------------------------------------------------------
# What each diagnostic fix does to a spec (vg_studio.diagnose.fixes holds their titles and explanations). A fix
# touches only the layers it fits: activation fixes skip recurrent layers, attention/residual/BatchNorm go on dense
# layers only, the gated-cell fixes replace SimpleRNN only.
def _dense(layer: LayerSpec) -> bool:
    return layer.kind == "dense"


def _replace_saturating(activation: str) -> Callable[[ExperimentSpec], ExperimentSpec]:
    def edit(spec: ExperimentSpec) -> ExperimentSpec:
        saturating = _indices(spec, lambda layer: _dense(layer) and layer.activation in catalog.SATURATING)
        return set_activation(spec, activation, saturating or _indices(spec, _dense),
                              initializer=matching_initializer(activation))
    return edit


def _initializer(name: str) -> Callable[[ExperimentSpec], ExperimentSpec]:
    return lambda spec: update_layers(spec, None, initializer=name)


def _dense_flag(name: str) -> Callable[[ExperimentSpec], ExperimentSpec]:
    return lambda spec: update_layers(spec, _dense, **{name: True})


def _optimizer(name: str) -> Callable[[ExperimentSpec], ExperimentSpec]:
    return lambda spec: set_optimizer(spec, name)


def _raise_learning_rate(spec: ExperimentSpec) -> ExperimentSpec:
    default = catalog.OPTIMIZERS[spec.optimizer.name]["learning_rate"]
    lr = spec.optimizer.learning_rate
    return set_field(spec, "optimizer.learning_rate", default if lr <= 0 else max(lr * 10.0, min(default, lr * 100.0)))


def _relu_to_leaky(spec: ExperimentSpec) -> ExperimentSpec:
    spec = set_activation(spec, "leaky_relu", lambda layer: _dense(layer) and layer.activation in catalog.DYING)
    return update_layers(spec, lambda layer: layer.bias_init < 0, bias_init=0.0)


def _gated(kind: str) -> Callable[[ExperimentSpec], ExperimentSpec]:
    def edit(spec: ExperimentSpec) -> ExperimentSpec:
        simple = _indices(spec, lambda layer: layer.kind == "simple_rnn")
        return update_layers(set_kind(spec, kind, simple), simple, activation="tanh") if simple else spec
    return edit


def _shorter_sequence(spec: ExperimentSpec) -> ExperimentSpec:
    if spec.data.dataset not in ("adding", "recall"):
        return spec
    length = spec.data.options.get("length", 100)
    return set_data_option(spec, "length", max(2, int(length) // 2))


def _aux_head(spec: ExperimentSpec) -> ExperimentSpec:
    """A midway classifier (Inception's auxiliary heads) after the middle dense layer, when there are >= 3."""
    dense = _indices(spec, _dense)
    return update_layers(spec, dense[len(dense) // 2 - 1], aux_head=True) if len(dense) >= 3 else spec


@dataclass(frozen=True)
class FixEdit:
    label: str  # how a fixed run's name says what changed: "deep-sigmoid-sgd + ReLU/He"
    edit: Callable[[ExperimentSpec], ExperimentSpec]


FIX_EDITS: dict[str, FixEdit] = {
    "relu_he": FixEdit("ReLU/He", _replace_saturating("relu")),
    "leaky_relu_he": FixEdit("LeakyReLU/He", _replace_saturating("leaky_relu")),
    "elu_he": FixEdit("ELU/He", _replace_saturating("elu")),
    "he_init": FixEdit("He init", _initializer("he_normal")),
    "xavier_init": FixEdit("Xavier init", _initializer("glorot_uniform")),
    "attention": FixEdit("attention", _dense_flag("attention")),
    "residual": FixEdit("residual", _dense_flag("residual")),
    "batch_norm": FixEdit("BatchNorm", _dense_flag("batch_norm")),
    "sdagd": FixEdit("SDAGD", _optimizer("sdagd")),
    "adam": FixEdit("Adam", _optimizer("adam")),
    "clip_gradients": FixEdit("clip 1", lambda spec: set_clipping(spec, "global_clipnorm", 1.0)),
    "lower_lr": FixEdit("lr ÷10", lambda spec: set_field(spec, "optimizer.learning_rate",
                                                         spec.optimizer.learning_rate / 10.0)),
    "raise_lr": FixEdit("higher lr", _raise_learning_rate),
    "zero_bias": FixEdit("bias 0", lambda spec: update_layers(spec, None, bias_init=0.0)),
    "leaky_relu": FixEdit("LeakyReLU", _relu_to_leaky),
    "aux_head": FixEdit("aux head", _aux_head),
    "lstm": FixEdit("LSTM", _gated("lstm")),
    "gru": FixEdit("GRU", _gated("gru")),
    "shorter_sequence": FixEdit("half length", _shorter_sequence),
}


def apply_fix(spec: ExperimentSpec, fix_id: str, rename: bool = True) -> ExperimentSpec:
    """The spec with a diagnostic fix applied; with `rename` its name says so ("deep-sigmoid-sgd + ReLU/He")."""
    try:
        fix = FIX_EDITS[fix_id]
    except KeyError:
        raise ValueError(f"unknown fix {fix_id!r}; expected one of {', '.join(FIX_EDITS)}") from None
    new = fix.edit(spec)
    if rename and new != spec:
        suffix = f" + {fix.label}"
        new = set_name(new, spec.name[:max(1, 200 - len(suffix))] + suffix)
    return new
