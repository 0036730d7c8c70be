"""The loss of guessing measured on the targets: the loss of the best constant prediction (what a network that learned
only its output's bias reaches) per compiled loss, checked against Keras's own loss on that constant; the rules
that read it (a skewed label prior, an unnormalised regression), and a balanced data set that keeps ln k exactly."""

from __future__ import annotations

import json
import math
import os

import numpy as np
import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402

from vg_studio.diagnose.engine import Diagnoser  # noqa: E402
from vg_studio.train import events  # noqa: E402
from vg_studio.train.summary import guessing_levels, model_summary  # noqa: E402

NAMES = ["dense", "dense_1", "dense_2", "dense_3"]


def _model(width: int, activation: str = "softmax") -> keras.Model:
    inputs = keras.Input((3,))
    return keras.Model(inputs, keras.layers.Dense(width, activation=activation, name="out")(inputs))


def _level(model, loss, y) -> float:
    row = guessing_levels(model, keras.saving.serialize_keras_object(loss) if not isinstance(loss, str) else loss,
                          y)["outputs"][0]
    return row["level"]


def _keras_loss(loss, y, constant) -> float:
    prediction = np.tile(np.asarray(constant, dtype="float32"), (len(y), 1))  # one row per example
    return float(keras.ops.convert_to_numpy(loss(y, prediction)))


def _is_minimum(loss, y, constant, rng, probabilities: bool) -> bool:
    """Keras's loss at `constant` is below its loss at every one of 20 nearby constants."""
    best = _keras_loss(loss, y, constant)
    for _ in range(20):
        other = constant * np.exp(0.1 * rng.normal(size=np.shape(constant))) if probabilities else \
            constant + 0.05 * np.std(y) * rng.normal(size=np.shape(constant))
        if probabilities and np.ndim(constant) and loss.name != "binary_crossentropy":
            other = other / other.sum()
        if _keras_loss(loss, y, np.clip(other, 1e-6, 1 - 1e-6) if probabilities else other) < best:
            return False
    return True


def test_the_level_is_kerass_loss_at_the_best_constant_prediction():
    """On 4,000 rows the stored level equals Keras's loss for a constant prediction (up to the small-sample
    corrections: Miller–Madow's (classes seen − 1) / 2n, the unbiased variance's n / (n − 1)) — the class
    frequencies (label-smoothed), each output's rate of yes, the targets' mean and median — and that constant is
    Keras's minimum (every nearby constant costs more)."""
    rng = np.random.default_rng(0)
    n = 4000
    labels = np.where(rng.random(n) < 0.9, 3, rng.integers(0, 10, n))
    freq = np.bincount(labels, minlength=10) / n
    sparse = keras.losses.SparseCategoricalCrossentropy()
    at_freq = _keras_loss(sparse, labels[:, None], freq)  # Miller–Madow adds (observed classes - 1) / 2n
    level = _level(_model(10), "sparse_categorical_crossentropy", labels)
    assert at_freq - 1e-5 <= level <= at_freq + 9 / (2 * n) + 1e-5
    assert _is_minimum(keras.losses.CategoricalCrossentropy(), np.eye(10)[labels], freq, rng, True)
    smoothed = keras.losses.CategoricalCrossentropy(label_smoothing=0.1)
    at_freq = _keras_loss(smoothed, np.eye(10)[labels], freq * 0.9 + 0.01)
    assert at_freq - 1e-5 <= _level(_model(10), smoothed, np.eye(10)[labels]) <= at_freq + 9 / (2 * n) + 1e-5
    yes = (rng.random((n, 6)) < np.linspace(0.05, 0.6, 6)).astype("float32")
    bce = keras.losses.BinaryCrossentropy()
    at_rates = _keras_loss(bce, yes, yes.mean(axis=0))
    assert at_rates - 1e-5 <= _level(_model(6, "sigmoid"), "binary_crossentropy", yes) <= at_rates + 1 / (2 * n) + 1e-5
    assert _is_minimum(bce, yes, yes.mean(axis=0), rng, True)
    targets = rng.normal([500.0, -3.0], [120.0, 0.5], size=(n, 2)).astype("float32")
    mse, mae = keras.losses.MeanSquaredError(), keras.losses.MeanAbsoluteError()
    assert _level(_model(2, "linear"), "mse", targets) == pytest.approx(
        _keras_loss(mse, targets, targets.mean(axis=0)), rel=1e-3)
    assert _is_minimum(mse, targets, targets.mean(axis=0), rng, False)
    assert _level(_model(2, "linear"), "mean_absolute_error", targets) == pytest.approx(
        _keras_loss(mae, targets, np.median(targets, axis=0)), rel=1e-3)
    assert _is_minimum(mae, targets, np.median(targets, axis=0), rng, False)


def test_labels_within_sampling_noise_of_uniform_keep_ln_k_exactly():
    """128 probe rows of a balanced 10-class set: the class frequencies' entropy is a little below ln 10 by chance
    alone; the level stays ln 10 exactly, and the run's loss of guessing and its words are what they were. 128 rows
    nine in ten of one class: the label prior (below 0.6, the Miller–Madow-corrected entropy)."""
    rng = np.random.default_rng(1)
    balanced = rng.integers(0, 10, 128)
    summary = model_summary(_model(10), [], loss="sparse_categorical_crossentropy", targets=balanced)
    assert summary["guessing"]["outputs"][0]["level"] == math.log(10)
    d = Diagnoser(NAMES, ["relu"] * 3 + ["softmax"], None, layer_kinds=["dense"] * 4, layer_units=[8, 8, 8, 10],
                  model_summary=summary)
    assert d.facts.chance_loss == math.log(10) and d.facts.guessing_words == "among 10 classes"
    skewed = np.where(rng.random(128) < 0.9, 3, rng.integers(0, 10, 128))
    freq = np.bincount(skewed, minlength=10) / 128
    plugin = -np.sum(freq[freq > 0] * np.log(freq[freq > 0]))
    level = _level(_model(10), "sparse_categorical_crossentropy", skewed)
    assert plugin < level <= plugin + 9 / 256 + 1e-12 and level < 0.6


def _record(step, loss, n=4, grad=None, update=1e-3, norm=0.5):
    stats = {"grad_mean_abs": np.asarray(grad if grad is not None else [1e-2] * n, dtype=float),
             "grad_norm": np.full(n, norm), "weight_norm": np.full(n, 5.0), "update_ratio": np.full(n, update),
             "dead_fraction": np.full(n, np.nan), "saturated_fraction": np.full(n, np.nan)}
    return events.ProbeRecord(step, (step - 1) // 40, loss, stats)


def _run(summary, losses, activations=("sigmoid",) * 3 + ("softmax",), grad=None, norm=0.5):
    d = Diagnoser(NAMES, list(activations), None, layer_kinds=["dense"] * 4,
                  layer_units=[32, 32, 32, int(summary.get("width", 10))], model_summary=summary, budget_steps=240,
                  steps_per_epoch=40)
    for step, loss in zip(range(1, 241, 2), losses):
        d.on_record(_record(step, loss, grad=grad, norm=norm))
    d.finish()
    return d, {f.kind: f for f in d.findings if f.severity != "info" and getattr(f, "state", "active") == "active"}


def _guessing(level, se, basis, loss):
    return {"outputs": [{"output": "dense_3", "loss": loss, "level": level, "uniform": None, "se": se,
                         "basis": basis, "rows": 128}]}


def test_a_run_at_the_label_priors_loss_is_at_guessing():
    """A deep sigmoid net under labels nine in ten of one class whose first/output gradient ratio is 0.03: its bias
    learns the prior (the loss falls from ln 10 to 0.52 in 30 steps) and it sits there with moving weights. Against
    ln 10 the loss "fell 78 %": nothing held. Against the prior's 0.52 it sits at guessing: the vanishing gradient
    that keeps the input from mattering is found, with the plateau it explains, in words that say which guess."""
    losses = [0.52 + (math.log(10) - 0.52) * max(0.0, 1 - s / 30) for s in range(1, 241, 2)]
    losses = [v * (1 + 0.002 * math.sin(i)) for i, v in enumerate(losses)]
    grad = [3e-4, 2e-3, 5e-3, 1e-2]
    summary = {"loss": "sparse_categorical_crossentropy",
               "guessing": _guessing(0.52, 0.04, "prior", "sparse_categorical_crossentropy")}
    d, found = _run(summary, losses, grad=grad)
    assert d.facts.chance_loss == 0.52 and d.facts.uniform_loss == pytest.approx(math.log(10))
    every = {f.kind: f for f in d.findings}
    assert "vanishing_gradient" in found and "loss_plateau" in every  # the plateau is the vanishing's effect
    assert any("loss of guessing the label prior" in line for line in found["vanishing_gradient"].details)
    assert any("label prior" in line for line in every["loss_plateau"].details)
    assert "poor_initialization" not in found and "exploding_gradient" not in found
    d, _ = _run({"loss": "sparse_categorical_crossentropy"}, losses, grad=grad)
    assert not {"loss_plateau", "vanishing_gradient", "slow_convergence"} & {f.kind for f in d.findings}


def test_a_regression_at_the_variance_of_its_targets_is_at_guessing():
    """An unnormalised regression (targets 500 ± 300) whose network learned only their mean: the squared error falls
    from 3.4e5 to var(y) = 9e4 and stays, with gradient norms of 1e3 and ordinary steps. Without a scale the fall
    of three quarters looked like learning; against var(y) it has not come down at all (slow convergence, with the
    plateau it explains). Large gradients on
    a squared error with ordinary steps stay no explosion."""
    losses = [9e4 + 2.5e5 * max(0.0, 1 - s / 40) for s in range(1, 241, 2)]
    losses = [v * (1 + 0.002 * math.sin(i)) for i, v in enumerate(losses)]
    summary = {"loss": "mse", "width": 1, "guessing": _guessing(9e4, 4e3, "mean", "mse")}
    activations = ("relu",) * 3 + ("linear",)
    d, found = _run(summary, losses, activations, norm=1e3)
    every = {f.kind: f for f in d.findings}
    assert "slow_convergence" in found and "loss_plateau" in every
    assert "guessing the targets' mean" in found["slow_convergence"].message
    assert any("targets' mean" in line for line in every["loss_plateau"].details)
    assert "exploding_gradient" not in found
    d, _ = _run({"loss": "mse", "width": 1}, losses, activations, norm=1e3)
    assert not {"loss_plateau", "slow_convergence", "exploding_gradient"} & {f.kind for f in d.findings}


def test_a_monitored_run_stores_the_level_of_its_probe_targets(tmp_path):
    """A real run: a GradientMonitor given the probe rows' targets writes the label prior's level into model.json
    (the Keras loss of the class frequencies, up to the small-sample correction), and the diagnosis of the run
    directory judges against it: a network whose inputs carry no signal learns the prior and stops there."""
    from vg_studio.diagnose.engine import diagnose_run
    from vg_studio.monitor import GradientMonitor

    rng = np.random.default_rng(2)
    x = rng.normal(size=(480, 8)).astype("float32")
    y = np.where(rng.random(480) < 0.9, 0, rng.integers(0, 5, 480))
    keras.utils.set_random_seed(2)
    model = keras.Sequential([keras.Input((8,)), keras.layers.Dense(8, activation="relu"),
                              keras.layers.Dense(5, activation="softmax")])
    model.compile(keras.optimizers.Adam(0.01), "sparse_categorical_crossentropy")
    monitor = GradientMonitor(tmp_path / "run", record_every=2, probe_data=x[:200], probe_targets=y[:300],
                              probe_batch_size=128, warnings=None, preflight=False)
    model.fit(x, y, epochs=4, batch_size=32, verbose=0, callbacks=[monitor])
    stored = json.loads((tmp_path / "run" / "model.json").read_text())["guessing"]["outputs"][0]
    freq = np.bincount(y[:128], minlength=5) / 128
    at_prior = _keras_loss(keras.losses.SparseCategoricalCrossentropy(), y[:128, None], freq)
    assert stored["basis"] == "prior" and at_prior - 1e-5 <= stored["level"] <= at_prior + 4 / 256 + 1e-5
    diagnoser, _ = diagnose_run(tmp_path / "run")
    assert diagnoser.facts.chance_loss == stored["level"] == monitor.diagnosis.diagnoser.facts.chance_loss  # live too
    assert "label prior" in diagnoser.facts.guessing_words


def test_several_weighted_outputs_sum_their_best_constants_as_keras_weighs_them():
    """A digit head (labels three in four of one class) beside a regression head weighted 0.01: the loss of guessing
    is the prior's entropy + 0.01 var(y) — measured here as the loss Keras computes for the model whose output
    kernels are zero and whose biases are the best constants (log-frequencies, the mean), up to the small-sample
    corrections."""
    rng = np.random.default_rng(4)
    n = 2000
    labels = np.where(rng.random(n) < 0.75, 2, rng.integers(0, 10, n))
    values = rng.normal(40.0, 6.0, size=(n, 1)).astype("float32")
    inputs = keras.Input((3,))
    model = keras.Model(inputs, [keras.layers.Dense(10, activation="softmax", name="digit")(inputs),
                                 keras.layers.Dense(1, name="value")(inputs)])
    model.compile("adam", ["sparse_categorical_crossentropy", "mse"], loss_weights=[1.0, 0.01])
    freq = np.bincount(labels, minlength=10) / n
    for name, bias in (("digit", np.log(freq)), ("value", values.mean(axis=0))):
        layer = model.get_layer(name)
        layer.kernel.assign(np.zeros(layer.kernel.shape))
        layer.bias.assign(bias)
    x = rng.normal(size=(n, 3)).astype("float32")
    at_constants = model.evaluate(x, (labels, values), verbose=0, batch_size=n, return_dict=True)["loss"]
    summary = model_summary(model, [], targets=[labels, values])
    names = ["digit", "value"]
    d = Diagnoser(names, ["softmax", "linear"], None, layer_kinds=["dense"] * 2, layer_units=[10, 1],
                  model_summary=summary)
    assert d.facts.chance_loss == pytest.approx(at_constants, rel=3e-3)
    assert d.facts.uniform_loss is None  # a squared error has no uniform guess: the sum had no scale before


def test_a_loss_at_a_skewed_prior_swinging_with_each_batchs_rare_labels_is_no_oscillation():
    """Labels nine in ten of one class: a network at the prior's loss (0.45 against the measured 0.50) costs ~0.3 on a
    batch of the common class and 1-2 on a batch that holds several rare ones, so the batches' loss swings by more
    than its level while the weights hardly move. That is no overshoot; "far above a good loss" is judged on the
    uniform guess's scale (ln 10), as before the level was measured — a real oscillation sits far above it."""
    rng = np.random.default_rng(3)
    losses = [0.45 * (1 + 0.02 * rng.standard_normal()) + (1.2 if i % 7 == 3 else 0.0) for i in range(120)]
    summary = {"loss": "sparse_categorical_crossentropy",
               "guessing": _guessing(0.50, 0.04, "prior", "sparse_categorical_crossentropy")}
    d, _ = _run(summary, losses)
    assert d.facts.chance_loss == 0.50
    assert "oscillating_loss" not in {f.kind for f in d.findings if f.severity != "info"}
    high = [2.5 * (1 + 0.02 * rng.standard_normal()) + (6.7 if i % 7 == 3 else 0.0) for i in range(120)]
    d, found = _run(summary, high)  # the same swing far above ln 10's good loss is one
    assert "oscillating_loss" in found
