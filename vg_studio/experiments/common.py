"""What both reproductions share: the environment paragraph, markdown tables, figures and file writing."""

from __future__ import annotations

import csv
import io
import math
from pathlib import Path

import numpy as np

from vg_studio.experiments.cells import CellOutcome, read_report
from vg_studio.safeio import atomic_write_bytes, atomic_write_text


def mean_std(values) -> tuple[float, float]:
    values = [v for v in values if v is not None and math.isfinite(v)]
    if not values:
        return float("nan"), float("nan")
    return float(np.mean(values)), float(np.std(values))


def fmt(value: float, digits: int = 2) -> str:
    return "—" if value is None or not math.isfinite(value) else f"{value:.{digits}f}"


def markdown_table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def write_csv(path: Path, header: list[str], rows: list[list]) -> None:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    atomic_write_text(path, buffer.getvalue())


def save_figure(fig, path: Path) -> None:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=120, bbox_inches="tight")
    atomic_write_bytes(path, buffer.getvalue())


def pyplot():
    """matplotlib with the Agg backend: figures are written from a CLI with no display and no Qt."""
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


def environment_section(outcomes: list[CellOutcome], elapsed_s: float) -> str:
    """Versions, backend and device as the cells' own report.json files recorded them, and the time taken."""
    reports = [read_report(o.run_dir) for o in outcomes]
    reports = [r for r in reports if r.get("versions")]
    lines = ["## Environment", ""]
    if reports:
        versions = reports[0]["versions"]
        lines.append("- versions: " + ", ".join(f"{k} {v}" for k, v in versions.items()))
        lines.append(f"- backend: {versions.get('backend', '?')}")
        devices = sorted({r.get("device", "?") for r in reports})
        lines.append(f"- device: {'; '.join(devices)}")
        dataset = reports[0].get("dataset", {})
        lines.append(f"- dataset: {dataset.get('name', '?')} — {dataset.get('train', '?')} train / "
                     f"{dataset.get('val', 0)} validation / {dataset.get('test', '?')} test examples")
    else:
        lines.append("- no cell produced a report with environment details")
    train_time = sum(float(read_report(o.run_dir).get("wall_time_s", 0.0)) for o in outcomes)
    ran = sum(o.status != "skipped" for o in outcomes)
    lines.append(f"- time: {_duration(elapsed_s)} wall-clock for this invocation ({ran} cells run, "
                 f"{len(outcomes) - ran} finished earlier and reused); {_duration(train_time)} of training summed "
                 f"over all cells")
    failed = [o for o in outcomes if o.status not in ("completed", "skipped")]
    if failed:
        lines.append(f"- {len(failed)} cell(s) did not complete:")
        lines += [f"  - `{o.key}`: {o.status} — {o.message}" for o in failed]
    return "\n".join(lines) + "\n"


def _duration(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.1f} h"
