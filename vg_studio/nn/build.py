"""Spec → keras.Model, plus the layer-group map the probes use.

Every hidden layer i of the spec becomes a small named group of Keras layers ("hidden_{i}_…"): the optional
attention block, a linear Dense, optional BatchNorm, a separate activation layer (so probes can read the
pre-activation), optional residual add and dropout. The output layer is "output". Only Keras's own layers are used,
so `model.keras` loads with plain `keras.saving.load_model`.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

import keras

from vg_studio import catalog
from vg_studio.nn.attention import attention_block, choose_tokens
from vg_studio.nn.params import count_params  # noqa: F401  (re-exported: build.count_params)
from vg_studio.spec import ExperimentSpec, LayerSpec


@dataclass
class LayerGroup:
    """One spec layer as the probes see it: its name, the Keras layers in it and the tap points."""

    name: str
    activation: str
    layer_names: list
    preact_layer: str | None  # Keras layer whose output is the pre-activation (for saturation/dead units)


def make_initializer(name: str, stddev: float = 0.05, seed: int | None = None):
    if name == "random_normal":
        return keras.initializers.RandomNormal(stddev=stddev, seed=seed)
    if name == "zeros":
        return keras.initializers.Zeros()
    classes = {
        "glorot_uniform": keras.initializers.GlorotUniform, "glorot_normal": keras.initializers.GlorotNormal,
        "he_normal": keras.initializers.HeNormal, "he_uniform": keras.initializers.HeUniform,
        "lecun_normal": keras.initializers.LecunNormal, "lecun_uniform": keras.initializers.LecunUniform,
    }
    return classes[name](seed=seed)


def make_activation(name: str, layer_name: str):
    if name == "leaky_relu":  # Causes & Solutions' 0.01x slope (Keras's Activation default would be 0.2)
        return keras.layers.LeakyReLU(negative_slope=0.01, name=layer_name)
    if name == "prelu":
        return keras.layers.PReLU(name=layer_name)
    return keras.layers.Activation(name, name=layer_name)


def build_model(spec: ExperimentSpec, input_shape: tuple, num_classes: int) -> keras.Model:
    """Build the user's network. Deterministic for a given `spec.training.seed`."""
    return build_models(spec, input_shape, num_classes).user


@dataclass
class TrainingModels:
    """The network to train and the user's network, sharing every layer (and so every weight).

    `train` adds what only training needs: auxiliary classifier heads (extra outputs), for a recurrent network the
    time-step probe on the input, and what the optimizer asks for (`vg_studio.nn.optimizers.training_graph_hooks`:
    SDAGD's Gauss–Newton taps). Without any of them, `train` is `user`."""

    user: keras.Model
    train: keras.Model
    aux_outputs: list  # names of the auxiliary heads' output layers, in `train.outputs` order after "output"
    aux_weights: list
    time_probe: "TimeStepProbe | None"


def build_models(spec: ExperimentSpec, input_shape: tuple, num_classes: int, batch_size: int | None = None,
                 ) -> TrainingModels:
    from vg_studio.nn.optimizers import training_graph_hooks

    keras.utils.set_random_seed(spec.training.seed)
    cache: dict = {}
    recurrent = any(layer.kind in catalog.RECURRENT_KINDS for layer in spec.network.layers)
    want_aux = any(layer.aux_head for layer in spec.network.layers)
    user_out, _ = _graph(spec, input_shape, num_classes, _Maker(cache), extras=False)
    user = keras.Model(user_out[0], user_out[1], name=model_name(spec.name))
    batch_size = batch_size or spec.training.batch_size
    hooks = training_graph_hooks(spec, batch_size)
    if not (want_aux or recurrent or hooks):
        return TrainingModels(user, user, [], [], None)
    probe = TimeStepProbe(name="time_step_probe") if recurrent else None
    cache["time_step_probe"] = probe
    (inputs, main), aux = _graph(spec, input_shape, num_classes, _Maker(cache, hooks), extras=True, hooks=hooks)
    train = keras.Model(inputs, [main] + [t for _, t, _ in aux], name=f"{user.name}_training")
    return TrainingModels(user, train, [n for n, _, _ in aux], [w for _, _, w in aux], probe)


class _Maker:
    """`make(name, factory)`: the layer called `name`, created once and shared by both graphs. With `hooks`
    (the optimizer's training-graph additions) every application of it is shown to `hooks.applied`, which may
    replace its output."""

    def __init__(self, cache: dict, hooks=None):
        self.cache, self.hooks = cache, hooks

    def __call__(self, name, factory):
        if name not in self.cache:
            self.cache[name] = factory()
        layer = self.cache[name]
        if self.hooks is None or layer is None:
            return layer
        return lambda inputs, **kwargs: self.hooks.applied(layer, inputs, layer(inputs, **kwargs))


def _graph(spec, input_shape, num_classes, make, extras: bool, hooks=None):
    """One pass over the spec; with `extras` the auxiliary heads and the time-step probe are included, and with
    `hooks` what the optimizer adds (it sees every layer applied and may wrap the output layer's input)."""
    seed = spec.training.seed
    layers = spec.network.layers
    inputs = keras.Input(shape=tuple(input_shape), name="input")
    x = inputs
    recurrent_first = bool(layers) and layers[0].kind in catalog.RECURRENT_KINDS
    if recurrent_first:
        if len(input_shape) == 3:  # images become sequences of rows: row-by-row MNIST
            x = make("rows", lambda: keras.layers.Reshape((input_shape[0], input_shape[1] * input_shape[2]),
                                                          name="rows"))(x)
        elif len(input_shape) == 1:  # a flat vector becomes a sequence of single features
            x = make("steps", lambda: keras.layers.Reshape((input_shape[0], 1), name="steps"))(x)
        if extras:
            x = make("time_step_probe", lambda: None)(x)
    elif len(input_shape) > 1:
        x = make("flatten", lambda: keras.layers.Flatten(name="flatten"))(x)
    image_rows = input_shape[0] if len(input_shape) > 1 else None
    aux = []
    for i, layer in enumerate(layers, start=1):
        following = layers[i] if i < len(layers) else None
        if layer.kind in catalog.RECURRENT_KINDS:
            sequences = layer.return_sequences or (following is not None and following.kind in catalog.RECURRENT_KINDS)
            x = make(f"hidden_{i}_{layer.kind}", lambda: _recurrent_layer(layer, i, seed + i, sequences))(x)
            if len(x.shape) == 3 and (following is None or following.kind not in catalog.RECURRENT_KINDS):
                x = make(f"hidden_{i}_flatten", lambda: keras.layers.Flatten(name=f"hidden_{i}_flatten"))(x)
        else:
            x = _hidden_layer(x, layer, i, seed=seed + i, image_rows=image_rows if i == 1 else None, make=make)
        if extras and layer.aux_head:
            head = x if len(x.shape) == 2 else make(f"aux_{i}_flatten", lambda: keras.layers.Flatten(
                name=f"aux_{i}_flatten"))(x)
            out = make(f"aux_{i}_head", lambda: keras.layers.Dense(num_classes, activation="softmax",
                                                                     name=f"aux_{i}_head"))(head)
            aux.append((f"aux_{i}_head", out, layer.aux_weight))
    output_layer = make("output", lambda: keras.layers.Dense(
        num_classes, activation=spec.network.output_activation, name="output",
        kernel_initializer=make_initializer(spec.network.output_initializer, seed=seed + 10_000)))
    if hooks is not None:
        x = hooks.before_output(make.cache["output"], x)
    return (inputs, output_layer(x)), aux


def _recurrent_layer(layer: LayerSpec, i: int, seed: int, return_sequences: bool):
    cls = getattr(keras.layers, catalog.LAYER_KIND_TABLE[layer.kind].keras_class)
    return cls(layer.units, activation=layer.activation, return_sequences=return_sequences, dropout=layer.dropout,
               kernel_initializer=make_initializer(layer.initializer, layer.init_stddev, seed),
               bias_initializer=keras.initializers.Constant(layer.bias_init), seed=seed,
               name=f"hidden_{i}_{layer.kind}")


class TimeStepProbe(keras.layers.Layer):
    """Training-only identity on the input sequence: the point where the recorder takes the gradient per input time
    step, mean |∂L/∂x_t| (vg_studio.train.probes.time_steps taps the input of this layer). It has no weights and
    is not part of the user's network."""

    def call(self, x):
        return x

    def compute_output_shape(self, input_shape):
        return input_shape


def _hidden_layer(x, layer: LayerSpec, i: int, seed: int, image_rows: int | None, make):
    """One hidden Dense block: [attention] → Dense → [BatchNorm] → activation → [residual add] → [dropout]."""
    prefix = f"hidden_{i}"
    block_input = x
    if layer.attention:
        tokens = choose_tokens(x.shape[-1], layer.attention_tokens, image_rows)
        x = attention_block(x, tokens=tokens, value=layer.attention_value, name=f"{prefix}_attention", make=make)
    x = make(f"{prefix}_dense", lambda: keras.layers.Dense(
        layer.units, name=f"{prefix}_dense", use_bias=not layer.batch_norm,
        kernel_initializer=make_initializer(layer.initializer, layer.init_stddev, seed),
        bias_initializer=keras.initializers.Constant(layer.bias_init),
    ))(x)
    if layer.batch_norm:
        x = make(f"{prefix}_bn", lambda: keras.layers.BatchNormalization(name=f"{prefix}_bn"))(x)
    x = make(f"{prefix}_act", lambda: make_activation(layer.activation, f"{prefix}_act"))(x)
    if layer.residual:
        shortcut = block_input
        if shortcut.shape[-1] != layer.units:  # a linear projection when widths differ (He et al. 2016)
            shortcut = make(f"{prefix}_shortcut", lambda: keras.layers.Dense(
                layer.units, use_bias=False, name=f"{prefix}_shortcut"))(block_input)
        x = make(f"{prefix}_residual", lambda: keras.layers.Add(name=f"{prefix}_residual"))([x, shortcut])
    if layer.dropout > 0:
        x = make(f"{prefix}_dropout", lambda: keras.layers.Dropout(layer.dropout, seed=seed,
                                                                    name=f"{prefix}_dropout"))(x)
    return x


def model_name(name: str) -> str:
    """A Keras-safe model name for any experiment name: Keras's scope names must match
    [A-Za-z0-9.][A-Za-z0-9_.\\/>-]*, so accents are transliterated ("über" → "uber"), other characters become "_"
    and leading punctuation is dropped. The experiment's own name stays in the spec and the report."""
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode("ascii")
    cleaned = re.sub(r"_+", "_", re.sub(r"[^A-Za-z0-9_.-]", "_", ascii_name))
    cleaned = re.sub(r"^[^A-Za-z0-9]+", "", cleaned).rstrip("_")
    return cleaned or "vg_model"


def layer_groups(model: keras.Model, spec: ExperimentSpec) -> list[LayerGroup]:
    """The probe groups, in network order: hidden_1 … hidden_L, output."""
    groups = []
    names = [layer.name for layer in model.layers]
    for i, layer in enumerate(spec.network.layers, start=1):
        prefix = f"hidden_{i}_"
        members = [n for n in names if n.startswith(prefix)]
        if layer.kind in catalog.RECURRENT_KINDS:
            preact = None  # the pre-activations live inside the recurrent cell
        else:
            preact = f"{prefix}bn" if layer.batch_norm else f"{prefix}dense"
        groups.append(LayerGroup(f"hidden_{i}", layer.activation, members, preact))
    groups.append(LayerGroup("output", spec.network.output_activation, ["output"], None))
    return groups
