"""`LiveWarnings`: each new warning-or-worse finding said once, as one line, in the training script's own output
while the model trains — and, on request, training stopped at the first one (as Keras's TerminateOnNaN does).

A plain listener: it reads the `FindingsUpdated` events the `DiagnosisListener` publishes, so it goes beside one
in `GradientMonitor(listeners=[...])`. Layer names and messages came from the user's model and are shown inert
(`vg_studio.text.inert`): a name never moves the cursor or starts a forged line.

    LiveWarnings()                              # Python warnings (DiagnosisWarning): shown once each
    LiveWarnings(stream="logging")              # the "vg_studio.diagnose" logger, at WARNING/ERROR
    LiveWarnings(stream=sys.stderr)             # plain lines on any text stream
    LiveWarnings(quiet=True, on_finding=print)  # nothing shown; a callable gets each new Finding
    LiveWarnings(on_finding="stop", stop=lambda: setattr(model, "stop_training", True))
"""

from __future__ import annotations

import logging
import sys
import warnings

from vg_studio.diagnose.findings import SEVERITIES, Finding, severity_rank
from vg_studio.text import inert
from vg_studio.train import events

log = logging.getLogger("vg_studio.diagnose")


class DiagnosisWarning(UserWarning):
    """A diagnosis finding said while training runs."""


class LiveWarnings:
    def __init__(self, stream=None, min_severity: str = "warning", on_finding=None, stop=None,
                 quiet: bool = False):
        """`stream`: None for Python `warnings`, "logging" (or a `logging.Logger`) for a logger, or a text stream
        with `write`. `min_severity`: "warning" or "error". `on_finding`: None, "stop" (call `stop()` at the first
        finding said: stop training) or a callable taking each new `Finding`. `quiet`: show nothing."""
        if min_severity not in SEVERITIES:
            raise ValueError(f"min_severity: expected one of {', '.join(SEVERITIES)}, got {min_severity!r}")
        if on_finding == "stop" and not callable(stop):
            raise ValueError("on_finding='stop' needs stop=, a callable that stops training "
                             "(e.g. lambda: setattr(model, 'stop_training', True))")
        if on_finding is not None and on_finding != "stop" and not callable(on_finding):
            raise ValueError(f"on_finding: expected None, 'stop' or a callable, got {on_finding!r}")
        if stream is not None and stream != "logging" and not isinstance(stream, logging.Logger) \
                and not callable(getattr(stream, "write", None)):
            raise ValueError("stream: expected None (Python warnings), 'logging', a logging.Logger or a text stream")
        self.stream, self.min_severity, self.on_finding, self.stop, self.quiet = \
            stream, min_severity, on_finding, stop, quiet
        self.said: list[Finding] = []  # every finding said in this run, in order
        self._kinds: set = set()
        self._stopped = False

    def __call__(self, event) -> None:
        if isinstance(event, events.RunStarted):
            self.said, self._kinds, self._stopped = [], set(), False
        elif isinstance(event, events.FindingsUpdated):
            for finding in event.new:
                self._consider(finding)

    def _consider(self, finding) -> None:
        if isinstance(finding, dict):  # a finding sent across a process as plain data
            try:
                finding = Finding.from_dict(finding)
            except ValueError:
                return
        if finding.kind in self._kinds or getattr(finding, "state", "active") != "active" \
                or severity_rank(finding.severity) < severity_rank(self.min_severity):
            return
        self._kinds.add(finding.kind)
        self.said.append(finding)
        if not self.quiet:
            self._say(finding)
        if self.on_finding == "stop":
            if not self._stopped:
                self._stopped = True
                self.stop()
        elif callable(self.on_finding):
            self.on_finding(finding)

    def _say(self, finding: Finding) -> None:
        text = line(finding)
        if self.stream is None:
            _warn_at_callers_line(text)
        elif self.stream == "logging" or isinstance(self.stream, logging.Logger):
            logger = self.stream if isinstance(self.stream, logging.Logger) else log
            logger.log(logging.ERROR if finding.severity == "error" else logging.WARNING, text)
        else:
            self.stream.write(text + "\n")
            flush = getattr(self.stream, "flush", None)
            if callable(flush):
                flush()


# Frames of these packages are the machinery between the user's `fit` call and the finding; a warning names the
# first frame outside them (the script's or notebook cell's line), as Python 3.12's skip_file_prefixes would.
_MACHINERY = ("vg_studio", "keras", "tensorflow", "tf_keras", "jax", "jaxlib", "torch", "optree", "absl")


def _warn_at_callers_line(text: str) -> None:
    frame = sys._getframe(1)
    while frame is not None and str(frame.f_globals.get("__name__", "")).split(".")[0] in _MACHINERY:
        frame = frame.f_back
    if frame is None:  # called from the machinery alone (a test driving a listener directly)
        warnings.warn(text, DiagnosisWarning, stacklevel=3)
        return
    registry = frame.f_globals.setdefault("__warningregistry__", {})
    warnings.warn_explicit(text, DiagnosisWarning, frame.f_code.co_filename, frame.f_lineno,
                           module=frame.f_globals.get("__name__"), registry=registry)


def line(finding: Finding) -> str:
    """One line: severity, what, where, since when, the finding's message (names inert, no line breaks)."""
    where = f" in {', '.join(inert(n) for n in finding.labels)}" if finding.labels else ""
    return (f"vg-studio: [{finding.severity.upper()}] {finding.kind.replace('_', ' ')}{where} at step "
            f"{finding.step}: {inert(finding.message)}")
