"""The diagnosis engine: runs the rules (`vg_studio.diagnose.rules`, one module each) over a run's probe records
and turns their verdicts into findings with a life. See docs/diagnostics.md for every rule and threshold.

The rules read only the history — layer names, kinds, activations and the per-layer records — so they judge a spec
run and a user's own Keras model (`GradientMonitor`) alike; a spec, when there is one, only turns the remedies into
one-click spec edits. Each `on_record` updates a few running values (`RunState`) and asks every rule whether its
evidence holds; nothing re-reads the history. The same engine runs offline over a finished run
(`Diagnoser.from_history`) by replaying its records.

A finding has a life: the first and the latest step its evidence held, and whether it still holds ("active") or
has stopped for `resolve_steps` steps ("resolved"). The report says what holds at the end and what happened on the
way. A finding that first holds in the first `startup_steps` steps of a rule prone to start-up transients (large
initial losses and gradients that settle) is info until it has held `transient_steps` steps; one that ends
before is an early transient. Findings are ranked by what holds at the end, their severity and how long they
held. A symptom (a plateau, frozen layers, a slow or oscillating loss, units killed by an explosion) is lowered
to info only while a cause that explains it holds too — a cause that has ended explains nothing, so a finding
whose own evidence holds at the end is never hidden by an earlier one. Findings are immutable: a finding that
changes is replaced by a new value.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np

from vg_studio.diagnose import fixes as fix_catalog
from vg_studio.diagnose.findings import Finding, severity_rank
from vg_studio.diagnose.guessing import measured_guessing, summed_guessing_loss
from vg_studio.diagnose.rules import NOT_HELD, RULES, Verdict
from vg_studio.diagnose.rules.base import Judged
from vg_studio.diagnose.state import RunFacts, RunState, join
from vg_studio.spec import DiagnosticsSpec

DEFAULTS = DiagnosticsSpec().values()

# A finding is lowered to info while one of the causes that explain it holds as a warning or worse: a plateau,
# frozen layers, a slow or oscillating loss are what the root causes look like; dead ReLUs, saturated units and an
# explosion also shrink the early gradients; an explosion kills ReLUs by throwing their biases far below zero.
ROOT_CAUSES = ("vanishing_gradient", "vanishing_through_time", "exploding_gradient", "non_finite", "dead_units",
               "saturated_units")
EXPLAINED_BY = {
    # (a plateau at the end of a budgeted run is the slow convergence's evidence seen again)
    "loss_plateau": ROOT_CAUSES + ("slow_convergence",),
    "flat_weights": ROOT_CAUSES,
    # (a network whose initial weights collapse or blow up its signal trains slowly: the initialisation is the cause)
    "slow_convergence": ROOT_CAUSES + ("flat_weights", "oscillating_loss", "poor_initialization"),
    "oscillating_loss": ("exploding_gradient", "non_finite"),
    "poor_initialization": ("exploding_gradient", "non_finite"),  # a loss kept far above chance by an explosion
    "vanishing_gradient": ("exploding_gradient", "non_finite", "dead_units", "saturated_units"),
}
# ... while units that an explosion threw into their dead region or flat tails are a problem of their own (a
# LeakyReLU, a lower rate, a new start), never hidden while they hold: said as its likely cause, ranked after it
CAUSED_BY = {"dead_units": ("exploding_gradient", "non_finite"),
             "saturated_units": ("exploding_gradient", "non_finite")}
# the rules that read the logged loss as one objective descended by every step
ONE_OBJECTIVE_RULES = ("loss_plateau", "oscillating_loss", "slow_convergence", "poor_initialization")
NEEDS_WORDS = {"exploding_gradient": "exploding gradients", "dead_units": "dead units",
               "saturated_units": "saturated units", "flat_weights": "flat weights", "loss_plateau": "a loss plateau",
               "oscillating_loss": "an oscillating loss", "slow_convergence": "slow convergence"}


def resolve_config(config, record_every: int = 1) -> dict:
    """Every threshold by name: the defaults overridden by `config` (a DiagnosticsSpec or a mapping); unknown names
    and bad values raise SpecError naming the field."""
    return DiagnosticsSpec.of(config).values()


class Diagnoser:
    """Judges a run's probe records. `spec` is None for a user's own Keras model: the rules do not need it, and
    the remedies then come as advice text instead of spec edits."""

    def __init__(self, layer_names: list[str], activations: list[str], spec=None, config=None,
                 num_classes: int | None = None, *, layer_kinds=None, layer_units=None, loss: str | None = None,
                 record_every: int | None = None, model_summary: dict | None = None,
                 budget_steps: int | None = None, steps_per_epoch: int | None = None, epochs: int | None = None):
        if config is None and spec is not None:
            config = spec.diagnostics
        self.config = DiagnosticsSpec.of(config)
        if loss is None:
            loss = spec.loss if spec is not None else _summary_loss(model_summary)
        # a user's own model: its optimizer (from model.json) decides which advice fits ("use Adam" is no advice
        # for an Adam run)
        optimizer, rate = _summary_optimizer(model_summary) if spec is None else (None, None)
        summed = summed_guessing_loss(model_summary, layer_names, layer_units) if spec is None else None
        # the loss of guessing measured on the probe rows' targets: model.json's (a spec run's summary carries it
        # too, and its report.json keeps it)
        self.facts = RunFacts.build(layer_names, activations, spec, num_classes, layer_kinds=layer_kinds,
                                    layer_units=layer_units, loss=loss, optimizer=optimizer, learning_rate=rate,
                                    budget_steps=budget_steps, steps_per_epoch=steps_per_epoch,
                                    summed_chance=summed,
                                    objectives=_summary_objectives(model_summary) if spec is None else 1,
                                    measured_chance=measured_guessing(model_summary))
        self.state = RunState(self.config)
        self.rules = [rule(self.facts, self.state) for rule in RULES
                      if self.facts.objectives == 1 or rule.kind not in ONE_OBJECTIVE_RULES]
        self._epochs = int(epochs) if isinstance(epochs, (int, np.integer)) and epochs > 0 else None
        self.notes: list[str] = []  # what the run's reader skipped (diagnose_run adds it), what was not judged
        if self.facts.objectives > 1:
            self.notes.append(_objectives_note(self.facts.objectives))
        self._judged: dict[str, Judged] = {}
        self._findings: dict[str, Finding] = {}
        self._fixes_cache: dict = {}
        self._preflight: dict[str, Finding] = {}
        self._consequence: dict[str, str] = {}  # kind -> the holding cause it is ranked after
        self._finished = False

    # the run's facts, as attributes of the engine
    spec = property(lambda self: self.facts.spec)
    layer_names = property(lambda self: list(self.facts.layer_names))
    activations = property(lambda self: list(self.facts.activations))
    layer_kinds = property(lambda self: list(self.facts.layer_kinds))
    labels = property(lambda self: list(self.facts.labels))
    num_classes = property(lambda self: self.facts.num_classes)
    first = property(lambda self: self.facts.first)
    last = property(lambda self: self.facts.last)
    main = property(lambda self: list(self.facts.main))
    unit_layers = property(lambda self: list(self.facts.unit_layers))
    optimizer = property(lambda self: self.facts.optimizer)

    @classmethod
    def for_run(cls, started, config=None) -> "Diagnoser":
        """Built from a `RunStarted` event (a spec run or a user's own model)."""
        spec = getattr(started, "spec", None)
        summary = getattr(started, "model_summary", None) or {}
        epochs, per_epoch = getattr(started, "epochs", None), getattr(started, "steps_per_epoch", None)
        return cls(started.layer_names, started.activations, spec, config,
                   getattr(started, "num_classes", None), layer_kinds=getattr(started, "layer_kinds", None),
                   layer_units=getattr(started, "layer_units", None),
                   record_every=getattr(started, "record_every", None) or summary.get("record_every"),
                   model_summary=summary, budget_steps=_budget(epochs, per_epoch),
                   steps_per_epoch=per_epoch, epochs=epochs)

    @classmethod
    def from_history(cls, history, spec=None, config=None, num_classes: int | None = None,
                     model_summary: dict | None = None) -> "Diagnoser":
        """Replay a finished (or interrupted) run's history through a fresh engine."""
        from vg_studio.train.events import ProbeRecord
        from vg_studio.train.step_loss import BatchCursor

        attrs = getattr(history, "attrs", None) or {}
        per_epoch = attrs.get("steps_per_epoch")
        diagnoser = cls(history.layer_names, history.activations, spec, config, num_classes,
                        layer_kinds=getattr(history, "layer_kinds", None),
                        layer_units=getattr(history, "layer_units", None),
                        record_every=getattr(history, "record_every", None),
                        model_summary=model_summary,
                        budget_steps=_budget(attrs.get("epochs"), per_epoch), steps_per_epoch=per_epoch,
                        epochs=attrs.get("epochs"))
        epochs = list(history.epochs.get("epoch", []))
        epoch_logs = [{k: v[i] for k, v in history.epochs.items() if k != "epoch"} for i in range(len(epochs))]
        done = 0
        columns = history.stats
        batches = BatchCursor(history)  # each batch's own loss, with the record or epoch end it came with
        probe_losses = getattr(history, "record_probe_loss", [])  # the loss in inference mode, where measured
        for r in range(history.num_records):
            while done < len(epochs) and epochs[done] < history.record_epochs[r]:
                diagnoser.on_epoch(epochs[done], epoch_logs[done], batches.pairs(batches.for_epoch(done)))
                done += 1
            stats = {name: rows[r] for name, rows in columns.items()}
            time_grad = history.time_grad[r] if r < len(history.time_grad) else None
            diagnoser.on_record(ProbeRecord(history.steps[r], history.record_epochs[r], history.record_loss[r],
                                            stats, time_grad=time_grad,
                                            batch_losses=batches.pairs(batches.for_record(r)),
                                            probe_loss=probe_losses[r] if r < len(probe_losses) else math.nan))
        for i in range(done, len(epochs)):
            diagnoser.on_epoch(epochs[i], epoch_logs[i], batches.pairs(batches.for_epoch(i)))
        diagnoser.finish()
        return diagnoser

    # ---- public interface -----------------------------------------------------------------------------------
    @property
    def findings(self) -> list[Finding]:
        """Every finding, ranked: those that hold now first (a likely consequence right after its cause), then by
        severity, by how long they held, earliest first."""
        ranked = sorted(self._findings.values(), key=_rank_key)
        for kind, cause in self._consequence.items():
            effect = next((f for f in ranked if f.kind == kind), None)
            origin = next((f for f in ranked if f.kind == cause), None)
            if effect is not None and origin is not None and effect.state == origin.state == "active":
                ranked.remove(effect)
                ranked.insert(ranked.index(origin) + 1, effect)
        return ranked

    def warnings(self) -> list[Finding]:
        """Findings of severity warning or error that hold now (at the end of a finished run)."""
        return [f for f in self.findings if severity_rank(f.severity) >= 1 and f.state == "active"]

    def main_finding(self) -> Finding | None:
        """The finding to act on first: the top-ranked warning-or-worse one that holds now."""
        warnings = self.warnings()
        return warnings[0] if warnings else None

    def on_record(self, record) -> list[Finding]:
        """Judge one probe record; the findings that are new, got worse, name more layers or ended."""
        before = dict(self._findings)
        stats = record.stats
        loss = float(record.loss)
        finite = math.isfinite(loss) and all(np.all(np.isfinite(np.asarray(stats[k], dtype=np.float64)))
                                              for k in ("grad_norm", "grad_mean_abs") if k in stats)
        self.state.update(record, self.facts, finite)
        for rule in self.rules:
            self._take(rule, rule.on_record(finite))
        self._show()
        return self._changed(before)

    def on_epoch(self, epoch: int, logs: dict, batch_losses=()) -> list[Finding]:
        """Judge an epoch's end; `batch_losses`: ((step, loss), …) of its batches after its last record, where the
        run kept each batch's own loss."""
        before = dict(self._findings)
        self._learn_epoch_length(int(epoch))
        loss = logs.get("loss")
        if loss is not None and math.isfinite(float(loss)):
            self.state.epoch_tail(int(epoch), float(loss), self.facts, batch_losses)
            self.state.epoch = int(epoch)
            for rule in self.rules:
                self._take(rule, rule.on_epoch(int(epoch), logs))
            self._show()
        return self._changed(before)

    def _learn_epoch_length(self, epoch: int) -> None:
        """A dataset of unknown length (a filtered tf.data pipeline, a generator) leaves an epoch's length, and so
        the run's budget, unknown when training starts; the first epoch's end tells it (the steps taken so far)."""
        if epoch != 0 or self.facts.steps_per_epoch or not self._epochs or self.state.step < 1:
            return
        steps = int(self.state.step)
        self._set_facts(steps_per_epoch=steps, budget_steps=steps * self._epochs)

    def _set_facts(self, **changes) -> None:
        """The run's facts with `changes`, in the engine and every rule."""
        self.facts = dataclasses.replace(self.facts, **changes)
        for rule in self.rules:
            rule.facts = self.facts

    def update_summary(self, model_summary: dict | None) -> list[Finding]:
        """The model summary corrected once the first step ran (events.ModelSummaryUpdated): which optimizer steps
        each layer is known only then — a custom train_step's own `self.opt`, a GAN's two. The optimizer the advice
        is for, its rate and the number of objectives are read again and every finding is rebuilt, so its advice
        (and report.json's) is for the optimizer that steps the layers. A spec run's optimizer is its spec's.
        Returns the findings that changed as `on_record` does."""
        if self.facts.spec is not None:
            return []
        before = dict(self._findings)
        optimizer, rate = _summary_optimizer(model_summary)
        objectives = _summary_objectives(model_summary)
        if objectives > 1 and self.facts.objectives == 1:  # the loss logged is a sum: its shape is not judged
            self.rules = [rule for rule in self.rules if rule.kind not in ONE_OBJECTIVE_RULES]
            for found in (self._judged, self._findings, self._consequence):
                for kind in ONE_OBJECTIVE_RULES:
                    found.pop(kind, None)
            self.notes.append(_objectives_note(objectives))
        self._set_facts(optimizer=optimizer, learning_rate=rate, objectives=max(objectives, self.facts.objectives))
        self._show()
        return self._changed(before)

    def add_preflight(self, findings) -> list[Finding]:
        """Findings of the pre-flight check (`preflight.preflight` on the first batch, step 0) join the run's: they
        are about the network as it started and hold as long as the run is judged."""
        before = dict(self._findings)
        for finding in findings:
            self._preflight[finding.kind] = finding
        self._show()  # (a poor initialisation explains a slow loss judged before it came)
        self._findings.update({f"preflight:{k}": f for k, f in self._preflight.items()})
        return self._changed(before)

    def finish(self) -> list[Finding]:
        """The run has ended: a finding that still holds is no longer waiting to see whether it persists."""
        before = dict(self._findings)
        self._finished = True
        for kind, judged in self._judged.items():
            # what holds at the end is what held at the last judgement: evidence that had stopped holding is over,
            # even where the run ended before resolve_steps could pass
            if judged.state == "active" and self.state.active.get(kind) is False:
                judged.state = "resolved"
        self._show()
        self._not_judged()
        return self._changed(before)

    def _not_judged(self) -> None:
        """The rules the run's records were too few or too short for: said as one info finding ("not enough
        records"), with what each needed and what the records showed — never silence, never a guess."""
        if self.state.first_loss is None or any(
                f.kind == "non_finite" and f.state == "active" for f in self._findings.values()):
            return  # nothing recorded, or a run that ended in overflow: nothing more to say about it
        needs = [(rule.kind, need) for rule in self.rules if (need := rule.unmet_need())]
        if not needs:
            return
        state = self.state
        names = [NEEDS_WORDS.get(kind, kind.replace("_", " ")) for kind, _ in needs]
        self._findings["not_judged"] = Finding(
            "not_judged", "info", state.step, state.epoch, (),
            {"records": state.records, "span_steps": state.step - state.first_step},
            f"Not enough records to judge {join(names)}: the run's {state.records} record(s) span "
            f"{state.step - state.first_step} steps.",
            tuple(f"{name[0].upper()}{name[1:]} needs {need}." for name, (_, need) in zip(names, needs)),
            advice=("Record more often (a smaller record_every) or train for more steps, then diagnose again.",),
            last_step=state.step, rule="; ".join(f"{kind}: too few records" for kind, _ in needs))

    # ---- lives --------------------------------------------------------------------------------------------
    def _take(self, rule, verdict) -> None:
        """One rule's judgement of this record: a verdict extends (or starts) its finding's life; evidence that
        no longer holds for resolve_steps steps ends it."""
        kind, step = rule.kind, self.state.step
        judged = self._judged.get(kind)
        if isinstance(verdict, Verdict):
            self.state.active[kind] = True
            if judged is None:
                self._judged[kind] = Judged(verdict, step, self.state.epoch, step, verdict.severity,
                                            set(verdict.layers))
                return
            judged.verdict, judged.last_step, judged.state = verdict, step, "active"
            judged.peak = max(judged.peak, verdict.severity, key=severity_rank)
            judged.layers |= set(verdict.layers)
        elif verdict is NOT_HELD:
            self.state.active[kind] = False
            if judged is not None and judged.state == "active" \
                    and step - judged.last_step >= self.config.resolve_steps:
                judged.state = "resolved"

    def _own_severity(self, kind: str) -> tuple[str, str | None]:
        """(severity before explanation, what the life adds to the details)."""
        judged, c = self._judged[kind], self.config
        rule = next(r for r in self.rules if r.kind == kind)
        held = judged.last_step - judged.first_step
        early = judged.first_step - self.state.first_step < c.startup_steps
        if rule.transient_at_start and early and judged.peak != "error" \
                and (held <= c.transient_steps or (rule.overcome_at_start and judged.state == "resolved")):
            if judged.state == "resolved":
                return "info", (f"An early transient: it held from step {judged.first_step} to step "
                                f"{judged.last_step} and has not held since.")
            if not self._finished and held < c.transient_steps:
                return "info", (f"Held for {held} steps so far: a finding that starts in the first "
                                f"{c.startup_steps:g} steps becomes a warning once it has held for "
                                f"{c.transient_steps:g} steps (start-up transients settle).")
        if judged.state == "resolved":
            life = f"Held from step {judged.first_step} to step {judged.last_step}; it has not held since."
            if held < c.resolve_steps and judged.peak != "error":  # a blip is not a problem of the run
                return "info", f"A brief episode: it held from step {judged.first_step} to step {judged.last_step}."
            return judged.peak, life
        # it waited to see whether it lasts, and it held at the run's last record: it lasted to the end (not when
        # the records after it could not be judged — a run that overflowed has no units left to measure)
        if self._finished and judged.verdict.at_end and judged.last_step == self.state.step:
            return judged.verdict.at_end, f"It held from step {judged.first_step} until the run ended."
        return judged.verdict.severity, None  # what holds now (the worst it reached stays in its evidence)

    def _show(self) -> None:
        """Rebuild the shown findings: each kind's own severity, lowered to info while a cause that explains it
        holds as a warning or worse."""
        own = {kind: self._own_severity(kind) for kind in self._judged}
        # a cause explains while it holds, even while it still waits to see whether it persists
        holding = {kind for kind, judged in self._judged.items() if judged.state == "active"
                   and max(severity_rank(judged.peak), severity_rank(own[kind][0])) >= 1}  # (waited, lasted)
        holding |= {kind for kind, f in self._preflight.items() if severity_rank(f.severity) >= 1}  # (step 0 on)
        for kind, judged in self._judged.items():
            severity, life = own[kind]
            verdict = judged.verdict
            frozen = self._judged.get("flat_weights")
            if verdict.stands_alone or (kind == "loss_plateau" and frozen is not None and frozen.state == "active"
                                        and frozen.verdict.stands_alone):
                cause = None  # nothing moves: the frozen weights and their plateau are the problem itself
            else:
                cause = next((k for k in self._explainers(kind) if k in holding), None)
            if cause is None and verdict.because and judged.state == "active":
                cause = verdict.because
            indices = sorted(judged.layers)
            message = verdict.message.replace("{layers}", self.facts.label(indices))
            if cause is not None and severity != "info":
                severity = "info"
                message = message[:-1] + f", a consequence of the {cause.replace('_', ' ')} reported with it."
            origin = next((k for k in CAUSED_BY.get(kind, ()) if k in holding), None) \
                if judged.state == "active" else None
            if origin is not None and cause is None:
                message = message[:-1] + f", most likely caused by the {origin.replace('_', ' ')} reported with it."
                self._consequence[kind] = origin
            else:
                self._consequence.pop(kind, None)
            details = verdict.details + ((life,) if life else ())
            names = tuple(self.facts.layer_names[i] for i in indices)
            fixes, advice = self._remedies(kind, indices)
            self._findings[kind] = Finding(kind, severity, judged.first_step, judged.first_epoch, names,
                                           verdict.evidence, message, details, fixes, advice,
                                           tuple(self.facts.labels[i] for i in indices), judged.last_step,
                                           judged.state, verdict.rule)

    def _explainers(self, kind: str) -> tuple:
        """The kinds that explain `kind` while they hold. A loss far above guessing at a first record taken before
        an explosion could show (within `exploding_steps` of the start) is the initialisation's: no explosion
        that follows explains it (the outputs started huge; the loss that stays there is the same evidence)."""
        causes = EXPLAINED_BY.get(kind, ())
        if kind == "poor_initialization" and self.state.first_step <= self.config.exploding_steps:
            causes = tuple(k for k in causes if k not in ("exploding_gradient", "non_finite"))
        return causes

    def _changed(self, before: dict) -> list[Finding]:
        """Findings that are new, got more severe, name more layers, or changed state since before this update."""
        out = []
        for kind, f in self._findings.items():
            old = before.get(kind)
            if old is None or severity_rank(f.severity) > severity_rank(old.severity) \
                    or len(f.layers) > len(old.layers) or f.state != old.state:
                out.append(f)
        return out

    def _remedies(self, kind: str, indices: list[int]) -> tuple[tuple, tuple]:
        """(spec edits, advice text): a spec run gets the fixes that change its spec; a user's own model gets
        advice for the layers each fix fits — a spec edit it cannot apply is never offered as a button."""
        facts = self.facts
        if facts.spec is not None:
            if kind not in self._fixes_cache:
                self._fixes_cache[kind] = tuple(fix_catalog.fixes_for(kind, facts.spec))
            return self._fixes_cache[kind], ()
        if not indices:  # a finding about the whole network (a plateau): its hidden main layers
            hidden = [i for i in facts.main if i != facts.last]
            saturating = [i for i in hidden if facts.activations[i] in fix_catalog.catalog.SATURATING]
            indices = saturating or hidden
        every = [(facts.labels[i], facts.layer_kinds[i], facts.activations[i]) for i in range(len(facts.labels))]
        update = self.state.median_update_ratio()
        slow_steps = update is not None and np.any(np.isfinite(update)) \
            and float(np.nanmedian(update)) < self.config.update_ratio_low
        return (), fix_catalog.advice_for(kind, [every[i] for i in indices], every, facts.optimizer,
                                          facts.learning_rate, small_steps=bool(slow_steps))


def _rank_key(f: Finding):
    persisted = (f.last_step if f.last_step is not None else f.step) - f.step
    return f.kind == "not_judged", f.state != "active", -severity_rank(f.severity), -persisted, f.step, f.kind


def _budget(epochs, steps_per_epoch) -> int | None:
    if isinstance(epochs, (int, np.integer)) and isinstance(steps_per_epoch, (int, np.integer)) \
            and epochs > 0 and steps_per_epoch > 0:
        return int(epochs) * int(steps_per_epoch)
    return None


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
    """(catalog name, learning rate) of the optimizer that steps a model summary's layers; None where unknown (a
    schedule's rate)."""
    optimizer = _stepping_optimizer(summary or {})
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


def _stepping_optimizer(summary: dict):
    """The summary of the optimizer that steps most of the weights. The layer table names each layer's optimizer
    (the model attribute holding it); `optimizers` holds each one's summary where several were probed. The compiled
    `optimizer` counts only where it steps layers: a custom train_step (a GAN's `d_optimizer`, `g_optimizer`) may
    leave Keras's default unused, and advice for it would be advice for an optimizer that does nothing."""
    owners = _layer_optimizers(summary)
    if not owners or "optimizer" in owners and len(owners) == 1:
        return summary.get("optimizer")
    owner = max(owners, key=owners.get)  # (a tie: the first in layer order)
    named = summary.get("optimizers") if isinstance(summary.get("optimizers"), dict) else {}
    if owner in named:
        return named[owner]
    return summary.get("optimizer") if owner == "optimizer" else None  # another one, not summarised: unknown


def _objectives_note(objectives: int) -> str:
    return (f"{objectives} optimizers step the layers, each descending its own objective: the logged loss is their "
            "sum, which need not fall, so its shape (a plateau, an oscillation, slow convergence) is not judged")


def _summary_objectives(summary: dict | None) -> int:
    """How many optimizers step the layers of a user's model (model.json's layer table); 1 when unknown."""
    return max(1, len(_layer_optimizers(summary or {})))


def _layer_optimizers(summary: dict) -> dict[str, float]:
    """The optimizers model.json's layer table names (the model attributes holding them), each with the number of
    weights it steps (a layer without a count weighs 1), in layer order; {} where it names none."""
    layers = summary.get("layers")
    owners: dict[str, float] = {}
    for row in layers if isinstance(layers, list) else []:
        if isinstance(row, dict) and isinstance(row.get("optimizer"), str):
            params = row.get("params")
            weight = float(params) if isinstance(params, (int, float)) and params > 0 else 1.0
            owners[row["optimizer"]] = owners.get(row["optimizer"], 0.0) + weight
    return owners


def _snake(name: str) -> str:
    out = []
    for ch in name:
        if ch.isupper() and out and out[-1] != "_":
            out.append("_")
        out.append(ch.lower())
    return "".join(out)


def diagnose_run(run_dir, config=None) -> tuple[Diagnoser, dict]:
    """Diagnose a run directory offline (a spec run, or a user's own model's run with model.json): (the replayed
    engine, the run's report.json). The engine's `notes` are the reader's notes (parts of the log it skipped).
    Raises RunStoreError or SpecError with a one-line message naming the bad file."""
    from vg_studio.train import runstore

    run = runstore.open_run(run_dir)
    report = run.report or {}
    num_classes = _num_classes(report, run.model_summary)
    # a spec run keeps spec.json; its summary's measured loss of guessing is in report.json
    summary = run.model_summary if run.spec is None else {"guessing": report.get("guessing")}
    diagnoser = Diagnoser.from_history(run.history, run.spec, config, num_classes, summary)
    diagnoser.notes = [str(note) for note in run.notes or ()] + diagnoser.notes
    from vg_studio.diagnose.findings import findings_from_report

    diagnoser.add_preflight([f for f in findings_from_report(report) if f.step == 0 and f.kind == "poor_initialization"])
    return diagnoser, report


def _num_classes(report: dict, summary: dict | None) -> int | None:
    for source in (report if isinstance(report, dict) else {}, summary or {}):
        value = source.get("num_classes")
        if isinstance(value, int) and value >= 2:
            return value
        classes = (source.get("dataset") or {}).get("classes") if isinstance(source.get("dataset"), dict) else None
        if isinstance(classes, list) and len(classes) >= 2:
            return len(classes)
    return None
