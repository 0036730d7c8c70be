"""The experiment spec: one versioned JSON document that is the single source of truth for a run.

The spec is a tree of frozen pydantic models. Reading one (`from_dict`, `from_json`, `load`, or keyword
construction) checks every field and reports *all* problems at once by raising `SpecError`, whose `issues` carry
each problem's location (`("network", "layers", 1, "units")`) and whose `problems` are the same as one-line texts
that name rows as the app shows them: ``h2 (network.layers[1]).units: must be >= 1``.

Specs are immutable values: change one with `vg_studio.edits` (or `spec.model_copy(update=...)`). Edits do not
validate — the builder must be able to show a network that is invalid while the user is half-way through a change
— so call `validate()`/`check()` before using an edited spec.

Modules: `base` (errors, field types, section base classes), `options` (dataset options, optimizer
hyperparameters), `sections` (data, network, optimizer, training, monitoring), `diagnostics` (the rules'
thresholds), `experiment` (the whole spec, its JSON form and schema versions).
"""

from vg_studio.spec.base import FrozenDict, Issue, SpecError
from vg_studio.spec.diagnostics import DiagnosticsSpec
from vg_studio.spec.experiment import MIGRATIONS, SCHEMA_VERSION, ExperimentSpec, example_spec, json_schema, migrate
from vg_studio.spec.options import OPTIMIZER_PARAMS, SDAGDParams, dataset_options_model
from vg_studio.spec.sections import DataSpec, LayerSpec, MonitoringSpec, NetworkSpec, OptimizerSpec, TrainingSpec

__all__ = ["SCHEMA_VERSION", "MIGRATIONS", "DataSpec", "DiagnosticsSpec", "ExperimentSpec", "FrozenDict", "Issue",
           "LayerSpec", "MonitoringSpec", "NetworkSpec", "OPTIMIZER_PARAMS", "OptimizerSpec", "SDAGDParams",
           "SpecError", "TrainingSpec", "dataset_options_model", "example_spec", "json_schema", "migrate"]
