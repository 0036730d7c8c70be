"""Diagnostic fixes: plain data, applied through vg_studio.edits, always giving a valid spec."""

import dataclasses
import pickle
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from vg_studio import catalog, edits
from vg_studio.diagnose.fixes import FIXES, Fix, fixes_for
from vg_studio.spec import DataSpec, ExperimentSpec, LayerSpec, NetworkSpec, OptimizerSpec, SpecError

PRESETS = sorted((Path(__file__).resolve().parents[1] / "resources" / "presets").glob("*.json"))
KINDS = ("vanishing_gradient", "exploding_gradient", "loss_plateau", "flat_weights", "dead_units",
         "saturated_units", "non_finite", "vanishing_through_time")


# ---- valid specs of every shape the builder can make -------------------------------------------------------
def recurrent_layers():
    kind = st.sampled_from(catalog.RECURRENT_KINDS)
    return kind.flatmap(lambda k: st.builds(
        LayerSpec, kind=st.just(k), units=st.integers(1, 32),
        activation=st.sampled_from(catalog.GATED_ACTIVATIONS if k != "simple_rnn" else
                                   tuple(a for a in catalog.ACTIVATIONS if a != "prelu")),
        initializer=st.sampled_from(tuple(catalog.INITIALIZERS)), return_sequences=st.booleans(),
        aux_head=st.booleans(), dropout=st.sampled_from([0.0, 0.2]), bias_init=st.sampled_from([0.0, -3.0])))


def dense_layers():
    return st.builds(
        LayerSpec, units=st.integers(1, 64), activation=st.sampled_from(catalog.ACTIVATIONS),
        initializer=st.sampled_from(tuple(catalog.INITIALIZERS)), attention=st.booleans(),
        batch_norm=st.booleans(), residual=st.booleans(), dropout=st.sampled_from([0.0, 0.5]),
        aux_head=st.booleans(), bias_init=st.sampled_from([0.0, -5.0, 2.0]))


@st.composite
def specs(draw):
    layers = draw(st.lists(recurrent_layers(), max_size=3)) + draw(st.lists(dense_layers(), max_size=6))
    dataset = draw(st.sampled_from(["mnist-5k", "digits", "adding", "recall", "mnist-5k-rows"]))
    options = {"length": draw(st.integers(2, 300))} if dataset in ("adding", "recall") and draw(st.booleans()) \
        else {}
    name = draw(st.sampled_from(tuple(catalog.OPTIMIZERS)))
    optimizer = OptimizerSpec(name=name, learning_rate=draw(st.sampled_from([1e-8, 1e-4, 0.01, 1.0])),
                              params=catalog.OPTIMIZERS[name]["params"] if draw(st.booleans()) else {},
                              clipnorm=draw(st.sampled_from([None, 1.0])))
    return ExperimentSpec(name=draw(st.text(min_size=1, max_size=200).filter(str.isprintable)),
                          data=DataSpec(dataset=dataset, options=options), network=NetworkSpec(layers=layers),
                          optimizer=optimizer)


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(spec=specs(), fix_id=st.sampled_from(sorted(FIXES)))
def test_any_fix_on_any_valid_spec_gives_a_valid_spec(spec, fix_id):
    assert spec.validate() == []
    fixed = FIXES[fix_id].apply(spec)
    assert fixed.validate() == [], (fix_id, fixed.validate())
    assert spec.validate() == []  # the original is untouched


@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(spec=specs(), kind=st.sampled_from(KINDS))
def test_offered_fixes_change_the_spec(spec, kind):
    for fix in fixes_for(kind, spec):
        assert edits.apply_fix(spec, fix.id, rename=False) != spec


@pytest.mark.parametrize("path", PRESETS, ids=lambda p: p.stem)
def test_every_fix_on_every_preset_is_valid(path):
    spec = ExperimentSpec.load(path)
    for fix_id in FIXES:
        assert FIXES[fix_id].apply(spec).validate() == [], fix_id


def recurrent_then_dense(kind="lstm", activation="tanh"):
    return ExperimentSpec(
        name="rnn", data=DataSpec(dataset="adding"),
        network=NetworkSpec(layers=[LayerSpec(kind=kind, units=16, activation=activation),
                                    LayerSpec(units=16, activation="sigmoid"), LayerSpec(units=16, activation="sigmoid"),
                                    LayerSpec(units=8, activation="sigmoid")]),
        optimizer=OptimizerSpec(name="sgd", learning_rate=0.1))


@pytest.mark.parametrize("kind", catalog.RECURRENT_KINDS)
def test_fixes_fit_the_layers_of_a_recurrent_and_dense_spec(kind):
    spec = recurrent_then_dense(kind)
    for fix_id in ("relu_he", "leaky_relu_he", "elu_he", "attention", "residual", "batch_norm"):
        fixed = FIXES[fix_id].apply(spec)
        assert fixed.validate() == [], (fix_id, fixed.validate())
        assert fixed.network.layers[0] == spec.network.layers[0], fix_id  # the recurrent layer is left alone
        assert fixed.network.layers[1:] != spec.network.layers[1:], fix_id  # the dense ones are fixed
    relu = FIXES["relu_he"].apply(spec).network.layers
    assert [(layer.activation, layer.initializer) for layer in relu[1:]] == [("relu", "he_normal")] * 3


def test_gated_fixes_replace_simple_rnn_only():
    spec = recurrent_then_dense("simple_rnn", activation="elu")
    lstm = FIXES["lstm"].apply(spec).network.layers
    assert (lstm[0].kind, lstm[0].activation) == ("lstm", "tanh") and lstm[1:] == spec.network.layers[1:]
    assert "lstm" not in {f.id for f in fixes_for("vanishing_through_time", recurrent_then_dense("gru"))}


def test_fixes_that_change_nothing_are_not_offered():
    relu = ExperimentSpec(network=NetworkSpec(layers=[LayerSpec(activation="relu", initializer="he_normal")] * 4),
                          optimizer=OptimizerSpec(name="adam"))
    ids = {fix.id for fix in fixes_for("vanishing_gradient", relu)}
    assert not ids & {"relu_he", "he_init", "sdagd", "adam"}  # already ReLU/He; already an adaptive optimizer
    assert {"attention", "residual", "batch_norm", "aux_head"} <= ids
    recurrent_only = ExperimentSpec(data=DataSpec(dataset="adding"),
                                    network=NetworkSpec(layers=[LayerSpec(kind="gru", activation="tanh")]))
    ids = {fix.id for fix in fixes_for("vanishing_gradient", recurrent_only)}
    assert not ids & {"attention", "residual", "batch_norm", "aux_head", "relu_he"}


def test_a_fix_that_would_give_an_invalid_spec_is_not_offered():
    # a GRU network whose dense part is too shallow for an auxiliary head, with tanh everywhere
    spec = recurrent_then_dense("gru")
    offered = fixes_for("vanishing_gradient", spec)
    assert offered and all(fix.apply(spec).validate() == [] for fix in offered)
    invalid = edits.update_layers(spec, 1, units=0)  # a spec that is invalid already: nothing can make it valid
    assert fixes_for("vanishing_gradient", invalid) == ()


def test_advice_for_a_model_without_a_spec():
    candidates = fixes_for("vanishing_gradient", None, activations=["sigmoid", "sigmoid", "softmax"])
    ids = [fix.id for fix in candidates]
    assert ids[0] == "relu_he" and "batch_norm" in ids
    assert FIXES["batch_norm"].advice(["conv2d_3"]) == "Add BatchNormalization after conv2d_3"
    assert "dense_1, dense_2" in FIXES["relu_he"].advice(["dense_1", "dense_2"])
    relu_ids = [fix.id for fix in fixes_for("vanishing_gradient", None, activations=["relu", "softmax"])]
    assert "relu_he" not in relu_ids and "he_init" in relu_ids
    adam = [fix.id for fix in fixes_for("vanishing_gradient", None, activations=["sigmoid"], optimizer="adam")]
    assert "adam" not in adam and "sdagd" not in adam and "relu_he" in adam
    frozen = [fix.id for fix in fixes_for("flat_weights", None, activations=["relu"], optimizer="sgd",
                                          learning_rate=0.0)]
    assert frozen[0] == "raise_lr" and "adam" in frozen
    assert "raise_lr" not in [f.id for f in fixes_for("flat_weights", None, optimizer="sgd", learning_rate=0.1)]


def test_fixes_are_plain_picklable_data_citing_the_papers():
    for fix in FIXES.values():
        assert all(isinstance(getattr(fix, f.name), str) for f in dataclasses.fields(Fix))
        assert pickle.loads(pickle.dumps(fix)) == fix
        assert fix.to_dict() == {"id": fix.id, "title": fix.title, "why": fix.why}
        assert "seed" not in fix.why.lower() and "§" not in fix.why
        with pytest.raises(dataclasses.FrozenInstanceError):
            fix.title = "x"
    assert "(Tan & Lim, 2019)" in FIXES["sdagd"].why
    assert set(FIXES) == set(edits.FIX_EDITS)


def test_fixed_spec_names_the_fix_and_the_original_stays():
    spec = recurrent_then_dense("lstm")
    fixed = FIXES["batch_norm"].apply(spec)
    assert fixed.name == "rnn + BatchNorm" and spec.name == "rnn"
    long = spec.model_copy(update={"name": "x" * 200})
    assert len(FIXES["batch_norm"].apply(long).name) <= 200 and FIXES["batch_norm"].apply(long).validate() == []


def test_a_bad_construction_is_a_spec_error_not_a_type_error():
    with pytest.raises(SpecError, match="units: must be an integer, got '8'"):
        LayerSpec(units="8")
