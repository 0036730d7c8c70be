"""Spec → keras.Model, plus the layer-group map the probes use.

Every hidden layer i of the spec becomes a small named group of Keras layers ("hidden_{i}_…"): the optional
attention block, a linear Dense, optional BatchNorm, a separate activation layer (so probes can read the
pre-activation), optional residual add and dropout. The output layer is "output". Only Keras's own layers are used,
so `model.keras` loads with plain `keras.saving.load_model`.
"""

from __future__ import annotations

from dataclasses import dataclass

import keras
import numpy as np

from vg_studio.nn.attention import attention_block, choose_tokens
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
    if name == "leaky_relu":  # seed 001's 0.01x slope (Keras's Activation default would be 0.2)
        return keras.layers.LeakyReLU(negative_slope=0.01, name=layer_name)
    if name == "prelu":
        return keras.layers.PReLU(name=layer_name)
    return keras.layers.Activation(name, name=layer_name)


def build_model(spec: ExperimentSpec, input_shape: tuple, num_classes: int) -> keras.Model:
    """Build the user's network. Deterministic for a given `spec.training.seed`."""
    keras.utils.set_random_seed(spec.training.seed)
    seed = spec.training.seed
    inputs = keras.Input(shape=tuple(input_shape), name="input")
    x = keras.layers.Flatten(name="flatten")(inputs) if len(input_shape) > 1 else inputs
    image_rows = input_shape[0] if len(input_shape) > 1 else None
    for i, layer in enumerate(spec.network.layers, start=1):
        x = _hidden_layer(x, layer, i, seed=seed + i, image_rows=image_rows if i == 1 else None)
    outputs = keras.layers.Dense(
        num_classes, activation=spec.network.output_activation, name="output",
        kernel_initializer=make_initializer(spec.network.output_initializer, seed=seed + 10_000),
    )(x)
    return keras.Model(inputs, outputs, name=_model_name(spec.name))


def _hidden_layer(x, layer: LayerSpec, i: int, seed: int, image_rows: int | None):
    prefix = f"hidden_{i}"
    block_input = x
    if layer.attention:
        tokens = choose_tokens(x.shape[-1], layer.attention_tokens, image_rows)
        x = attention_block(x, tokens=tokens, value=layer.attention_value, name=f"{prefix}_attention")
    x = keras.layers.Dense(
        layer.units, name=f"{prefix}_dense", use_bias=not layer.batch_norm,
        kernel_initializer=make_initializer(layer.initializer, layer.init_stddev, seed),
        bias_initializer=keras.initializers.Constant(layer.bias_init),
    )(x)
    if layer.batch_norm:
        x = keras.layers.BatchNormalization(name=f"{prefix}_bn")(x)
    x = make_activation(layer.activation, f"{prefix}_act")(x)
    if layer.residual:
        shortcut = block_input
        if shortcut.shape[-1] != layer.units:  # a linear projection when widths differ (He et al. 2016)
            shortcut = keras.layers.Dense(layer.units, use_bias=False, name=f"{prefix}_shortcut")(shortcut)
        x = keras.layers.Add(name=f"{prefix}_residual")([x, shortcut])
    if layer.dropout > 0:
        x = keras.layers.Dropout(layer.dropout, seed=seed, name=f"{prefix}_dropout")(x)
    return x


def _model_name(name: str) -> str:
    cleaned = "".join(c if c.isalnum() or c in "_-" else "_" for c in name).strip("_")
    return cleaned or "vg_model"


def layer_groups(model: keras.Model, spec: ExperimentSpec) -> list[LayerGroup]:
    """The probe groups, in network order: hidden_1 … hidden_L, output."""
    groups = []
    names = [layer.name for layer in model.layers]
    for i, layer in enumerate(spec.network.layers, start=1):
        prefix = f"hidden_{i}_"
        members = [n for n in names if n.startswith(prefix)]
        preact = f"{prefix}bn" if layer.batch_norm else f"{prefix}dense"
        groups.append(LayerGroup(f"hidden_{i}", layer.activation, members, preact))
    groups.append(LayerGroup("output", spec.network.output_activation, ["output"], None))
    return groups


def count_params(spec: ExperimentSpec, input_shape: tuple, num_classes: int) -> int:
    """Parameters (as `keras.Model.count_params` counts them) without building the model (the GUI shows it live while the user edits)."""
    features = int(np.prod(input_shape))
    total = 0
    for i, layer in enumerate(spec.network.layers):
        if layer.attention:
            try:
                tokens = choose_tokens(features, layer.attention_tokens, input_shape[0] if i == 0 and len(
                    input_shape) > 1 else None)
            except ValueError:
                tokens = 1
            width = features // tokens
            d_k = max(1, min(width, 64))
            total += 2 * width * d_k + (width * width if layer.attention_value == "projected" else 0)
        total += features * layer.units + (0 if layer.batch_norm else layer.units)
        if layer.batch_norm:  # gamma, beta and the two moving statistics, as keras's count_params counts them
            total += 4 * layer.units
        if layer.activation == "prelu":
            total += layer.units
        if layer.residual and features != layer.units:
            total += features * layer.units
        features = layer.units
    return total + features * num_classes + num_classes
