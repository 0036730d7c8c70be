"""The experiment spec: one versioned JSON document that is the single source of truth for a run."""

from __future__ import annotations

import json
import os
from typing import Any, Callable, Literal

from pydantic import Field, ValidationError, field_validator
from typing_extensions import Annotated

from vg_studio import catalog
from vg_studio.limits import LIMITS
from vg_studio.spec.base import SECTIONS, Issue, Section, SpecError, Str, choice, issues_of, problem, type_name, \
    unencodable
from vg_studio.spec.diagnostics import RECORD_COUNTS, DiagnosticsSpec
from vg_studio.spec.sections import DataSpec, LayerSpec, MonitoringSpec, NetworkSpec, OptimizerSpec, TrainingSpec

SCHEMA_VERSION = 2

class ExperimentSpec(Section):
    schema_version: Literal[SCHEMA_VERSION] = SCHEMA_VERSION
    name: Annotated[Str, Field(min_length=1, max_length=200, description="any printable text")] = "experiment"
    description: Annotated[Str, Field(max_length=4000, description="what this experiment shows")] = ""
    data: DataSpec = Field(default_factory=DataSpec)
    network: NetworkSpec = Field(default_factory=NetworkSpec)
    loss: choice(catalog.LOSSES) = "sparse_categorical_crossentropy"
    optimizer: OptimizerSpec = Field(default_factory=OptimizerSpec)
    training: TrainingSpec = Field(default_factory=TrainingSpec)
    monitoring: MonitoringSpec = Field(default_factory=MonitoringSpec)
    diagnostics: Annotated[DiagnosticsSpec, Field(
        default_factory=DiagnosticsSpec, description="thresholds of the diagnosis rules (docs/diagnostics.md)")]

    @field_validator("name")
    @classmethod
    def _printable(cls, name: str) -> str:
        if not name.isprintable() or unencodable(name):
            raise problem("must be printable text")
        return name

    @field_validator("description")
    @classmethod
    def _text(cls, text: str) -> str:
        if unencodable(text) or not text.replace("\n", " ").isprintable():
            raise problem("must be printable text")
        return text

    # ---- (de)serialisation -------------------------------------------------------------------------------
    def to_dict(self) -> dict:
        return self.model_dump(mode="json", warnings=False)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, ensure_ascii=False)

    @classmethod
    def from_dict(cls, data: Any, source: str | None = None) -> "ExperimentSpec":
        if not isinstance(data, dict):
            raise SpecError([f"spec: must be a JSON object, got {type_name(data)}"], source)
        data = migrate(data, source)
        try:
            return cls.model_validate(data)
        except ValidationError as exc:
            raise SpecError(source=source, issues=issues_of(exc, cls)) from None

    @classmethod
    def from_json(cls, text: str | bytes, source: str | None = None) -> "ExperimentSpec":
        from vg_studio.safeio import UnreadableFile

        try:
            data = _parse_json(text, source or "spec")
        except UnreadableFile as exc:
            message = str(exc)
            if source and message.startswith(f"{source}: "):
                message = message[len(source) + 2:]
            elif message.startswith("spec: "):
                message = message[len("spec: "):]
            raise SpecError([message], source) from None
        return cls.from_dict(data, source)

    @classmethod
    def load(cls, path: str | os.PathLike) -> "ExperimentSpec":
        from vg_studio.safeio import UnreadableFile, read_regular_file

        source = os.fspath(path)
        try:
            text = read_regular_file(path, LIMITS.spec_bytes, "spec file").decode("utf-8")
        except UnreadableFile as exc:
            reason = str(exc)[len(source) + 2:] if str(exc).startswith(f"{source}: ") else str(exc)
            reason = "file not found" if reason.endswith("not found") else \
                reason if reason.startswith("cannot read") else f"cannot read: {reason}"
            raise SpecError([reason], source) from None
        except UnicodeDecodeError as exc:
            raise SpecError([f"cannot read: not UTF-8 text (byte {exc.start})"], source) from None
        return cls.from_json(text, source)

    def save(self, path: str | os.PathLike) -> None:
        from vg_studio.safeio import atomic_write_text

        atomic_write_text(path, self.to_json() + "\n")

    # ---- checks --------------------------------------------------------------------------------------------
    def issues(self) -> list[Issue]:
        """Every problem of this spec (one built by edits may be invalid), with its location."""
        try:
            type(self).model_validate(self.model_dump(warnings=False))
        except ValidationError as exc:
            return issues_of(exc, type(self))
        return []

    def validate(self) -> list[str]:  # type: ignore[override]
        """Every problem as a one-line text ('h2 (network.layers[1]).units: must be >= 1'); [] when valid."""
        return [str(issue) for issue in self.issues()]

    def check(self) -> "ExperimentSpec":
        """Raise SpecError if the spec has any problem; returns self for chaining."""
        issues = self.issues()
        if issues:
            raise SpecError(issues=issues)
        return self


def _parse_json(text: str | bytes, source: str) -> Any:
    """safeio's strict parser (size, depth, UTF-8); NaN, Infinity and over-long integers are parsed as non-finite
    numbers instead, so that the schema refuses them naming their field."""
    from vg_studio.safeio import UnreadableFile, loads_json, unique_keys

    try:
        return loads_json(text, source)
    except UnreadableFile as exc:
        if not any(word in str(exc) for word in ("NaN is not", "Infinity is not", "an integer with", "beyond the float range")):
            raise
    if isinstance(text, bytes):
        text = text.decode("utf-8")  # loads_json decoded it once already
    text = text.removeprefix("\ufeff")

    def capped_int(digits: str) -> Any:
        return int(digits) if len(digits.lstrip("-")) <= LIMITS.json_int_digits else float("inf")

    return json.loads(text, parse_constant=float, parse_int=capped_int, object_pairs_hook=unique_keys(source))


# ---- schema versions ---------------------------------------------------------------------------------------
def _v1_to_v2(data: dict) -> dict:
    """v2: SDAGD's batch size is training.batch_size alone (v1 files could carry a second, disagreeing one);
    the optional `description` is new."""
    optimizer = data.get("optimizer")
    if isinstance(optimizer, dict) and optimizer.get("name") == "sdagd" and isinstance(optimizer.get("params"), dict):
        params = {k: v for k, v in optimizer["params"].items() if k != "batch_size"}
        data = {**data, "optimizer": {**optimizer, "params": params}}
    return data


def _thresholds_in_steps(data: dict) -> dict:
    """Thresholds given as record counts become steps ((n - 1) x monitoring.record_every), or are dropped where no
    step threshold replaces them."""
    thresholds = data.get("diagnostics")
    if not isinstance(thresholds, dict) or not set(thresholds) & set(RECORD_COUNTS):
        return data
    monitoring = data.get("monitoring") if isinstance(data.get("monitoring"), dict) else {}
    every = monitoring.get("record_every", MonitoringSpec.model_fields["record_every"].default)
    every = every if isinstance(every, int) and not isinstance(every, bool) and every >= 1 else 1
    converted = {k: v for k, v in thresholds.items() if k not in RECORD_COUNTS}
    for old, new in RECORD_COUNTS.items():
        value = thresholds.get(old)
        if new and new not in thresholds and isinstance(value, (int, float)) and not isinstance(value, bool):
            converted[new] = float(max(0.0, value - 1) * every)
    return {**data, "diagnostics": converted}


# MIGRATIONS[v] turns a version-v document into a version-(v + 1) one.
MIGRATIONS: dict[int, Callable[[dict], dict]] = {1: _v1_to_v2}


def migrate(data: dict, source: str | None = None) -> dict:
    """A document of any version this VG Studio knows, upgraded to SCHEMA_VERSION (a missing version is 1)."""
    version = data.get("schema_version", 1)
    if isinstance(version, bool) or not isinstance(version, int):
        raise SpecError([f"schema_version: must be an integer, got {version!r}"], source)
    if version > SCHEMA_VERSION:
        raise SpecError([f"schema_version: {version} is newer than this VG Studio understands ({SCHEMA_VERSION}); "
                         "upgrade VG Studio"], source)
    if version < 1:
        raise SpecError([f"schema_version: must be between 1 and {SCHEMA_VERSION}"], source)
    while version < SCHEMA_VERSION:
        data = MIGRATIONS[version](data)
        version += 1
    return {**_thresholds_in_steps(data), "schema_version": SCHEMA_VERSION}


SECTIONS[()] = ExperimentSpec


def json_schema() -> dict:
    """The JSON Schema of a spec file (`vg-studio spec --schema`)."""
    schema = ExperimentSpec.model_json_schema()
    return {"$schema": "https://json-schema.org/draft/2020-12/schema", "$id": "vg-studio-spec", **schema}


def example_spec() -> ExperimentSpec:
    """The ready example network the app and `vg-studio spec --example` start from: a deep sigmoid MLP whose
    early-layer gradients vanish under plain SGD (Tan & Lim's hl-5 set-up, narrowed to run in seconds)."""
    return ExperimentSpec(
        name="deep-sigmoid-sgd",
        description="Six sigmoid layers trained with plain SGD: the first layers' gradients vanish.",
        data=DataSpec(dataset="mnist-5k"),
        network=NetworkSpec(layers=[LayerSpec(units=128, activation="sigmoid", initializer="glorot_uniform")
                                    for _ in range(6)]),
        optimizer=OptimizerSpec(name="sgd", learning_rate=0.1),
        training=TrainingSpec(epochs=5, batch_size=100, seed=0),
    )
