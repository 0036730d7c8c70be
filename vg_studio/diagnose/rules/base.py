"""What a rule is: a small class that judges the run's latest record (and epoch) and says whether its evidence holds.

A rule returns a `Verdict` when its evidence holds at this record (severity, layers, the numbers, the words, and
`rule`: which test fired, with its own figures), `NOT_HELD` when it judged the record and the evidence does not
hold, and None when it could not judge it (a window still too short, a statistic not measured at this record).
The engine turns verdicts into findings with a life (first/last step, active/resolved) and ranks them; a rule
never looks at other rules' findings except through `state.active` (whether a kind's evidence holds now).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

from vg_studio.diagnose.state import RunFacts, RunState


@dataclass(frozen=True)
class Verdict:
    severity: str  # "info" | "warning" | "error"
    layers: tuple  # column indices it concerns
    evidence: dict
    message: str  # one sentence; "{layers}" is replaced by the names of every layer it has concerned
    details: tuple = ()
    rule: str = ""  # the test that fired, with its figures
    because: str | None = None  # a finding kind the rule sees in the same data as this one's cause
    stands_alone: bool = False  # no other finding explains this one (the whole network is frozen)


class _NotHeld:
    def __repr__(self) -> str:
        return "NOT_HELD"


NOT_HELD = _NotHeld()


class Rule:
    """Subclasses set `kind` and implement `on_record` (and `on_epoch` where epochs matter)."""

    kind: ClassVar[str]
    # a finding that first holds in the run's first steps waits for persistence before it warns (large initial
    # losses and gradients often settle within a few dozen steps); errors never wait
    transient_at_start: ClassVar[bool] = False
    # ... and one that training overcomes is a start-up matter however long it took (a loss that starts far above
    # chance and comes down)
    overcome_at_start: ClassVar[bool] = False

    def __init__(self, facts: RunFacts, state: RunState):
        self.facts, self.state, self.config = facts, state, state.config

    def on_record(self, finite: bool) -> Verdict | _NotHeld | None:
        """Judge the record just taken into `self.state` (`finite`: its loss and gradients are finite)."""
        return None

    def on_epoch(self, epoch: int, logs: dict) -> Verdict | _NotHeld | None:
        return None


@dataclass
class Judged:
    """The engine's bookkeeping of one kind: its latest verdict and its life."""

    verdict: Verdict
    first_step: int
    first_epoch: int
    last_step: int
    peak: str
    layers: set = field(default_factory=set)
    state: str = "active"
