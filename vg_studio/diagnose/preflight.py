"""The pre-flight check: before training spends its budget, one forward pass of the first batch says whether the
initial weights let the signal through.

For each layer with a kernel of its own (Dense, convolutions) it measures the signal reaching it — the spread of
its input across the batch's examples (RMS over units of each unit's standard deviation), the part that carries
information about the input — and how that scale changes from the first such layer to the output layer. A signal
that collapses (or blows up) by more than `init_scale_total` while the kernels' scale is `init_weight_factor` or
more off the initializer that suits their activation (He for the ReLU family, Glorot for sigmoid/tanh, LeCun for
SELU) is a poor initialisation: the network starts with early layers whose output hardly depends on the input (or
with huge, saturating activations). A collapse with well-scaled weights (sigmoid's slope of at most 1/4 per layer)
is the activation's doing, the vanishing-gradient rule's business, not this one's.

    findings = preflight(model, x_batch)        # a built Keras model (Functional, Sequential or subclassed)

A subclassed model without a graph is measured by watching each layer's `call` during the forward pass (the layers
in the order it reaches them); a layer called twice (shared weights) leaves the model unmeasured: no finding.
"""

from __future__ import annotations

import math

import numpy as np

from vg_studio import catalog
from vg_studio.diagnose import fixes as fix_catalog
from vg_studio.diagnose.findings import Finding
from vg_studio.spec import DiagnosticsSpec

ACTIVATION_LAYERS = {"ReLU": "relu", "LeakyReLU": "leaky_relu", "PReLU": "prelu", "ELU": "elu"}


def signal_scale(values) -> float:
    """RMS over units of each unit's standard deviation across the batch (axis 0)."""
    flat = np.asarray(values, dtype=np.float64).reshape(len(values), -1)
    return float(np.sqrt(np.mean(np.var(flat, axis=0))))


def matching_std(activation: str, fan_in: int, fan_out: int) -> float:
    """The standard deviation of the initializer that keeps `activation`'s signal at its scale."""
    name = catalog.MATCHING_INITIALIZER.get(activation, "glorot_uniform")
    if name.startswith("he"):
        return math.sqrt(2.0 / fan_in)
    if name.startswith("lecun"):
        return math.sqrt(1.0 / fan_in)
    return math.sqrt(2.0 / (fan_in + fan_out))


def preflight(model, inputs, config=None, spec=None, batch_size: int = 256) -> list[Finding]:
    """Findings of poor initialisation from one forward pass of `inputs` (the first batch) through `model`.
    `spec`: the run's spec, to offer its fixes as spec edits (else advice for a user's own code)."""
    import keras

    config = DiagnosticsSpec.of(config)
    layers = _kernel_layers(model)
    if len(layers) < 3:
        return []  # two weight layers or fewer: no depth for a scale to collapse across
    x = inputs[:batch_size] if hasattr(inputs, "__getitem__") and not isinstance(inputs, dict) else inputs
    kept = [(v, v.numpy() if hasattr(v, "numpy") else keras.ops.convert_to_numpy(v))
            for v in model.non_trainable_variables]
    try:  # as the first training step sees it (BatchNorm with the batch's statistics) ...
        measured = _reached(model, layers, x)
    except (ValueError, TypeError):
        return []
    finally:  # ... without touching the model: BatchNorm's moving averages are put back
        for variable, value in kept:
            variable.assign(value)
    if measured is None:
        return []
    layers, reached = measured
    if len(layers) < 3:
        return []
    scales = [signal_scale(v) for v in reached]
    if not all(np.isfinite(scales)) or scales[0] <= 0:
        return []
    total = scales[-1] / scales[0]
    hidden = layers[:-1]  # the layers whose outputs feed the next: the output layer's own scale is the loss's
    gains = [scales[i + 1] / scales[i] if scales[i] > 0 else 0.0 for i in range(len(hidden))]
    ratios = [_weight_ratio(layer, _activation_after(model, layer)) for layer in hidden]
    ratios = [r for r in ratios if r is not None and r > 0]
    if not ratios:
        return []
    weights = float(np.exp(np.mean(np.log(ratios))))
    off_scale = total < 1.0 / config.init_scale_total or total > config.init_scale_total
    off_weights = weights < 1.0 / config.init_weight_factor or weights > config.init_weight_factor
    if not (off_scale and off_weights):
        return []
    named = [layer for layer, gain in zip(hidden, gains)
             if gain < 1.0 / config.init_scale_factor or gain > config.init_scale_factor] or hidden
    names = tuple(layer.name for layer in named)
    per_layer = total ** (1.0 / len(hidden)) if total > 0 else 0.0
    way = "collapses" if total < 1 else "blows up"
    evidence = {"signal_change": total, "per_layer_gain": per_layer, "weight_scale_vs_matching": weights,
                "layers_crossed": len(hidden), **{f"gain[{layer.name}]": g for layer, g in zip(hidden, gains)}}
    details = (f"The spread of the signal across the batch is {scales[0]:.3g} entering {layers[0].name} and "
               f"{scales[-1]:.3g} entering {layers[-1].name}: {total:.2g}× over {len(hidden)} layers, about "
               f"{per_layer:.2g}× per layer (threshold {config.init_scale_total:g}× in all).",
               f"The kernels' scale is {weights:.2g}× that of the initializer that suits their activations "
               f"(geometric mean; threshold {config.init_weight_factor:g}×).")
    message = (f"Before training, the signal {way} across the network ({total:.1e}× from the first layer to the "
               f"output) because the initial weights are {weights:.2g}× the scale that keeps it: a poor "
               "initialisation — " + ("the early layers' output hardly depends on the input." if total < 1 else
                                      "activations grow huge and saturate."))
    fixes, advice = _remedies(spec, model, named)
    return [Finding("poor_initialization", "warning", 0, 0, names, evidence, message, details, fixes, advice,
                    names, 0, "active", f"signal change {total:.2g}x beyond init_scale_total "
                                        f"{config.init_scale_total:g} with kernels {weights:.2g}x the matching scale")]


def _reached(model, layers, x) -> tuple[list, list] | None:
    """(the kernel layers in the order the forward pass reaches them, the input each receives on x): through a side
    model of a functional graph, or — a subclassed model without one — by watching each layer's `call` during
    one forward pass. None where a layer is called more than once (shared: its input is not one signal)."""
    import keras

    try:
        probe = keras.Model(model.inputs, [layer.input for layer in layers])
    except (AttributeError, ValueError, TypeError):
        return _traced(model, layers, x)
    return layers, [np.asarray(keras.ops.convert_to_numpy(v)) for v in probe(x, training=True)]


def _traced(model, layers, x) -> tuple[list, list] | None:
    import keras

    seen: list = []  # (layer, its input) in call order

    def watch(layer):
        original = layer.call

        def call(inputs, *args, **kwargs):
            seen.append((layer, np.asarray(keras.ops.convert_to_numpy(inputs))))
            return original(inputs, *args, **kwargs)
        return call

    # an instance attribute shadows the class's `call` (Keras's __call__ looks it up on the instance); put back below
    shadowed = [(layer, layer.__dict__.get("call")) for layer in layers]
    for layer in layers:
        object.__setattr__(layer, "call", watch(layer))
    try:
        model(x, training=True)
    finally:
        for layer, original in shadowed:
            if original is None:
                layer.__dict__.pop("call", None)
            else:
                object.__setattr__(layer, "call", original)
    called = [layer for layer, _ in seen]
    if len({id(layer) for layer in called}) != len(called):
        return None
    return called, [value for _, value in seen]


def _kernel_layers(model) -> list:
    """The layers with a kernel of their own that take an activation (Dense, convolutions), input to output."""
    out = []
    for layer in _flat_layers(model):
        if _kind(layer) in fix_catalog.ACTIVATION_KINDS and getattr(layer, "kernel", None) is not None:
            out.append(layer)
    return out


def _flat_layers(model) -> list:
    """Every layer, those of nested models in their place (their inputs then belong to the nested graph, which the
    probe cannot reach: such a model gives no finding)."""
    out = []
    for layer in getattr(model, "layers", []):
        out += _flat_layers(layer) if getattr(layer, "layers", None) else [layer]
    return out


def _kind(layer) -> str:
    import re

    name = re.sub("(.)([A-Z][a-z]+)", r"\1_\2", type(layer).__name__)
    return re.sub("([a-z])([A-Z])", r"\1_\2", name).lower()  # Keras's own default-name style: conv2d


def _own_activation(layer) -> str:
    import keras

    fn = getattr(layer, "activation", None)
    if fn is None:
        return ACTIVATION_LAYERS.get(type(layer).__name__, "")
    try:
        name = keras.activations.serialize(fn)
    except (TypeError, ValueError):
        return ""
    return name if isinstance(name, str) else ""


def _activation_after(model, layer) -> str:
    """The layer's own activation, or (when linear) that of the first activation layer after it in the model."""
    own = _own_activation(layer)
    if own not in ("", "linear"):
        return own
    layers = _flat_layers(model)
    for later in layers[layers.index(layer) + 1:]:
        if getattr(later, "kernel", None) is not None:
            break
        name = _own_activation(later)
        if name not in ("", "linear"):
            return name
    return own or "linear"


def _weight_ratio(layer, activation: str) -> float | None:
    kernel = np.asarray(layer.kernel)
    if kernel.ndim < 2 or kernel.size < 2:
        return None
    receptive = int(np.prod(kernel.shape[:-2])) if kernel.ndim > 2 else 1
    fan_in, fan_out = receptive * kernel.shape[-2], receptive * kernel.shape[-1]
    return float(np.std(kernel)) / matching_std(activation, fan_in, fan_out)


def _remedies(spec, model, named) -> tuple[tuple, tuple]:
    if spec is not None:
        return tuple(fix_catalog.fixes_for("poor_initialization", spec)), ()
    columns = [(layer.name, _kind(layer), _activation_after(model, layer)) for layer in named]
    return (), fix_catalog.advice_for("poor_initialization", columns, columns)
