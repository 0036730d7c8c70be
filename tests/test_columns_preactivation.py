"""Unit statistics of layers whose own activation is not monotone on its flat region (swish, GELU): measured on the
pre-activations z, computed from the layer's input with its own weights — checked against NumPy."""

import os
import subprocess
import sys
from pathlib import Path

import keras
import numpy as np
import pytest

from vg_studio.train.columns import model_columns_and_taps, pre_activation

ROOT = Path(__file__).resolve().parents[1]
SWISH_FLAT, GELU_FLAT = -4.87, -2.61  # the catalog's bounds, below which the slope is under 2.7 % of its maximum


def _dense_weights(n_in, n_out, seed):
    rng = np.random.default_rng(seed)
    kernel = rng.normal(0, 1.0, (n_in, n_out)).astype("float32")
    bias = np.where(np.arange(n_out) % 2 == 0, -6.0, 0.5).astype("float32")  # half the units pushed into the tail
    return kernel, bias


def _x(shape, seed=0):
    return np.random.default_rng(seed).normal(0, 1, shape).astype("float32")


def test_dense_pre_activation_is_x_times_kernel_plus_bias():
    layer = keras.layers.Dense(5, activation="swish")
    layer.build((None, 4))
    kernel, bias = _dense_weights(4, 5, 1)
    layer.set_weights([kernel, bias])
    x = _x((8, 4))
    z = keras.ops.convert_to_numpy(pre_activation(layer, x))
    np.testing.assert_allclose(z, x @ kernel + bias, rtol=1e-5, atol=1e-5)


def _numpy_conv1d(x, kernel, bias, stride, dilation):
    """'valid' 1-D convolution (cross-correlation), channels last."""
    width, _, c_out = kernel.shape
    span = (width - 1) * dilation + 1
    steps = (x.shape[1] - span) // stride + 1
    out = np.zeros((x.shape[0], steps, c_out), dtype=np.float64)
    for t in range(steps):
        window = x[:, t * stride:t * stride + span:dilation, :]  # (batch, width, c_in)
        out[:, t, :] = np.einsum("bwc,wco->bo", window, kernel)
    return out + bias


def test_conv_pre_activation_matches_numpy_and_keras_conv_with_strides_dilation_padding_and_groups():
    conv = keras.layers.Conv1D(4, 3, strides=2, dilation_rate=1, activation="gelu")
    conv.build((None, 11, 2))
    x = _x((3, 11, 2))
    z = keras.ops.convert_to_numpy(pre_activation(conv, x))
    kernel, bias = conv.get_weights()
    np.testing.assert_allclose(z, _numpy_conv1d(x, kernel, bias, 2, 1), rtol=1e-4, atol=1e-5)

    dilated = keras.layers.Conv1D(4, 3, dilation_rate=2, activation="gelu")
    dilated.build((None, 11, 2))
    kernel, bias = dilated.get_weights()
    np.testing.assert_allclose(keras.ops.convert_to_numpy(pre_activation(dilated, x)),
                               _numpy_conv1d(x, kernel, bias, 1, 2), rtol=1e-4, atol=1e-5)

    grouped = keras.layers.Conv2D(4, 3, strides=2, padding="same", groups=2, activation="swish")
    grouped.build((None, 7, 7, 4))
    x2 = _x((2, 7, 7, 4))
    kernel, bias = grouped.get_weights()  # (3, 3, 2, 4): each half of the filters sees its half of the channels
    expected = np.concatenate([
        keras.ops.convert_to_numpy(keras.ops.conv(x2[..., 2 * g:2 * g + 2], kernel[..., 2 * g:2 * g + 2],
                                                  strides=2, padding="same")) for g in range(2)], axis=-1) + bias
    np.testing.assert_allclose(keras.ops.convert_to_numpy(pre_activation(grouped, x2)), expected,
                               rtol=1e-4, atol=1e-5)


def _swish_functional():
    inputs = keras.Input((6,))
    hidden = keras.layers.Dense(8, activation="swish", name="swishy")(inputs)
    gelu = keras.layers.Dense(6, activation="gelu", name="gelu")(hidden)
    return keras.Model(inputs, keras.layers.Dense(3, name="head")(gelu))


class _SwishBlockModel(keras.Model):  # subclassed: no graph, the eager path reads the layers' inputs
    def __init__(self):
        super().__init__()
        self.swishy = keras.layers.Dense(8, activation="swish")
        self.gelu = keras.layers.Dense(6, activation="gelu")
        self.head = keras.layers.Dense(3)

    def call(self, x):
        return self.head(self.gelu(self.swishy(x)))


@pytest.mark.parametrize("make", [_swish_functional,
                                  lambda: keras.Sequential([keras.Input((6,)), keras.layers.Dense(8, activation="swish"),
                                                            keras.layers.Dense(6, activation="gelu"),
                                                            keras.layers.Dense(3)]),
                                  _SwishBlockModel])
def test_swish_and_gelu_saturation_is_measured_on_pre_activations(make):
    model = make()
    x = _x((32, 6), seed=3)
    model(x[:2])
    dense = [layer for layer in model._flatten_layers(include_self=False) if isinstance(layer, keras.layers.Dense)]
    k1, b1 = _dense_weights(6, 8, 4)
    k2, b2 = _dense_weights(8, 6, 5)
    dense[0].set_weights([k1, b1])
    dense[1].set_weights([k2, b2])
    columns, taps = model_columns_and_taps(model, x)
    stats = taps.measure()

    z1 = x @ k1 + b1
    h1 = z1 / (1 + np.exp(-z1))
    z2 = h1 @ k2 + b2
    names = [c.activation for c in columns]
    assert names[0] in ("swish", "silu") and names[1] == "gelu"
    np.testing.assert_allclose(stats["saturated_fraction"][0], np.mean(z1 <= SWISH_FLAT), atol=1e-6)
    np.testing.assert_allclose(stats["saturated_fraction"][1], np.mean(z2 <= GELU_FLAT), atol=1e-6)
    assert 0.3 < stats["saturated_fraction"][0] < 0.7  # the test's weights put about half the units in the tail
    assert stats["dead_fraction"][0] == 0.0  # swish has no region of exactly zero slope
    assert stats["saturated_fraction"][2] == 0.0  # a linear head has no flat region


BACKEND_SCRIPT = """
import numpy as np, keras
from vg_studio.train.columns import model_columns_and_taps
rng = np.random.default_rng(0)
x = rng.normal(0, 1, (16, 9, 2)).astype("float32")
inputs = keras.Input((9, 2))
conv = keras.layers.Conv1D(4, 3, strides=2, activation="swish")
out = keras.layers.Dense(2)(keras.layers.Flatten()(conv(inputs)))
model = keras.Model(inputs, out)
kernel = rng.normal(0, 1, (3, 2, 4)).astype("float32")
bias = np.array([-7.0, 0.0, -7.0, 1.0], dtype="float32")
conv.set_weights([kernel, bias])
columns, taps = model_columns_and_taps(model, x)
got = taps.measure()["saturated_fraction"][0]
z = np.stack([np.einsum("bwc,wco->bo", x[:, 2 * t:2 * t + 3], kernel) for t in range(4)], axis=1) + bias
print("RESULT", got, float(np.mean(z <= -4.87)))
"""


def test_conv_swish_saturation_on_jax_and_torch():
    backends = [b for b in ("jax", "torch") if _installed(b)]
    if not backends:
        pytest.skip("neither jax nor torch is installed")
    runs = {b: subprocess.Popen([sys.executable, "-c", BACKEND_SCRIPT], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                text=True, cwd=ROOT, env={**os.environ, "KERAS_BACKEND": b, "PYTHONPATH": str(ROOT),
                                                          "JAX_PLATFORMS": "cpu"})
            for b in backends}  # side by side: each pays its own import
    for backend, run in runs.items():
        stdout, stderr = run.communicate(timeout=300)
        line = next((row for row in stdout.splitlines() if row.startswith("RESULT")), None)
        assert line is not None, f"{backend}: {stderr[-2000:]}"
        got, expected = map(float, line.split()[1:])
        assert 0.2 < expected < 0.8
        assert got == pytest.approx(expected, abs=1e-6), backend


def _installed(name):
    import importlib.util
    return importlib.util.find_spec(name) is not None
