"""`DiagnosisListener`: the diagnosis engine as a training listener (the Trainer, the `GradientMonitor` callback and
the app's child process all attach the same one).

A listener is a callable taking one event. This one builds a fresh `Diagnoser` from each `RunStarted` (layer
names, kinds, units, activations, the spec or the model summary, the number of classes), feeds it every
`ProbeRecord` and `EpochEnd`, and publishes `FindingsUpdated` through the `emit` function the trainer gives it in
`attach(emit)`. A `ModelSummaryUpdated` (the summary corrected once the first step showed which optimizer steps
each layer) updates the running engine's facts: every finding from then on is advised for that optimizer. At the
end the trainer merges `report_items()` — `{"findings": [...]}`, the findings as they stand when the run ends —
into report.json.
`vg_studio.train` never imports this module: the dependency points from diagnosis to training only.
"""

from __future__ import annotations

import logging

from vg_studio.diagnose.engine import Diagnoser
from vg_studio.diagnose.findings import Finding
from vg_studio.spec import DiagnosticsSpec
from vg_studio.train import events

log = logging.getLogger(__name__)


class DiagnosisListener:
    def __init__(self, config: dict | None = None):
        """`config` overrides thresholds (a DiagnosticsSpec or a mapping, docs/diagnostics.md), checked here: a
        misspelled name raises SpecError naming it. None uses the spec's `diagnostics` for a spec run and the
        defaults for a user's own model."""
        self.config = DiagnosticsSpec.of(config) if config is not None else None
        self.diagnoser: Diagnoser | None = None
        self._emit = None

    def attach(self, emit) -> None:
        """Called by the trainer at run start with the function that publishes this listener's own events."""
        self._emit = emit
        self.diagnoser = None  # a fresh engine per run: no findings carried over

    @property
    def findings(self) -> list[Finding]:
        return self.diagnoser.findings if self.diagnoser is not None else []

    def __call__(self, event) -> None:
        if isinstance(event, events.RunStarted):
            self.diagnoser = Diagnoser.for_run(event, self.config)
        elif self.diagnoser is None:
            return
        elif isinstance(event, events.ProbeRecord):
            self._publish(self.diagnoser.on_record(event))
        elif isinstance(event, events.EpochEnd):
            self._publish(self.diagnoser.on_epoch(event.epoch, event.logs, getattr(event, "batch_losses", ())))
        elif isinstance(event, events.ModelSummaryUpdated):
            before = self.diagnoser.findings
            new = self.diagnoser.update_summary(event.model_summary)
            if new or self.diagnoser.findings != before:  # the same findings with other advice are published too
                self._emit_findings(new)
        elif isinstance(event, events.RunFinished):
            self._publish(self.diagnoser.finish())

    def add_preflight(self, findings) -> None:
        """The pre-flight check's findings (`vg_studio.diagnose.preflight.preflight(model, first_batch)`), called
        after RunStarted: they join the run's findings and are published like them."""
        if self.diagnoser is not None:
            self._publish(self.diagnoser.add_preflight(findings))

    def report_items(self) -> dict:
        """What the trainer merges into report.json when the run ends: every finding as strict JSON."""
        if self.diagnoser is not None:
            self._publish(self.diagnoser.finish())
        return {"findings": [f.to_dict() for f in self.findings]}

    def _publish(self, new: list[Finding]) -> None:
        if new:
            self._emit_findings(new)

    def _emit_findings(self, new: list[Finding]) -> None:
        if self._emit is not None:
            self._emit(events.FindingsUpdated(list(self.diagnoser.findings), list(new)))
