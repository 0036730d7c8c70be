"""The diagnosis attached to a training run as a listener (the engine never imports vg_studio.diagnose).

Interim version written by the probes helper so the CLI, the app and the reproduction cells keep their findings
while the trainer stops building a Diagnoser itself; the rules helper owns this module and replaces it.
"""

from __future__ import annotations

from vg_studio.diagnose.engine import Diagnoser
from vg_studio.train import events


class DiagnosisListener:
    """Builds a fresh Diagnoser from each RunStarted, feeds it records and epochs, publishes FindingsUpdated and
    adds the findings to report.json (`report_items`)."""

    def __init__(self, config: dict | None = None):
        self.config = config
        self.diagnoser: Diagnoser | None = None
        self._emit = None

    def attach(self, emit) -> None:
        self._emit = emit
        self.diagnoser = None  # a fresh engine per run: no findings carried over

    @property
    def findings(self) -> list:
        return self.diagnoser.findings if self.diagnoser is not None else []

    def __call__(self, event) -> None:
        if isinstance(event, events.RunStarted):
            self.diagnoser = Diagnoser(event.layer_names, event.activations, event.spec, self.config,
                                       num_classes=event.num_classes)
            return
        if self.diagnoser is None:
            return
        if isinstance(event, events.ProbeRecord):
            self._publish(self.diagnoser.on_record(event))
        elif isinstance(event, events.EpochEnd):
            self._publish(self.diagnoser.on_epoch(event.epoch, event.logs))

    def report_items(self) -> dict:
        return {"findings": [f.to_dict() for f in self.findings]}

    def _publish(self, new) -> None:
        if new and self._emit is not None:
            self._emit(events.FindingsUpdated(list(self.diagnoser.findings), list(new)))
