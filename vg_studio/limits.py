"""How big anything VG Studio reads may be: refused early, with one line naming the limit, instead of a hang,
a memory blow-up or a traceback deep inside a library.

Every limit is generous for real use and can be raised (or lowered) without code: set the environment variable
``VG_STUDIO_LIMITS`` to a JSON object, e.g. ``VG_STUDIO_LIMITS='{"npz_bytes": 8589934592}'``.
"""

from __future__ import annotations

import dataclasses
import json
import os
from dataclasses import dataclass


@dataclass(frozen=True)
class Limits:
    spec_bytes: int = 4 * 2**20  # a spec file (a 200-layer spec is ~100 KB)
    json_bytes: int = 64 * 2**20  # any other JSON file VG Studio reads (report.json, model.json)
    json_depth: int = 64  # nesting of objects/lists in any JSON file
    json_int_digits: int = 30  # an integer literal longer than this is refused (no int(10**4300) in a spec)


def _from_environment() -> Limits:
    text = os.environ.get("VG_STUDIO_LIMITS", "").strip()
    if not text:
        return Limits()
    try:
        overrides = json.loads(text)
    except ValueError:
        raise ValueError("VG_STUDIO_LIMITS: not a JSON object") from None
    if not isinstance(overrides, dict):
        raise ValueError("VG_STUDIO_LIMITS: not a JSON object")
    known = {f.name for f in dataclasses.fields(Limits)}
    for key, value in overrides.items():
        if key not in known:
            raise ValueError(f"VG_STUDIO_LIMITS: unknown limit {key!r} (known: {', '.join(sorted(known))})")
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"VG_STUDIO_LIMITS: {key} must be a positive integer")
    return Limits(**overrides)


LIMITS = _from_environment()
