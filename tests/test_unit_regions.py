"""The table of flat and dead regions per activation (catalog.UNIT_REGIONS), checked against Keras's own activation
functions by finite differences, and the unit statistics read through it: NaN where an activation is unknown."""

from __future__ import annotations

import math
import os

import numpy as np
import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402

from vg_studio import catalog  # noqa: E402
from vg_studio.train import units  # noqa: E402

Z = np.linspace(-12.0, 12.0, 24001)
MARGIN = 0.05  # bounds are rounded to two decimals; values this close to one are not judged


def keras_activation(name: str):
    fn = keras.activations.get(name if name != "prelu" else "leaky_relu")
    return lambda z: np.asarray(keras.ops.convert_to_numpy(fn(keras.ops.convert_to_tensor(z, "float32"))),
                                dtype=np.float64)


def slope(name: str) -> np.ndarray:
    return np.gradient(keras_activation(name)(Z), Z)


def away_from(bounds) -> np.ndarray:
    keep = np.ones_like(Z, dtype=bool)
    for b in bounds:
        if b is not None:
            keep &= np.abs(Z - b) > MARGIN
    return keep


@pytest.mark.parametrize("name", sorted(catalog.UNIT_REGIONS))
def test_flat_regions_are_where_keras_slope_is_under_3_percent_of_its_maximum(name):
    regions = catalog.UNIT_REGIONS[name]
    d = np.abs(slope(name))
    flat_by_keras = d < 0.0266 * d.max()
    ours = np.zeros_like(Z, dtype=bool)
    if regions.flat_below is not None:
        ours |= Z <= regions.flat_below
    if regions.flat_above is not None:
        ours |= Z >= regions.flat_above
    if regions.dead_at_most is not None:
        ours |= Z <= regions.dead_at_most  # a dead region is flat too (slope exactly 0)
    sign = np.sign(slope(name))
    moving = sign != 0
    turns = Z[moving][1:][sign[moving][1:] != sign[moving][:-1]]  # GELU, SiLU, Mish, hard_silu: at their minimum
    keep = away_from([regions.flat_below, regions.flat_above, regions.dead_at_most])
    for turn in turns:
        keep &= np.abs(Z - turn) > 0.15  # near a minimum the slope passes 0 inside the live region
    np.testing.assert_array_equal(ours[keep], flat_by_keras[keep])


@pytest.mark.parametrize("name", sorted(catalog.UNIT_REGIONS))
def test_output_bounds_mark_the_same_values_as_pre_activation_bounds(name):
    regions = catalog.UNIT_REGIONS[name]
    keep = away_from([regions.flat_below, regions.flat_above, regions.dead_at_most])
    z = Z[keep].reshape(-1, 1)
    y = keras_activation(name)(z)
    if not regions.outputs:
        assert math.isnan(units.saturated_fraction(name, y, post_activation=True))
        assert not units.is_measurable(name, post_activation=True) and units.is_measurable(name)
        return
    for lo in (0, len(z) // 3):  # whole range, then a slice that misses the low tail
        pre, post = z[lo:], y[lo:]
        assert units.saturated_fraction(name, post, True) == pytest.approx(units.saturated_fraction(name, pre))
    dead_pre = np.full((5, 3), -20.0)  # every example far in the low tail
    assert units.dead_fraction(name, keras_activation(name)(dead_pre), True) == units.dead_fraction(name, dead_pre)


def test_dead_units_pass_no_gradient_on_any_example():
    rng = np.random.default_rng(0)
    z = rng.normal(size=(64, 4))
    z[:, 0] = -abs(z[:, 0]) - 3.5  # unit 0 below every dead region of the table
    for name in catalog.DYING:
        d = np.gradient(keras_activation(name)(np.sort(z[:, 0])), np.sort(z[:, 0]))
        assert np.all(d == 0), name
        assert units.dead_fraction(name, z) == pytest.approx(0.25)
        assert units.dead_fraction(name, keras_activation(name)(z), post_activation=True) == pytest.approx(0.25)


def test_unknown_activations_are_not_measured_and_known_smooth_ones_measure_zero():
    values = np.random.default_rng(1).normal(size=(32, 8))
    for name in ("", "my_custom_fn", "softmax", "exponential"):
        assert not units.is_measurable(name)
        assert math.isnan(units.saturated_fraction(name, values)) and math.isnan(units.dead_fraction(name, values))
    for name in ("linear", "leaky_relu", "prelu"):
        assert units.saturated_fraction(name, 100 * values) == 0.0 and units.dead_fraction(name, -abs(values)) == 0.0
    assert units.saturated_fraction("relu", 100 * values) == 0.0  # ReLU has no flat tail, only a dead side


def test_hard_sigmoid_layer_in_its_tails_is_measured_saturated():
    """A hard_sigmoid Dense layer with large weights: most outputs are exactly 0 or 1, where Keras's gradient is 0."""
    keras.utils.set_random_seed(0)
    layer = keras.layers.Dense(16, activation="hard_sigmoid", kernel_initializer=keras.initializers.RandomNormal(0, 3))
    x = np.random.default_rng(2).normal(size=(64, 20)).astype("float32")
    y = np.asarray(layer(x))
    kernel, bias = (np.asarray(w) for w in layer.weights)
    z = x @ kernel + bias
    expected = float(np.mean(np.abs(z) >= 3.0))  # hard_sigmoid(z) = relu6(z + 3) / 6 is constant beyond ±3
    assert expected > 0.5
    assert units.saturated_fraction("hard_sigmoid", y, post_activation=True) == pytest.approx(expected)
    assert units.saturated_fraction("hard_sigmoid", z) == pytest.approx(expected)
