"""A diagnosis result as an immutable value: what went wrong, where and when, the numbers behind it in figures and
in plain words, and what to change — spec edits (`fixes`) for a spec run, advice text for a user's own model.

A `Finding` never changes once made (the engine builds a new one when a finding gets worse, or ends), so the
engine's thread, the GUI and another process can hold the same value safely. A finding has a life: `step` is the
first step its evidence held, `last_step` the latest, and `state` says whether it still holds ("active") or has
stopped holding ("resolved"). It pickles by fix id and `to_dict()` /
`from_dict()` round-trip it through report.json; both rebuild the fixes from `fixes.FIXES`, so a run opened from
disk has working fixes.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from vg_studio import catalog
from vg_studio.diagnose.fixes import FIXES
from vg_studio.text import inert

KINDS = catalog.FINDING_KINDS  # one list: the run store checks report.json against it without the engine
SEVERITIES = catalog.FINDING_SEVERITIES
STATES = ("active", "resolved")


def severity_rank(severity: str) -> int:
    return SEVERITIES.index(severity)


_HIDDEN = re.compile(r"hidden_(\d+)")


def layer_label(name: str, spec_run: bool = True) -> str:
    """A layer column's name as the user sees it: a spec run's `hidden_3` is the row labelled h3 and `output` is
    out; a user's own model keeps its Keras layer names."""
    if not spec_run:
        return name
    match = _HIDDEN.fullmatch(name)
    return f"h{match.group(1)}" if match else ("out" if name == "output" else name)


class Evidence(Mapping):
    """The numbers behind a finding (name → number or short text), read-only."""

    __slots__ = ("_items",)

    def __init__(self, items=()):
        self._items = dict(items)

    def __getitem__(self, key):
        return self._items[key]

    def __iter__(self):
        return iter(self._items)

    def __len__(self):
        return len(self._items)

    def __hash__(self):
        return hash(tuple(self._items.items()))

    def __reduce__(self):
        return Evidence, (self._items,)

    def __repr__(self):
        return f"Evidence({self._items!r})"


@dataclass(frozen=True)
class Finding:
    kind: str
    severity: str  # "info" | "warning" | "error"
    step: int  # global training step (1-based) at which the finding first held
    epoch: int  # 0-based epoch of that step (as in history.h5)
    layers: tuple = ()  # affected layer columns as stored in the history: ("hidden_1", ...) or Keras names
    evidence: Evidence = field(default_factory=Evidence)  # name -> number, from the latest record where it held
    message: str = ""  # one plain sentence naming the layers as the user sees them
    details: tuple = ()  # the evidence in plain words, one sentence each (the GUI lists them)
    fixes: tuple = ()  # Fix values that edit the run's spec (empty for a user's own model: see `advice`)
    advice: tuple = ()  # for a run without a spec: what to change in the user's own code, one sentence each
    labels: tuple = ()  # `layers` as the user sees them (h1 … out, or Keras names)
    last_step: int | None = None  # the latest step at which its evidence held
    state: str = "active"  # "active" (its evidence holds) | "resolved" (it has stopped holding)
    rule: str = ""  # the test that fired, with its own figures ("first/output gradient ratio 2.4e-04 < 1e-03")

    def __post_init__(self):
        if self.kind not in KINDS:
            raise ValueError(f"finding kind {self.kind!r}: expected one of {', '.join(KINDS)}")
        if self.severity not in SEVERITIES:
            raise ValueError(f"finding severity {self.severity!r}: expected one of {', '.join(SEVERITIES)}")
        if self.state not in STATES:
            raise ValueError(f"finding state {self.state!r}: expected one of {', '.join(STATES)}")
        set_ = object.__setattr__  # normalising the fields of a value that is being made
        set_(self, "step", int(self.step))
        set_(self, "epoch", int(self.epoch))
        set_(self, "last_step", int(self.last_step) if self.last_step is not None else None)
        set_(self, "rule", str(self.rule))
        set_(self, "layers", tuple(str(n) for n in self.layers))
        if not isinstance(self.evidence, Evidence):
            set_(self, "evidence", Evidence(self.evidence))
        set_(self, "details", tuple(str(d) for d in self.details))
        set_(self, "fixes", tuple(self.fixes))
        set_(self, "advice", tuple(str(a) for a in self.advice))
        labels = tuple(str(n) for n in self.labels)
        set_(self, "labels", labels if len(labels) == len(self.layers) else tuple(map(layer_label, self.layers)))

    @property
    def fix_ids(self) -> tuple:
        return tuple(f.id for f in self.fixes)

    def to_dict(self) -> dict:
        """Strict JSON (NaN/inf become null)."""
        return {"kind": self.kind, "severity": self.severity, "step": self.step, "epoch": self.epoch,
                "layers": list(self.layers), "labels": list(self.labels),
                "evidence": {k: _json_number(v) for k, v in self.evidence.items()},
                "message": self.message, "details": list(self.details),
                "fixes": [{"id": f.id, "title": f.title, "why": f.why} for f in self.fixes],
                "advice": list(self.advice), "last_step": self.last_step, "state": self.state, "rule": self.rule}

    @classmethod
    def from_dict(cls, data: Mapping) -> "Finding":
        """Rebuild a finding from `to_dict()` (or an older report.json's finding). Fixes come back as the current
        `FIXES` entries of the stored ids; ids this version no longer knows are dropped. Raises ValueError naming
        the bad field."""
        if not isinstance(data, Mapping):
            raise ValueError(f"finding: expected an object, got {type(data).__name__}")
        try:
            fixes = [f.get("id") if isinstance(f, Mapping) else f for f in data.get("fixes") or ()]
            evidence = {str(k): (math.nan if v is None else v) for k, v in dict(data.get("evidence") or {}).items()}
            return cls(kind=data["kind"], severity=data["severity"], step=int(data.get("step", 0)),
                       epoch=int(data.get("epoch", 0)), layers=tuple(data.get("layers") or ()),
                       evidence=evidence, message=str(data.get("message", "")),
                       details=tuple(data.get("details") or ()), fixes=_fixes_by_id(fixes),
                       advice=tuple(data.get("advice") or ()), labels=tuple(data.get("labels") or ()),
                       last_step=_optional_int(data.get("last_step")), state=str(data.get("state") or "active"),
                       rule=str(data.get("rule") or ""))
        except KeyError as exc:
            raise ValueError(f"finding: missing field {exc.args[0]!r}") from None
        except (TypeError, AttributeError) as exc:
            raise ValueError(f"finding: {exc}") from None

    def __reduce__(self):
        # by fix id: a Fix is rebuilt from this process's FIXES on the other side
        return _rebuild, (self.kind, self.severity, self.step, self.epoch, self.layers, self.evidence,
                          self.message, self.details, self.fix_ids, self.advice, self.labels, self.last_step,
                          self.state, self.rule)

    @property
    def when(self) -> str:
        """Its life in words: "from step 6 (epoch 1)", "from step 6 to step 48, resolved"."""
        start = f"from step {self.step} (epoch {self.epoch + 1})"
        if self.state == "resolved":
            return f"{start} to step {self.last_step}, resolved"
        return start

    def __str__(self) -> str:
        """Plain text for a terminal; names that came from a model are shown inert (never control sequences)."""
        where = f" in {', '.join(inert(n) for n in self.labels)}" if self.labels else ""
        lines = [f"[{self.severity.upper()}] {self.kind.replace('_', ' ')}{where} — {self.when}",
                 f"  {inert(self.message)}"]
        if self.rule:
            lines.append(f"  rule: {inert(self.rule)}")
        lines += [f"  · {inert(d)}" for d in self.details]
        for fix in self.fixes:
            lines.append(f"  fix [{fix.id}]: {fix.title} — {fix.why}")
        lines += [f"  advice: {inert(a)}" for a in self.advice]
        return "\n".join(lines)


def _fixes_by_id(ids) -> tuple:
    return tuple(FIXES[i] for i in ids if isinstance(i, str) and i in FIXES)


def _rebuild(kind, severity, step, epoch, layers, evidence, message, details, fix_ids, advice, labels, last_step,
             state, rule):
    return Finding(kind, severity, step, epoch, layers, evidence, message, details, _fixes_by_id(fix_ids),
                   advice, labels, last_step, state, rule)


def _optional_int(value) -> int | None:
    return int(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def findings_from_report(report: Mapping) -> list[Finding]:
    """The findings stored in a report.json (an absent or unreadable entry gives none)."""
    out = []
    for item in (report or {}).get("findings") or ():
        try:
            out.append(Finding.from_dict(item))
        except ValueError:
            continue
    return out


def _json_number(value):
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return value
    return value if isinstance(value, int) or math.isfinite(value) else None  # strict JSON has no NaN/inf


def show_number(value) -> str:
    return f"{value:.3g}" if isinstance(value, float) else str(value)
