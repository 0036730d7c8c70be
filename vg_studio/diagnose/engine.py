"""The diagnosis engine: incremental rules over probe records (see docs/diagnostics.md for every threshold).

The rules read only the history — layer names, kinds, activations and the per-layer records — so they judge a
spec run and a user's own Keras model (`GradientMonitor`) alike; a spec, when there is one, only turns the
suggested remedies into one-click spec edits. Every window is measured in training steps, never in records, so a
rule behaves the same whatever `record_every` is: a statistic over "the last 20 steps" is a median over 20
records when every step is recorded and over two when every tenth is.

Each `on_record` updates a few running values (the first steps' baseline, short windows, since-when counters) and
re-judges the rules: nothing re-reads the history, so it costs the same at step 10 and step 100 000. The same
engine runs offline over a finished run (`Diagnoser.from_history`) by replaying its records.

Root causes before symptoms: a flat loss and frozen early layers are what vanishing gradients, dead units and
exploding gradients *look like*; when one of those root causes is found, the plateau and flat-weight findings
are kept but lowered to "info" so that the warning list names the cause, not its echoes. Findings are immutable:
a finding that changes is replaced by a new value.
"""

from __future__ import annotations

import dataclasses
import math
import warnings
from collections import deque

import numpy as np

from vg_studio import catalog
from vg_studio.diagnose import fixes as fix_catalog
from vg_studio.diagnose.findings import Finding, layer_label, severity_rank
from vg_studio.references import cite
from vg_studio.spec import DiagnosticsSpec

# Thresholds; override any of them with spec.diagnostics = {"name": value} (or DiagnosisListener(config=...)).
# Why each value: docs/diagnostics.md. Every *_steps value is a number of training steps.
DEFAULTS = DiagnosticsSpec().values()

# A finding is lowered to "info" while one of the causes that explain it is a warning or worse: a plateau and
# frozen layers are what every root cause looks like; dead ReLUs, saturated units and an explosion also shrink
# the early gradients; an explosion kills ReLUs by throwing their biases far below zero.
EXPLAINED_BY = {
    "loss_plateau": ("vanishing_gradient", "exploding_gradient", "non_finite", "dead_units", "saturated_units"),
    "flat_weights": ("vanishing_gradient", "exploding_gradient", "non_finite", "dead_units", "saturated_units"),
    "vanishing_gradient": ("exploding_gradient", "non_finite", "dead_units", "saturated_units"),
    "dead_units": ("exploding_gradient", "non_finite"),
    "saturated_units": ("exploding_gradient", "non_finite"),
}

SPARSE_GRADIENT_KINDS = ("embedding",)  # only the rows of the tokens in the batch get a gradient


def resolve_config(config, record_every: int = 1) -> dict:
    """Every threshold by name: the defaults overridden by `config` (a DiagnosticsSpec or a mapping); unknown names
    and bad values raise SpecError naming the field."""
    return DiagnosticsSpec.of(config).values()


def is_main_kind(kind: str) -> bool:
    """A layer that transforms the signal with its own weights (Dense, Conv, recurrent, attention, embedding…),
    as opposed to a normalization layer's scale and shift."""
    return "normalization" not in str(kind)


class _Window:
    """The records of the last `steps` training steps (at least the latest one)."""

    def __init__(self, steps: float):
        self.steps = max(0.0, float(steps))
        self.items: deque = deque()

    def add(self, step: int, value) -> None:
        self.items.append((step, value))
        while len(self.items) > 1 and step - self.items[0][0] >= self.steps:
            self.items.popleft()

    def span(self) -> int:
        return self.items[-1][0] - self.items[0][0] if self.items else 0

    def median(self):
        with warnings.catch_warnings():  # a column without any finite value stays NaN, silently
            warnings.simplefilter("ignore", RuntimeWarning)
            return np.nanmedian(np.asarray([v for _, v in self.items], dtype=np.float64), axis=0)


class _Since:
    """For each condition, the step of the record since which it has held at every record."""

    def __init__(self):
        self.start: dict = {}

    def held(self, name: str, condition: bool, step: int) -> int | None:
        """Steps the condition has held (0 at its first record), or None when it does not hold now."""
        if not condition:
            self.start.pop(name, None)
            return None
        return step - self.start.setdefault(name, step)


class Diagnoser:
    """Judges a run's probe records. `spec` is None for a user's own Keras model: the rules do not need it, and
    the remedies then come as advice text instead of spec edits."""

    def __init__(self, layer_names: list[str], activations: list[str], spec=None, config: dict | None = None,
                 num_classes: int | None = None, *, layer_kinds=None, layer_units=None, loss: str | None = None,
                 record_every: int | None = None, model_summary: dict | None = None):
        self.layer_names = list(layer_names)
        n = len(self.layer_names)
        self.activations = list(activations) + ["linear"] * (n - len(activations))
        self.spec = spec
        if record_every is None:
            record_every = spec.monitoring.record_every if spec is not None else 1
        if config is None and spec is not None:
            config = spec.diagnostics
        self.config = resolve_config(config, record_every)
        if loss is None:
            loss = spec.loss if spec is not None else _summary_loss(model_summary)
        self.loss_name = str(loss or "")
        # a user's own model: its optimizer (from model.json) decides which advice fits ("use Adam" is no advice
        # for an Adam run)
        self.optimizer, self.learning_rate = _summary_optimizer(model_summary) if spec is None else (None, None)
        if layer_kinds is None or len(layer_kinds) != n:
            layer_kinds = _spec_kinds(spec, n)
        self.layer_kinds = [str(k) for k in layer_kinds]
        self.layer_units = list(layer_units) if layer_units is not None else []
        self.labels = [layer_label(name, spec is not None) for name in self.layer_names]
        main = [i for i, kind in enumerate(self.layer_kinds) if is_main_kind(kind)] or list(range(n))
        self.main = main
        self.last = main[-1]  # the output layer
        if num_classes is None and "crossentropy" in self.loss_name.replace("_", "") and len(self.layer_units) == n:
            # a user's model: the classes are the output layer's width (one sigmoid unit: two classes)
            num_classes = max(2, int(self.layer_units[self.last])) if self.layer_units[self.last] else None
        self.num_classes = num_classes
        dense_first = [i for i in main if self.layer_kinds[i] not in SPARSE_GRADIENT_KINDS and i != self.last]
        self.first = dense_first[0] if dense_first else main[0]
        # columns whose units are judged: all but the output (its softmax/sigmoid is meant to be confident, i.e.
        # saturated) — a normalization column too, where the activation that follows it was attributed to it
        # (Conv → BatchNorm → ReLU); columns whose activation is unknown carry NaN and are skipped
        self.unit_layers = [i for i in range(n) if i != self.last]
        self._findings: dict[str, Finding] = {}  # as shown: symptoms lowered to info while a cause holds
        self._base: dict[str, Finding] = {}  # as each rule last reported it
        self._fixes_cache: dict = {}
        self._baseline: list = []  # records of the first baseline_steps steps
        self._first_loss: float | None = None
        self._first_grad: np.ndarray | None = None  # the first finite record's mean |g| per layer
        self._first_step = 0
        self._at_chance = True  # every loss so far within vanishing_chance_band of the guessing loss
        self._units_last: dict = {}  # unit statistic -> each column's latest measured value
        self._since = _Since()
        c = self.config
        self._grad_window = _Window(c["vanishing_window_steps"])
        self._explode_window = _Window(c["exploding_window_steps"])
        self._losses: deque = deque()  # (step, loss) of the records spanning the last plateau_steps steps
        self._epoch_losses = deque(maxlen=max(2, int(c["plateau_epochs"])))
        self._step, self._epoch = 0, 0
        self._loss = float("nan")
        self._last_stats: dict | None = None

    @classmethod
    def for_run(cls, started, config: dict | None = None) -> "Diagnoser":
        """Built from a `RunStarted` event (a spec run or a user's own model)."""
        spec = getattr(started, "spec", None)
        summary = getattr(started, "model_summary", None) or {}
        return cls(started.layer_names, started.activations, spec, config,
                   getattr(started, "num_classes", None), layer_kinds=getattr(started, "layer_kinds", None),
                   layer_units=getattr(started, "layer_units", None),
                   record_every=getattr(started, "record_every", None) or summary.get("record_every"),
                   model_summary=None if spec is not None else summary)

    # ---- public interface -----------------------------------------------------------------------------------
    @property
    def findings(self) -> list[Finding]:
        return sorted(self._findings.values(), key=lambda f: (f.step, -severity_rank(f.severity)))

    def warnings(self) -> list[Finding]:
        """Findings of severity warning or error."""
        return [f for f in self.findings if severity_rank(f.severity) >= 1]

    def main_finding(self) -> Finding | None:
        """The finding to act on first: the most severe warning-or-worse one, earliest first."""
        warnings = self.warnings()
        return min(warnings, key=lambda f: (-severity_rank(f.severity), f.step)) if warnings else None

    def on_record(self, record) -> list[Finding]:
        self._step, self._epoch = int(record.step), int(record.epoch)
        before = dict(self._findings)
        stats = {k: np.asarray(v, dtype=np.float64) for k, v in record.stats.items()
                 if k != "steps" and np.ndim(v) == 1}
        loss = float(record.loss)
        finite = math.isfinite(loss) and all(np.all(np.isfinite(stats[k])) for k in ("grad_norm", "grad_mean_abs")
                                              if k in stats)
        if not finite:
            self._non_finite(loss, stats)
        elif "grad_mean_abs" in stats and "grad_norm" in stats:
            if self._first_loss is None:
                self._first_loss, self._first_grad = loss, stats["grad_mean_abs"]
                self._first_step = self._step
            if not self._baseline or self._step <= self.config["baseline_steps"]:
                self._baseline.append(stats["grad_norm"])
            self._loss = loss
            chance = self._chance_loss()
            self._at_chance = self._at_chance and chance is not None \
                and abs(loss - chance) <= self.config["vanishing_chance_band"] * chance
            self._grad_window.add(self._step, stats["grad_mean_abs"])
            self._exploding(stats, loss)
            measured = self._measure_units(stats)
            self._dead_units(measured)
            self._saturated_units(measured)
            self._last_stats = stats
            self._vanishing(stats)
            self._vanishing_through_time(getattr(record, "time_grad", None))
            self._flat_weights(stats)
            self._losses.append((self._step, loss))
            while len(self._losses) > 2 and self._step - self._losses[1][0] >= self.config["plateau_steps"]:
                self._losses.popleft()
            if self._step - self._losses[0][0] >= self.config["plateau_steps"] and len(self._losses) >= 3:
                self._plateau([v for _, v in self._losses], 3, "steps")
        self._rank_symptoms()
        return self._changed(before)

    def on_epoch(self, epoch: int, logs: dict) -> list[Finding]:
        before = dict(self._findings)
        loss = logs.get("loss")
        if loss is not None and math.isfinite(float(loss)):
            self._epoch = int(epoch)
            self._epoch_losses.append(float(loss))
            self._plateau(self._epoch_losses, int(self.config["plateau_epochs"]), "epochs")
            if self._last_stats is not None and "loss_plateau" in self._base \
                    and "vanishing_gradient" not in self._findings:
                self._vanishing(self._last_stats)  # a plateau found at an epoch's end re-judges the gradients
            self._rank_symptoms()
        return self._changed(before)

    @classmethod
    def from_history(cls, history, spec=None, config: dict | None = None, num_classes: int | None = None,
                     model_summary: dict | None = None) -> "Diagnoser":
        """Replay a finished (or interrupted) run's history through a fresh engine."""
        from vg_studio.train.events import ProbeRecord

        diagnoser = cls(history.layer_names, history.activations, spec, config, num_classes,
                        layer_kinds=getattr(history, "layer_kinds", None),
                        layer_units=getattr(history, "layer_units", None),
                        record_every=getattr(history, "record_every", None),
                        model_summary=None if spec is not None else model_summary)
        epochs = list(history.epochs.get("epoch", []))
        epoch_logs = [{k: v[i] for k, v in history.epochs.items() if k != "epoch"} for i in range(len(epochs))]
        done = 0
        columns = history.stats
        for r in range(history.num_records):
            while done < len(epochs) and epochs[done] < history.record_epochs[r]:
                diagnoser.on_epoch(epochs[done], epoch_logs[done])
                done += 1
            stats = {name: rows[r] for name, rows in columns.items()}
            time_grad = history.time_grad[r] if r < len(history.time_grad) else None
            diagnoser.on_record(ProbeRecord(history.steps[r], history.record_epochs[r], history.record_loss[r],
                                            stats, time_grad=time_grad))
        for i in range(done, len(epochs)):
            diagnoser.on_epoch(epochs[i], epoch_logs[i])
        return diagnoser

    # ---- bookkeeping ----------------------------------------------------------------------------------------
    def _changed(self, before: dict) -> list[Finding]:
        """Findings that are new, got more severe or name more layers than before this update."""
        out = []
        for kind, f in self._findings.items():
            old = before.get(kind)
            if old is None or severity_rank(f.severity) > severity_rank(old.severity) \
                    or len(f.layers) > len(old.layers):
                out.append(f)
        return out

    def _report(self, kind: str, severity: str, layers, evidence: dict, message: str, details=()) -> None:
        """A rule's verdict: a new finding, or a new value replacing the old one (worst severity kept, layers
        accumulated, evidence and words from this record; "{layers}" in the message names them all)."""
        old = self._base.get(kind)
        indices = sorted({self.layer_names.index(n) for n in (old.layers if old else ())} | set(layers))
        if old is not None:
            severity = max(severity, old.severity, key=severity_rank)
        names = tuple(self.layer_names[i] for i in indices)
        message = message.replace("{layers}", self._label(indices))
        fixes, advice = self._remedies(kind, names)
        self._base[kind] = Finding(kind, severity, old.step if old else self._step, old.epoch if old else self._epoch,
                                   names, evidence, message, tuple(details), fixes, advice,
                                   tuple(self.labels[i] for i in indices))

    def _remedies(self, kind: str, layers: tuple) -> tuple[tuple, tuple]:
        """(spec edits, advice text): a spec run gets the fixes that change its spec; a user's own model gets
        each candidate's advice for its layers — a spec edit it cannot apply is never offered as a button."""
        if self.spec is not None:
            if kind not in self._fixes_cache:
                self._fixes_cache[kind] = tuple(fix_catalog.fixes_for(kind, self.spec))
            return self._fixes_cache[kind], ()
        candidates = fix_catalog.fixes_for(kind, None, activations=tuple(self.activations),
                                           optimizer=self.optimizer, learning_rate=self.learning_rate)
        if not layers:  # a finding about the whole network (a plateau): advise on its hidden main layers
            hidden = [i for i in self.main if i != self.last]
            saturating = [i for i in hidden if self.activations[i] in catalog.SATURATING]
            layers = tuple(self.layer_names[i] for i in (saturating or hidden))
        return (), tuple(f.advice([self.labels[self.layer_names.index(n)] for n in layers]) for f in candidates)

    def _label(self, indices) -> str:
        return _join([self.labels[i] for i in indices])

    def _active(self, kinds) -> bool:
        return any(k in self._base and severity_rank(self._base[k].severity) >= 1 for k in kinds)

    def _rank_symptoms(self) -> None:
        """Findings explained by a root cause drop to "info"; otherwise they keep their own level."""
        for kind, finding in self._base.items():
            causes = EXPLAINED_BY.get(kind, ())
            if self._active(causes) and finding.severity != "info":
                cause = next(k for k in causes if k in self._base and severity_rank(self._base[k].severity) >= 1)
                finding = dataclasses.replace(
                    finding, severity="info",
                    message=finding.message[:-1] + f", a consequence of the {cause.replace('_', ' ')} reported "
                                                   "with it.")
            self._findings[kind] = finding

    # ---- rules ---------------------------------------------------------------------------------------------
    def _non_finite(self, loss: float, stats: dict) -> None:
        norm = stats.get("grad_norm", np.zeros(len(self.layer_names)))
        bad = [i for i in range(len(self.layer_names)) if not np.isfinite(norm[i])]
        what = "the loss" if not math.isfinite(loss) else "the gradients"
        details = [f"At step {self._step} {what} was {loss if not math.isfinite(loss) else 'not a number'}"
                   + (f"; non-finite gradients in {self._label(bad)}." if bad else ".")]
        self._report("non_finite", "error", bad, {"loss": loss},
                     "The loss or the gradients became infinite or NaN (not a number), so training cannot "
                     "continue.", details)
        layers = bad or list(range(len(self.layer_names)))
        self._report("exploding_gradient", "error", layers, {"loss": loss},
                     "The gradients grew until they overflowed to infinity or NaN, which wrecks the weights: the "
                     "gradients exploded.", details)

    def _chance_loss(self) -> float | None:
        """The loss of guessing uniformly (cross-entropy with known classes), else None."""
        if self.num_classes and self.num_classes >= 2 and "crossentropy" in self.loss_name.replace("_", ""):
            return math.log(self.num_classes)
        return None

    def _exploding(self, stats: dict, loss: float) -> None:
        c = self.config
        g, norm = stats["grad_mean_abs"], stats["grad_norm"]
        upd = stats.get("update_ratio")
        reverse = g[self.first] / g[self.last] if g[self.last] > 0 else 0.0
        max_update = float(np.nanmax(upd)) if upd is not None and np.any(np.isfinite(upd)) else 0.0
        self._explode_window.add(self._step, np.concatenate([norm, [reverse, max_update, loss]]))
        if self._explode_window.span() < c["exploding_steps"]:
            return
        med = self._explode_window.median()
        norms, reverse, max_update, med_loss = med[:-3], float(med[-3]), float(med[-2]), float(med[-1])
        base = np.median(np.asarray(self._baseline), axis=0)
        with np.errstate(divide="ignore", invalid="ignore"):
            growth_per_layer = np.where(base > 0, norms / base, np.nan)
        growth_per_layer = np.where(norms > c["exploding_growth_norm"], growth_per_layer, np.nan)
        growth = float(np.nanmax(growth_per_layer)) if np.any(np.isfinite(growth_per_layer)) else 1.0
        max_norm = float(np.nanmax(norms))
        chance = self._chance_loss()
        signals = {"norm": max_norm > c["exploding_norm"], "growth": growth > c["exploding_growth"],
                   "update": max_update > c["exploding_update_ratio"], "reverse": reverse > c["exploding_ratio"],
                   "loss": chance is not None and med_loss > c["exploding_loss_factor"] * chance
                   and max_norm > c["exploding_loss_norm"],
                   "climb": med_loss > c["exploding_loss_growth"] * self._first_loss > 0
                   and (chance is None or med_loss > c["exploding_loss_factor"] * chance)}
        if not any(signals.values()):
            return
        layers = [i for i in range(len(norms)) if norms[i] > c["exploding_norm"]] or [int(np.nanargmax(norms))]
        span = self._explode_window.span() + 1
        evidence = {"median_max_grad_norm": max_norm, "max_grad_norm_growth": growth,
                    "median_max_update_ratio": max_update, "first_to_last_grad_ratio": reverse,
                    "median_loss": med_loss, "window_steps": span}
        details = [f"Over the last {span} steps the largest layer gradient norm was {max_norm:.3g} (median; "
                   f"threshold {c['exploding_norm']:.3g}), {growth:.3g}× its size in the first steps."]
        if signals["update"]:
            details.append(f"One step changes {self._label([int(np.nanargmax(upd))])}'s weights by "
                           f"{max_update:.0%} of their size (threshold {c['exploding_update_ratio']:.0%}).")
        if signals["reverse"]:
            details.append(f"{self.labels[self.first]}'s gradients are {reverse:.3g}× {self.labels[self.last]}'s: "
                           "they grow on their way back.")
        if chance is not None:
            evidence["chance_loss"] = chance
            details.append(f"The loss is {med_loss:.3g} (median), {med_loss / chance:.2g}× the {chance:.3g} of "
                           f"guessing among {self.num_classes} classes.")
        if signals["climb"]:
            evidence["loss_vs_first"] = med_loss / self._first_loss
            details.append(f"It started at {self._first_loss:.3g}: it has grown {med_loss / self._first_loss:.2g}×.")
        severe = max_norm > 100 * c["exploding_norm"] or max_update > 10 * c["exploding_update_ratio"]
        where = "{layers}"
        if signals["norm"] or signals["growth"] or signals["update"]:
            message = (f"The gradients of {where} are huge (norm about {max_norm:.3g}, {growth:.3g}× their size in "
                       "the first steps), so each step throws the weights far away instead of improving them: the "
                       "gradients explode.")
        elif signals["loss"]:
            message = (f"The loss stays at {med_loss:.3g}, {med_loss / chance:.2g}× the loss of guessing, with large "
                       f"gradients in {where} (norm about {max_norm:.3g}): the outputs are huge and confidently "
                       "wrong and each step overshoots — the gradients explode.")
        elif signals["climb"]:
            message = (f"The loss climbed from {self._first_loss:.3g} to {med_loss:.3g} (median of the last {span} "
                       "steps): each step overshoots and makes things worse instead of better — the updates "
                       f"explode (largest step {max_update:.0%} of a layer's weights).")
        else:
            message = (f"{self.labels[self.first]}'s gradients are {reverse:.3g}× {self.labels[self.last]}'s: they "
                       "grow on their way back to the input, so the early layers take huge steps — the gradients "
                       "explode.")
        self._report("exploding_gradient", "error" if severe else "warning", layers, evidence, message, details)

    def _measure_units(self, stats: dict) -> set:
        """Unit statistics are measured on a probe batch now and then (NaN in the records between): keep each
        column's latest measurement; the names measured at this record."""
        measured = set()
        for stat in ("dead_fraction", "saturated_fraction"):
            values = stats.get(stat)
            if values is None or len(values) != len(self.layer_names) or not np.any(np.isfinite(values)):
                continue
            last = self._units_last.get(stat)
            self._units_last[stat] = values if last is None else np.where(np.isfinite(values), values, last)
            measured.add(stat)
        return measured

    def _unit_hits(self, stat: str, limit: float) -> list[int]:
        """Columns whose latest measured `stat` is at or above `limit`."""
        values = self._units_last.get(stat)
        if values is None:
            return []
        return [i for i in self.unit_layers if np.isfinite(values[i]) and values[i] >= limit]

    def _held_units(self, stat: str, limit: float, measured: set):
        """(layers at or above `limit`, steps held, the values, the worst layer) once held for unit_steps —
        judged at the records where the statistic was measured; the records between neither break nor extend
        the streak."""
        if stat not in measured:
            return None
        hits = self._unit_hits(stat, limit)
        held = self._since.held(stat, bool(hits), self._step)
        if held is None or held < self.config["unit_steps"]:
            return None
        values = self._units_last[stat]
        return hits, held, values, max(hits, key=lambda i: values[i])

    def _dead_units(self, measured: set) -> None:
        c = self.config
        found = self._held_units("dead_fraction", c["dead_fraction"], measured)
        if found is None:
            return
        hits, held, values, worst = found
        evidence = {f"dead_fraction[{self.layer_names[i]}]": float(values[i]) for i in hits}
        evidence.update(threshold=float(c["dead_fraction"]), held_steps=held,
                        loss_vs_first=self._loss / self._first_loss if self._first_loss else float("nan"))
        # Below 90 % a network can still learn around its dead units (Adam at lr 0.01 leaves ~60 % of an MNIST
        # first layer dead and reaches 89 %): warn only while the loss is not falling either.
        stalled = self._loss >= c["plateau_progress"] * self._first_loss
        severity = "error" if values[worst] >= 0.9 else ("warning" if stalled else "info")
        details = [f"{self.labels[i]}: {values[i]:.0%} of the units are ≤ 0 for every probe example"
                   for i in hits]
        details.append(f"Held for {held} steps; the loss is {evidence['loss_vs_first']:.0%} of its first value.")
        self._report("dead_units", severity, hits, evidence,
                     f"{values[worst]:.0%} of the units in {self.labels[worst]} output zero for every example, so "
                     "they pass no gradient and stop learning: these ReLU units are dead.", details)

    def _saturated_units(self, measured: set) -> None:
        """Most units of a layer in their activation's flat tails: brief saturation (e.g. right after a large
        initialisation) is info; held for saturated_steps it slows learning whether or not the loss still
        falls, so it is a warning (an error when 90 % are saturated)."""
        c = self.config
        found = self._held_units("saturated_fraction", c["saturated_fraction"], measured)
        if found is None:
            return
        hits, held, values, worst = found
        sustained = held >= c["saturated_steps"]
        severity = ("error" if values[worst] >= 0.9 else "warning") if sustained else "info"
        evidence = {f"saturated_fraction[{self.layer_names[i]}]": float(values[i]) for i in hits}
        evidence.update(threshold=float(c["saturated_fraction"]), held_steps=held)
        details = [f"{self.labels[i]}: {values[i]:.0%} of the {self.activations[i]} pre-activations sit in its flat "
                   "tails (slope under 3 % of its maximum)" for i in hits]
        details.append(f"Held for {held} steps" + ("." if sustained else
                                                   f"; it becomes a warning if it lasts {c['saturated_steps']:g}."))
        activation = self.activations[worst]
        self._report("saturated_units", severity, hits, evidence,
                     f"{values[worst]:.0%} of the inputs to {self.labels[worst]}'s {activation} units sit in its "
                     "flat tails, where the slope is almost zero: the units are saturated and learn slowly.",
                     details)

    def _vanishing(self, stats: dict) -> None:
        c = self.config
        first, last = self.first, self.last
        if first == last:
            return
        g = self._grad_window.median()
        if not g[last] > 0:
            return
        ratio = g[first] / g[last]
        base = self._first_grad
        first_ratio = base[first] / max(base[last], 1e-300)
        trend = first_ratio / ratio if ratio > 0 else float("inf")
        upd = stats.get("update_ratio")
        output_moves = upd is None or not np.isfinite(upd[last]) or upd[last] >= c["flat_update_ratio"]
        near = ratio < 10 * c["vanishing_ratio"]
        # The SNS notes' first sign: a loss stuck where it started, with the first layer's gradient close to the
        # threshold, is vanishing too (tiny initial weights shrink the output layer's gradient as well, which
        # hides the ratio).
        stalled = "loss_plateau" in self._base and severity_rank(self._base["loss_plateau"].severity) >= 1
        # Tiny weights shrink the forward signal as well: the outputs ignore the input and the loss sits at the
        # loss of guessing from the first step (healthy networks start 1–20 % away from it).
        # Held there for a few steps (healthy networks that start near it leave it at once), it is vanishing with a
        # ratio anywhere below healthy networks' range: tiny weights shrink the forward signal into the first
        # layer's gradient too (a kernel's gradient is its input times the backward signal), hiding the decay.
        at_chance = self._at_chance and (near or (ratio < c["vanishing_chance_ratio"] and self._step
                                                  - self._first_step >= c["vanishing_chance_steps"]))
        condition = output_moves and (ratio < c["vanishing_ratio"] or (near and g[first] < c["vanishing_floor"])
                                      or (near and trend >= c["vanishing_trend"]) or (near and stalled)
                                      or at_chance)
        if not condition:
            return
        between = [i for i in self.main if first <= i <= last]
        depth = len(between) - 1  # weight layers the gradient crosses from the output back to the first
        factor = ratio ** (1.0 / depth) if ratio > 0 else 0.0
        layers = [i for i in self.main if i != last and g[i] / g[last] < c["vanishing_layer_ratio"]] or [first]
        evidence = {"first_to_last_grad_ratio": float(ratio), "first_layer_grad_mean_abs": float(g[first]),
                    "last_layer_grad_mean_abs": float(g[last]), "per_layer_factor": float(factor),
                    "layers_crossed": depth, "ratio_fall_since_start": float(trend)}
        details = [f"Mean |gradient| of {self.labels[first]} is {g[first]:.2g}, of {self.labels[last]} "
                   f"{g[last]:.2g}: a ratio of {ratio:.2g} (the rule's threshold is {c['vanishing_ratio']:g})."]
        details.append(f"Across the {depth} layers between them that is about {factor:.2g}× per layer.")
        sigmoid_chain = all(self.activations[i] == "sigmoid" for i in between[:-1])
        if sigmoid_chain:
            evidence["sigmoid_bound_power_L"] = 0.25 ** depth
            if 0.1 <= factor <= 0.3:
                details.append(f"That is close to 0.25, the most a sigmoid's derivative passes back per layer "
                               f"{cite('causes-solutions')}.")
            elif factor < 0.1:
                details.append("That is well below 0.25, the most a sigmoid's derivative passes back per layer "
                               f"{cite('causes-solutions')}: small weights shrink the gradient too.")
        if trend >= c["vanishing_trend"]:
            details.append(f"The ratio has fallen {trend:.3g}× since the first steps.")
        if stalled:
            details.append("The loss has not moved from where it started.")
        elif at_chance:
            details.append(f"The loss has stayed at {self._loss:.4g}, the loss of guessing among {self.num_classes} "
                           "classes: the output does not depend on the input yet.")
        # Dead ReLUs and saturated units zero the backward signal too: then the cause to fix is those units
        # (reported once they have held for unit_steps), so this record's vanishing is only "info".
        explained = bool(self._unit_hits("dead_fraction", c["dead_fraction"])) or any(
            first <= i < last for i in self._unit_hits("saturated_fraction", c["saturated_fraction"]))
        severe = ratio < c["vanishing_ratio"] / 100 or g[first] < c["vanishing_floor"]
        severity = "info" if explained else ("error" if severe else "warning")
        self._report("vanishing_gradient", severity, layers, evidence,
                     f"The gradients reaching {self.labels[first]} are {ratio:.1e} times those at "
                     f"{self.labels[last]}, so {{layers}} barely learn: the gradients vanish.", details)

    def _vanishing_through_time(self, time_grad) -> None:
        """Through a recurrent layer the gradient is multiplied once per time step on its way back, so the
        input steps far from the end get a vanishing share of it ("Causes and Solutions…", §1.3)."""
        if time_grad is None:
            return
        g = np.asarray(time_grad, dtype=np.float64)
        if g.size < 4 or not np.all(np.isfinite(g)) or not g[-1] > 0:
            return
        c = self.config
        head = max(1, int(round(0.05 * g.size)))
        ratio = float(np.mean(g[:head]) / g[-1])
        if ratio >= c["time_vanishing_ratio"]:
            return
        below = np.nonzero(g / g[-1] < c["time_horizon_fraction"])[0]
        horizon = int(g.size - 1 - below.max()) if below.size else int(g.size)
        factor = ratio ** (1.0 / max(g.size - head, 1))
        evidence = {"first_to_last_step_ratio": ratio, "effective_horizon_steps": horizon,
                    "sequence_length": int(g.size), "per_step_factor": float(factor),
                    "horizon_fraction": float(c["time_horizon_fraction"])}
        recurrent = [i for i, kind in enumerate(self.layer_kinds) if kind in catalog.RECURRENT_KINDS]
        kinds = sorted({self.layer_kinds[i] for i in recurrent}) or ["recurrent"]
        details = [f"Mean |∂L/∂x_t| over the first {head} of {g.size} time steps is {ratio:.2g}× that at the "
                   f"last step: about {factor:.3g}× per step back.",
                   f"It stays above {c['time_horizon_fraction']:.0%} of the last step's over the last {horizon} "
                   "steps only."]
        self._report("vanishing_through_time", "error" if ratio < c["time_vanishing_ratio"] / 1000 else "warning",
                     recurrent, evidence,
                     f"The gradient reaching the first time steps is {ratio:.1e} times that at the last step "
                     f"(about {factor:.2f}x per step back through the {'/'.join(kinds)} layer), so the network "
                     f"cannot learn dependencies longer than about {horizon} steps: the gradient vanishes through "
                     f"time {cite('causes-solutions')}.", details)

    def _flat_weights(self, stats: dict) -> None:
        upd = stats.get("update_ratio")
        if upd is None or len(upd) != len(self.layer_names):
            return
        c = self.config
        held = []
        for i in range(len(upd)):
            if not np.isfinite(upd[i]):
                continue  # not measured at this record (e.g. the first): neither flat nor moving
            steps = self._since.held(f"flat{i}", bool(upd[i] < c["flat_update_ratio"]), self._step)
            if steps is not None and steps >= c["flat_steps"]:
                held.append(i)
        if not held:
            return
        frozen_network = self.last in held  # even the output layer does not move: nothing learns
        evidence = {f"update_ratio[{self.layer_names[i]}]": float(upd[i]) for i in held}
        evidence["threshold"] = float(c["flat_update_ratio"])
        details = [f"{self.labels[i]}: each step changes the weights by {upd[i]:.2g} of their size" for i in held]
        if frozen_network:
            message = ("No layer's weights change from step to step (relative change below "
                       f"{c['flat_update_ratio']:.0e}), so the network is not learning at all "
                       f"{cite('sns-recognise')}.")
        else:
            message = "The weights of {layers} hardly change from step to step, so those layers are " \
                      f"not learning {cite('sns-recognise')}."
        self._report("flat_weights", "warning" if frozen_network or len(held) * 2 >= len(upd) else "info",
                     held, evidence, message, details)

    def _plateau(self, losses, window: int, unit: str) -> None:
        c = self.config
        if len(losses) < max(2, window) or self._first_loss is None:
            return
        values = np.asarray(losses)
        mean = float(values.mean())
        spread = float(values.max() - values.min()) / max(abs(mean), 1e-12)
        first = self._first_loss
        far = mean >= c["plateau_progress"] * first
        chance = self._chance_loss()
        if chance is not None:
            far = far and mean >= c["plateau_far"] * chance
        if not (spread < c["plateau_tolerance"] and far):
            return
        evidence = {"loss": mean, "relative_change": spread, "first_loss": first, "window": len(values)}
        span = f"{len(values)} epochs" if unit == "epochs" else f"{self._step - self._losses[0][0]} steps"
        details = [f"Over the last {span} the loss moved by {spread:.1%} of its value (threshold "
                   f"{c['plateau_tolerance']:.0%}); it started at {first:.3g}."]
        if chance is not None:
            evidence["chance_loss"] = chance
            details.append(f"Guessing among {self.num_classes} classes gives a loss of {chance:.3g}.")
        self._report("loss_plateau", "warning", [], evidence,
                     f"The loss has stayed at about {mean:.3g} over the last {span} (it started at {first:.3g}), "
                     f"so training has stalled {cite('sns-recognise')}.", details)


def _spec_kinds(spec, n: int) -> list[str]:
    if spec is not None and len(spec.network.layers) + 1 == n:
        return [layer.kind for layer in spec.network.layers] + ["dense"]
    return ["dense"] * n


def _summary_loss(summary: dict) -> str | None:
    loss = (summary or {}).get("loss")
    if isinstance(loss, dict):  # a serialised Keras loss object
        loss = loss.get("class_name") or (loss.get("config") or {}).get("name")
    return _snake(str(loss)) if loss else None


# Keras optimizer classes as the fixes' catalog names them; the adaptive ones count as Adam (they already scale
# each step by the gradient's running size, which is what the "use Adam" advice is for)
_KERAS_OPTIMIZERS = {"sgd": "sgd", "rmsprop": "rmsprop", "adagrad": "adagrad", "adadelta": "adadelta",
                     "adam": "adam", "adamw": "adam", "nadam": "adam", "adamax": "adam", "lamb": "adam",
                     "lion": "adam", "adafactor": "adam", "ftrl": "ftrl", "sdagd": "sdagd"}


def _summary_optimizer(summary: dict | None) -> tuple[str | None, float | None]:
    """(catalog name, learning rate) of a model summary's optimizer; None where unknown (a schedule's rate)."""
    optimizer = (summary or {}).get("optimizer")
    if not isinstance(optimizer, dict):
        return None, None
    config = optimizer.get("config") if isinstance(optimizer.get("config"), dict) else {}
    name = _KERAS_OPTIMIZERS.get(str(optimizer.get("class_name") or config.get("name") or "").lower().replace("_", ""))
    momentum = config.get("momentum")
    if name == "sgd" and isinstance(momentum, (int, float)) and momentum > 0:
        name = "sgd_momentum"
    rate = config.get("learning_rate")
    rate = float(rate) if isinstance(rate, (int, float)) and not isinstance(rate, bool) else None
    return name, rate


def _snake(name: str) -> str:
    out = []
    for ch in name:
        if ch.isupper() and out and out[-1] != "_":
            out.append("_")
        out.append(ch.lower())
    return "".join(out)


def _join(names: list[str]) -> str:
    if len(names) <= 2:
        return " and ".join(names)
    if len(names) > 6:
        return f"{', '.join(names[:3])}, … and {names[-1]} ({len(names)} layers)"
    return ", ".join(names[:-1]) + f" and {names[-1]}"


def diagnose_run(run_dir, config: dict | None = None) -> tuple[Diagnoser, dict]:
    """Diagnose a run directory offline (a spec run, or a user's own model's run with model.json): (the replayed
    engine, the run's report.json). Raises RunStoreError or SpecError with a one-line message naming the bad
    file."""
    from vg_studio.train import runstore

    run = runstore.open_run(run_dir)
    report = run.report or {}
    num_classes = _num_classes(report, run.model_summary)
    return Diagnoser.from_history(run.history, run.spec, config, num_classes, run.model_summary), report


def _num_classes(report: dict, summary: dict | None) -> int | None:
    for source in (report if isinstance(report, dict) else {}, summary or {}):
        value = source.get("num_classes")
        if isinstance(value, int) and value >= 2:
            return value
        classes = (source.get("dataset") or {}).get("classes") if isinstance(source.get("dataset"), dict) else None
        if isinstance(classes, list) and len(classes) >= 2:
            return len(classes)
    return None
