"""Diagnostics: each rule on hand-built probe records (spec runs and a user's own model), findings as immutable
values, the listener, and a tiny labelled grid of real training runs (digits, narrow layers, a few epochs)
diagnosed live and offline, through the CLI too. The full grid is benchmarks/diagnostics_grid.py."""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import os
import pickle

import numpy as np
import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from vg_studio.diagnose import cli  # noqa: E402
from vg_studio.diagnose.engine import DEFAULTS, Diagnoser, diagnose_run, resolve_config  # noqa: E402
from vg_studio.diagnose.findings import Finding, findings_from_report, layer_label  # noqa: E402
from vg_studio.diagnose.fixes import FIXES  # noqa: E402
from vg_studio.diagnose.listener import DiagnosisListener  # noqa: E402
from vg_studio.spec import (DataSpec, ExperimentSpec, LayerSpec, MonitoringSpec, NetworkSpec, OptimizerSpec,  # noqa
                            SpecError, TrainingSpec)
from vg_studio.train import events  # noqa: E402

HIDDEN = 6
NAMES = [f"hidden_{i}" for i in range(1, HIDDEN + 1)] + ["output"]
STATS = ("grad_mean_abs", "grad_norm", "weight_norm", "update_mean_abs", "update_ratio", "saturated_fraction",
         "dead_fraction")
SIGMOID_GRADS = [0.02 * 0.25 ** (HIDDEN - i) for i in range(HIDDEN)] + [0.02]  # sigmoid's bound per layer


def record(step, *, grad=None, norm=None, update=None, dead=None, saturated=None, loss=2.0, epoch=0, n=None):
    """A probe record; unspecified stats are those of a healthy network."""
    n = n or len(NAMES)
    stats = {name: np.zeros(n) for name in STATS}
    stats["grad_mean_abs"] = np.asarray(grad if grad is not None else [1e-2] * n, dtype=float)
    stats["grad_norm"] = np.asarray(norm if norm is not None else [0.5] * n, dtype=float)
    stats["weight_norm"][:] = 5.0
    stats["update_ratio"] = np.asarray(update if update is not None else [1e-3] * n, dtype=float)
    stats["update_mean_abs"] = stats["update_ratio"] * 0.05
    stats["dead_fraction"] = np.asarray(dead if dead is not None else [0.0] * n, dtype=float)
    stats["saturated_fraction"] = np.asarray(saturated if saturated is not None else [0.0] * n, dtype=float)
    stats["dead_fraction"][-1] = stats["saturated_fraction"][-1] = np.nan  # the output has no unit stats
    return events.ProbeRecord(step, epoch, loss, stats)


def make_spec(activation="relu", optimizer=None, diagnostics=None):
    return ExperimentSpec(network=NetworkSpec(layers=[LayerSpec(activation=activation) for _ in range(HIDDEN)]),
                          optimizer=optimizer or OptimizerSpec(name="adam", learning_rate=0.001),
                          diagnostics=diagnostics or {})


def diagnoser(activation="relu", num_classes=10, **spec_fields):
    return Diagnoser(NAMES, [activation] * HIDDEN + ["softmax"], make_spec(activation, **spec_fields),
                     num_classes=num_classes)


def kinds(findings, at_least="warning"):
    order = ("info", "warning", "error")
    return {f.kind for f in findings if order.index(f.severity) >= order.index(at_least)}


def feed(d, records):
    found = []
    for r in records:
        found += d.on_record(r)
    return found


# ---- findings are immutable values ----------------------------------------------------------------------------
def sigmoid_finding():
    d = diagnoser("sigmoid", optimizer=OptimizerSpec(name="sgd", learning_rate=0.1))
    return d.on_record(record(10, grad=SIGMOID_GRADS))[0]


def test_a_finding_is_frozen_and_pickles_with_working_fixes():
    f = sigmoid_finding()
    with pytest.raises(dataclasses.FrozenInstanceError):
        f.severity = "info"
    with pytest.raises(TypeError):
        f.evidence["per_layer_factor"] = 1.0
    back = pickle.loads(pickle.dumps(f))
    assert back == f and back.fix_ids == f.fix_ids and hash(back) == hash(f)
    spec = make_spec("sigmoid", OptimizerSpec(name="sgd", learning_rate=0.1))
    relu = next(fix for fix in back.fixes if fix.id == "relu_he").apply(spec)
    assert {layer.activation for layer in relu.network.layers} == {"relu"}


def test_to_dict_from_dict_round_trip_rebuilds_fixes_by_id():
    f = sigmoid_finding()
    data = json.loads(json.dumps(f.to_dict(), allow_nan=False))
    back = Finding.from_dict(data)
    assert back == f
    assert all(fix is FIXES[fix.id] for fix in back.fixes)
    old = {"kind": "vanishing_gradient", "severity": "warning", "step": 3, "epoch": 0, "layers": ["hidden_1"],
           "evidence": {"x": None}, "message": "m", "fixes": [{"id": "relu_he", "title": "t", "why": "w"},
                                                             {"id": "no_longer_exists"}]}
    restored = Finding.from_dict(old)  # a report.json of an earlier version
    assert restored.fix_ids == ("relu_he",) and restored.labels == ("h1",) and math.isnan(restored.evidence["x"])
    with pytest.raises(ValueError, match="kind"):
        Finding.from_dict({"severity": "info"})
    assert findings_from_report({"findings": [old, {"kind": "bogus", "severity": "info"}]}) == [restored]


def test_the_engine_replaces_findings_instead_of_changing_them():
    d = diagnoser()
    dead = [0.6, 0.0, 0, 0, 0, 0, np.nan]
    held = None
    for step in range(1, 12):
        new = d.on_record(record(step, dead=dead, loss=2.3))
        held = held or next((f for f in new if f.kind == "dead_units"), None)
    assert held is not None and held.layers == ("hidden_1",)
    before = held.to_dict()
    worse = [0.95, 0.7, 0, 0, 0, 0, np.nan]
    for step in range(12, 20):
        d.on_record(record(step, dead=worse, loss=2.3))
    now = next(f for f in d.findings if f.kind == "dead_units")
    assert held.to_dict() == before  # the value handed out earlier is untouched
    assert now.severity == "error" and now.layers == ("hidden_1", "hidden_2") and now.step == held.step


def test_layer_labels_as_the_user_sees_them():
    assert [layer_label(n) for n in NAMES] == ["h1", "h2", "h3", "h4", "h5", "h6", "out"]
    assert layer_label("hidden_1", spec_run=False) == "hidden_1" and layer_label("conv2d_3", False) == "conv2d_3"


# ---- rules on synthetic records -------------------------------------------------------------------------------
def test_vanishing_fires_on_the_first_record_and_explains_itself():
    d = diagnoser("sigmoid", optimizer=OptimizerSpec(name="sgd", learning_rate=0.1))
    new = d.on_record(record(10, grad=SIGMOID_GRADS))
    assert [f.kind for f in new] == ["vanishing_gradient"]
    f = new[0]
    assert f.step == 10 and f.severity in ("warning", "error")
    assert f.layers[0] == "hidden_1" and "output" not in f.layers and f.labels[0] == "h1"
    assert f.evidence["first_to_last_grad_ratio"] == pytest.approx(0.25 ** 6)
    assert f.evidence["per_layer_factor"] == pytest.approx(0.25)
    assert "h1" in f.message and "hidden_1" not in f.message and "out" in f.message
    assert any("close to 0.25" in d and "(“Analysis of the Causes" in d for d in f.details)
    assert {"relu_he", "attention", "residual", "batch_norm", "sdagd", "adam"} <= set(f.fix_ids)
    assert d.on_record(record(20, grad=SIGMOID_GRADS)) == []  # the same finding again is not "new"


@pytest.mark.parametrize("activation", ["sigmoid", "relu"])
def test_sigmoid_bound_is_cited_only_when_true(activation):
    """A factor of 0.005 per layer (e.g. an SDAGD run) is not "close to sigmoid's 0.25"; a ReLU net never gets
    the sigmoid comparison."""
    d = diagnoser(activation, optimizer=OptimizerSpec(name="sgd", learning_rate=0.1))
    grads = [0.02 * 0.005 ** (HIDDEN - i) for i in range(HIDDEN)] + [0.02]
    f = d.on_record(record(10, grad=grads))[0]
    text = " ".join((f.message,) + f.details)
    assert "close to 0.25" not in text
    assert ("well below 0.25" in text) == (activation == "sigmoid")
    assert "seed" not in text.lower()


def test_vanishing_stays_quiet_for_moderate_ratios_and_respects_config():
    d = diagnoser()
    assert d.on_record(record(10, grad=[1e-3] + [1e-2] * 6)) == []  # 0.1: a normal first-layer gradient
    strict = diagnoser("sigmoid", diagnostics={"vanishing_ratio": 1e-9, "vanishing_floor": 0.0})
    assert "vanishing_gradient" not in kinds(strict.on_record(record(10, grad=SIGMOID_GRADS)))


def test_vanishing_is_not_claimed_when_nothing_moves():
    d = diagnoser("sigmoid")
    grads = [1e-9] * 6 + [1e-2]
    assert "vanishing_gradient" not in kinds(d.on_record(record(10, grad=grads, update=[0.0] * 7)), "info")


def test_config_errors_name_the_field_and_old_record_counts_still_load():
    with pytest.raises(SpecError, match=r"diagnostics\.vanishing_ration: unknown threshold \(did you mean "
                                        r"vanishing_ratio\?\)"):
        diagnoser(diagnostics={"vanishing_ration": 1e-3})
    with pytest.raises(SpecError, match=r"diagnostics\.flat_steps: must be >= 0"):
        resolve_config({"flat_steps": -1})
    with pytest.raises(SpecError, match=r"^diagnostics\.vanishng_ratio: unknown threshold"):
        DiagnosisListener(config={"vanishng_ratio": 1e-3})
    old = {"schema_version": 2, "monitoring": {"record_every": 10},
           "diagnostics": {"exploding_records": 3, "plateau_records": 5}}  # an older file counted records
    assert ExperimentSpec.from_dict(old).diagnostics.exploding_steps == 20


def test_exploding_on_growth_over_the_first_steps():
    d = diagnoser()
    found = feed(d, [record(10 * (k + 1), norm=[10.0 ** k] * 7) for k in range(6)])
    explode = [f for f in found if f.kind == "exploding_gradient"]
    # the window median (last 20 steps) passes 100x the first steps' norm at step 40: median(100, 1000) = 550
    assert explode and explode[0].step == 40 and explode[0].evidence["max_grad_norm_growth"] == pytest.approx(550)
    assert explode[0].severity == "info"  # it began in the first steps: it waits to see whether it persists
    d.finish()  # ... and it held until the run ended
    assert next(f for f in d.findings if f.kind == "exploding_gradient").severity == "warning"


def test_non_finite_is_an_error_at_once_and_strict_json():
    d = diagnoser()
    d.on_record(record(10))
    new = d.on_record(record(20, loss=math.nan, norm=[math.inf] * 7))
    assert kinds(new, "error") == {"non_finite", "exploding_gradient"}
    assert json.loads(json.dumps([f.to_dict() for f in new], allow_nan=False))


def test_persistent_large_gradients_with_the_loss_far_above_chance_are_exploding():
    """Norms in the hundreds that cross the norm threshold only every other record (never twice in a row),
    while the loss stays at ~8x the loss of guessing: exploding, from the window's medians, a warning once it has
    held for transient_steps (it started in the first steps)."""
    chance = math.log(10)
    norms = [[1500.0 if s % 2 else 300.0] * 7 for s in range(1, 81)]
    d = diagnoser()
    feed(d, [record(s, norm=n, loss=8 * chance) for s, n in zip(range(1, 81), norms)])
    f = next(f for f in d.findings if f.kind == "exploding_gradient")
    assert f.severity == "warning" and f.step <= 10 and f.state == "active"
    assert any("guessing among 10 classes" in line for line in f.details)
    calm = diagnoser()  # the same gradients with a loss near chance and no growth: not (yet) an explosion
    assert "exploding_gradient" not in kinds(feed(calm, [record(s, norm=[300.0] * 7, loss=chance)
                                                         for s in range(1, 41)]))


def test_a_loss_that_climbs_far_above_its_start_is_an_explosion_of_the_steps():
    """SGD with momentum at rate 1 on a ReLU net: the loss climbs from 2.4 to ~10 within ten steps with moderate
    gradient norms while the ReLUs die — the oversized step is the cause, ranked first while it lasts, and the dead
    units are said beside it; once the loss is back and the explosion has ended, the units that stay dead are the
    finding that holds (an error at 95 %)."""
    d = diagnoser()
    # each record the first step of its epoch: the recorded loss is that batch's own (not a running mean)
    losses = [2.4, 3.0, 4.5, 6.0, 8.0, 10.1, 9.5, 8.8, 7.8, 6.0, 5.0, 4.0]
    dead = [0.95, 0.7, 0.9, 0, 0, 0, np.nan]
    for s, loss in enumerate(losses, start=1):
        d.on_record(record(s, norm=[6.0] * 7, update=[0.2] * 7, loss=loss, dead=dead if s > 6 else None,
                           epoch=s - 1))
    d.finish()  # had the run ended here, both hold: the explosion first, the dead units as its likely consequence
    found = {f.kind: f for f in d.findings}
    assert "climbed from 2.4" in found["exploding_gradient"].message
    assert found["exploding_gradient"].severity == "warning"
    assert found["dead_units"].severity == "error" and "caused by the exploding" in found["dead_units"].message
    assert [f.kind for f in d.warnings()][:2] == ["exploding_gradient", "dead_units"]
    d = diagnoser()
    for s, loss in enumerate(losses, start=1):
        d.on_record(record(s, norm=[6.0] * 7, update=[0.2] * 7, loss=loss, dead=dead if s > 6 else None,
                           epoch=s - 1))
    for s in range(13, 80):  # the loss settles near chance; the dead units stay dead
        d.on_record(record(s, norm=[6.0] * 7, update=[1e-3] * 7, loss=2.3, dead=dead, epoch=s - 1))
    d.finish()
    found = {f.kind: f for f in d.findings}
    assert found["exploding_gradient"].state == "resolved" and found["exploding_gradient"].last_step <= 30
    assert (found["dead_units"].severity, found["dead_units"].state) == ("error", "active")
    assert d.main_finding().kind == "dead_units"
    calm = diagnoser()  # a loss that wobbles 30 % above its start (high-rate Adam, SELU): not an explosion
    feed(calm, [record(s, norm=[6.0] * 7, loss=2.3 * (1.3 if s % 3 else 1.0)) for s in range(1, 40)])
    assert "exploding_gradient" not in kinds(calm.findings, "info")


def test_one_large_first_step_is_not_an_explosion():
    d = diagnoser()
    found = feed(d, [record(1, norm=[5e3] * 7)] + [record(s, norm=[2.0] * 7) for s in range(2, 40)])
    assert "exploding_gradient" not in kinds(found, "info")


@pytest.mark.parametrize("record_every", [1, 2, 5, 10])
def test_rules_measure_windows_in_steps_not_records(record_every):
    """The same training, recorded every 1, 2, 5 or 10 steps: the same findings, at about the same steps."""
    steps = [1] + list(range(record_every, 121, record_every))
    d = diagnoser("tanh")
    for s in steps:  # saturated from the start, with a loss that keeps falling; frozen output after step 60
        sat = [0.8, 0.1, 0, 0, 0, 0, np.nan]
        update = [1e-3] * 6 + ([1e-3] if s < 60 else [0.0])
        d.on_record(record(s, saturated=sat, update=update, loss=2.3 * 0.99 ** s))
    by_kind = {f.kind: f for f in d.findings}
    assert by_kind["saturated_units"].severity == "warning"  # held >= 30 steps although the loss falls
    assert by_kind["flat_weights"].layers == ("output",)
    assert abs(by_kind["flat_weights"].step - 65) <= record_every
    assert by_kind["saturated_units"].step <= 5 + record_every


def test_brief_saturation_is_info_and_sustained_saturation_a_warning():
    sat = [0.7, 0.6, 0, 0, 0, 0, np.nan]
    brief = diagnoser("sigmoid")
    for s in range(1, 61):
        brief.on_record(record(s, saturated=sat if s <= 15 else None, loss=2.3 * 0.99 ** s))
    assert [(f.kind, f.severity) for f in brief.findings] == [("saturated_units", "info")]
    sustained = diagnoser("sigmoid")
    for s in range(1, 61):
        sustained.on_record(record(s, saturated=sat, loss=2.3 * 0.99 ** s))
    f = sustained.findings[0]
    assert (f.kind, f.severity, f.layers) == ("saturated_units", "warning", ("hidden_1", "hidden_2"))
    assert any("Held for" in line for line in f.details)


def test_dead_units_need_a_few_steps_and_name_the_layer():
    """Dead units measured for fewer than unit_steps wait (info) to see whether they last; held that long, they
    warn, naming the layer."""
    d = diagnoser()
    dead = [0.0, 0.8, 0.1, 0.0, 0.0, 0.0, np.nan]
    early = feed(d, [record(s, dead=dead) for s in (1, 2, 3)])
    assert {(f.kind, f.severity) for f in early} == {("dead_units", "info")} and d.warnings() == []
    new = feed(d, [record(s, dead=dead) for s in (6, 7)])
    assert [(f.kind, f.severity, f.layers, f.labels) for f in new] == [("dead_units", "warning", ("hidden_2",),
                                                                          ("h2",))]
    assert {"leaky_relu", "he_init"} <= set(new[0].fix_ids)


def test_dead_units_first_measured_at_the_last_probe_hold_at_the_end():
    """Unit statistics are measured now and then, and always at the run's last record: dead units that cross the
    threshold only there (38 %, 47 %, 50 % of a layer at the probes) had no time left to make a streak — they are
    what the network ends with, so they hold at the end. Until the run ends they only wait (info)."""
    d = diagnoser()
    probes = {20: 0.38, 40: 0.47, 60: 0.47, 80: 0.50}
    for s in range(1, 81):
        fraction = probes.get(s, np.nan)
        d.on_record(record(s, dead=[0.0, 0.0, fraction, 0.0, 0.0, 0.0, np.nan], loss=2.25))
    assert [f.severity for f in d.findings if f.kind == "dead_units"] == ["info"]
    d.finish()
    dead = next(f for f in d.findings if f.kind == "dead_units")
    assert (dead.severity, dead.state, dead.layers, dead.step) == ("warning", "active", ("hidden_3",), 80)
    assert any("until the run ended" in line for line in dead.details)
    plateau = next(f for f in d.findings if f.kind == "loss_plateau")  # what the dead units do to the loss
    assert plateau.severity == "info" and "consequence of the dead units" in plateau.message
    # ... but not where the records after that probe could not be judged (the network overflowed)
    d = diagnoser()
    for s in range(1, 21):
        fraction = 0.8 if s == 18 else np.nan
        d.on_record(record(s, dead=[fraction, 0.0, 0.0, 0.0, 0.0, 0.0, np.nan],
                           loss=2.25 if s <= 18 else math.nan))
    d.finish()
    assert [f.severity for f in d.findings if f.kind == "dead_units"] == ["info"]


def keras_running_means(batch_losses, per_epoch):
    """What Keras logs after each batch: the mean of its epoch's batches so far (steps counted from 1)."""
    return [float(np.mean(batch_losses[i - i % per_epoch:i + 1])) for i in range(len(batch_losses))]


def recorded(batch_losses, per_epoch, every, **stats):
    """Probe records every `every` steps of a run whose batches had these losses, as Keras logs them."""
    means = keras_running_means(batch_losses, per_epoch)
    return [record(s, loss=means[s - 1], epoch=(s - 1) // per_epoch, **stats)
            for s in range(every, len(batch_losses) + 1, every)]


def test_the_loss_of_the_batches_is_recovered_at_every_record_an_epoch_s_first_included():
    """Records every 2 steps with 29 steps an epoch fall on an epoch's first step in one epoch and on its second in
    the next: at every record the engine's loss of the batches is the mean of the batches' own losses since the
    previous record of its epoch, or since the epoch began (NumPy on the losses themselves)."""
    rng = np.random.default_rng(5)
    per_epoch, every = 29, 2
    batches = list(2.0 + rng.normal(size=3 * per_epoch))
    d = Diagnoser(NAMES, ["relu"] * HIDDEN + ["softmax"], make_spec("relu"), num_classes=10,
                  steps_per_epoch=per_epoch)
    feed(d, recorded(batches, per_epoch, every))
    expected, previous = [], 0
    for step in range(every, len(batches) + 1, every):
        since = max(previous, (step - 1) // per_epoch * per_epoch)  # batches after the previous record or the start
        expected.append((step, float(np.mean(batches[since:step]))))
        previous = step
    got = d.state.batch_losses.items
    assert [s for s, _ in got] == [s for s, _ in expected[-len(got):]] and len(got) >= 40
    np.testing.assert_allclose([v for _, v in got], [v for _, v in expected[-len(got):]], rtol=1e-9)


def test_an_oscillation_whose_spikes_open_each_epoch_is_found_when_records_fall_on_an_epoch_s_second_step():
    """A BatchNorm network at SGD 3–4.5: the first batches of each epoch spike to twice the level and the rest swing
    little. Recorded every 2 steps with 28 steps an epoch, every epoch's first record is at its second step, where
    Keras's running mean is the mean of those two spiking batches: the oscillation is there to see."""
    rng = np.random.default_rng(7)
    per_epoch = 28
    batches = [(4.5 if (s - 1) % per_epoch < 2 else 2.2) + 0.15 * rng.normal() for s in range(1, 6 * per_epoch + 1)]
    d = Diagnoser(NAMES, ["relu"] * HIDDEN + ["softmax"], make_spec("relu"), num_classes=10,
                  steps_per_epoch=per_epoch, budget_steps=6 * per_epoch)
    feed(d, recorded(batches, per_epoch, 2, update=[0.2] * 7))
    d.finish()
    found = {f.kind: f for f in d.warnings()}
    assert "oscillating_loss" in found and found["oscillating_loss"].state == "active"


def test_unit_statistics_measured_now_and_then():
    """The probes measure unit statistics on a probe batch only every so often (NaN in the records between): the
    records between neither break a streak nor hide the dead units from the vanishing rule."""
    d = diagnoser()
    unmeasured = [np.nan] * 7
    grads = [0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1e-3]  # everything behind the dead layers gets no gradient
    for s in range(1, 52):
        dead = [1.0, 1.0, 1.0, 0, 0, 0, np.nan] if s in (1, 33, 51) else unmeasured
        d.on_record(record(s, grad=grads, dead=dead, saturated=unmeasured if s not in (1, 33, 51) else None,
                           loss=2.3026))
        if s < 33:  # measured once: waiting to see whether it lasts
            assert "dead_units" not in kinds(d.findings, "warning")
    found = {f.kind: f for f in d.findings}
    assert (found["dead_units"].severity, found["dead_units"].step) == ("error", 1)  # first held at step 1
    assert found["vanishing_gradient"].severity == "info"  # explained by the dead units at every record


def test_partly_dead_layer_that_still_learns_is_only_info():
    d = diagnoser()
    dead = [0.65, 0.3, 0, 0, 0, 0, np.nan]  # e.g. Adam at lr 0.01 on MNIST: many dead units, loss still falls
    for step in range(1, 40):
        d.on_record(record(step, dead=dead, loss=2.3 * 0.97 ** step))
    assert [(f.kind, f.severity) for f in d.findings] == [("dead_units", "info")]


def test_flat_weights_per_layer():
    d = diagnoser()
    assert feed(d, [record(s, update=[0.0] * 7) for s in (1, 3, 5)]) == []
    new = d.on_record(record(6, update=[0.0] * 7))  # held over 5 steps: flat_steps
    assert [(f.kind, f.severity) for f in new] == [("flat_weights", "warning")]
    assert new[0].layers == tuple(NAMES)
    partial = diagnoser()
    feed(partial, [record(s, update=[1e-8] + [1e-3] * 6) for s in range(1, 10)])
    assert [(f.kind, f.layers, f.severity) for f in partial.findings] == [("flat_weights", ("hidden_1",), "info")]


def test_loss_plateau_near_chance_but_not_while_learning():
    chance = math.log(10)
    d = diagnoser()
    feed(d, [record(s, loss=chance * (1 + 0.001 * (-1) ** s)) for s in range(10, 110, 10)])
    assert "loss_plateau" in kinds(d.findings)
    learning = diagnoser()
    feed(learning, [record(s, loss=chance * 0.97 ** (s / 10)) for s in range(10, 110, 10)])
    assert learning.findings == []


def test_plateau_explained_by_vanishing_is_only_info():
    d = diagnoser("sigmoid")
    feed(d, [record(s, grad=SIGMOID_GRADS, loss=2.3) for s in range(10, 110, 10)])
    assert kinds(d.findings) == {"vanishing_gradient"}
    plateau = next(f for f in d.findings if f.kind == "loss_plateau")
    assert plateau.severity == "info" and "consequence of the vanishing gradient" in plateau.message


def test_near_threshold_gradient_with_a_stuck_loss_is_vanishing():
    """Tiny initial weights shrink the output layer's gradient too, hiding the first/output ratio (3e-3 here):
    a loss stuck at its start (the SNS notes' first sign) then settles it."""
    grads = [1.5e-6 * 2.5 ** i for i in range(HIDDEN)] + [5e-4]  # first/output = 3e-3, first above the 1e-6 floor
    d = diagnoser("tanh", optimizer=OptimizerSpec(name="sgd", learning_rate=0.1))
    loss = 2.2  # stuck, but not exactly at the loss of guessing: only the plateau (3 epochs) settles it
    for step in range(1, 4):
        d.on_record(record(step * 10, grad=grads, loss=loss, epoch=step - 1))
        assert "vanishing_gradient" not in kinds(d.findings)
        new = d.on_epoch(step - 1, {"loss": loss})
    assert "vanishing_gradient" in kinds(new)
    assert kinds(d.findings) == {"vanishing_gradient"}  # the plateau is reported as its consequence (info)


def test_near_threshold_gradient_with_the_loss_at_guessing_is_vanishing_at_once():
    """The same network whose outputs ignore the input (the loss is ln(10) to 4 digits from step 1): tiny weights
    shrink the forward signal as well, so the near-threshold ratio is vanishing at the first record."""
    grads = [1.5e-6 * 2.5 ** i for i in range(HIDDEN)] + [5e-4]
    d = diagnoser("tanh", optimizer=OptimizerSpec(name="sgd", learning_rate=0.1))
    new = d.on_record(record(1, grad=grads, loss=math.log(10) + 1e-4))
    assert [f.kind for f in new] == ["vanishing_gradient"]
    assert any("loss of guessing among 10 classes" in line for line in new[0].details)
    healthy_start = diagnoser("tanh")  # a loss 1 % off chance at step 1 (a normal initialisation): no finding
    assert healthy_start.on_record(record(1, grad=grads, loss=math.log(10) * 1.01)) == []


def test_a_loss_held_at_guessing_widens_the_ratio_band():
    """A ratio of 1.2e-2 (tiny weights, inputs larger than the hidden activations) is above the first-record band;
    once the loss has sat at ln(classes) for vanishing_chance_steps steps it is vanishing. A network that leaves
    the loss of guessing after its first step is not."""
    grads = [1.2e-2 * 5e-4] * HIDDEN + [5e-4]
    chance = math.log(10)
    stuck = diagnoser("tanh", optimizer=OptimizerSpec(name="sgd", learning_rate=0.1))
    assert stuck.on_record(record(1, grad=grads, loss=chance + 1e-4)) == []
    assert stuck.on_record(record(2, grad=grads, loss=chance - 1e-3)) == []
    new = stuck.on_record(record(4, grad=grads, loss=chance + 1e-3))
    assert [f.kind for f in new] == ["vanishing_gradient"] and new[0].step == 4
    learns = diagnoser("sigmoid", optimizer=OptimizerSpec(name="adam", learning_rate=0.01))
    losses = [chance + 1e-4] + [chance * (1 - 0.01 * s) for s in range(1, 20)]
    assert feed(learns, [record(s, grad=grads, loss=loss) for s, loss in enumerate(losses, 1)]) == []
    wide = diagnoser("tanh", optimizer=OptimizerSpec(name="sgd", learning_rate=0.1))  # 0.1: a healthy ratio
    assert feed(wide, [record(s, grad=[0.1 * 5e-4] * HIDDEN + [5e-4], loss=chance) for s in range(1, 20)]) == []


def test_finding_text():
    f = sigmoid_finding()
    text = str(f)
    assert "vanishing gradient in h1" in text and "step 10" in text and "fix [relu_he]" in text
    assert "vanishing gradient" in cli.format_finding(f)


def test_defaults_are_documented():
    doc = open(os.path.join(os.path.dirname(__file__), "..", "docs", "diagnostics.md"), encoding="utf-8").read()
    assert all(f"`{name}`" in doc for name in DEFAULTS)


# ---- a user's own Keras model: no spec, Keras layer names and kinds ------------------------------------------
CNN_NAMES = ["conv2d", "batch_normalization", "conv2d_1", "batch_normalization_1", "conv2d_2", "dense", "dense_1"]
CNN_KINDS = ["conv2d", "batch_normalization", "conv2d", "batch_normalization", "conv2d", "dense", "dense"]


def model_diagnoser(activations):
    return Diagnoser(CNN_NAMES, activations, None, num_classes=10, layer_kinds=CNN_KINDS,
                     layer_units=[16, 16, 16, 16, 16, 32, 10], loss="sparse_categorical_crossentropy")


def test_model_run_compares_the_main_layers_and_names_them_as_keras_does():
    d = model_diagnoser(["sigmoid", "", "sigmoid", "", "sigmoid", "sigmoid", "softmax"])
    # conv2d's gradient is 2e-5 of dense_1's; the BatchNorm columns are tiny but are not main layers
    grads = [4e-7, 1e-9, 3e-6, 1e-9, 3e-5, 4e-4, 2e-2]
    f = d.on_record(record(1, grad=grads, n=7))[0]
    assert f.kind == "vanishing_gradient"
    assert f.evidence["first_to_last_grad_ratio"] == pytest.approx(2e-5)
    assert f.evidence["layers_crossed"] == 4  # conv2d → conv2d_1 → conv2d_2 → dense → dense_1
    assert f.layers == ("conv2d", "conv2d_1", "conv2d_2") and f.labels == f.layers
    assert "conv2d" in f.message and "dense_1" in f.message and f.fixes == ()
    healthy = model_diagnoser(["relu", "", "relu", "", "relu", "relu", "softmax"])
    grads = [0.3, 1e-9, 0.07, 1e-9, 0.05, 0.02, 0.04]  # a ReLU + BN CNN: the first conv's gradient is the largest
    assert feed(healthy, [record(s, grad=grads, norm=[4.0] * 7, n=7, loss=2.3 * 0.98 ** s) for s in range(1, 60)]) \
        == []


def test_advice_fits_the_users_optimizer_and_names_layers():
    """From model.json's optimizer: no "use Adam" for an Adam run; a plateau (a finding about no layer in
    particular) advises on the hidden sigmoid layers by name; a rate of 0 is advised up."""
    summary = {"loss": "sparse_categorical_crossentropy",
               "optimizer": {"class_name": "Adam", "config": {"learning_rate": 0.001}}}
    d = Diagnoser(CNN_NAMES, ["sigmoid", "", "sigmoid", "", "sigmoid", "sigmoid", "softmax"], None,
                  layer_kinds=CNN_KINDS, layer_units=[16, 16, 16, 16, 16, 32, 10], model_summary=summary)
    assert d.num_classes == 10 and d.optimizer == "adam"
    f = d.on_record(record(1, grad=[4e-7, 1e-9, 3e-6, 1e-9, 3e-5, 4e-4, 2e-2], n=7))[0]
    assert f.kind == "vanishing_gradient" and f.advice and not any("Adam" in a for a in f.advice)
    sgd = dict(summary, optimizer={"class_name": "SGD", "config": {"learning_rate": 0.0, "momentum": 0.0}})
    flat = Diagnoser(CNN_NAMES, ["sigmoid", "", "sigmoid", "", "sigmoid", "sigmoid", "softmax"], None,
                     layer_kinds=CNN_KINDS, layer_units=[16, 16, 16, 16, 16, 32, 10], model_summary=sgd)
    advice = flat._remedies("loss_plateau", ())[1]
    assert advice[0] == "Raise the optimizer's learning rate" and any("Adam" in a for a in advice)
    assert any("conv2d, conv2d_1, conv2d_2, dense" in a for a in advice)  # the sigmoid layers, not the output


def test_embedding_is_not_the_first_layer_of_the_ratio():
    """An embedding table's mean |gradient| is tiny because only the rows of the batch's tokens get one."""
    names = ["embedding", "multi_head_attention", "layer_normalization", "dense", "dense_1"]
    d = Diagnoser(names, ["", "", "", "relu", "softmax"], None, num_classes=4,
                  layer_kinds=["embedding", "multi_head_attention", "layer_normalization", "dense", "dense"])
    assert d.first == 1 and d.last == 4 and d.unit_layers == [0, 1, 2, 3]
    assert d.on_record(record(1, grad=[1e-7, 1e-2, 1e-2, 1e-2, 1e-2], n=5)) == []


def test_diagnose_cli_on_a_model_run_gives_keras_names_and_advice(tmp_path, capsys):
    """A run written by GradientMonitor (model.json, no spec): the same rules, Keras names, advice not buttons."""
    from vg_studio.history import History
    from vg_studio.train.runstore import RunStore

    activations = ["sigmoid", "", "sigmoid", "", "sigmoid", "sigmoid", "softmax"]
    history = History(CNN_NAMES, activations, 10, status="completed", layer_kinds=CNN_KINDS,
                      layer_units=[16, 16, 16, 16, 16, 32, 10])
    for step in (1, 10, 20):
        rec = record(step, grad=[4e-7, 1e-9, 3e-6, 1e-9, 3e-5, 4e-4, 2e-2], n=7)
        history.add_record(step, 0, rec.loss, rec.stats)
    store = RunStore(tmp_path / "run")
    store.write_model_summary({"name": "my_cnn", "loss": "sparse_categorical_crossentropy",
                               "layers": [{"name": n, "kind": k} for n, k in zip(CNN_NAMES, CNN_KINDS)]})
    store.write_history(history)
    store.write_report({"name": "my_cnn", "status": "completed", "steps": 20, "num_classes": 10})
    parser = argparse.ArgumentParser()
    cli.add_arguments(parser)
    assert cli.run(parser.parse_args([str(tmp_path / "run"), "--json"])) == 0
    found = json.loads(capsys.readouterr().out)["findings"]
    vanishing = next(f for f in found if f["kind"] == "vanishing_gradient")
    assert vanishing["layers"][0] == "conv2d" and vanishing["fixes"] == [] and vanishing["advice"]
    assert any("conv2d" in advice for advice in vanishing["advice"])
    assert cli.run(parser.parse_args([str(tmp_path / "run"), "--try-fixes"])) == 2
    assert "need a spec" in capsys.readouterr().err


def test_listener_builds_from_run_started_and_publishes_findings():
    listener = DiagnosisListener()
    published = []
    listener.attach(published.append)
    listener(events.RunStarted(None, None, CNN_NAMES, ["sigmoid", "", "sigmoid", "", "sigmoid", "sigmoid",
                                                       "softmax"], 1, 10, 1000, "cpu", 100, num_classes=10,
                               model_summary={"loss": "sparse_categorical_crossentropy"}, layer_kinds=CNN_KINDS,
                               layer_units=[16, 16, 16, 16, 16, 32, 10]))
    listener(record(1, grad=[4e-7, 1e-9, 3e-6, 1e-9, 3e-5, 4e-4, 2e-2], n=7))
    assert [type(e).__name__ for e in published] == ["FindingsUpdated"]
    assert published[0].new[0].layers[0] == "conv2d"
    items = listener.report_items()
    assert json.loads(json.dumps(items, allow_nan=False))["findings"][0]["kind"] == "vanishing_gradient"
    listener.attach(published.append)  # a new run: no findings carried over
    assert listener.findings == []


# ---- a user's own CNN, trained with plain model.fit and GradientMonitor ------------------------------------------
def _user_cnn(kind: str):
    """Functional CNNs for 8×8 digits as a user would write them (named layers, seeded initializers: no global
    seed is set): six sigmoid convolutions, or four Conv → BatchNorm → ReLU blocks; then pooling and a softmax."""
    import keras

    inputs = keras.Input((8, 8, 1), name="pixels")
    x = inputs
    for i in range(1, (6 if kind == "sigmoid" else 4) + 1):
        if kind == "sigmoid":
            x = keras.layers.Conv2D(8, 3, padding="same", activation="sigmoid", name=f"conv{i}",
                                    kernel_initializer=keras.initializers.GlorotUniform(seed=i))(x)
        else:
            x = keras.layers.Conv2D(16, 3, padding="same", use_bias=False, name=f"conv{i}",
                                    kernel_initializer=keras.initializers.HeNormal(seed=i))(x)
            x = keras.layers.BatchNormalization(name=f"bn{i}")(x)
            x = keras.layers.ReLU(name=f"relu{i}")(x)
    x = keras.layers.GlobalAveragePooling2D(name="pool")(x)
    outputs = keras.layers.Dense(10, activation="softmax", name="classifier",
                                 kernel_initializer=keras.initializers.GlorotUniform(seed=0))(x)
    model = keras.Model(inputs, outputs, name=f"user_{kind}_cnn")
    optimizer = keras.optimizers.SGD(0.1) if kind == "sigmoid" else keras.optimizers.Adam(1e-3)
    model.compile(optimizer=optimizer, loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


@pytest.fixture(scope="module")
def user_cnn_runs(tmp_path_factory):
    from vg_studio.data import load_dataset
    from vg_studio.monitor import GradientMonitor

    data = load_dataset("digits", {"limit": 384})
    runs = {}
    for kind in ("sigmoid", "relu_bn"):
        model = _user_cnn(kind)
        run_dir = tmp_path_factory.mktemp(kind)
        model.fit(data.x_train, data.y_train, epochs=2, batch_size=32, shuffle=False, verbose=0,
                  callbacks=[GradientMonitor(run_dir, record_every=2, probe_data=data.x_train[:64])])
        runs[kind] = (model, run_dir)
    return runs


def _diagnose_cli(run_dir, capsys) -> list[dict]:
    parser = argparse.ArgumentParser()
    cli.add_arguments(parser)
    assert cli.run(parser.parse_args([str(run_dir), "--json"])) == 0
    return json.loads(capsys.readouterr().out)["findings"]


def test_users_sigmoid_cnn_vanishes_naming_its_convolutions(user_cnn_runs, capsys):
    model, run_dir = user_cnn_runs["sigmoid"]
    found = _diagnose_cli(run_dir, capsys)  # model.json, no spec.json: read through the run store
    vanishing = [f for f in found if f["kind"] == "vanishing_gradient" and f["severity"] != "info"]
    assert vanishing, found
    layers = vanishing[0]["layers"]
    assert layers[0] == "conv1" and set(layers) <= {f"conv{i}" for i in range(1, 7)}
    assert vanishing[0]["fixes"] == [] and any("conv1" in advice for advice in vanishing[0]["advice"])
    from vg_studio.train.runstore import open_run

    run = open_run(run_dir)  # one column per layer that owns weights, in graph order, named as Keras names it
    assert run.spec is None and run.model_summary is not None
    assert run.history.layer_names == [layer.name for layer in model.layers if layer.trainable_weights]


def test_users_relu_batchnorm_cnn_gets_no_warning(user_cnn_runs, capsys):
    model, run_dir = user_cnn_runs["relu_bn"]
    found = _diagnose_cli(run_dir, capsys)
    assert [f for f in found if f["severity"] != "info"] == [], found
    from vg_studio.train.runstore import open_run

    history = open_run(run_dir).history
    assert history.layer_names == [layer.name for layer in model.layers if layer.trainable_weights]
    assert history.layer_kinds[:2] == ["conv2d", "batch_normalization"] and history.num_records >= 10


# ---- a tiny labelled grid of real runs ---------------------------------------------------------------------------
def _spec(layers, optimizer, epochs=3):
    return ExperimentSpec(name="grid", data=DataSpec(dataset="digits", options={"limit": 320}),
                          network=NetworkSpec(layers=layers), optimizer=optimizer,
                          training=TrainingSpec(epochs=epochs, batch_size=32, seed=0),
                          monitoring=MonitoringSpec(record_every=2, probe_batch_size=64))


def _layers(n, activation, initializer, **extra):
    return [LayerSpec(units=32, activation=activation, initializer=initializer, **extra) for _ in range(n)]


GRID = {
    "vanishing": lambda: _spec(_layers(6, "sigmoid", "random_normal", init_stddev=0.05),
                               OptimizerSpec(name="sgd", learning_rate=0.1)),
    "exploding": lambda: _spec(_layers(3, "relu", "random_normal", init_stddev=1.5),
                               OptimizerSpec(name="sgd", learning_rate=0.5)),
    "dead": lambda: _spec(_layers(3, "relu", "he_normal", bias_init=-10.0), OptimizerSpec(name="adam")),
    "saturated": lambda: _spec(_layers(1, "sigmoid", "glorot_uniform", bias_init=8.0), OptimizerSpec(name="adam")),
    "flat": lambda: _spec(_layers(3, "relu", "he_normal"), OptimizerSpec(name="adam", learning_rate=1e-9)),
    "healthy": lambda: _spec(_layers(3, "relu", "he_normal"), OptimizerSpec(name="adam", learning_rate=0.003)),
}
EXPECTED = {"vanishing": {"vanishing_gradient"}, "exploding": {"exploding_gradient", "non_finite"},
            "dead": {"dead_units"}, "saturated": {"saturated_units"}, "flat": {"flat_weights", "loss_plateau"},
            "healthy": set()}


@pytest.fixture(scope="module")
def grid_runs(tmp_path_factory):
    from vg_studio.data import load_dataset
    from vg_studio.train.trainer import Trainer

    data = load_dataset("digits", {"limit": 320})
    runs = {}
    for label, make in GRID.items():
        run_dir = tmp_path_factory.mktemp(label)
        printed = []
        diagnosis = DiagnosisListener()
        result = Trainer(make(), run_dir=run_dir, dataset=data,
                         listeners=[diagnosis, lambda e: printed.extend(getattr(e, "new", []))]).run()
        runs[label] = (diagnosis, result, run_dir, printed)
    return runs


@pytest.mark.parametrize("label", list(GRID))
def test_grid_label_is_diagnosed(grid_runs, label):
    diagnosis, result, _, _ = grid_runs[label]
    found = kinds(diagnosis.findings)
    if label == "exploding":  # the explosion can kill the ReLUs: then the dead units are what holds at the end
        assert found & EXPECTED[label] and not found - EXPECTED[label] - {"dead_units"}
        holding = {f.kind for f in diagnosis.diagnoser.warnings()}
        assert holding <= EXPECTED[label] or holding == {"dead_units"}, [str(f) for f in diagnosis.findings]
    else:
        assert found == EXPECTED[label], [str(f) for f in diagnosis.findings]
    assert result.report["findings"] == [f.to_dict() for f in diagnosis.findings]


def test_vanishing_found_within_the_first_tenth_of_training(grid_runs):
    diagnosis, result, _, printed = grid_runs["vanishing"]
    first = min(f.step for f in diagnosis.findings if f.kind == "vanishing_gradient")
    assert first <= 0.1 * result.report["steps"]
    assert any(f.kind == "vanishing_gradient" for f in printed)  # FindingsUpdated reached the listeners


def test_offline_diagnosis_matches_the_live_one(grid_runs):
    for label in ("vanishing", "flat", "saturated"):
        live, _, run_dir, _ = grid_runs[label]
        offline, report = diagnose_run(run_dir)
        assert offline.findings == live.findings
        assert findings_from_report(report) == live.findings  # report.json gives back working findings


def test_cli_text_json_and_bad_dir(grid_runs, capsys, tmp_path):
    run_dir = grid_runs["vanishing"][2]
    parser = argparse.ArgumentParser()
    cli.add_arguments(parser)
    assert cli.run(parser.parse_args([str(run_dir)])) == 0
    out = capsys.readouterr().out
    assert "vanishing gradient in h1" in out and "hidden_1" not in out
    assert cli.run(parser.parse_args([str(run_dir), "--json"])) == 0
    data = json.loads(capsys.readouterr().out)
    assert "vanishing_gradient" in {f["kind"] for f in data["findings"]}
    assert cli.run(parser.parse_args([str(tmp_path / "missing")])) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "missing" in err and err.startswith("vg-studio: error: ")
    (tmp_path / "empty").mkdir()
    assert cli.run(parser.parse_args([str(tmp_path / "empty")])) == 2
    err = capsys.readouterr().err
    assert "empty: not a run directory" in err and err.count("\n") == 1


def test_diagnose_cli_says_whether_a_run_without_a_report_is_running_or_was_killed(tmp_path, capsys):
    """No report.json: a live writer holds the run's lock (running); once it is gone without writing the report,
    the run was killed or crashed — said so, not "(unknown status)"."""
    from vg_studio.history import History
    from vg_studio.train.runstore import RunStore

    history = History(CNN_NAMES, ["sigmoid", "", "sigmoid", "", "sigmoid", "sigmoid", "softmax"], 10,
                      layer_kinds=CNN_KINDS, layer_units=[16, 16, 16, 16, 16, 32, 10])
    for step in (1, 10, 20):
        rec = record(step, grad=[1e-3] * 7, n=7)
        history.add_record(step, 0, rec.loss, rec.stats)
    store = RunStore(tmp_path / "run")
    store.write_model_summary({"name": "my_cnn", "loss": "sparse_categorical_crossentropy",
                               "layers": [{"name": n, "kind": k} for n, k in zip(CNN_NAMES, CNN_KINDS)]})
    store.write_history(history)
    parser = argparse.ArgumentParser()
    cli.add_arguments(parser)
    statuses = []
    for _ in ("while written", "after the writer is gone"):
        assert cli.run(parser.parse_args([str(tmp_path / "run"), "--json"])) == 0
        statuses.append(json.loads(capsys.readouterr().out)["status"])
        store.close()  # what a killed writer leaves: its lock released, no report
    assert statuses == ["running", "killed"]
    assert cli.run(parser.parse_args([str(tmp_path / "run")])) == 0
    assert "(killed or crashed: no report, its completed epochs are kept)" in capsys.readouterr().out
