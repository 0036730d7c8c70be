"""Probe columns: which Keras variables each column of a run groups, and the unit statistics' taps.

A user's Keras model as probe columns: one per layer that owns trainable weights, input → output. Inside a nested
model or a block of the user's own made of sublayers, one per inner layer that owns weights, named by its path
(`generator/conv2d_transpose_1`) and grouped under the top-level layer's name (`expand_nested=False`: the nested
model or block is one column under its own name). Keras's own composite layers (recurrent layers, attention,
wrappers) are one column each. Functional and Sequential models are ordered by their graph; a model or block
without one by the order its layers run in one forward pass (traced once on an example batch; attribute order
if that fails).

Activations: a layer's own `activation`, or — when that is linear or absent — that of an activation layer
(Activation, ReLU, LeakyReLU, PReLU, ELU, Softmax) that alone consumes its output. Unit statistics are tapped only
where the activation is the last thing the layer (or that activation layer) applies — Dense, EinsumDense,
convolutions, the activation layers. They are read on the activation's outputs (σ(z) beyond σ(±5), a ReLU output of
exactly 0) where the activation is monotone on its flat and dead regions; for one that is not (swish/silu, GELU,
mish) on the pre-activations z: the activation layer's input, or the layer's input put through the layer's own
linear part (`pre_activation`: its kernel and bias with Keras's ops, the user's layer untouched). For recurrent
cells, attention, normalization, embeddings and nested blocks they stay NaN (not measured), never 0.
"""

from __future__ import annotations

import logging
import re
import weakref
from dataclasses import dataclass

import keras
import numpy as np

from vg_studio.train.units import dead_fraction, is_measurable, saturated_fraction

log = logging.getLogger(__name__)

_SIDE_MODELS: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()  # model -> {taps: side model}

ACTIVATION_LAYERS = {"Activation": None, "ReLU": "relu", "LeakyReLU": "leaky_relu", "PReLU": "prelu", "ELU": "elu",
                     "Softmax": "softmax"}
# Layers whose output is activation(z) of their own pre-activation z: the unit statistics can be read off it.
TAPPABLE = ("Dense", "EinsumDense", "Conv1D", "Conv2D", "Conv3D", "SeparableConv1D", "SeparableConv2D",
            "DepthwiseConv1D", "DepthwiseConv2D", "Conv1DTranspose", "Conv2DTranspose", "Conv3DTranspose")


@dataclass
class Column:
    """One probe column: a spec layer group or one of a user model's layers with trainable weights."""

    name: str
    activation: str  # "" when not known (then its unit statistics stay NaN)
    kind: str  # "dense", "conv2d", "lstm", "batch_normalization", …
    units: int  # output width: units / filters / features
    variables: list  # the Keras variables it groups (host side only; never sent in an event)
    group: str = ""  # the top-level layer it belongs to (a nested model's or block's name); "": its own name


class UnitTaps:
    """Dead/saturated fractions per column from a probe batch. `taps`: (column index, activation, post) where the
    tapped values are pre-activations (post False) or the activation's outputs (post True). `transforms`: per tap,
    None or a function turning the tapped tensor into those values (a layer's input into its pre-activations)."""

    def __init__(self, n_columns: int, taps: list, probe_x, predict, transforms: list | None = None):
        self.n_columns, self.taps, self.probe_x, self.predict = n_columns, taps, probe_x, predict
        self.transforms = transforms or [None] * len(taps)

    @classmethod
    def from_graph(cls, model: keras.Model, n_columns: int, taps: list, probe_x, transforms: list | None = None):
        """`taps`: (column index, symbolic tensor of `model`'s graph, activation, post). The side model reading
        them is kept per model, so its compiled predict step is traced once for every run of that model."""
        if not taps or probe_x is None:
            return None
        key = tuple(id(t) for _, t, _, _ in taps)
        sides = _SIDE_MODELS.setdefault(model, {})
        if key not in sides:
            sides[key] = keras.Model(model.input, [t for _, t, _, _ in taps])
        side = sides[key]

        def predict(x):
            out = side.predict_on_batch(x)
            return list(out) if isinstance(out, (list, tuple)) else [out]

        return cls(n_columns, [(c, a, p) for c, _, a, p in taps], probe_x, predict, transforms)

    def measure(self) -> dict:
        values = self.predict(self.probe_x)
        saturated, dead = np.full(self.n_columns, np.nan), np.full(self.n_columns, np.nan)
        for (column, activation, post), z, transform in zip(self.taps, values, self.transforms):
            if transform is not None:
                z = transform(z)
            z = np.asarray(keras.ops.convert_to_numpy(z), dtype=np.float32)
            saturated[column] = saturated_fraction(activation, z, post)
            dead[column] = dead_fraction(activation, z, post)
        return {"saturated_fraction": saturated, "dead_fraction": dead}


def model_columns_and_taps(model: keras.Model, probe_x=None, expand_nested: bool = True) -> tuple:
    """The default column plan of a recorder: `model_columns` (ordered on the first two probe examples) and the
    unit statistics on `probe_x` where the activations are known."""
    example = first_rows(probe_x, 2) if probe_x is not None else None
    columns, taps = model_columns(model, example, expand_nested)
    return columns, unit_taps(model, len(columns), taps, probe_x)


def first_rows(data, n: int):
    if isinstance(data, dict):
        return {k: np.asarray(v)[:n] for k, v in data.items()}
    if isinstance(data, (list, tuple)):
        return [np.asarray(v)[:n] for v in data]
    return np.asarray(data)[:n]


def kind_of(layer) -> str:
    """The layer's class in Keras's own default-name style: Conv2D -> conv2d, LSTM -> lstm, MultiHeadAttention ->
    multi_head_attention, a nested model -> sequential / functional."""
    name = re.sub(r"\W+", "", type(layer).__name__)
    name = re.sub("(.)([A-Z][a-z]+)", r"\1_\2", name)
    return re.sub("([a-z])([A-Z])", r"\1_\2", name).lower()


def activation_name(layer) -> str:
    """The layer's own activation ("" when it has none)."""
    cls = type(layer).__name__
    if cls in ACTIVATION_LAYERS and ACTIVATION_LAYERS[cls] is not None:
        if cls == "ReLU" and (getattr(layer, "negative_slope", 0) or getattr(layer, "threshold", 0)):
            return "leaky_relu"
        return ACTIVATION_LAYERS[cls]
    fn = getattr(layer, "activation", None)
    if fn is None or not callable(fn):
        return ""
    try:
        name = keras.activations.serialize(fn)
    except Exception:  # a custom callable Keras cannot name
        return getattr(fn, "__name__", "")
    if isinstance(name, dict):
        name = name.get("config", {}).get("name", "") or name.get("class_name", "")
    return str(name or "")


def units_of(layer, output_shape) -> int:
    for attr in ("units", "filters", "output_dim"):
        value = getattr(layer, attr, None)
        if isinstance(value, int):
            return value
    try:
        return int(output_shape[-1])
    except (TypeError, IndexError, ValueError):
        return 0


def model_columns(model: keras.Model, example=None, expand_nested: bool = True) -> tuple[list, list]:
    """(columns, taps): taps are (column index, tapped layer, activation, post) for the unit statistics: read on
    the tapped layer's output (post True), or on its pre-activations (post False: an activation layer's input, a
    weighted layer's input through `pre_activation`). `example`: a batch of inputs, to order the layers of a model or block that has no graph.
    `expand_nested`: one column per layer that owns weights inside nested models and custom blocks too (named by
    their path, grouped by the top-level layer); else one column per top-level layer."""
    descendants = list(model._flatten_layers(include_self=False))
    traced = not _is_graph(model) or (expand_nested and any(_expandable(layer) and not _is_graph(layer)
                                                            for layer in descendants))
    order = _call_order(model, descendants, example) if traced else None
    builder = _ColumnBuilder(expand_nested, order)
    layers, outputs, consumers = _children(model, order)
    for layer in layers:
        builder.add(layer, layer.name, layer.name, outputs, consumers)
    leftover = [v for v in model.trainable_variables if id(v) not in builder.seen]
    if leftover:  # weights the model owns itself (a subclassed model's add_weight)
        builder.columns.append(Column(model.name, "", kind_of(model), 0, leftover, model.name))
    return builder.columns, builder.taps


class _ColumnBuilder:
    def __init__(self, expand_nested: bool, order):
        self.expand, self.order = expand_nested, order
        self.columns, self.taps, self.seen = [], [], set()

    def add(self, layer, path: str, group: str, outputs: dict, consumers: dict) -> None:
        if self.expand and _expandable(layer):
            inner, inner_outputs, inner_consumers = _children(layer, self.order)
            for sub in inner:
                self.add(sub, f"{path}/{sub.name}", group, inner_outputs, inner_consumers)
            own = [v for v in layer.trainable_variables if id(v) not in self.seen]
            if own:  # weights the block holds itself, beside its sublayers'
                self.seen.update(id(v) for v in own)
                self.columns.append(Column(path, "", kind_of(layer), 0, own, group))
            return
        variables = [v for v in layer.trainable_variables if id(v) not in self.seen]
        if not variables:
            return
        self.seen.update(id(v) for v in variables)
        own = activation_name(layer)
        activation, tap = own, layer if type(layer).__name__ in TAPPABLE else None
        after = consumers.get(id(layer), [])
        if own in ("", "linear") and len(after) == 1 and type(after[0]).__name__ in ACTIVATION_LAYERS:
            activation, tap = activation_name(after[0]), after[0]  # e.g. Conv2D → BatchNormalization → ReLU
        if isinstance(layer, keras.Model) or _has_sublayers(layer):
            activation, tap = _common_activation(layer) or activation, None
        post = is_measurable(activation, post_activation=True)
        if not post and not (is_measurable(activation) and tap is not None
                             and (tap is not layer or pre_activation_known(layer))):
            tap = None  # an activation whose flat and dead regions are not known where it can be read: NaN, never 0
        if tap is not None:
            self.taps.append((len(self.columns), tap, activation, post))
        self.columns.append(Column(path, activation, kind_of(layer), units_of(layer, outputs.get(id(layer))),
                                   variables, group))


def _is_graph(layer) -> bool:
    """A Functional or Sequential model: its layers' order and connections are its graph."""
    if isinstance(layer, keras.Sequential):
        return True
    return getattr(layer, "_operations", None) is not None and bool(getattr(layer, "inputs", None))


def _expandable(layer) -> bool:
    """A nested model, or a block of the user's own made of sublayers (Keras's composite layers — recurrent
    layers, attention, wrappers — stay one column each)."""
    if isinstance(layer, keras.Model):
        return True
    return _has_sublayers(layer) and not type(layer).__module__.startswith("keras.")


def first_recurrent_layer(model):
    """The model's first recurrent layer (input → output; inside nested models too), or None."""
    def walk(container):
        for layer in _children(container, None)[0]:
            if isinstance(layer, (keras.layers.RNN, keras.layers.Bidirectional)):
                return layer
            if _has_sublayers(layer):
                found = walk(layer)
                if found is not None:
                    return found
        return None

    try:
        return walk(model)
    except Exception:  # a model whose layers cannot be listed: no time-step probe, nothing else lost
        log.info("could not look for a recurrent layer in %s", model.name)
        return None


def _has_sublayers(layer) -> bool:
    try:
        return any(sub is not layer for sub in layer._flatten_layers(include_self=False))
    except Exception:
        return False


def _common_activation(layer) -> str:
    """The activation every weighted sublayer of a block agrees on, else ""."""
    names = set()
    for sub in layer._flatten_layers(include_self=False):
        if sub.trainable_weights and not _has_sublayers(sub):
            name = activation_name(sub)
            if name and name != "linear":
                names.add(name)
    return names.pop() if len(names) == 1 else ""


def _children(container, order):
    """(the container's direct sublayers input → output, {id(layer): output shape}, {id(layer): layers consuming
    its output}): by the graph of a Functional or Sequential model, else by `order` (the first call of each layer in
    one forward pass; attribute order where unknown)."""
    if isinstance(container, keras.Model):
        layers = [layer for layer in container.layers if not isinstance(layer, keras.layers.InputLayer)]
    else:
        layers = list(container._flatten_layers(include_self=False, recursive=False))
    outputs, consumers = {}, {}
    if isinstance(container, keras.Sequential):  # its layers in order, each consuming the one before
        for a, b in zip(layers, layers[1:]):
            consumers[id(a)] = [b]
        for layer in layers:
            try:
                outputs[id(layer)] = tuple(layer.output.shape)
            except (AttributeError, ValueError):  # built without an Input: known once it ran
                pass
        return layers, outputs, consumers
    if _is_graph(container):
        members = {id(layer) for layer in layers}
        for layer in layers:
            try:
                outputs[id(layer)] = tuple(layer.output.shape)
            except (AttributeError, ValueError):  # a layer used more than once has several outputs
                pass
            for node in layer._inbound_nodes:
                for parent in node.parent_nodes:
                    if id(parent.operation) in members:
                        consumers.setdefault(id(parent.operation), []).append(layer)
        return layers, outputs, consumers
    if order:
        ranked = sorted(layers, key=lambda layer: order.get(id(layer), (len(order), 0))[0])
        for layer in ranked:
            if id(layer) in order:
                outputs[id(layer)] = order[id(layer)][1]
        called = [layer for layer in ranked if id(layer) in order]
        for a, b in zip(called, called[1:]):  # no graph: the next layer called
            consumers[id(a)] = [b]
        return ranked, outputs, consumers
    return layers, outputs, consumers


def unit_taps(model: keras.Model, n_columns: int, taps: list, probe_x):
    """The unit statistics of a user's model on `probe_x` (None without a probe batch or taps): a compiled side
    model for a graph model, one eager forward pass recording the tapped layers' inputs or outputs otherwise."""
    if probe_x is None or not taps:
        return None
    transforms = [None if post or type(layer).__name__ in ACTIVATION_LAYERS else _pre_activation_of(layer)
                  for _, layer, _, post in taps]
    if getattr(model, "_operations", None) is not None and getattr(model, "inputs", None):
        try:
            return UnitTaps.from_graph(model, n_columns, [(c, layer.output if post else layer.input, a, post)
                                                          for c, layer, a, post in taps], probe_x, transforms)
        except (AttributeError, ValueError) as exc:  # a tapped layer used twice has no single input or output
            log.info("unit statistics through a side model failed (%s); reading them in an eager pass", exc)

    def predict(x):
        captured = {}
        layers = [layer for _, layer, _, _ in taps]
        posts = {id(layer): post for _, layer, _, post in taps}
        with _recording_calls(layers, lambda layer, inputs, out: captured.setdefault(
                id(layer), out if posts[id(layer)] else inputs)):
            model(x, training=False)
        return [captured.get(id(layer), np.full((1, 1), np.nan)) for layer in layers]

    return UnitTaps(n_columns, [(c, a, post) for c, _, a, post in taps], probe_x, predict, transforms)


def _pre_activation_of(layer):
    return lambda x: pre_activation(layer, x)


def _kinds(layer) -> set:
    return {cls.__name__ for cls in type(layer).__mro__}


def pre_activation_known(layer) -> bool:
    """Whether `pre_activation` knows the layer's linear part (not for a quantized layer: its kernel is stored
    in another form)."""
    if getattr(layer, "quantization_mode", None):
        return False
    return bool(_kinds(layer) & {"Dense", "EinsumDense", "BaseConv", "BaseConvTranspose", "BaseDepthwiseConv",
                                 "BaseSeparableConv"})


def pre_activation(layer, x):
    """The layer's output before its own activation for the input `x`, with its current weights: the layer's own
    linear part (matmul/einsum/convolution, then bias) computed with Keras's ops, channels last."""
    ops, kinds = keras.ops, _kinds(layer)
    x = ops.convert_to_tensor(x)
    if "Dense" in kinds:
        z = ops.matmul(x, layer.kernel)
    elif "EinsumDense" in kinds:
        z = ops.einsum(layer.equation, x, layer.kernel)
    elif "BaseConvTranspose" in kinds:
        z = ops.conv_transpose(x, layer.kernel, strides=list(layer.strides), padding=layer.padding,
                               output_padding=layer.output_padding, dilation_rate=layer.dilation_rate,
                               data_format=layer.data_format)
    elif "BaseDepthwiseConv" in kinds:
        z = ops.depthwise_conv(x, layer.kernel, strides=layer.strides, padding=layer.padding,
                               dilation_rate=layer.dilation_rate, data_format=layer.data_format)
    elif "BaseSeparableConv" in kinds:
        z = ops.separable_conv(x, layer.depthwise_kernel, layer.pointwise_kernel, strides=layer.strides,
                               padding=layer.padding, dilation_rate=layer.dilation_rate,
                               data_format=layer.data_format)
    elif "BaseConv" in kinds:
        z = layer.convolution_op(x, layer.kernel)  # strides, padding, dilation and groups as the layer has them
    else:
        raise ValueError(f"no known linear part for a {type(layer).__name__} layer")
    bias = getattr(layer, "bias", None) if getattr(layer, "use_bias", True) else None
    channels_first = getattr(layer, "data_format", "channels_last") == "channels_first"
    if bias is not None:
        if "EinsumDense" in kinds:
            z = ops.add(z, bias)
        else:
            rank = len(z.shape) - 2
            z = ops.add(z, ops.reshape(bias, (1, -1) + (1,) * rank if channels_first else (1,) * (rank + 1) + (-1,)))
    if channels_first:  # the unit statistics take a unit's values along the last axis
        z = ops.moveaxis(z, 1, -1)
    return z


class _recording_calls:
    """Within the block, every call of `layers` also hands (layer, its first input, output) to `record` (an instance
    attribute shadows the class's `call`; Keras's `__call__` looks `call` up on the instance)."""

    def __init__(self, layers, record):
        self.layers, self.record, self.originals = list(layers), record, {}

    def __enter__(self):
        for layer in self.layers:
            self.originals[id(layer)] = (layer, layer.__dict__.get("call"))
            object.__setattr__(layer, "call", self._wrap(layer, layer.call))
        return self

    def _wrap(self, layer, call):
        def wrapped(*args, **kwargs):
            out = call(*args, **kwargs)
            self.record(layer, args[0] if args else next(iter(kwargs.values()), None), out)
            return out
        return wrapped

    def __exit__(self, *exc):
        for layer, original in self.originals.values():
            if original is None:
                layer.__dict__.pop("call", None)
            else:
                object.__setattr__(layer, "call", original)
        return False


def _call_order(model, layers, example):
    """{id(layer): (position of its first call, output shape)} from one eager forward pass, or None."""
    if example is None:
        example = example_input(model)
    if example is None:
        return None
    order = {}

    def record(layer, inputs, out):
        if id(layer) not in order:
            order[id(layer)] = (len(order), tuple(getattr(out, "shape", ()) or ()))

    try:
        with _recording_calls(layers, record):
            model(example, training=False)
    except Exception as exc:  # the order is a nicety: fall back to attribute order
        log.info("could not trace %s's layer order (%s); using attribute order", model.name, exc)
        return None
    return order


def example_input(model):
    """Two zero examples shaped like the model's input (from its build shape), or None if unknown."""
    shapes = getattr(model, "_build_shapes_dict", None) or {}
    shape = next(iter(shapes.values()), None)
    if shape is None or not isinstance(shape, (tuple, list)) or any(d is None for d in shape[1:]):
        return None
    first = next((layer for layer in model.layers if layer.trainable_weights), None)
    dtype = "int32" if type(first).__name__ == "Embedding" else "float32"
    return np.zeros((2, *shape[1:]), dtype=dtype)
