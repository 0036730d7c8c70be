"""Probe values against an independent computation: tf.GradientTape and a hand-applied SGD step."""

import numpy as np
import pytest
import tensorflow as tf

from vg_studio import edits
from vg_studio.nn.build import build_model, layer_groups
from vg_studio.train.probes import SATURATION_THRESHOLD
from vg_studio.train.trainer import Trainer, prepare_data
from tests.conftest import make_tiny_spec


def _spec(activation):
    spec = make_tiny_spec(layers=3, units=12, activation=activation, optimizer="sgd", lr=0.5, limit=100,
                          record_every=1)
    spec = spec.model_copy(update={"training": spec.training.model_copy(update=dict(
        validation_split=0.0, shuffle=False, batch_size=50))})  # two steps, each recorded
    return spec


@pytest.mark.parametrize("activation", ["sigmoid", "relu"])
def test_gradient_and_update_probes_match_gradient_tape(activation):
    spec = _spec(activation)
    data = prepare_data(spec)
    result = Trainer(spec, dataset=data).run()
    assert result.status == "completed"

    model = build_model(spec, data.input_shape, data.num_classes)  # same seed: the same initial weights
    groups = layer_groups(model, spec)
    loss_fn = tf.keras.losses.SparseCategoricalCrossentropy()
    lr = spec.optimizer.learning_rate
    by_layer = {layer.name: layer for layer in model.layers}
    for step in range(2):
        x = data.x_train[step * 50:(step + 1) * 50]
        y = data.y_train[step * 50:(step + 1) * 50]
        with tf.GradientTape() as tape:
            loss = loss_fn(y, model(x, training=True))
        grads = dict(zip((id(v) for v in model.trainable_variables),
                         tape.gradient(loss, model.trainable_variables)))
        expected = {"grad_mean_abs": [], "grad_norm": [], "weight_norm": [], "update_mean_abs": []}
        for group in groups:
            variables = [v for name in group.layer_names for v in by_layer[name].trainable_variables]
            g = np.concatenate([grads[id(v)].numpy().ravel() for v in variables])
            w_new = np.concatenate([(v.numpy() - lr * grads[id(v)].numpy()).ravel() for v in variables])
            expected["grad_mean_abs"].append(np.abs(g).mean())
            expected["grad_norm"].append(np.linalg.norm(g))
            expected["weight_norm"].append(np.linalg.norm(w_new))
            expected["update_mean_abs"].append(lr * np.abs(g).mean())
        for v in model.trainable_variables:  # plain SGD by hand
            v.assign(v - lr * grads[id(v)])
        for name, values in expected.items():
            np.testing.assert_allclose(result.history.stat(name)[step], values, rtol=2e-3,
                                       err_msg=f"{name} at step {step + 1}")
    assert result.history.steps == [1, 2]


def test_unit_statistics_match_numpy():
    spec = _spec("sigmoid")
    spec = edits.update_layers(spec, 0, bias_init=6.0)  # pushes hidden_1 into sigmoid's flat tail
    data = prepare_data(spec)
    result = Trainer(spec, dataset=data).run()
    import keras

    model = result.model
    probe_x = data.x_train[: spec.monitoring.probe_batch_size]
    z = np.asarray(keras.Model(model.input, model.get_layer("hidden_1_dense").output)(probe_x))
    expected = np.mean(np.abs(z) > SATURATION_THRESHOLD["sigmoid"])
    assert result.history.stat("saturated_fraction")[-1][0] == pytest.approx(expected)
    assert expected > 0.3


def test_dead_units_counted_for_relu():
    spec = _spec("relu")
    spec = edits.update_layers(spec, 1, bias_init=-50.0)  # every hidden_2 unit is off for every input
    result = Trainer(spec).run()
    dead = result.history.stat("dead_fraction")[-1]
    assert dead[1] == pytest.approx(1.0)
    assert dead[0] < 0.5
    assert np.isnan(dead[-1])  # the output layer has no unit statistics
