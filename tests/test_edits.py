"""Spec edits: pure functions that never change their argument and do what the GUI, CLI and fixes rely on."""

import pickle

import pytest
from pydantic import ValidationError

from vg_studio import catalog, edits
from vg_studio.limits import LIMITS
from vg_studio.spec import ExperimentSpec, LayerSpec, NetworkSpec, SpecError, example_spec


def spec_of(*layers: LayerSpec) -> ExperimentSpec:
    return ExperimentSpec(network=NetworkSpec(layers=list(layers)))


def test_specs_are_immutable_values():
    spec = example_spec()
    with pytest.raises(ValidationError, match="frozen"):
        spec.name = "x"
    with pytest.raises(ValidationError, match="frozen"):
        spec.network.layers[0].units = 3
    with pytest.raises(AttributeError):
        spec.network.layers.append(LayerSpec())
    with pytest.raises(TypeError, match="immutable"):
        spec.data.options["limit"] = 3
    with pytest.raises(TypeError, match="immutable"):
        spec.optimizer.params.update(momentum=0.5)
    assert pickle.loads(pickle.dumps(spec)) == spec


def test_edits_return_new_specs_and_leave_the_argument_alone():
    spec = edits.update_layers(example_spec(), 0, units=5)
    before = spec.to_dict()
    changed = [edits.set_depth(spec, 2), edits.add_layer(spec, 0), edits.remove_layer(spec, 1),
               edits.move_layer(spec, 0, 3), edits.update_layers(spec, 1, units=7), edits.set_kind(spec, "lstm", 0),
               edits.set_activation(spec, "relu"), edits.set_optimizer(spec, "adam"),
               edits.set_data_option(spec, "limit", 100), edits.set_dataset(spec, "digits"),
               edits.set_clipping(spec, "clipnorm", 2.0), edits.set_field(spec, "training.epochs", 9)]
    assert spec.to_dict() == before
    assert all(new != spec for new in changed)


def test_new_layers_copy_the_last_one():
    spec = spec_of(LayerSpec(units=5), LayerSpec(units=7, activation="tanh", dropout=0.2))
    deeper = edits.set_depth(spec, 4)
    assert [layer.units for layer in deeper.network.layers] == [5, 7, 7, 7]
    assert deeper.network.layers[3].dropout == 0.2 and deeper.network.layers[3].activation == "tanh"
    assert [layer.units for layer in edits.set_depth(deeper, 1).network.layers] == [5]
    assert edits.set_depth(spec_of(), 2).network.layers == (LayerSpec(), LayerSpec())
    # "Add" after a selected layer copies that one
    assert [layer.units for layer in edits.add_layer(spec, after=0).network.layers] == [5, 5, 7]
    assert [layer.units for layer in edits.add_layer(spec).network.layers] == [5, 7, 7]


def test_depth_beyond_the_limit_is_refused_at_once():
    from tests.conftest import allocates_under

    for depth in (LIMITS.layers + 1, 1_000_000, 1_000_000_000):
        with allocates_under(16), pytest.raises(SpecError, match=f"at most {LIMITS.layers}"):
            edits.set_depth(example_spec(), depth)
    with pytest.raises(SpecError, match=">= 0"):
        edits.set_depth(example_spec(), -1)


def test_move_remove_duplicate():
    spec = spec_of(LayerSpec(units=1), LayerSpec(units=2), LayerSpec(units=3))
    units = lambda s: [layer.units for layer in s.network.layers]  # noqa: E731
    assert units(edits.move_layer(spec, 0, 2)) == [2, 3, 1]
    assert units(edits.move_layer(spec, 2, 0)) == [3, 1, 2]
    assert edits.move_layer(spec, 0, 5) is spec
    assert units(edits.remove_layer(spec, 1)) == [1, 3]
    assert units(edits.duplicate_layer(spec, 1)) == [1, 2, 2, 3]


def test_kind_change_clears_what_the_kind_lacks():
    spec = spec_of(LayerSpec(activation="elu", batch_norm=True, residual=True, attention=True))
    lstm = edits.set_kind(spec, "lstm", 0).network.layers[0]
    assert (lstm.kind, lstm.activation, lstm.batch_norm, lstm.residual, lstm.attention) == (
        "lstm", "tanh", False, False, False)
    assert edits.set_kind(spec, "lstm", 0).validate() == []
    rnn = spec_of(LayerSpec(kind="simple_rnn", activation="elu", return_sequences=True))
    dense = edits.set_kind(rnn, "dense", 0).network.layers[0]
    assert dense.activation == "elu" and not dense.return_sequences  # SimpleRNN's elu is fine on Dense


def test_activation_brings_its_matching_initializer_unless_the_user_chose_one():
    spec = spec_of(LayerSpec(activation="sigmoid", initializer="glorot_uniform"),
                   LayerSpec(activation="sigmoid", initializer="random_normal"))
    relu = edits.set_activation(spec, "relu")
    assert [layer.initializer for layer in relu.network.layers] == ["he_normal", "random_normal"]
    selu = edits.set_activation(spec, "selu", initializer="zeros")
    assert {layer.initializer for layer in selu.network.layers} == {"zeros"}
    assert edits.set_activation(spec, "relu", 1).network.layers[0].activation == "sigmoid"


def test_switching_optimizer_resets_its_settings_and_keeps_clipping():
    spec = edits.set_clipping(edits.set_optimizer(example_spec(), "sgd_momentum"), "clipvalue", 0.5)
    spec = edits.set_optimizer_param(spec, "momentum", 0.5)
    adam = edits.set_optimizer(spec, "adam").optimizer
    assert adam.name == "adam" and adam.learning_rate == catalog.OPTIMIZERS["adam"]["learning_rate"]
    assert dict(adam.params) == catalog.OPTIMIZERS["adam"]["params"] and adam.clipvalue == 0.5
    assert edits.set_optimizer(spec, "sgd_momentum") is spec  # the same optimizer: nothing changes
    assert edits.set_optimizer_param(spec, "momentum", None).optimizer.params.get("momentum") is None


def test_sdagd_has_no_batch_size_of_its_own():
    sdagd = edits.set_optimizer(example_spec(), "sdagd")
    assert "batch_size" not in sdagd.optimizer.params and sdagd.validate() == []
    with_batch = edits.set_optimizer_param(sdagd, "batch_size", 32)
    assert any("optimizer.params.batch_size" in p for p in with_batch.validate())


def test_clipping_is_one_kind_at_a_time():
    spec = edits.set_clipping(example_spec(), "clipnorm", 2.0)
    moved = edits.set_clipping(spec, "global_clipnorm")
    assert (moved.optimizer.clipnorm, moved.optimizer.global_clipnorm) == (None, 2.0)
    off = edits.set_clipping(moved, "none").optimizer
    assert (off.clipnorm, off.clipvalue, off.global_clipnorm) == (None, None, None)


def test_dataset_change_drops_options_the_new_one_does_not_take():
    spec = edits.set_data_option(edits.set_data_option(edits.set_dataset(example_spec(), "adding"), "length", 20),
                                 "limit", 500)
    assert dict(spec.data.options) == {"length": 20, "limit": 500} and spec.validate() == []
    digits = edits.set_dataset(spec, "digits")
    assert dict(digits.data.options) == {"limit": 500} and digits.validate() == []


def test_edits_may_leave_a_spec_invalid_and_say_where():
    spec = edits.update_layers(example_spec(), 1, units=0)
    issue = spec.issues()[0]
    assert (issue.loc, issue.layer, issue.field) == (("network", "layers", 1, "units"), 1, "units")
    assert str(issue) == "h2 (network.layers[1]).units: must be >= 1"
    with pytest.raises(SpecError) as info:
        spec.check()
    assert info.value.issues == [issue]


def test_a_fixed_spec_is_named_after_its_fix():
    spec = example_spec()
    fixed = edits.apply_fix(spec, "relu_he")
    assert fixed.name == "deep-sigmoid-sgd + ReLU/He"
    assert {(layer.activation, layer.initializer) for layer in fixed.network.layers} == {("relu", "he_normal")}
    assert edits.apply_fix(spec, "relu_he", rename=False).name == spec.name
    with pytest.raises(ValueError, match="unknown fix"):
        edits.apply_fix(spec, "nope")
