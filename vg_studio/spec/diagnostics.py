"""The diagnostics section of a spec: every threshold of the diagnosis rules, typed (docs/diagnostics.md says why
each value). Every `*_steps` value is a number of training steps, never of records, so a rule behaves the same
whatever `monitoring.record_every` is.

A spec file stores only the thresholds it changes (`"diagnostics": {"vanishing_ratio": 1e-4}`): the others follow
the rules' defaults. A misspelled name is refused like any unknown field, with the name it was probably meant to be.
"""

from __future__ import annotations

from collections.abc import Mapping

from pydantic import Field, SerializerFunctionWrapHandler, ValidationError, model_serializer
from typing_extensions import Annotated

from vg_studio.spec.base import SECTIONS, Float, Issue, Section, SpecError, issues_of, type_name


Threshold = Annotated[Float, Field(ge=0.0, le=1e12)]
Fraction = Annotated[Float, Field(ge=0.0, le=1.0)]
Steps = Annotated[Float, Field(ge=0.0, le=1e9, description="training steps")]


class DiagnosticsSpec(Section):
    """Thresholds of the diagnosis rules (`vg_studio.diagnose.rules`)."""

    field_noun = "threshold"

    # vanishing gradient: mean |g| of the first main layer / that of the output layer
    vanishing_ratio: Threshold = Field(
        1e-3, description="first/output mean |gradient| below which the gradient vanishes")
    vanishing_floor: Threshold = Field(
        1e-6, description="absolute mean |gradient| of the first layer (with a ratio < 10x the threshold)")
    vanishing_trend: Threshold = Field(
        10.0, description="... or the ratio fell this many times since the first steps")
    vanishing_layer_ratio: Threshold = Field(
        1e-2, description="layers named: mean |gradient| / the output's below this")
    vanishing_window_steps: Steps = 10.0
    vanishing_chance_band: Fraction = 0.002
    vanishing_chance_steps: Steps = 3.0
    vanishing_chance_ratio: Threshold = Field(
        0.05, description="a ratio below this is vanishing while the loss sits at guessing")
    # exploding gradient: medians over the records of the last exploding_window_steps steps
    exploding_ratio: Threshold = Field(
        70.0, description="first/output mean |gradient| above which the gradient grows on its way back")
    exploding_growth: Threshold = Field(
        100.0, description="a layer's gradient norm grew this many times over the first steps' ...")
    exploding_growth_norm: Threshold = Field(1.0, description="... and is above this")
    exploding_norm: Threshold = Field(1e3, description="any layer's gradient norm above this")
    exploding_update_ratio: Threshold = Field(
        0.3, description="one step changes a layer's weights by this share of their norm")
    exploding_loss_factor: Threshold = Field(2.0, description="the loss is this many times the loss of guessing ...")
    exploding_loss_norm: Threshold = Field(
        20.0, description="... while the largest layer gradient norm stays above this")
    exploding_loss_growth: Threshold = Field(2.0, description="... or the loss is this many times its first value")
    exploding_window_steps: Steps = 20.0
    exploding_steps: Steps = 5.0
    baseline_steps: Steps = 10.0
    # dead and saturated units
    dead_fraction: Fraction = 0.5
    saturated_fraction: Fraction = 0.5
    unit_steps: Steps = 5.0
    saturated_steps: Steps = 20.0
    # flat weights, loss plateau
    flat_update_ratio: Threshold = Field(1e-5, description="‖ΔW‖/‖W‖ per step below which a layer's weights are flat")
    flat_steps: Steps = 5.0
    plateau_steps: Steps = 50.0
    plateau_epochs: Annotated[Float, Field(ge=0.0, le=1e6)] = 3.0
    plateau_tolerance: Threshold = Field(0.01, description="(max - min) / mean of the loss over the window")
    plateau_progress: Threshold = Field(0.9, description=(
        "a loss still at this share of its first value has not come down (the plateau; an explosion's loss test: the "
        "last window at this share of the one before)"))
    plateau_far: Threshold = Field(0.5, description=(
        "a loss at this share of the loss of guessing (or of its start, if lower) is still far from good (plateau, "
        "dead units, slow convergence, oscillation)"))
    # vanishing through time (recurrent networks)
    time_vanishing_ratio: Threshold = Field(
        1e-3, description="mean |dL/dx_t| of the first 5 % of time steps / the last step's")
    time_horizon_fraction: Fraction = 1e-2
    # oscillating loss (the learning rate is too high)
    oscillation_window_steps: Steps = 100.0
    oscillation_swing: Threshold = Field(0.5, description="range of the loss over the window / its level")
    oscillation_rises: Fraction = Field(
        0.0, description="share of the window's steps where the averaged loss must rise (0: a single burst that "
                         "comes back counts, as a swing)")
    oscillation_progress: Fraction = 0.1
    oscillation_update_ratio: Threshold = Field(5e-3, description=(
        "largest layer's median ‖ΔW‖/‖W‖ per step below which a swing near the loss's step-to-step spread is the "
        "batches' sampling noise, not an overshoot"))
    # slow convergence (the loss falls, but far too slowly for the run's budget)
    slow_budget_fraction: Fraction = 0.5
    slow_progress_factor: Threshold = Field(
        10.0, description="progress towards the target below elapsed budget / this")
    # poor initialisation: the loss at the first step, and the activations' scale across depth (pre-flight)
    init_loss_factor: Threshold = Field(
        3.0, description="first loss this many times the loss of guessing: the outputs start too large")
    init_scale_factor: Threshold = Field(
        3.0, description="per-layer gain of the activations' scale beyond this (or its inverse)")
    init_scale_total: Threshold = Field(
        100.0, description="end-to-end change of the activations' scale beyond this (or its inverse)")
    init_weight_factor: Threshold = Field(
        2.0, description="weights' scale this many times off the matching initializer's")
    # the update ratio ‖ΔW‖/‖W‖ per step, cited as evidence: healthy training sits near 1e-3
    update_ratio_low: Threshold = Field(1e-4, description="far below the usual update ratio")
    update_ratio_high: Threshold = Field(1e-1, description="far above it")
    # the life of a finding
    resolve_steps: Steps = 10.0
    startup_steps: Steps = 50.0
    transient_steps: Steps = 60.0

    @model_serializer(mode="wrap")
    def _changed_only(self, handler: SerializerFunctionWrapHandler) -> dict:
        """A stored spec keeps only the thresholds it changes, so the others follow the rules' defaults."""
        values = handler(self)
        return {name: value for name, value in values.items()
                if name not in type(self).model_fields or value != type(self).model_fields[name].default}

    @classmethod
    def of(cls, config: "DiagnosticsSpec | Mapping | None") -> "DiagnosticsSpec":
        """Thresholds from a mapping of overrides (None: the defaults); a misspelled name or a bad value raises
        SpecError naming it as `diagnostics.<name>`."""
        if config is None:
            return cls()
        if isinstance(config, cls):
            return config
        if not isinstance(config, Mapping):
            raise SpecError([f"diagnostics: must be an object of thresholds, got {type_name(config)}"])
        try:
            return cls.model_validate(dict(config))
        except ValidationError as exc:
            raise SpecError(issues=[Issue(("diagnostics",) + issue.loc, issue.message)
                                    for issue in issues_of(exc, cls)]) from None

    def values(self) -> dict:
        """Every threshold by name, defaults included."""
        return {name: getattr(self, name) for name in type(self).model_fields}


SECTIONS[("diagnostics",)] = DiagnosticsSpec

# Thresholds that earlier documents gave as record counts: n records are (n - 1) x record_every steps; those
# without a step equivalent are dropped (the spec migration applies this).
RECORD_COUNTS = {"exploding_records": "exploding_steps", "unit_records": "unit_steps", "flat_records": "flat_steps",
                 "vanishing_records": None, "plateau_records": None}
