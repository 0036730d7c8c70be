import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vg_studio import edits
from vg_studio.spec import SCHEMA_VERSION, ExperimentSpec, SpecError, example_spec


def test_example_round_trips_exactly():
    spec = example_spec()
    text = spec.to_json()
    again = ExperimentSpec.from_json(text)
    assert again == spec
    assert again.to_json() == text
    assert json.loads(text)["schema_version"] == SCHEMA_VERSION


def test_every_field_round_trips(tmp_path):
    spec = example_spec()
    spec = edits.update_layers(spec, 2, attention=True, attention_tokens=4)
    spec = edits.update_layers(spec, 1, batch_norm=True, dropout=0.25)
    spec = edits.set_clipping(edits.set_optimizer(spec, "sgd_momentum"), "clipnorm", 1.5)
    spec = edits.set_optimizer_param(spec, "momentum", 0.5)
    spec = edits.set_data_option(edits.set_data_option(spec, "limit", 100), "seed", 3)
    spec = edits.set_threshold(spec, "vanishing_ratio", 1e-4)
    assert spec.validate() == []
    path = tmp_path / "spec with spaces ü.json"
    spec.save(path)
    assert ExperimentSpec.load(path) == spec


def test_missing_fields_take_defaults():
    spec = ExperimentSpec.from_dict({"network": {"layers": [{"units": 5}]}})
    assert spec.network.layers[0].units == 5
    assert spec.network.layers[0].activation == "relu"
    assert spec.optimizer.name == "adam"


def test_validation_reports_every_problem_with_its_path():
    data = example_spec().to_dict()
    data["network"]["layers"][3]["units"] = 0
    data["network"]["layers"][1]["activation"] = "sigmoidd"
    data["optimizer"]["name"] = "adamw"
    data["training"]["epochs"] = 0
    with pytest.raises(SpecError) as info:
        ExperimentSpec.from_dict(data)
    problems = info.value.problems
    assert "h4 (network.layers[3]).units: must be >= 1" in problems
    assert any(p.startswith("h2 (network.layers[1]).activation: unknown activation 'sigmoidd'") for p in problems)
    assert any(p.startswith("optimizer.name: unknown optimizer 'adamw'") for p in problems)
    assert "training.epochs: must be >= 1" in problems
    assert len(problems) == 4


@pytest.mark.parametrize("patch, expected", [
    ({"network": {"layers": "three"}}, "network.layers: must be a list, got a string"),
    ({"network": {"layers": [{"units": "7"}]}}, "h1 (network.layers[0]).units: must be an integer, got '7'"),
    ({"network": {"layers": [{"units": 7.5}]}}, "h1 (network.layers[0]).units: must be an integer, got 7.5"),
    ({"training": {"shuffle": "yes"}}, "training.shuffle: must be true or false, got a string"),
    ({"optimizer": {"learning_rate": None}}, "optimizer.learning_rate: must not be null"),
    ({"optimizer": {"lr": 0.1}}, "optimizer.lr: unknown field"),
    ({"data": []}, "data: must be an object, got a list"),
    ({"optimizer": {"name": "sgd", "params": {"beta_1": 0.9}}}, "optimizer.params.beta_1: not a hyperparameter of sgd"),
])
def test_type_errors_name_the_field(patch, expected):
    with pytest.raises(SpecError) as info:
        ExperimentSpec.from_dict(patch)
    assert any(p.startswith(expected) for p in info.value.problems), info.value.problems


def test_future_schema_is_refused_clearly():
    with pytest.raises(SpecError, match="schema_version: 99 is newer"):
        ExperimentSpec.from_dict({"schema_version": 99})


def test_bad_json_and_missing_file(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text('{"name": ')
    with pytest.raises(SpecError, match=r"bad.json: not valid JSON \(line 1"):
        ExperimentSpec.load(bad)
    with pytest.raises(SpecError, match="file not found"):
        ExperimentSpec.load(tmp_path / "nope.json")


json_values = st.recursive(st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
                           lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner,
                                                                                        max_size=4), max_leaves=12)


@settings(max_examples=200, deadline=None)
@given(st.dictionaries(st.sampled_from(["name", "data", "network", "loss", "optimizer", "training", "monitoring",
                                        "diagnostics", "schema_version", "other"]), json_values, max_size=6))
def test_fuzzed_specs_either_load_or_raise_spec_error(data):
    try:
        spec = ExperimentSpec.from_dict(data)
    except SpecError as exc:
        assert exc.problems and all(isinstance(p, str) for p in exc.problems)
    else:
        assert spec.validate() == []


@pytest.mark.parametrize("name", ["Versuch über Sigmoid", "café", "深い ネット 🧪", "-leading dash", "a" * 200])
def test_any_printable_unicode_name_is_a_name(name, tmp_path):
    spec = example_spec().model_copy(update={"name": name})
    assert spec.validate() == []
    path = tmp_path / "spec.json"
    spec.save(path)
    assert ExperimentSpec.load(path).name == name


@pytest.mark.parametrize("name, message", [("", "name: must not be empty"), ("a\nb", "name: must be printable"),
                                           ("\ud800", "name: must be printable"), ("a" * 201, "at most 200")])
def test_unusable_names_are_refused(name, message):
    problems = example_spec().model_copy(update={"name": name}).validate()
    assert len(problems) == 1 and message in problems[0]
