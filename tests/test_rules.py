"""The rules added beside the gradient rules — oscillating loss, slow convergence, poor initialisation (at run time
and before training) — and the cases the older rules must not mistake: large gradients on weights that do not
move, tiny weights that make a large relative step, advice that fits each layer's kind. Synthetic records (fast);
the pre-flight check runs on small Keras models."""

from __future__ import annotations

import json
import math
import os

import numpy as np
import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from vg_studio.diagnose.engine import Diagnoser  # noqa: E402
from vg_studio.diagnose.rules import RULES  # noqa: E402
from vg_studio.train import events  # noqa: E402

NAMES = ["dense", "dense_1", "dense_2", "dense_3"]
CHANCE = math.log(10)


def record(step, n=4, *, loss=2.0, grad=None, norm=None, update=None, epoch=0):
    stats = {"grad_mean_abs": np.asarray(grad if grad is not None else [1e-2] * n, dtype=float),
             "grad_norm": np.asarray(norm if norm is not None else [0.5] * n, dtype=float),
             "weight_norm": np.full(n, 5.0),
             "update_ratio": np.asarray(update if update is not None else [1e-3] * n, dtype=float),
             "dead_fraction": np.full(n, np.nan), "saturated_fraction": np.full(n, np.nan)}
    return events.ProbeRecord(step, epoch, loss, stats)


def model_diagnoser(activations=("relu", "relu", "relu", "softmax"), kinds=("dense",) * 4, budget=None,
                    per_epoch=None, optimizer="SGD", rate=0.1, loss="sparse_categorical_crossentropy"):
    summary = {"loss": loss,
               "optimizer": {"class_name": optimizer, "config": {"learning_rate": rate}}}
    return Diagnoser(NAMES[:len(kinds)], list(activations), None, num_classes=10, layer_kinds=list(kinds),
                     layer_units=[64] * (len(kinds) - 1) + [10], model_summary=summary, budget_steps=budget,
                     steps_per_epoch=per_epoch)


def feed(d, records):
    for r in records:
        d.on_record(r)
    d.finish()
    return {f.kind: f for f in d.findings}


def warned(found) -> set:
    return {k for k, f in found.items() if f.severity != "info"}


def running_means(batch_losses, per_epoch):
    """What Keras logs: the mean of the epoch's batches so far."""
    out = []
    for i, _ in enumerate(batch_losses):
        start = i - i % per_epoch
        out.append(float(np.mean(batch_losses[start:i + 1])))
    return out


def test_every_rule_is_one_module_in_the_registry():
    kinds = [rule.kind for rule in RULES]
    assert len(kinds) == len(set(kinds)) and {"oscillating_loss", "slow_convergence", "poor_initialization"} <= set(
        kinds)
    assert all(rule.__module__.rsplit(".", 1)[-1] in rule.kind or rule.__module__.endswith("exploding")
               or rule.__module__.endswith("vanishing") for rule in RULES)


def test_an_oscillating_loss_is_found_from_the_running_means_keras_logs():
    """Batch losses that swing between ~1.2 and ~3 without coming down, logged as Keras's running means (which
    hide the swings late in an epoch): the engine recovers each batch's loss and finds the oscillation once 50
    steps past the run's first 50 show it."""
    rng = np.random.default_rng(0)
    per_epoch = 25
    batches = [2.0 + 0.9 * math.sin(s / 2.0) + 0.1 * rng.normal() for s in range(1, 121)]
    d = model_diagnoser(budget=120, per_epoch=per_epoch)
    found = feed(d, [record(s, loss=m, epoch=(s - 1) // per_epoch, update=[0.2] * 4)
                     for s, m in enumerate(running_means(batches, per_epoch), start=1)])
    f = found["oscillating_loss"]
    assert f.severity == "warning" and "learning rate is too high" in f.message
    assert "oscillation_swing" in f.rule and any("far above the ~1e-3" in line for line in f.details)
    assert any("lower" in advice.lower() for advice in f.advice)
    steady = model_diagnoser(budget=120, per_epoch=per_epoch)  # a noisy loss that comes down: not oscillating
    falling = [2.3 * 0.97 ** s * (1 + 0.3 * rng.normal()) for s in range(1, 121)]
    found = feed(steady, [record(s, loss=m, epoch=(s - 1) // per_epoch)
                          for s, m in enumerate(running_means(falling, per_epoch), start=1)])
    assert "oscillating_loss" not in found


def test_a_single_burst_of_the_loss_at_guessing_is_an_oscillation():
    """A network stuck at the loss of guessing whose loss bursts to ~100 for ten steps and comes back (RMSprop at 0.05):
    its loss rises only on the burst's way up, a few percent of the window's steps, yet the burst is a swing of
    thousands of percent of its level with no progress — each step overshoots, the learning rate is too high."""
    burst = {s: CHANCE + 97.0 * math.sin(math.pi * (s - 110) / 10) for s in range(111, 120)}
    losses = [burst.get(s, CHANCE * (1 - 1e-4 * s)) for s in range(1, 161)]  # drifting down by 1e-4 a step
    d = model_diagnoser(budget=160, per_epoch=160, optimizer="RMSprop", rate=0.05)
    found = feed(d, [record(s, loss=m, update=[0.2] * 4) for s, m in enumerate(running_means(losses, 160), 1)])
    f = found["oscillating_loss"]
    assert f.severity == "warning" and f.state == "active" and f.evidence["share_of_rises"] < 0.1
    assert any("lower" in advice.lower() for advice in f.advice)


def test_slow_convergence_compares_progress_with_the_budget_spent():
    """The loss falls 2.5 % of the way to a good loss over the whole budget: it needs ~40x the budget. The same
    fall within the first tenth of a ten-times-longer budget is not judged yet."""
    losses = [2.65 - 0.0005 * s for s in range(1, 101)]
    d = model_diagnoser(budget=100, per_epoch=100, optimizer="Adam", rate=1e-5)
    found = feed(d, [record(s, loss=m, update=[3e-5] * 4) for s, m in enumerate(running_means(losses, 100), 1)])
    f = found["slow_convergence"]
    assert f.severity == "warning" and f.evidence["budgets_needed"] > 10
    assert f.advice[0] == "Raise the optimizer's learning rate"  # far below the usual rate, and tiny updates
    assert any("far below the ~1e-3" in line for line in f.details)
    early = model_diagnoser(budget=1000, per_epoch=100)
    assert "slow_convergence" not in feed(early, [record(s, loss=m) for s, m in
                                                  enumerate(running_means(losses, 100), 1)])
    fast = model_diagnoser(budget=100, per_epoch=100)  # a healthy fall
    assert "slow_convergence" not in feed(fast, [record(s, loss=2.3 * 0.98 ** s) for s in range(1, 101)])


def test_a_short_run_is_judged_slow_up_to_its_last_batch_not_its_last_record():
    """51 steps (3 epochs of 17) recorded at the first and every 4th: the last record is at step 48, 48 steps
    covered, short of the 50 start-up steps,
    and the last three batches' own losses come with the epoch's end. Adam at 1e-5 moves the loss 1 % of the way:
    slow by the steps the run trained, as the finding says once those batches are in."""
    rng = np.random.default_rng(5)
    batches = {s: 2.33 - 0.0004 * s + 0.004 * rng.normal() for s in range(1, 52)}
    d = model_diagnoser(budget=51, per_epoch=17, optimizer="Adam", rate=1e-5)
    previous = 0
    for step in [1, *range(4, 49, 4)]:  # the monitor records the first step, then every 4th
        d.on_record(events.ProbeRecord(step, (step - 1) // 17, batches[step], record(step).stats,
                                       batch_losses=tuple((s, batches[s]) for s in range(previous + 1, step + 1))))
        previous = step
        if step // 17 != (step + 4) // 17 or step == 48:  # an epoch ends before the next record
            end = 17 * ((step - 1) // 17 + 1)
            d.on_epoch((step - 1) // 17, {"loss": float(np.mean([batches[s] for s in range(end - 16, end + 1)]))},
                       tuple((s, batches[s]) for s in range(step + 1, end + 1)))
    d.finish()
    found = {f.kind: f for f in d.findings}
    assert found["slow_convergence"].severity == "warning" and found["slow_convergence"].state == "active", found
    assert "not_judged" not in found or "slow" not in found["not_judged"].message.lower()


def test_a_loss_that_hardly_moves_within_the_budget_is_slow_convergence_not_a_bare_plateau():
    """Adam at 1e-5: the loss goes from 2.35 to 2.34 (0.4 %) over the whole budget while the weights move 3e-5 of
    their size a step (not frozen). The budget says it converges far too slowly; the plateau is that evidence
    again (info)."""
    rng = np.random.default_rng(3)
    batches = [2.35 - 0.0001 * s + 0.005 * rng.normal() for s in range(1, 101)]
    d = model_diagnoser(budget=100, per_epoch=25, optimizer="Adam", rate=1e-5)
    found = feed(d, [record(s, loss=m, update=[3e-5] * 4, epoch=(s - 1) // 25)
                     for s, m in enumerate(running_means(batches, 25), 1)])
    assert found["slow_convergence"].severity == "warning", found
    assert "hardly come down" in found["slow_convergence"].message
    assert found["loss_plateau"].severity == "info" and "slow convergence" in found["loss_plateau"].message
    from vg_studio.diagnose.findings import Finding

    collapsed = model_diagnoser(budget=100, per_epoch=25, optimizer="Adam", rate=1e-5)
    for s, m in enumerate(running_means(batches, 25), 1):
        collapsed.on_record(record(s, loss=m, update=[3e-5] * 4, epoch=(s - 1) // 25))
    collapsed.finish()
    collapsed.add_preflight([Finding("poor_initialization", "warning", 0, 0, ("dense",), {}, "collapses.", (),
                                     last_step=0, state="active")])  # the signal collapsed before training
    slow = next(f for f in collapsed.findings if f.kind == "slow_convergence")
    assert slow.severity == "info" and "poor initialization" in slow.message
    recurrent = model_diagnoser(activations=("sigmoid", "sigmoid", "sigmoid", "softmax"),
                                kinds=("simple_rnn", "simple_rnn", "simple_rnn", "dense"), budget=100, per_epoch=25)
    time_grad = np.logspace(-16, 0, 28)  # the first rows get 1e-16 of the last row's gradient
    for s, m in enumerate(running_means(batches, 25), 1):
        r = record(s, loss=m, update=[3e-5] * 4, epoch=(s - 1) // 25)
        recurrent.on_record(events.ProbeRecord(r.step, r.epoch, r.loss, r.stats, time_grad=time_grad))
    recurrent.finish()
    found = {f.kind: f for f in recurrent.findings}
    assert found["vanishing_through_time"].severity == "error"
    assert found["slow_convergence"].severity == "info" and "vanishing through time" in found[
        "slow_convergence"].message
    frozen = model_diagnoser(budget=100, per_epoch=25)  # weights that do not move: flat, not slow
    found = feed(frozen, [record(s, loss=m, update=[1e-8] * 4, epoch=(s - 1) // 25)
                          for s, m in enumerate(running_means(batches, 25), 1)])
    assert found["flat_weights"].severity != "info" and found["slow_convergence"].severity == "info"


def test_a_loss_far_above_guessing_that_comes_down_steadily_is_a_poor_initialisation_not_an_explosion():
    """An output layer scaled 25x under Adam: the loss starts at 15x guessing and comes down steadily (a tenth or more
    every 20 steps) with gradient norms of 25, still above 3x guessing at the end. The steps improve the network:
    what is off is where it started (a poor initialisation, holding), not steps that throw the weights away. The same
    loss held at 12x guessing, not coming down, is an explosion, with the initialisation beside it not hidden."""
    def run(losses):
        d = model_diagnoser(optimizer="Adam", rate=2e-4)
        return feed(d, [record(s, loss=loss, norm=[25.0] * 4, epoch=s - 1) for s, loss in enumerate(losses, 1)])

    falling = run([28.0 * 0.97 ** s + 8.0 for s in range(60)])  # 20-step medians 22.6 -> 16.3 -> 12.6
    assert "exploding_gradient" not in falling or falling["exploding_gradient"].state == "resolved"
    assert (falling["poor_initialization"].severity, falling["poor_initialization"].state) == ("warning", "active")
    held = run([36.0] + [28.0 + (-1) ** s for s in range(59)])
    assert (held["exploding_gradient"].severity, held["exploding_gradient"].state) == ("warning", "active")
    assert (held["poor_initialization"].severity, held["poor_initialization"].state) == ("warning", "active")


def test_an_untrained_gru_where_nothing_moves_is_flat_not_vanishing_through_time():
    """A GRU at learning rate 1e-9: its untrained gates pass 1e-5 of the last row's gradient back to the first rows,
    yet no weight moves (update ratio 1e-9, the output layer's too): the frozen weights are the finding, a gradient's
    decay through time is none. The same decay while the weights move is vanishing through time."""
    def run(update):
        d = model_diagnoser(activations=("tanh", "linear", "linear", "softmax"),
                            kinds=("gru", "dense", "dense", "dense"), optimizer="Adam", rate=1e-9)
        time_grad = np.logspace(-5, 0, 28)
        for s in range(1, 61):
            r = record(s, loss=CHANCE, update=None if s == 1 else [update] * 4, epoch=s - 1)
            d.on_record(events.ProbeRecord(r.step, r.epoch, r.loss, r.stats, time_grad=time_grad))
        d.finish()
        return {f.kind: f for f in d.findings}

    frozen = run(1e-9)
    assert frozen["flat_weights"].severity == "warning" and frozen["flat_weights"].state == "active"
    assert "vanishing_through_time" not in frozen or frozen["vanishing_through_time"].state == "resolved"
    moving = run(1e-3)
    assert moving["vanishing_through_time"].severity == "warning"
    assert moving["vanishing_through_time"].state == "active"


def test_a_large_output_layer_taking_small_relative_steps_is_not_a_frozen_network():
    """An output layer scaled 40x under Adam 1.5e-4: its steps are 7e-6 of its large weights while every other layer
    moves 1e-3 a step and the loss comes down. One layer of four with small relative steps is info, not "no layer's
    weights change"; when every layer takes such steps, the network is frozen (a warning)."""
    losses = [20.0 * 0.97 ** s + 2.0 for s in range(60)]

    def flat(update):
        d = model_diagnoser(optimizer="Adam", rate=1.5e-4)
        return feed(d, [record(s, loss=loss, update=update, epoch=s - 1)
                        for s, loss in enumerate(losses, 1)])["flat_weights"]

    one = flat([1e-3, 1e-3, 1e-3, 7e-6])
    assert one.severity == "info" and "No layer" not in one.message
    every = flat([7e-6] * 4)
    assert every.severity == "warning" and every.message.startswith("No layer")


def test_dead_units_warn_while_the_loss_is_far_from_good():
    """85 % of a layer's ReLUs dead (below the 90 % that is an error at once). Between 50 % and 90 % the units are a
    warning while the loss is still at least half of where it started or of guessing, whichever is lower: a loss
    that has not come down (2.7, then 2.27, 2.33), and one that came down from above guessing (3.2, a BatchNorm net
    at SGD 5) to guessing and swings ±15 % around it, are warnings; the same units while the loss falls to 0.9 are
    info (a network can learn around them)."""
    def run(first, early, late):
        d = model_diagnoser()
        for s in range(1, 81):
            loss = first if s == 1 else early if s <= 40 else late * (1.15 if s % 2 else 0.85)
            r = record(s, loss=loss, epoch=s - 1)
            r.stats["dead_fraction"] = np.array([0.1, 0.2, 0.85, np.nan]) if s > 40 else np.full(4, np.nan)
            d.on_record(r)
        d.finish()
        return {f.kind: f for f in d.findings}["dead_units"]

    assert run(2.7, 2.27, 2.33).severity == "warning"
    assert run(3.2, 3.1, CHANCE).severity == "warning"  # 72 % of where it started: "fell" by 28 %
    assert run(2.7, 2.27, 0.9).severity == "info"


def test_large_gradients_on_weights_that_do_not_move_are_flat_not_exploding():
    """A residual MLP at lr 1e-8: the loss sits at 11 (4.8x guessing) with gradient norms near 50, and the weights
    change by 1e-8 of their size per step. Flat weights and a poor initialisation — not an explosion."""
    d = model_diagnoser(kinds=("dense",) * 4)
    found = feed(d, [record(s, loss=11.0, norm=[50.0] * 4, update=[1e-8] * 4) for s in range(1, 120)])
    assert "exploding_gradient" not in found
    assert {"flat_weights", "poor_initialization"} <= warned(found)
    assert "4.8× the loss of guessing" in found["poor_initialization"].message
    moving = model_diagnoser()  # the same loss and gradients on weights that move: an explosion
    assert "exploding_gradient" in warned(feed(moving, [record(s, loss=11.0, norm=[50.0] * 4, update=[1e-2] * 4)
                                                        for s in range(1, 120)]))


def test_an_explosion_whose_loss_never_recovers_holds_to_the_end_and_is_not_an_oscillation():
    """An Adam learning-rate spike to 1.0 for 5 steps at step 40 of a ReLU MLP: the loss jumps to 1e4, then swings over
    9-17 around 13 (5.6x guessing, 14x the 0.9 it had before) to the end, while the weights, thrown 13x larger, take
    relative steps of 7e-5 and pass back gradient norms of 13. The explosion has not ended — its damage holds — and
    the swing is what it left, not an oscillating learning rate. The same spike after which the loss comes back to
    0.8 by step 70 is an explosion on the way, resolved."""
    def run(after):
        d = model_diagnoser(optimizer="Adam", rate=1e-3)
        records = []
        for s in range(1, 103):
            if s < 40:
                loss, norm, update = 2.3 - 1.4 * s / 40, 1.5, 5e-3
            elif s < 45:
                loss, norm, update = 9000.0, 1500.0, 0.9
            else:
                loss, norm, update = after(s), 13.0, 7e-5
            records.append(record(s, loss=loss, norm=[norm] * 4, update=[update] * 4, epoch=s - 1))
        return feed(d, records)

    stuck = run(lambda s: 13.0 + 4.0 * math.sin(1.7 * s))
    assert (stuck["exploding_gradient"].state, stuck["exploding_gradient"].severity) == ("active", "warning")
    assert "has not recovered" in stuck["exploding_gradient"].message
    assert "oscillating_loss" not in warned(stuck)
    recovered = run(lambda s: 13.0 + 4.0 * math.sin(1.7 * s) if s < 70 else 0.8 + 0.1 * math.sin(1.7 * s))
    assert recovered["exploding_gradient"].state == "resolved"
    assert "exploding_gradient" not in {f.kind for f in recovered.values() if f.state == "active"
                                        and f.severity != "info"}


def test_gradients_that_grow_from_a_flat_start_while_the_network_learns_are_not_an_explosion():
    """A network that sits at guessing for 60 steps with gradient norms of 5e-4 (tiny separable-convolution weights),
    then learns: its norms grow ~5,000x to an ordinary 2.5 while its loss falls to a third of guessing. That is a
    network escaping a flat start, not steps that throw the weights away. The same growth while the loss stays at
    guessing is an explosion."""
    def run(loss_after):
        d = model_diagnoser(optimizer="Adam", rate=3e-3)
        records = []
        for s in range(1, 201, 2):
            if s <= 60:
                loss, norm = CHANCE, 5e-4
            else:
                loss, norm = loss_after(s), 5e-4 * 5000 ** min(1.0, (s - 60) / 60)
            records.append(record(s, loss=loss, norm=[norm] * 4, update=[3e-3] * 4, epoch=(s - 1) // 40))
        return feed(d, records)

    learning = run(lambda s: CHANCE * max(1 / 3, 1 - (s - 60) / 90))
    assert "exploding_gradient" not in warned(learning)
    stuck = run(lambda s: CHANCE)
    f = stuck["exploding_gradient"]
    assert (f.severity, f.state) == ("warning", "active") and "exploding_growth" in f.rule


def test_gradients_growing_on_their_way_back_are_an_explosion_only_where_they_are_large():
    """An output kernel scaled 40x multiplies the backward signal: the first layer's mean |g| is 84x the output's, yet
    every gradient norm is ~8 and the loss sits below guessing: no step throws weights away, no explosion. The same
    ratio with gradient norms of 60 is one."""
    def run(norm):
        d = model_diagnoser(optimizer="RMSprop", rate=1e-4)
        return feed(d, [record(s, loss=2.2 - 0.001 * s, grad=[0.84, 0.1, 0.05, 0.01], norm=[norm] * 4,
                               update=[2e-4] * 4) for s in range(1, 60)])

    assert "exploding_gradient" not in warned(run(8.0))
    found = run(60.0)
    assert "exploding_gradient" in warned(found)
    assert "exploding_ratio" in found["exploding_gradient"].rule and "exploding_loss_norm" in found[
        "exploding_gradient"].rule


def test_a_loss_far_above_chance_that_comes_down_is_an_early_transient():
    """A residual ReLU+BN net under SGD+momentum starts at a loss of 10 with large gradients, climbs to 15, then
    trains: what happened on the way is reported, resolved and as info; nothing holds at the end."""
    losses = [10.3, 12, 14, 15, 15, 14, 13, 11, 9, 8, 7, 6, 5, 4.5, 4, 3.5, 3, 2.5] + [2.0 * 0.98 ** s for s in
                                                                                      range(100)]
    norms = [31, 25, 22] + [12] * 5 + [4] * 110
    d = model_diagnoser(kinds=("dense", "batch_normalization", "dense", "dense"))
    found = feed(d, [record(2 * i + 1, loss=m, norm=[n] * 4, update=[0.05] * 4)
                     for i, (m, n) in enumerate(zip(losses, norms))])
    assert warned(found) == set() and d.warnings() == []
    for kind in ("exploding_gradient", "poor_initialization"):
        assert found[kind].state == "resolved" and found[kind].severity == "info"
        assert any("early transient" in line for line in found[kind].details)


def test_tiny_weights_that_take_a_large_relative_step_are_not_an_explosion():
    """N(0, 0.001) weights on a deep sigmoid net: the update ratio is large because the weights are tiny, the
    gradients vanish (first/output 3e-20): vanishing, not exploding, and not hidden by anything."""
    grads = [1e-22, 1e-18, 1e-14, 1e-10, 1e-6, 1e-4, 3e-2]
    names = [f"dense_{i}" for i in range(7)]
    d = Diagnoser(names, ["sigmoid"] * 6 + ["softmax"], None, num_classes=10, layer_kinds=["dense"] * 7,
                  layer_units=[64] * 6 + [10], model_summary={"loss": "sparse_categorical_crossentropy"})
    for s in range(1, 80):
        d.on_record(events.ProbeRecord(s, 0, CHANCE + 1e-5, {
            "grad_mean_abs": np.asarray(grads), "grad_norm": np.asarray(grads) * 30, "weight_norm": np.full(7, 0.06),
            "update_ratio": np.full(7, 0.8), "dead_fraction": np.full(7, np.nan),
            "saturated_fraction": np.full(7, np.nan)}))
    d.finish()
    found = {f.kind: f for f in d.findings}
    assert "exploding_gradient" not in found
    assert found["vanishing_gradient"].severity == "error" and d.main_finding().kind == "vanishing_gradient"


def test_advice_fits_the_layer_kind():
    """No ReLU/He for an LSTM or an Embedding; LSTM/GRU for a user's SimpleRNN; the finding names the rule that
    fired (the loss at chance), not a threshold that did not."""
    kinds = ["embedding", "simple_rnn", "simple_rnn", "dense"]
    d = Diagnoser(["embedding", "simple_rnn", "simple_rnn_1", "dense"], ["", "tanh", "tanh", "softmax"], None,
                  num_classes=10, layer_kinds=kinds, layer_units=[32, 32, 32, 10],
                  model_summary={"loss": "sparse_categorical_crossentropy"})
    grads = [1e-9, 4e-5, 2e-4, 1e-2]  # first/output 4e-3: near the threshold, with the loss at guessing
    new = d.on_record(record(1, loss=CHANCE + 1e-4, grad=grads))
    f = next(f for f in new if f.kind == "vanishing_gradient")
    assert "loss" in f.rule and "guessing" in f.rule and "vanishing_ratio" not in f.rule
    assert not any("threshold is" in line for line in f.details)
    advice = " ".join(f.advice)
    assert "Replace SimpleRNN with LSTM in simple_rnn" in advice and "GRU" in advice
    assert "relu" not in advice.lower() and "he_normal" not in advice and "embedding" not in advice
    lstm = Diagnoser(["lstm", "dense"], ["tanh", "softmax"], None, num_classes=10, layer_kinds=["lstm", "dense"],
                     layer_units=[32, 10], model_summary={"loss": "sparse_categorical_crossentropy"})
    f = next(f for f in lstm.on_record(record(1, n=2, loss=CHANCE + 1e-4, grad=[1e-8, 1e-2]))
             if f.kind == "vanishing_gradient")
    assert not any("relu" in a.lower() or "LSTM" in a for a in f.advice) and f.advice


def test_preflight_finds_collapsing_and_exploding_scales_but_not_a_healthy_or_sigmoid_net():
    import keras

    from vg_studio.diagnose.preflight import preflight

    x = np.random.default_rng(0).uniform(0, 1, size=(64, 32)).astype("float32")

    def mlp(activation, init, depth=6, batch_norm=False):
        keras.utils.set_random_seed(0)
        inputs = keras.Input((32,))
        h = inputs
        for _ in range(depth):
            h = keras.layers.Dense(32, activation=None if batch_norm else activation, kernel_initializer=init)(h)
            if batch_norm:
                h = keras.layers.Activation(activation)(keras.layers.BatchNormalization()(h))
        return keras.Model(inputs, keras.layers.Dense(10, activation="softmax")(h))

    tiny = preflight(mlp("relu", keras.initializers.RandomNormal(0, 0.005)), x)
    assert [f.kind for f in tiny] == ["poor_initialization"] and tiny[0].evidence["signal_change"] < 1e-2
    assert "collapses" in tiny[0].message and any("he_normal" in a for a in tiny[0].advice)
    huge = preflight(mlp("relu", keras.initializers.RandomNormal(0, 1.0), depth=4), x)
    assert huge and huge[0].evidence["signal_change"] > 100 and "blows up" in huge[0].message
    assert preflight(mlp("relu", "he_normal"), x) == []
    assert preflight(mlp("sigmoid", "glorot_uniform", depth=8), x) == []  # the activation's doing, not init's
    model = mlp("relu", "he_normal", batch_norm=True)
    before = [v.numpy().copy() for v in model.non_trainable_variables]
    preflight(model, x)
    assert all(np.array_equal(a, v.numpy()) for a, v in zip(before, model.non_trainable_variables))


def test_preflight_measures_a_subclassed_model_through_its_calls():
    """A keras.Model subclass has no graph to probe: its layers' inputs are caught as the forward pass reaches
    them. The signal's collapse is checked against NumPy on the same kernels."""
    import keras

    from vg_studio.diagnose.preflight import preflight

    x = np.random.default_rng(1).uniform(0, 1, size=(64, 32)).astype("float32")

    class Net(keras.Model):
        def __init__(self, init):
            super().__init__()
            self.blocks = [keras.layers.Dense(32, activation="relu", kernel_initializer=init) for _ in range(5)]
            self.head = keras.layers.Dense(10, activation="softmax")

        def call(self, inputs):
            for block in reversed(self.blocks):  # not the order they were made in
                inputs = block(inputs)
            return self.head(inputs)

    keras.utils.set_random_seed(0)
    tiny = Net(keras.initializers.RandomNormal(0, 0.005))
    tiny(x[:1])
    found = preflight(tiny, x)
    h = x.astype(np.float64)
    spread = [np.sqrt(np.var(h, axis=0).mean())]
    for block in reversed(tiny.blocks):
        h = np.maximum(h @ np.asarray(block.kernel) + np.asarray(block.bias), 0)
        spread.append(np.sqrt(np.var(h, axis=0).mean()))
    assert [f.kind for f in found] == ["poor_initialization"]
    assert found[0].evidence["signal_change"] == pytest.approx(spread[-1] / spread[0], rel=1e-3)
    assert "call" not in vars(tiny.blocks[0])  # the watch is removed again
    keras.utils.set_random_seed(0)
    healthy = Net("he_normal")
    healthy(x[:1])
    assert preflight(healthy, x) == []


@pytest.mark.slow
@pytest.mark.parametrize("case", ["oscillating", "slow"])
def test_oscillation_and_slow_convergence_on_real_training(tmp_path, case):
    """A user's 3-layer ReLU MLP on digits: with BatchNorm under SGD+momentum at rate 1 its loss swings without
    coming down (Keras's own epoch losses rise); under Adam at 1e-5 it falls 1-10 % of the way in its budget."""
    import keras

    from vg_studio.data import load_dataset
    from vg_studio.monitor import GradientMonitor

    data = load_dataset("digits", {"limit": 800})
    keras.utils.set_random_seed(0)
    inputs = keras.Input(data.input_shape)
    h = keras.layers.Flatten()(inputs)
    for _ in range(3):
        h = keras.layers.Dense(64, kernel_initializer="he_normal", activation=None if case == "oscillating"
                               else "relu")(h)
        if case == "oscillating":
            h = keras.layers.Activation("relu")(keras.layers.BatchNormalization()(h))
    model = keras.Model(inputs, keras.layers.Dense(10, activation="softmax")(h))
    optimizer = keras.optimizers.SGD(1.0, momentum=0.9) if case == "oscillating" else keras.optimizers.Adam(1e-5)
    model.compile(optimizer, "sparse_categorical_crossentropy")
    monitor = GradientMonitor(tmp_path / "run", record_every=1, probe_data=data.x_train[:64])
    history = model.fit(data.x_train, data.y_train, epochs=4, batch_size=32, verbose=0, callbacks=[monitor])
    losses = history.history["loss"]
    found = {f.kind for f in monitor.findings if f.severity != "info" and f.state == "active"}
    if case == "oscillating":
        assert losses[-1] > min(losses) and "oscillating_loss" in found, (losses, found)
    else:
        drop = (losses[0] - losses[-1]) / (losses[0] - 0.5 * math.log(10))
        assert 0 < drop < 0.1 and found == {"slow_convergence"}, (losses, found)


def test_a_batch_at_an_epochs_unrecorded_last_step_is_recovered_from_the_epochs_mean():
    """Records every other step over epochs of 17 steps skip the last batch of every other epoch, and the next
    epoch's running mean starts afresh: a burst of the loss (3,000) at step 51, the last step of the third epoch,
    would never be seen. The epoch's logged mean gives it back exactly (equal batches), and the swing is found."""
    per_epoch, steps = 17, 119
    batches = [2.3 - 1.5 * s / 50 if s < 51 else 2.45 + 0.02 * math.sin(s) for s in range(1, steps + 1)]
    batches[50] = 3000.0
    means = running_means(batches, per_epoch)

    def run(with_epochs: bool):
        d = model_diagnoser(budget=steps, per_epoch=per_epoch, optimizer="Nadam", rate=1.0)
        for s in range(1, steps + 1):
            if s == 1 or s % 2 == 0:
                d.on_record(record(s, loss=means[s - 1], epoch=(s - 1) // per_epoch, update=[0.01] * 4))
            if with_epochs and s % per_epoch == 0:
                d.on_epoch(s // per_epoch - 1, {"loss": means[s - 1]})
        d.finish()
        return d, {f.kind: f for f in d.findings}

    d, found = run(with_epochs=True)
    tails = dict(d.state.batch_losses.items)
    assert tails[51] == pytest.approx(3000.0, rel=1e-9) and tails[119] == pytest.approx(batches[118], rel=1e-9)
    assert found["oscillating_loss"].state == "active"
    assert "oscillating_loss" not in run(with_epochs=False)[1]  # the records alone never see it


def test_an_explosion_in_the_last_steps_is_judged_on_the_gradients_now():
    """A loss at 2.2x guessing with ordinary gradients (norm 5) for 112 steps, then an explosion in the last 8:
    gradient norms of 60, the loss of the batches 30-100. The window's median gradient norm (20 steps) still
    reads 5, but the gradients are large now and the loss is far above guessing: an explosion, not an oscillation
    with the same cause unnamed. The same burst of the gradients while the loss stays low is none."""

    def run(low: float, high: float):
        d = model_diagnoser(budget=120, per_epoch=120, optimizer="RMSprop", rate=0.05)
        batches = [high * (1.5 + math.sin(s)) / 2.5 if s > 112 else low * (1 + 0.01 * math.sin(s))
                   for s in range(1, 121)]
        for s, mean in enumerate(running_means(batches, 120), start=1):
            d.on_record(record(s, loss=mean, norm=[60.0] * 4 if s > 112 else [5.0] * 4, update=[0.15] * 4))
        d.finish()
        return {f.kind: f for f in d.findings}

    found = run(low=2.2 * CHANCE, high=100.0)
    assert found["exploding_gradient"].state == "active" and found["exploding_gradient"].severity != "info"
    assert found.get("oscillating_loss") is None or found["oscillating_loss"].severity == "info"
    assert "exploding_gradient" not in run(low=0.3, high=0.6)


def test_an_explosion_that_ends_in_the_last_steps_is_over_once_the_loss_is_back():
    """A network that started far above guessing (loss 190, gradient norms 600) and came down to it, then exploded
    for eleven steps (loss 150, norms 300) and came back in the run's last eight (loss 3, norms 0.5): the window's
    medians (20 steps) still read the explosion, but the gradients now are small and the loss of the last steps is
    back near where it was before — the explosion has ended, and the swing it left is what holds at the end."""
    batches = [190.0 * 0.55 ** (s - 1) + 2.3 for s in range(1, 11)] + [2.3 + 0.02 * math.sin(s) for s in range(11, 96)]
    batches += [150.0] * 11 + [3.0] * 8
    norms = [600.0 * 0.6 ** (s - 1) + 0.3 for s in range(1, 11)] + [0.3] * 85 + [300.0] * 11 + [0.5] * 8
    d = model_diagnoser(budget=114, per_epoch=114, optimizer="RMSprop", rate=0.06)
    found = feed(d, [record(s, loss=m, norm=[norms[s - 1]] * 4, update=[0.05] * 4)
                     for s, m in enumerate(running_means(batches, 114), start=1)])
    assert found["exploding_gradient"].state == "resolved"
    assert found["oscillating_loss"].severity == "warning" and found["oscillating_loss"].state == "active"


def test_a_poor_initialisation_holds_while_the_loss_of_the_last_steps_is_back_above_the_line():
    """A network that started at 30x guessing, came down to ~4 (under 3x guessing, 6.9) and swings back up to
    8-15 in its last four steps: the last ten steps' median (4) says it came down, the last five steps' (9) that it
    is far above guessing again — what holds at the end is the poor initialisation. Where the loss stays down, it
    ended."""

    def run(tail):
        batches = [70.0 * 0.7 ** (s - 1) + 4.0 for s in range(1, 31)] + [4.0 + 0.3 * math.sin(s) for s in range(31, 95)]
        batches += tail
        d = model_diagnoser(budget=len(batches), per_epoch=len(batches), optimizer="RMSprop", rate=0.05)
        return feed(d, [record(s, loss=m, update=[0.1] * 4)
                        for s, m in enumerate(running_means(batches, len(batches)), start=1)])

    found = run([4.0, 4.2, 3.9, 4.1, 8.3, 15.2, 9.0, 12.0])
    assert found["poor_initialization"].severity == "warning" and found["poor_initialization"].state == "active"
    assert found["poor_initialization"].evidence["loss"] > 3 * CHANCE
    assert run([4.0, 4.2, 3.9, 4.1, 4.0, 3.8, 4.1, 4.0])["poor_initialization"].state == "resolved"


def test_depth_is_compared_on_the_kernels_gradients_not_a_bias_the_collapse_leaves_large():
    """Tiny weights collapse the forward signal: the output layer's kernel gradient (its input times the error)
    falls with it while its bias gradient (the error alone) does not. Over kernel and bias together the first/output
    ratio reads 1e-4 — a vanishing gradient that the kernels, which the checks compare, do not show (0.4). A run
    recorded before the kernel statistic existed is still judged on what it has."""
    def records(with_kernels):
        out = []
        for s in range(1, 60):
            r = record(s, loss=1.2 - 0.01 * s, grad=[1e-6, 2e-5, 1e-3, 1e-2])
            if with_kernels:
                r.stats["kernel_grad_mean_abs"] = np.asarray([1e-6, 2e-6, 2e-6, 2.5e-6])
            out.append(r)
        return out

    assert "vanishing_gradient" not in feed(model_diagnoser(), records(True))
    assert "vanishing_gradient" in warned(feed(model_diagnoser(), records(False)))


def test_while_the_loss_sits_at_guessing_the_ratio_over_all_weights_shows_the_decay_the_kernels_hide():
    """Tiny weights from step 1, the loss at the loss of guessing: the output kernel's input is the collapsed
    signal, so its gradient is as tiny as the first layer's (kernel ratio 2); its bias's, the error alone, is not
    (ratio over all the weights 1e-4). The decay is found at the first record, as the checks find it after
    training."""
    d = model_diagnoser(activations=("tanh", "tanh", "tanh", "softmax"))
    first = None
    for s in range(1, 40):
        r = record(s, loss=CHANCE + 1e-5, grad=[1e-8, 1e-7, 1e-6, 1e-4])
        r.stats["kernel_grad_mean_abs"] = np.asarray([2e-9, 1e-9, 1e-9, 1e-9])
        if first is None and any(f.kind == "vanishing_gradient" for f in d.on_record(r)):
            first = s
    assert first == 1


def test_weights_that_stop_once_the_network_has_learned_are_not_a_frozen_network():
    """Warm-up and cosine decay to 0 over the budget: every layer moves ~1e-3 a step while the loss falls from 2.3 to
    0.1, then the rate anneals and the last 20 steps move 1e-7. Training has stopped after the network learned: info.
    The same frozen steps while the loss is still at 2.2 are a network that does not learn: a warning."""
    def flat(end_loss):
        d = model_diagnoser(optimizer="Adam", rate=3e-3)
        records = []
        for s in range(1, 201, 2):
            loss = 2.3 + (end_loss - 2.3) * min(1.0, s / 150)
            records.append(record(s, loss=loss, update=[1e-7 if s > 180 else 1e-3] * 4, epoch=(s - 1) // 40))
        return feed(d, records)["flat_weights"]

    learned = flat(0.1)
    assert (learned.severity, learned.state) == ("info", "active") and "after the network learned" in learned.message
    stuck = flat(2.2)
    assert (stuck.severity, stuck.state) == ("warning", "active") and "not learning at all" in stuck.message


def test_large_gradients_of_a_loss_without_a_known_scale_are_not_an_explosion_while_the_steps_stay_ordinary():
    """A regression on targets in the thousands (squared error ~3e7): its gradient norms grow from 1e4 to 6e6 while
    Adam's steps stay ~7e-3 of the weights and the loss falls. Gradients that large say nothing without a scale to
    measure them against: no explosion. The same gradients with steps of half the weights' size, and a loss that
    climbs, are one."""
    def run(update, climb):
        d = model_diagnoser(activations=("relu", "relu", "relu", "linear"), optimizer="Adam", rate=1e-3, loss="mse")
        records = []
        for s in range(1, 201, 2):
            loss = 3e7 * (1 + s / 50) if climb else 3e7 * (1 - 0.7 * s / 200)
            norm = 1e4 * 600 ** min(1.0, s / 80)
            records.append(record(s, loss=loss, norm=[norm] * 4, grad=[norm / 1e3] * 4, update=[update] * 4,
                                  epoch=(s - 1) // 40))
        return feed(d, records)

    assert "exploding_gradient" not in warned(run(7e-3, climb=False))
    assert "exploding_gradient" in warned(run(0.5, climb=True))
    assert "exploding_gradient" in warned(run(0.5, climb=False))


def test_the_loss_of_guessing_of_several_weighted_outputs_is_their_weighted_sum():
    """A digit head (10 classes) weighted 10 beside a parity head (2): Keras adds the heads' losses with their
    weights, so a network that guesses starts at 10 ln 10 + ln 2 = 23.7 — measured here as the loss Keras computes for
    the model with its output kernels zeroed — not 3x the last head's ln 2. A run that starts there and falls to 2.3
    (digit loss 0.18, parity 0.24: it learned) is no poor initialisation; judged against ln 2 it was one."""
    import keras

    from vg_studio.train.summary import model_summary

    inputs = keras.Input((4,))
    hidden = keras.layers.Dense(8, activation="relu", name="hidden")(inputs)
    model = keras.Model(inputs, [keras.layers.Dense(10, activation="softmax", name="digit")(hidden),
                                 keras.layers.Dense(2, activation="softmax", name="parity")(hidden)])
    model.compile("adam", ["sparse_categorical_crossentropy"] * 2, loss_weights=[10.0, 1.0])
    for name in ("digit", "parity"):
        model.get_layer(name).kernel.assign(np.zeros(model.get_layer(name).kernel.shape))
    rng = np.random.default_rng(0)
    x, labels = rng.normal(size=(64, 4)).astype("float32"), rng.integers(0, 2, size=64)
    guessing = model.evaluate(x, (labels, labels), verbose=0, return_dict=True)["loss"]
    names = ["hidden", "digit", "parity"]
    columns = [{"name": n, "kind": "dense", "units": u, "activation": a}
               for n, u, a in zip(names, (8, 10, 2), ("relu", "softmax", "softmax"))]
    summary = model_summary(model, columns)

    def run(summary):
        d = Diagnoser(names, ["relu", "softmax", "softmax"], None, layer_kinds=["dense"] * 3,
                      layer_units=[8, 10, 2], model_summary=summary)
        losses = [24.5 - 22.2 * min(1.0, s / 200) for s in range(1, 265, 2)]
        found = feed(d, [record(s, 3, loss=loss, epoch=(s - 1) // 44) for s, loss in zip(range(1, 265, 2), losses)])
        return d, found

    d, found = run(summary)
    assert d.facts.chance_loss == pytest.approx(guessing, rel=1e-4)
    assert "poor_initialization" not in warned(found)
    single = {k: v for k, v in summary.items() if k != "config"} | {"loss": "sparse_categorical_crossentropy"}
    assert "poor_initialization" in warned(run(single)[1])  # the same run judged against one head's ln 2


def test_a_binary_cross_entropy_over_many_outputs_costs_ln_2_at_guessing_not_ln_of_its_width():
    """An autoencoder's 64 sigmoid pixels or a multi-label head under binary cross-entropy: the loss is the mean of
    each output's yes/no loss, so guessing costs ln 2 (measured here as the loss Keras computes for zeroed output
    weights), not ln 64. Judged against ln 64 a loss of 0.69 is already "good": a run under Adam 1e-5 whose loss
    crawls from 0.70 to 0.684 in its budget was never called slow, one that never moves never a problem."""
    import keras

    inputs = keras.Input((4,))
    out = keras.layers.Dense(64, activation="sigmoid", kernel_initializer="zeros")(keras.layers.Dense(8)(inputs))
    model = keras.Model(inputs, out)
    model.compile("adam", "binary_crossentropy")
    rng = np.random.default_rng(0)
    guessing = model.evaluate(rng.normal(size=(32, 4)), rng.integers(0, 2, size=(32, 64)).astype("float32"),
                              verbose=0)

    def run(losses):
        d = Diagnoser(["dense", "dense_1", "dense_2"], ["relu", "relu", "sigmoid"], None, layer_kinds=["dense"] * 3,
                      layer_units=[8, 8, 64], model_summary={"loss": "binary_crossentropy"}, budget_steps=264,
                      steps_per_epoch=44)
        return d, feed(d, [record(s, 3, loss=loss, update=[4e-5] * 3, epoch=(s - 1) // 44)
                           for s, loss in zip(range(1, 265, 2), losses)])

    d, crawling = run([0.70 - 0.016 * s / 132 for s in range(132)])
    assert d.facts.chance_loss == pytest.approx(guessing, rel=1e-4)
    assert "slow_convergence" in warned(crawling)
    assert warned(run([0.6937] * 132)[1]) & {"loss_plateau", "slow_convergence"}  # a loss that never moves


def test_a_dataset_of_unknown_length_gives_the_budget_at_the_first_epochs_end():
    """A filtered tf.data pipeline: Keras does not know an epoch's length when training starts (steps_per_epoch
    None), so the budget of 6 epochs is unknown and slow convergence could not be judged — Adam 1e-5 crawling from
    2.32 to 2.29 in 264 steps was reported as a bare plateau. The first epoch's end tells its length (44 steps)."""
    started = events.RunStarted(None, None, NAMES, ["relu", "relu", "relu", "softmax"], epochs=6, steps_per_epoch=None,
                                param_count=0, device="", sample_count=0, layer_kinds=["dense"] * 4,
                                layer_units=[64, 64, 64, 10],
                                model_summary={"loss": "sparse_categorical_crossentropy",
                                               "optimizer": {"class_name": "Adam", "config": {"learning_rate": 1e-5}}})
    d = Diagnoser.for_run(started)
    for s in range(1, 265):
        d.on_record(record(s, loss=2.32 - 0.03 * s / 264, update=[3.5e-5] * 4, epoch=(s - 1) // 44))
        if s % 44 == 0:
            d.on_epoch(s // 44 - 1, {"loss": 2.32 - 0.03 * (s - 22) / 264})
    d.finish()
    found = {f.kind: f for f in d.findings}
    assert d.facts.budget_steps == 264
    assert found["slow_convergence"].severity == "warning" and found["slow_convergence"].state == "active"


def test_a_loss_that_fell_a_little_and_stopped_with_the_steps_is_a_plateau():
    """Adam 1e-3 under a cosine decay to 0 over the first 15 steps: the loss falls from 2.3 to 1.9 and stays there,
    every layer's steps below 1e-7 of its weights. It is 83 % of where it started — short of the 90 % that otherwise
    marks a loss that has not learned — but it stopped because the steps did: a plateau beside the flat weights. The
    same loss with weights still moving (a network that settled at 1.9) is no plateau."""
    def run(update):
        d = model_diagnoser(optimizer="Adam", rate=1e-3)
        records = [record(s, loss=2.3 - 0.4 * min(1.0, s / 15), update=[1e-3 if s <= 15 else update] * 4,
                          epoch=(s - 1) // 29) for s in range(1, 146)]
        return feed(d, records)

    assert {"flat_weights", "loss_plateau"} <= warned(run(1e-7))
    assert "loss_plateau" not in run(1e-3)


def test_a_loss_that_swings_with_the_batch_while_no_weight_moves_is_no_oscillation():
    """Adam under an exponential decay of 10x every 8 steps: from step 32 every layer's steps are 0, and the loss of
    the batches swings 0.7-1.8 around 1.25 — each batch is a different sample of a frozen network, nothing overshoots.
    Flat weights, not an oscillation. The same swings with steps of 0.2 of the weights are one."""
    per_epoch = 29
    batches = [2.9 if s == 1 else 1.25 * (1 + 0.45 * math.sin(s / 2.0)) for s in range(1, 146)]

    def run(update):
        d = model_diagnoser(budget=145, per_epoch=per_epoch, optimizer="Adam", rate=3e-3)
        return feed(d, [record(s, loss=m, epoch=(s - 1) // per_epoch, update=[1e-3 if s < 32 else update] * 4)
                        for s, m in enumerate(running_means(batches, per_epoch), start=1)])

    frozen = run(0.0)
    assert "oscillating_loss" not in frozen and "flat_weights" in warned(frozen)
    assert "oscillating_loss" in warned(run(0.2))


def test_frozen_weights_whose_loss_swings_with_the_batch_are_a_plateau():
    """ReduceLROnPlateau cutting the rate 100x an epoch: the loss of the batches falls 2.35 -> 2.1 over three epochs,
    then every layer's steps are 3e-7 of its weights and the batches scatter ±2 % around 2.1 — Keras's running mean
    restarts each epoch, so its range over the last 50 steps is 3-10 %, above the plateau's 1 %, and the
    epochs' means still hold the fall before the weights froze. Its level does not move (the window's halves'
    medians): a plateau beside the flat weights, held at the end. The same scatter while the level falls 10 % with
    moving weights is no plateau."""
    per_epoch, rng = 29, np.random.default_rng(3)
    noise = 1 + 0.02 * rng.standard_normal(145)

    def run(frozen: bool):
        batches = [(2.35 - 0.25 * min(1.0, s / 87) if frozen else 2.35 - 0.5 * s / 145) * noise[s - 1]
                   for s in range(1, 146)]
        d = model_diagnoser(budget=145, per_epoch=per_epoch, optimizer="Adam", rate=3e-5)
        means = running_means(batches, per_epoch)
        for s in range(1, 146, 2):
            d.on_record(record(s, loss=means[s - 1], epoch=(s - 1) // per_epoch,
                               update=[3e-7 if frozen and s > 94 else 1e-3] * 4))
            if s % per_epoch in (0, 1) and s > 1:  # the epoch that ended with the step before
                epoch = (s - 2) // per_epoch
                d.on_epoch(epoch, {"loss": float(np.mean(batches[epoch * per_epoch:(epoch + 1) * per_epoch]))})
        d.finish()
        return {f.kind: f for f in d.findings if getattr(f, "state", "active") == "active"}

    frozen = run(True)
    assert {"flat_weights", "loss_plateau"} <= warned(frozen)
    assert "halves' medians" in " ".join(frozen["loss_plateau"].details)
    assert "loss_plateau" not in run(False)


@pytest.mark.parametrize("frozen_from", [18, 13, 5])
def test_a_plateau_with_frozen_weights_is_judged_on_the_steps_since_they_froze(frozen_from):
    """A schedule decayed to ~0 after a small first fall (Adam 1e-3, cosine decay over the first steps), 3 epochs of
    17 steps recorded every step: the batches' loss falls 4 % (2.31 -> 2.21) while every layer moves 1e-3 of its
    weights a step, then no layer moves and the loss is 2.21 ± the batch's noise. The last 50 steps still hold the
    fall, so their range and even their halves' medians differ by more than the plateau's 1 %, but the loss cannot
    move once the weights stand still: the steps since then show the plateau beside the flat weights, held at the end
    — from the first epoch whose running mean holds none of the fall, where the weights froze within an epoch (frozen
    from step 5, the rest of that epoch's running means still carry the fall: their level moves 1.2 %). The same fall
    with the weights still moving and the loss still coming down slowly is no plateau."""
    per_epoch, steps, rng = 17, 51, np.random.default_rng(5)
    noise = 1 + 0.02 * rng.standard_normal(steps)

    def run(frozen: bool):
        fall = frozen_from - 1
        batches = [(2.31 - 0.1 * min(1.0, s / fall) if frozen else 2.31 - 0.1 * s / fall if s <= fall
                    else 2.21 - 0.06 * (s - fall) / (steps - fall)) * noise[s - 1] for s in range(1, steps + 1)]
        means = running_means(batches, per_epoch)
        d = model_diagnoser(budget=steps, per_epoch=per_epoch, optimizer="Adam", rate=1e-3)
        for s in range(1, steps + 1):
            d.on_record(record(s, loss=means[s - 1], epoch=(s - 1) // per_epoch,
                               update=[0.0 if frozen and s >= frozen_from else 1e-3] * 4))
            if s % per_epoch == 0:
                d.on_epoch(s // per_epoch - 1, {"loss": means[s - 1]})
        d.finish()
        return {f.kind: f for f in d.findings if f.state == "active"}

    # what the plateau reads: the records' spread over the last 50 steps and over those since the weights froze
    means = np.asarray(running_means([(2.31 - 0.1 * min(1.0, s / (frozen_from - 1))) * noise[s - 1]
                                      for s in range(1, steps + 1)], per_epoch))
    assert np.ptp(means) / means.mean() > 0.01
    half = len(means) // 2
    assert abs(np.median(means[:half]) - np.median(means[half:])) / means.mean() > 0.01
    frozen = run(True)
    assert {"flat_weights", "loss_plateau"} <= warned(frozen)
    assert "loss_plateau" not in run(False)


def test_losses_compiled_as_functions_are_read_by_their_function_names():
    """keras.losses functions (not strings) are stored in the compile config as {"class_name": "function", "config":
    name}: the loss of guessing is still Σ wᵢ ln kᵢ (10 ln 10 + ln 2 here)."""
    import keras

    from vg_studio.diagnose.guessing import summed_guessing_loss
    from vg_studio.train.summary import model_summary

    inputs = keras.Input((4,))
    hidden = keras.layers.Dense(8, activation="relu", name="hidden")(inputs)
    model = keras.Model(inputs, [keras.layers.Dense(10, activation="softmax", name="digit")(hidden),
                                 keras.layers.Dense(2, activation="softmax", name="parity")(hidden)])
    model.compile("adam", [keras.losses.sparse_categorical_crossentropy] * 2, loss_weights=[10.0, 1.0])
    summary = json.loads(json.dumps(model_summary(model, [])))
    assert summary["config"]["compile_config"]["loss"][0]["class_name"] == "function"
    level = summed_guessing_loss(summary, ["hidden", "digit", "parity"], [8, 10, 2])
    assert level == pytest.approx(10 * np.log(10) + np.log(2))
