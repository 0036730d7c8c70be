"""A run (or a compared pair) as one self-contained HTML page: its facts, every finding with its evidence and advice,
and the figures, embedded as PNG data (no script, no stylesheet or image fetched from anywhere). The same object
renders inline in Jupyter (`_repr_html_`) and is written with `save(path)`.

Every text that came from a run — names, messages, layer names, paths — goes through `vg_studio.text.inert_html`.
"""

from __future__ import annotations

import base64
import datetime
import math
from pathlib import Path

from vg_studio import __version__
from vg_studio.report import figures as F
from vg_studio.report.palette import run_color
from vg_studio.report.series import BATCH_SMOOTHING
from vg_studio.text import inert_html

MAX_RUNS = 4  # a report compares a few runs; more would not read side by side

_STYLE = """
.vgs-report { font-family: system-ui, -apple-system, "Segoe UI", Roboto, "DejaVu Sans", sans-serif; color: #1e1e1e;
  background: #ffffff; max-width: 1200px; margin: 0 auto; padding: 12px 18px; line-height: 1.4; font-size: 15px; }
.vgs-report h1 { font-size: 24px; margin: 4px 0 12px; }
.vgs-report h2 { font-size: 19px; margin: 22px 0 8px; border-bottom: 1px solid #ddd; padding-bottom: 3px; }
.vgs-report h3 { font-size: 16px; margin: 12px 0 6px; }
.vgs-report .vgs-runs { display: grid; grid-template-columns: repeat(auto-fit, minmax(320px, 1fr)); gap: 16px; }
.vgs-report .vgs-swatch { display: inline-block; width: 13px; height: 13px; border-radius: 2px;
  margin-right: 6px; vertical-align: -1px; }
.vgs-report table.vgs-facts { border-collapse: collapse; font-size: 14px; }
.vgs-report table.vgs-facts th { text-align: left; font-weight: 600; padding: 2px 12px 2px 0; color: #444;
  vertical-align: top; }
.vgs-report table.vgs-facts td { padding: 2px 0; }
.vgs-report .vgs-finding { border-left: 4px solid #999; padding: 6px 10px; margin: 8px 0; background: #f7f7f7; }
.vgs-report .vgs-finding.error { border-color: #c62828; }
.vgs-report .vgs-finding.warning { border-color: #e08e0b; }
.vgs-report .vgs-finding.info { border-color: #2f6fd0; }
.vgs-report .vgs-finding.resolved { opacity: 0.75; }
.vgs-report .vgs-finding .vgs-head { font-weight: 600; }
.vgs-report .vgs-finding ul { margin: 4px 0 4px 18px; padding: 0; }
.vgs-report .vgs-evidence { font-size: 13px; color: #444; }
.vgs-report .vgs-note { color: #8a4b00; }
.vgs-report figure { margin: 10px 0 18px; }
.vgs-report figure img { max-width: 100%; height: auto; border: 1px solid #e4e4e4; }
.vgs-report figcaption { font-size: 13px; color: #555; }
.vgs-report footer { margin-top: 24px; font-size: 12px; color: #777; }
"""

CAPTIONS = {
    "loss": f"Training loss of each batch (faint) and its smoothed line (TensorBoard's moving average, "
            f"{BATCH_SMOOTHING:g}), and validation loss per epoch. A run recorded without each batch's loss shows "
            f"the mean over the batches between records instead (its legend says running means).",
    "accuracy": "Training and validation accuracy.",
    "gradients": "Mean |∂L/∂w| of each layer over training (log scale): layers far below the others are not "
                 "learning.",
    "weight-change": "How much each layer's weights move per step, relative to their size.",
    "heatmap": "Gradient flow: layers (input at the bottom) × training steps, coloured by log₁₀ mean |∂L/∂w|; "
               "compared runs share one colour scale.",
    "time-heatmap": "Gradient through time: how much of the gradient reaches each input time step.",
    "distribution-over-time": "The first layer's distribution of |∂L/∂w| over training: median and the middle "
                              "38 / 68 / 87 % of the values.",
    "distribution-per-layer": "Each layer's distribution of |∂L/∂w| now (filled) and at the first record "
                              "(dashed).",
    "network": "The network, each layer coloured by its latest mean |∂L/∂w| (dark: small).",
}


class Report:
    """The report of one run or a few compared ones; `_repr_html_` for Jupyter, `save(path)` for a file."""

    def __init__(self, runs: list, title: str | None = None, theme: str = "light"):
        if not runs:
            raise ValueError("report: no run given")
        self.runs = list(runs)[:MAX_RUNS]
        self.theme = theme
        self.title = title or "VG Studio report: " + " vs ".join(r.name for r in self.runs)
        self._body: str | None = None

    # ---- output -------------------------------------------------------------------------------------------------
    def _repr_html_(self) -> str:
        return f"<div class=\"vgs-report\"><style>{_STYLE}</style>{self.body()}</div>"

    def html(self) -> str:
        """The whole page."""
        return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
                "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
                f"<title>{inert_html(self.title)}</title><style>body {{ margin: 0; background: #ffffff; }}"
                f"{_STYLE}</style></head><body><main class=\"vgs-report\">{self.body()}</main></body></html>\n")

    def save(self, path) -> Path:
        """Write the page atomically; returns the path."""
        from vg_studio.safeio import atomic_write_text

        path = Path(path)
        atomic_write_text(path, self.html())
        return path

    def body(self) -> str:
        if self._body is None:
            self._body = "".join([f"<h1>{inert_html(self.title)}</h1>", self._runs_section(),
                                  self._findings_section(), self._figures_section(), self._footer()])
        return self._body

    # ---- sections -----------------------------------------------------------------------------------------------
    def _runs_section(self) -> str:
        cards = []
        for run in self.runs:
            rows = "".join(f"<tr><th>{inert_html(k)}</th><td>{inert_html(v)}</td></tr>" for k, v in facts(run))
            notes = "".join(f"<p class=\"vgs-note\">{inert_html(n)}</p>" for n in getattr(run, "notes", ()))
            cards.append(f"<section><h3>{_swatch(run)}{inert_html(run.name)}</h3>"
                         f"<table class=\"vgs-facts\">{rows}</table>{notes}</section>")
        return f"<h2>Run{'s' if len(self.runs) > 1 else ''}</h2><div class=\"vgs-runs\">{''.join(cards)}</div>"

    def _findings_section(self) -> str:
        columns = []
        for run in self.runs:
            found = list(run.findings)
            items = "".join(finding_html(f) for f in found) or "<p>No problems found.</p>"
            head = f"<h3>{_swatch(run)}{inert_html(run.name)}</h3>" if len(self.runs) > 1 else ""
            columns.append(f"<section>{head}{items}</section>")
        return f"<h2>Findings</h2><div class=\"vgs-runs\">{''.join(columns)}</div>"

    def _figures_section(self) -> str:
        from vg_studio.report.draw import render

        parts = ["<h2>Figures</h2>"]
        for key, figure in F.FIGURES.items():
            if not F.has_data(figure, self.runs):
                continue
            image = base64.b64encode(render(figure, self.runs, self.theme, "png")).decode("ascii")
            alt = inert_html(figure.title)
            parts.append(f"<figure data-figure=\"{key}\"><img alt=\"{alt}\" src=\"data:image/png;base64,{image}\">"
                         f"<figcaption>{inert_html(CAPTIONS.get(key, figure.title))}</figcaption></figure>")
        return "".join(parts)

    def _footer(self) -> str:
        when = datetime.datetime.now().strftime("%Y-%m-%d %H:%M")
        return f"<footer>Written by VG Studio {inert_html(__version__)} on {when}.</footer>"


def facts(run) -> list[tuple[str, str]]:
    """The run's facts as (label, text) rows."""
    report, spec, summary = run.report or {}, run.spec, run.model_summary or {}
    out = [("status", _status(run))]
    if report.get("message"):
        out.append(("message", str(report["message"])))
    if spec is not None:
        layers = spec.network.layers
        kinds = sorted({layer.kind for layer in layers})
        acts = sorted({layer.activation for layer in layers})
        out += [("network", f"{len(layers)} hidden {'/'.join(kinds)} layers, {'/'.join(acts)}"),
                ("optimizer", f"{spec.optimizer.name}, learning rate {spec.optimizer.learning_rate:g}"),
                ("data", f"{spec.data.dataset}, batch size {spec.training.batch_size}")]
    elif summary:
        name = summary.get("name") or summary.get("model_name") or "user's own Keras model"
        out.append(("model", str(name)))
        optimizer = summary.get("optimizer")
        if isinstance(optimizer, dict):
            optimizer = optimizer.get("name") or optimizer.get("class_name")
        if optimizer:
            out.append(("optimizer", str(optimizer)))
    out.append(("layers watched", str(len(run.layer_names))))
    if run.num_records:
        out.append(("steps recorded", f"{run.num_records} record{'s' if run.num_records != 1 else ''} up to step "
                                      f"{int(run.record_steps[-1])}"))
    epochs = run.epoch_metric("epoch")
    if len(epochs) or run.epochs:
        out.append(("epochs", f"{len(epochs)} of {run.epochs}" if run.epochs else str(len(epochs))))
    for metric in ("loss", "accuracy", "val_loss", "val_accuracy"):
        values = run.epoch_metric(metric)
        if len(values) and math.isfinite(values[-1]):
            out.append((f"final {metric.replace('_', ' ')}", f"{values[-1]:.4g}"))
    for key, label in (("device", "device"), ("param_count", "parameters")):
        if report.get(key):
            out.append((label, str(report[key])))
    if getattr(run, "run_dir", None) is not None:
        out.append(("folder", str(run.run_dir)))
    return out


def finding_html(finding) -> str:
    """One finding: what, where, when (first and latest step, active or resolved), the evidence, what to do."""
    state = getattr(finding, "state", "active") or "active"
    last = getattr(finding, "last_step", None)
    where = f" in {', '.join(finding.labels)}" if finding.labels else ""
    when = f"from step {finding.step}" + (f" to step {last}" if last not in (None, finding.step) else "")
    head = (f"<div class=\"vgs-head\">{inert_html(finding.severity.upper())}: "
            f"{inert_html(finding.kind.replace('_', ' '))}{inert_html(where)} — {inert_html(when)}"
            f"{' (resolved)' if state == 'resolved' else ''}</div>")
    parts = [head, f"<div>{inert_html(finding.message)}</div>"]
    if finding.details:
        parts.append("<ul>" + "".join(f"<li>{inert_html(d)}</li>" for d in finding.details) + "</ul>")
    if len(finding.evidence):
        shown = ", ".join(f"{k} = {_number(v)}" for k, v in finding.evidence.items())
        parts.append(f"<div class=\"vgs-evidence\">Evidence: {inert_html(shown)}</div>")
    todo = [f"{fix.title} — {fix.why}" for fix in finding.fixes] + list(finding.advice)
    if todo:
        parts.append("<div>What to do:</div><ul>" + "".join(f"<li>{inert_html(t)}</li>" for t in todo) + "</ul>")
    classes = f"vgs-finding {inert_html(finding.severity)}" + (" resolved" if state == "resolved" else "")
    return f"<div class=\"{classes}\">{''.join(parts)}</div>"


def report_for(runs, title: str | None = None, theme: str = "light") -> Report:
    """The report of one run or several: each a run directory path, or a run already read (`RunView`).
    Raises RunStoreError/SpecError with one line naming the file."""
    from vg_studio.report.run import RunView

    if isinstance(runs, (str, Path)) or hasattr(runs, "record_steps"):
        runs = [runs]
    views = []
    for i, run in enumerate(runs):
        if not hasattr(run, "record_steps"):
            run = RunView.open(run, color=run_color(i))
        views.append(run)
    names = F.run_titles("", views)
    for view, label in zip(views, names):  # two runs of the same folder name stay apart
        if label:
            view.name = label.split(": ", 1)[1]
    return Report(views, title, theme)


def _status(run) -> str:
    status = run.status or "unknown"
    return "running, or stopped without a report" if status == "running" else status


def _swatch(run) -> str:
    return f"<span class=\"vgs-swatch\" style=\"background:{_css_color(run.color)}\"></span>"


def _css_color(color: str) -> str:
    text = str(color)
    ok = len(text) == 7 and text.startswith("#") and all(c in "0123456789abcdefABCDEF" for c in text[1:])
    return text if ok else "#888888"


def _number(value) -> str:
    if isinstance(value, float):
        return f"{value:.3g}"
    return str(value)
