"""A diagnosis result: what went wrong, where and when, the numbers behind it, and the spec edits that fix it."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from vg_studio.diagnose.fixes import Fix

KINDS = ("vanishing_gradient", "exploding_gradient", "loss_plateau", "flat_weights", "dead_units",
         "saturated_units", "non_finite", "vanishing_through_time")
SEVERITIES = ("info", "warning", "error")


def severity_rank(severity: str) -> int:
    return SEVERITIES.index(severity)


@dataclass
class Finding:
    kind: str
    severity: str  # "info" | "warning" | "error"
    step: int  # global training step (1-based) at which the finding first held
    epoch: int  # 0-based epoch of that step (as in history.h5)
    layers: list = field(default_factory=list)  # affected layer groups, e.g. ["hidden_1", "hidden_2"]
    evidence: dict = field(default_factory=dict)  # name -> number, from the latest record where it held
    message: str = ""  # one plain sentence
    fixes: list = field(default_factory=list)  # list[Fix]

    def to_dict(self) -> dict:
        return {"kind": self.kind, "severity": self.severity, "step": int(self.step), "epoch": int(self.epoch),
                "layers": list(self.layers), "evidence": {k: _json_number(v) for k, v in self.evidence.items()},
                "message": self.message, "fixes": [f.to_dict() if isinstance(f, Fix) else f for f in self.fixes]}

    def __str__(self) -> str:
        where = f" in {', '.join(self.layers)}" if self.layers else ""
        lines = [f"[{self.severity.upper()}] {self.kind.replace('_', ' ')}{where} — from step {self.step} "
                 f"(epoch {self.epoch + 1})", f"  {self.message}"]
        if self.evidence:
            lines.append("  evidence: " + ", ".join(f"{k}={_show(v)}" for k, v in self.evidence.items()))
        for fix in self.fixes:
            lines.append(f"  fix [{fix.id}]: {fix}" if isinstance(fix, Fix) else f"  fix: {fix}")
        return "\n".join(lines)


def _json_number(value):
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return value
    value = float(value) if not isinstance(value, int) else value
    return value if isinstance(value, int) or math.isfinite(value) else None  # strict JSON has no NaN/inf


def _show(value) -> str:
    if isinstance(value, float):
        return f"{value:.3g}"
    return str(value)
