"""Parameter counting without Keras: the GUI shows a spec's parameter count live while the user edits, in a process
that never imports Keras (pure arithmetic; tests/test_build.py checks it against `keras.Model.count_params`)."""

from __future__ import annotations

import math

import numpy as np

from vg_studio import catalog
from vg_studio.spec import ExperimentSpec, SpecError


def choose_tokens(features: int, requested: int = 0, image_rows: int | None = None) -> int:
    """Number of tokens a flat vector of `features` is split into.

    `requested` > 0 must divide `features`. Otherwise image rows are used when the vector is a flattened image,
    else the divisor of `features` closest to √features (700 → 28 tokens of 25): a square-ish split keeps both
    the attention matrix (T×T) and the token width small.
    """
    if requested:
        if features % requested:
            raise SpecError([f"network.layers: attention_tokens={requested} does not divide the layer's {features} "
                             "input features"])  # a ValueError: one line for the user, not a traceback
        return requested
    if image_rows and features % image_rows == 0 and image_rows > 1:
        return image_rows
    root = math.sqrt(features)
    divisors = [d for d in range(2, features) if features % d == 0]
    if not divisors:  # a prime width: one feature per token still gives a real attention over positions
        return features
    return min(divisors, key=lambda d: (abs(d - root), -d))



def count_params(spec: ExperimentSpec, input_shape: tuple, num_classes: int) -> int:
    """Parameters of the user's network (as `keras.Model.count_params` counts them) without building it — the GUI
    shows it live while the user edits. Auxiliary heads are training-only and not counted."""
    features = int(np.prod(input_shape))
    steps, step_features = _sequence_shape(input_shape)
    total = 0
    layers = spec.network.layers
    for i, layer in enumerate(layers):
        if layer.kind in catalog.RECURRENT_KINDS:
            total += catalog.LAYER_KIND_TABLE[layer.kind].count_params(layer.units, step_features)
            step_features = layer.units
            following = layers[i + 1] if i + 1 < len(layers) else None
            last_of_stack = following is None or following.kind not in catalog.RECURRENT_KINDS
            features = steps * layer.units if last_of_stack and layer.return_sequences else layer.units
            continue
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


def _sequence_shape(input_shape: tuple) -> tuple[int, int]:
    """(time steps, features per step) a recurrent first layer sees: image rows, (T, F) sequences, or a flat
    vector read one feature per step."""
    if len(input_shape) == 3:
        return input_shape[0], input_shape[1] * input_shape[2]
    if len(input_shape) == 2:
        return input_shape[0], input_shape[1]
    return input_shape[0], 1
