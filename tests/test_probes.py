"""Probe values against an independent computation: tf.GradientTape and a hand-applied SGD step."""

import numpy as np
import pytest
import tensorflow as tf

from vg_studio import edits
from vg_studio.nn.build import build_model, layer_groups
from vg_studio.train.probes import HIST_EDGES
from vg_studio.train.units import SATURATION_THRESHOLD
from vg_studio.train.trainer import Trainer, prepare_data
from tests.conftest import make_tiny_spec


def log10_histogram(values: np.ndarray) -> np.ndarray:
    """The histograms' bins, in NumPy: the fraction of entries per bin of log10|x| (edges -12 … 2, 28 bins), zeros and
    values below -12 in the first bin, above 2 in the last."""
    with np.errstate(divide="ignore"):
        logs = np.log10(np.abs(values.astype(np.float64)))
    counts, _ = np.histogram(np.clip(logs, -12, 2 - 1e-9), bins=HIST_EDGES)
    return counts / values.size


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
        expected = {"grad_mean_abs": [], "kernel_grad_mean_abs": [], "grad_norm": [], "weight_norm": [],
                    "update_mean_abs": [], "update_ratio": [], "update_log10_hist": []}
        for group in groups:
            variables = [v for name in group.layer_names for v in by_layer[name].trainable_variables]
            g = np.concatenate([grads[id(v)].numpy().ravel() for v in variables])
            w_new = np.concatenate([(v.numpy() - lr * grads[id(v)].numpy()).ravel() for v in variables])
            expected["grad_mean_abs"].append(np.abs(g).mean())
            kernels = [grads[id(v)].numpy().ravel() for v in variables if v.path.endswith("kernel")]
            expected["kernel_grad_mean_abs"].append(np.abs(np.concatenate(kernels)).mean())
            expected["grad_norm"].append(np.linalg.norm(g))
            expected["weight_norm"].append(np.linalg.norm(w_new))
            expected["update_mean_abs"].append(lr * np.abs(g).mean())
            expected["update_ratio"].append(lr * np.linalg.norm(g) / np.linalg.norm(w_new))
            expected["update_log10_hist"].append(log10_histogram(lr * g))
        for v in model.trainable_variables:  # plain SGD by hand
            v.assign(v - lr * grads[id(v)])
        for name, values in expected.items():
            got = result.history.stat(name)[step]
            if name.endswith("_hist"):  # cumulative: an entry at a bin edge may fall either side in float32
                np.testing.assert_allclose(np.cumsum(got, axis=1), np.cumsum(values, axis=1), atol=0.02,
                                           err_msg=f"{name} at step {step + 1}")
            else:
                np.testing.assert_allclose(got, values, rtol=2e-3, err_msg=f"{name} at step {step + 1}")
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


def test_large_variables_are_sampled_within_a_percent_and_exact_on_request(monkeypatch):
    """A 64 × 400 kernel (25,600 entries > SUM_LIMIT) has its sums estimated from the fixed sample; with no limit
    they are exact. Both against GradientTape at step 1 (gradient statistics; weights via the same sample)."""
    from vg_studio.train import probes

    spec = make_tiny_spec(layers=1, units=400, activation="tanh", optimizer="sgd", lr=0.1, limit=100,
                          record_every=1)
    spec = spec.model_copy(update={"training": spec.training.model_copy(update=dict(
        validation_split=0.0, shuffle=False, batch_size=100, epochs=1))})
    data = prepare_data(spec)
    model = build_model(spec, data.input_shape, data.num_classes)
    with tf.GradientTape(persistent=True) as tape:
        loss = tf.keras.losses.SparseCategoricalCrossentropy()(data.y_train, model(data.x_train, training=True))
    g = tape.gradient(loss, model.get_layer("hidden_1_dense").kernel).numpy()
    assert g.size > probes.SUM_LIMIT
    estimated = Trainer(spec, dataset=data).run().history
    monkeypatch.setattr(probes.sampling, "SUM_LIMIT", None)
    exact = Trainer(spec, dataset=data).run().history
    # hidden_1 = kernel + bias (400 entries, exact either way): compare the column as a whole
    grads = [g, tape.gradient(loss, model.get_layer("hidden_1_dense").bias)]
    column = np.concatenate([np.asarray(v).ravel() for v in grads])
    true_mean, true_norm = np.abs(column).mean(), np.linalg.norm(column)
    assert exact.stat("grad_mean_abs")[0][0] == pytest.approx(true_mean, rel=2e-3)
    assert exact.stat("grad_norm")[0][0] == pytest.approx(true_norm, rel=2e-3)
    assert estimated.stat("grad_mean_abs")[0][0] == pytest.approx(true_mean, rel=0.05)
    assert estimated.stat("grad_norm")[0][0] == pytest.approx(true_norm, rel=0.05)
    assert estimated.stat("grad_mean_abs")[0][0] != exact.stat("grad_mean_abs")[0][0]  # it did sample


def test_the_host_reads_the_ring_once_per_block_of_steps(monkeypatch):
    """A record every step, read from the device in blocks: the first record at once, then one read per
    SYNC_EVERY steps and one at each epoch's end — and no record lost."""
    from vg_studio.train import probes, recorder

    reads = []
    original = probes.ProbeReader.read
    monkeypatch.setattr(probes.ProbeReader, "read", lambda self: reads.append(1) or original(self))
    monkeypatch.setattr(recorder, "SYNC_EVERY", 8)
    monkeypatch.setattr(recorder, "SYNC_SECONDS", 1e9)
    spec = make_tiny_spec(layers=2, units=8, limit=600, epochs=2, record_every=1)
    result = Trainer(spec).run()
    steps = result.report["steps"]
    assert result.history.steps == list(range(1, steps + 1))
    # the first record, every 8 steps, each epoch's end, the end of training — not one per step
    assert len(reads) <= 1 + steps // 8 + 2 + 1 < steps / 3
