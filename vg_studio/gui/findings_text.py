"""How a finding reads in the app: its title line, its layers named as the builder names them (h1 … hL), its state
(active, or resolved since a later step), and report.json's plain dicts rebuilt into Findings with working fixes.
Qt-free: the diagnostics and trials panels and the controller use it. Layer names and messages come from run files:
a widget that renders rich text shows them through `vg_studio.text.inert_html`."""

from __future__ import annotations

import math
import re

from vg_studio.text import inert


def field(value, name: str, default=None):
    """A finding's (or fix's) field, whether it is a Finding value or a report.json dict."""
    return value.get(name, default) if isinstance(value, dict) else getattr(value, name, default)


def state(finding) -> str:
    """"active" or "resolved" (a finding of an older engine, without a life, is active)."""
    return str(field(finding, "state", "active") or "active")


def as_findings(findings: list) -> list:
    """Findings with working fixes: report.json dicts are rebuilt through Finding.from_dict (fixes by id); a dict
    from another version that does not rebuild is shown as it is, without fixes."""
    from vg_studio.diagnose.findings import Finding

    out = []
    for finding in findings or []:
        if isinstance(finding, dict):
            try:
                finding = Finding.from_dict(finding)
            except (KeyError, TypeError, ValueError):
                finding = {**finding, "fixes": []}
        out.append(finding)
    return out


def ordered(findings: list) -> list:
    """Active findings first (as they came: most severe first), then the resolved ones."""
    return [f for f in findings if state(f) != "resolved"] + [f for f in findings if state(f) == "resolved"]


def layer_label(name: str) -> str:
    """The builder's row label of a history column: hidden_3 → h3 (a user's own model keeps its layer names)."""
    match = re.fullmatch(r"hidden_(\d+)", str(name))
    return f"h{match.group(1)}" if match else inert(name)


def user_text(text: str) -> str:
    """Layer references as the user sees them (`hidden_2` and `network.layers[1]` both become h2), as inert text."""
    text = re.sub(r"\bhidden_(\d+)\b", r"h\1", inert(text))
    return re.sub(r"network\.layers\[(\d+)\]", lambda m: f"h{int(m.group(1)) + 1}", text)


def layer_indices(finding, layer_names: list) -> set[int]:
    """Spec layer indices (0-based) a finding names: 'hidden_3' → 2; the output layer is not a spec layer."""
    out = set()
    for layer in field(finding, "layers", []) or []:
        name = layer_names[layer] if isinstance(layer, int) and 0 <= layer < len(layer_names) else str(layer)
        match = re.fullmatch(r"hidden_(\d+)", name)
        if match:
            out.add(int(match.group(1)) - 1)
    return out


def format_number(value) -> str:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return inert(value)
    if isinstance(value, int):
        return f"{value:,}"
    if not math.isfinite(value):
        return str(value)
    return f"{value:.3g}" if value == 0 or 1e-3 <= abs(value) < 1e4 else f"{value:.2e}"


def finding_title(finding) -> str:
    """"WARNING · vanishing gradient in h1–h5 · from step 3" (a resolved one: "RESOLVED · … · steps 3–40")."""
    kind = str(field(finding, "kind", "finding")).replace("_", " ")
    layers = [inert(n) for n in field(finding, "labels", None) or []] or \
        [layer_label(n) for n in field(finding, "layers", []) or []]
    where = ""
    if layers:
        where = f" in {layers[0]}–{layers[-1]}" if len(layers) > 3 else f" in {', '.join(layers)}"
    step, last = field(finding, "step", None), field(finding, "last_step", None)
    if state(finding) == "resolved":
        span = f" · steps {step}–{last}" if step and last else f" · from step {step}" if step else ""
        return f"RESOLVED · {kind}{where}{span}"
    return f"{str(field(finding, 'severity', 'info')).upper()} · {inert(kind)}{where}" + (
        f" · from step {step}" if step else "")


def resolved_note(finding) -> str:
    """What a resolved finding's line says under its title."""
    last = field(finding, "last_step", None)
    return (f"No longer holds after step {last}: the evidence below is from its last step." if last else
            "No longer holds: the evidence below is from the last step it held.")


def same_findings(a: list, b: list) -> bool:
    """The same findings (values crossing from the training process are new objects each time)."""
    try:
        return len(a) == len(b) and all(x is y or x == y for x, y in zip(a, b))
    except Exception:  # values that cannot be compared: redraw
        return False
