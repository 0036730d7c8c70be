"""Kinds of users' training code whose loss the rules must read as it is: a GAN's two players stepped by two
optimizers (the loss logged is the sum of two objectives), and a classifier over labels with a skewed prior whose
loss falls fast at first under steps far too small. Synthetic records (fast)."""

from __future__ import annotations

import math
import os

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from vg_studio.diagnose.engine import Diagnoser  # noqa: E402
from vg_studio.train import events  # noqa: E402

NAMES = ["dense", "dense_1", "dense_2", "dense_3"]


def record(step, *, loss, update, epoch=0, n=4):
    stats = {"grad_mean_abs": np.full(n, 1e-2), "grad_norm": np.full(n, 0.5), "weight_norm": np.full(n, 5.0),
             "update_ratio": np.full(n, update), "dead_fraction": np.full(n, np.nan),
             "saturated_fraction": np.full(n, np.nan)}
    return events.ProbeRecord(step, epoch, loss, stats)


def running_means(batch_losses, per_epoch):
    """What Keras logs: the mean of the epoch's batches so far."""
    return [float(np.mean(batch_losses[i - i % per_epoch:i + 1])) for i in range(len(batch_losses))]


def feed(d, losses, update, per_epoch):
    for s, m in enumerate(running_means(losses, per_epoch), start=1):
        d.on_record(record(s, loss=m, update=update, epoch=(s - 1) // per_epoch))
    d.finish()
    return {f.kind: f for f in d.findings if f.state == "active" and f.severity != "info"}


def test_the_summed_loss_of_two_optimizers_objectives_is_not_judged_as_one():
    """A GAN: the discriminator's layers stepped by one optimizer, the generator's by another, the loss logged their
    sum — at the game's balance it swings around ~2 and never falls. With one
    optimizer the same loss is an oscillation (the test's control); with two it is not judged, and a note says so."""
    per_epoch, steps = 45, 270
    losses = [2.0 * (1 + 0.45 * math.sin(s / 2.0)) for s in range(1, steps + 1)]

    def run(owners):
        layers = [{"name": n, "kind": "dense", "units": 64, "activation": "relu", "optimizer": o}
                  for n, o in zip(NAMES, owners)]
        d = Diagnoser(NAMES, ["leaky_relu", "leaky_relu", "relu", "sigmoid"], None, layer_kinds=["dense"] * 4,
                      layer_units=[64, 1, 64, 64], budget_steps=steps, steps_per_epoch=per_epoch,
                      model_summary={"loss": None, "layers": layers,
                                     "optimizer": {"class_name": "Adam", "config": {"learning_rate": 2e-4}}})
        return d, feed(d, losses, 3e-2, per_epoch)  # (steps large enough to overshoot: see the next tests)

    _, one = run(["optimizer"] * 4)
    assert "oscillating_loss" in one
    d, two = run(["d_optimizer", "d_optimizer", "g_optimizer", "g_optimizer"])
    assert not {"oscillating_loss", "slow_convergence", "loss_plateau", "poor_initialization"} & set(two)
    assert any("2 optimizers" in note for note in d.notes)


def test_steps_far_too_small_while_the_loss_is_far_from_good_are_slow_whatever_its_early_pace():
    """Nine labels in ten of one class under Adam 1e-5: the output's bias learns the prior first, so the loss falls
    2.14 -> 1.88 over the budget (25 % of the way to half the loss of guessing: by its pace alone, 4x the budget),
    every step changing the weights by 5e-5 of their size. Slow. The same loss under steps of 1e-3 is judged on its
    pace (not slow)."""
    per_epoch, steps = 44, 264
    losses = list(np.linspace(2.14, 1.88, steps) + 0.02 * np.sin(np.arange(steps)))

    def run(update):
        d = Diagnoser(NAMES, ["relu", "relu", "relu", "softmax"], None, num_classes=10, layer_kinds=["dense"] * 4,
                      layer_units=[64, 64, 64, 10], budget_steps=steps, steps_per_epoch=per_epoch,
                      model_summary={"loss": "sparse_categorical_crossentropy",
                                     "optimizer": {"class_name": "Adam", "config": {"learning_rate": 1e-5}}})
        return feed(d, losses, update, per_epoch)

    assert (2.14 - 1.88) / (2.14 - 0.5 * math.log(10)) > 0.1  # the pace alone is not slow
    assert "slow_convergence" in run(5e-5)
    assert "slow_convergence" not in run(1e-3)


def test_advice_names_the_optimizers_that_step_the_layers_not_an_unused_compiled_default():
    """A GAN compiled with Keras's default (RMSprop, stepping nothing) whose train_step steps the discriminator
    with SGD 0.1 (a small head) and the generator with Adam 2e-4 (most weights): its advice is for Adam at 2e-4.
    A model whose compiled optimizer steps its layers keeps it; an optimizer the summary does not describe is
    unknown, never the unused default."""
    default = {"class_name": "RMSprop", "config": {"learning_rate": 1e-3}}
    summaries = {"d_optimizer": {"class_name": "SGD", "config": {"learning_rate": 0.1, "momentum": 0.0}},
                 "g_optimizer": {"class_name": "Adam", "config": {"learning_rate": 2e-4}},
                 "optimizer": default}

    def judged(owners, params, optimizers=summaries):
        layers = [{"name": n, "kind": "dense", "units": 64, "activation": "relu", "optimizer": o, "params": p}
                  for n, o, p in zip(NAMES, owners, params)]
        d = Diagnoser(NAMES, ["relu"] * 4, None, layer_kinds=["dense"] * 4, layer_units=[64] * 4,
                      model_summary={"loss": None, "layers": layers, "optimizer": default, "optimizers": optimizers})
        return d.optimizer, d.facts.learning_rate

    gan = ["g_optimizer", "g_optimizer", "d_optimizer", "d_optimizer"]
    assert judged(gan, [4000, 4000, 600, 65]) == ("adam", 2e-4)
    assert judged(gan, [100, 100, 5000, 65]) == ("sgd", 0.1)
    assert judged(["optimizer"] * 4, [100] * 4) == ("rmsprop", 1e-3)
    assert judged(["my_optimizer"] * 4, [100] * 4, optimizers=None) == (None, None)


def test_a_swing_of_tiny_batches_sampling_noise_under_small_steps_is_no_oscillation():
    """BatchNorm under batches of 2: the loss of the batches scatters ±0.6 around 2.0 (each batch's statistics are
    noise) while every layer's steps are 1.7e-3 of its weights — no oscillation. The same scatter under steps of
    3e-2 is one (the control), and so is a burst to 9 (a spike of the rate) over a loss that is otherwise steady,
    however small the steps are now."""
    per_epoch, steps = 45, 300
    rng = np.random.default_rng(0)
    scatter = list(2.0 + 0.6 * rng.standard_normal(steps))
    burst = [2.2 + 0.02 * math.sin(s) + (7.0 if 150 <= s < 160 else 0.0) for s in range(steps)]

    def run(losses, update):
        d = Diagnoser(NAMES, ["relu", "relu", "relu", "softmax"], None, num_classes=10, layer_kinds=["dense"] * 4,
                      layer_units=[64, 64, 64, 10], budget_steps=steps, steps_per_epoch=per_epoch,
                      model_summary={"loss": "sparse_categorical_crossentropy"})
        return feed(d, losses, update, per_epoch)

    assert "oscillating_loss" not in run(scatter, 1.7e-3)
    assert "oscillating_loss" in run(scatter, 3e-2)
    assert "oscillating_loss" in run(burst[:220], 1e-4)
