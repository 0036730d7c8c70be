"""The diagnosis engine: incremental rules over probe records (see docs/diagnostics.md for every threshold).

Each `on_record` updates a few running values (the first record, short windows, streak counters) and re-judges
the rules: nothing re-reads the history, so it costs the same at step 10 and step 100 000. The same engine runs
offline over a finished run (`Diagnoser.from_history`) by replaying its records.

Root causes before symptoms: a flat loss and frozen early layers are what vanishing gradients, dead units and
exploding gradients *look like*; when one of those root causes is found, the plateau and flat-weight findings
are kept but lowered to "info" so that the warning list names the cause, not its echoes.
"""

from __future__ import annotations

import math
from collections import deque

import numpy as np

from vg_studio import catalog
from vg_studio.diagnose.findings import Finding, severity_rank
from vg_studio.diagnose.fixes import fixes_for
from vg_studio.spec import ExperimentSpec, SpecError

# Thresholds; override any of them with spec.diagnostics = {"name": value}. Why each value: docs/diagnostics.md.
DEFAULTS = {
    # vanishing: mean |g| of the first hidden layer / that of the output layer
    "vanishing_ratio": 1e-3,
    "vanishing_floor": 1e-6,  # absolute mean |g| of the first layer (TheDeepChecker); needs ratio < 10x above
    "vanishing_trend": 10.0,  # ... or the ratio fell this many times since the first record (and < 10x above)
    "vanishing_layer_ratio": 1e-2,  # a layer is named as affected when its mean |g| / the output's is below this
    "vanishing_records": 1,  # consecutive records the condition must hold (each record averages record_every steps)
    # exploding
    "exploding_ratio": 70.0,  # first / output mean |g| (AUTOTRAINER's reverse ratio)
    "exploding_growth": 100.0,  # any layer's gradient norm grew this many times since the first record
    "exploding_norm": 1e3,  # any layer's gradient norm above this
    "exploding_update_ratio": 0.3,  # one step changes a layer's weights by 30 % of their norm
    "exploding_records": 2,
    # units
    "dead_fraction": 0.5,  # share of a ReLU layer's units that are off for every probe example
    "saturated_fraction": 0.5,  # share of sigmoid/tanh pre-activations in the flat tails (DeepDiagnosis: 50 %)
    "unit_records": 2,
    # flat weights (seed 002, method 2)
    "flat_update_ratio": 1e-6,  # ‖ΔW‖/‖W‖ per step
    "flat_records": 3,
    # loss plateau (seed 002, method 1)
    "plateau_records": 5,  # window: at least this many probe records ...
    "plateau_steps": 50,  # ... spanning at least this many steps (the loss is a running mean within an epoch) ...
    "plateau_epochs": 3,  # ... or of epochs
    "plateau_tolerance": 0.01,  # (max - min) / mean of the loss over the window
    "plateau_progress": 0.9,  # still at >= 90 % of the first recorded loss ...
    "plateau_far": 0.5,  # ... and (cross-entropy, known classes) >= 50 % of ln(num_classes), the guessing loss
    # vanishing through time (recurrent networks): mean |dL/dx_t| of the first 5 % of steps / the last step's
    "time_vanishing_ratio": 1e-3,
    "time_horizon_fraction": 1e-2,  # the effective horizon ends where the gradient falls below 1 % of the last's
}

# A finding is lowered to "info" while one of the causes that explain it is a warning or worse: a plateau and
# frozen layers are what every root cause looks like; dead ReLUs and an explosion also zero the early gradients;
# an explosion kills ReLUs by throwing their biases far below zero.
EXPLAINED_BY = {
    "loss_plateau": ("vanishing_gradient", "exploding_gradient", "non_finite", "dead_units", "saturated_units"),
    "flat_weights": ("vanishing_gradient", "exploding_gradient", "non_finite", "dead_units", "saturated_units"),
    "vanishing_gradient": ("exploding_gradient", "non_finite", "dead_units"),
    "dead_units": ("exploding_gradient", "non_finite"),
}


def resolve_config(config: dict | None) -> dict:
    """Defaults overridden by `config`; unknown names and non-numbers raise SpecError naming the field."""
    merged = dict(DEFAULTS)
    problems = []
    for key, value in (config or {}).items():
        if key not in DEFAULTS:
            problems.append(f"diagnostics.{key}: unknown threshold (expected one of {', '.join(DEFAULTS)})")
        elif isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) \
                or value < 0:
            problems.append(f"diagnostics.{key}: must be a finite number >= 0")
        else:
            merged[key] = value
    if problems:
        raise SpecError(problems)
    return merged


class Diagnoser:
    def __init__(self, layer_names: list[str], activations: list[str], spec: ExperimentSpec,
                 config: dict | None = None, num_classes: int | None = None):
        self.layer_names = list(layer_names)
        self.activations = list(activations)
        self.spec = spec
        self.config = resolve_config(spec.diagnostics if config is None else config)
        self.num_classes = num_classes
        self.hidden = [i for i, n in enumerate(self.layer_names) if n != "output"]
        self._findings: dict[str, Finding] = {}
        self._base: dict[str, tuple[str, str]] = {}  # kind -> (severity, message) before symptom ranking
        self._first: dict | None = None  # the first finite record's values
        self._streak: dict[str, int] = {}
        self._losses: deque = deque()  # (step, loss) of the records spanning the last plateau_steps steps
        self._epoch_losses = deque(maxlen=max(2, int(self.config["plateau_epochs"])))
        self._flat_streak = np.zeros(len(self.layer_names), dtype=int)
        self._step, self._epoch = 0, 0
        self._loss = float("nan")
        self._last_stats: dict | None = None

    # ---- public interface -----------------------------------------------------------------------------------
    @property
    def findings(self) -> list[Finding]:
        return sorted(self._findings.values(), key=lambda f: (f.step, -severity_rank(f.severity)))

    def warnings(self) -> list[Finding]:
        """Findings of severity warning or error."""
        return [f for f in self.findings if severity_rank(f.severity) >= 1]

    def on_record(self, record) -> list[Finding]:
        self._step, self._epoch = int(record.step), int(record.epoch)
        before = self._snapshot()
        stats = {k: np.asarray(v, dtype=np.float64) for k, v in record.stats.items() if k != "steps"}
        loss = float(record.loss)
        finite = math.isfinite(loss) and all(np.all(np.isfinite(stats[k])) for k in ("grad_norm", "grad_mean_abs")
                                              if k in stats)
        if not finite:
            self._non_finite(loss, stats)
        else:
            if self._first is None:
                self._first = {"loss": loss, **{k: v.copy() for k, v in stats.items()}}
            self._loss = loss
            self._exploding(stats)
            self._units(stats, "dead_fraction", "dead_units")
            self._units(stats, "saturated_fraction", "saturated_units")
            self._last_stats = stats
            self._vanishing(stats)
            self._vanishing_through_time(getattr(record, "time_grad", None))
            self._flat_weights(stats)
            self._losses.append((self._step, loss))
            while len(self._losses) > 2 and self._step - self._losses[1][0] >= self.config["plateau_steps"]:
                self._losses.popleft()
            if self._step - self._losses[0][0] >= self.config["plateau_steps"]:
                self._plateau([v for _, v in self._losses], int(self.config["plateau_records"]), "records")
        self._rank_symptoms()
        return self._changed(before)

    def on_epoch(self, epoch: int, logs: dict) -> list[Finding]:
        before = self._snapshot()
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
    def from_history(cls, history, spec: ExperimentSpec, config: dict | None = None,
                     num_classes: int | None = None) -> "Diagnoser":
        """Replay a finished (or interrupted) run's history through a fresh engine."""
        from vg_studio.train.events import ProbeRecord

        diagnoser = cls(history.layer_names, history.activations, spec, config, num_classes)
        epochs = history.epochs.get("epoch", [])
        epoch_logs = [{k: v[i] for k, v in history.epochs.items() if k != "epoch"} for i in range(len(epochs))]
        done = 0
        for r in range(history.num_records):
            while done < len(epochs) and epochs[done] < history.record_epochs[r]:
                diagnoser.on_epoch(epochs[done], epoch_logs[done])
                done += 1
            stats = {name: np.asarray(rows[r]) for name, rows in history.stats.items()}
            time_grad = history.time_grad[r] if r < len(history.time_grad) else None
            diagnoser.on_record(ProbeRecord(history.steps[r], history.record_epochs[r], history.record_loss[r],
                                            stats, time_grad=time_grad))
        for i in range(done, len(epochs)):
            diagnoser.on_epoch(epochs[i], epoch_logs[i])
        return diagnoser

    # ---- bookkeeping ----------------------------------------------------------------------------------------
    def _snapshot(self):
        return {k: (severity_rank(f.severity), len(f.layers)) for k, f in self._findings.items()}

    def _changed(self, before) -> list[Finding]:
        out = []
        for kind, f in self._findings.items():
            old = before.get(kind)
            if old is None or severity_rank(f.severity) > old[0] or len(f.layers) > old[1]:
                out.append(f)
        return out

    def _held(self, name: str, condition: bool, needed: float) -> bool:
        """Count consecutive records for which `condition` held; True once the streak reaches `needed`."""
        self._streak[name] = self._streak.get(name, 0) + 1 if condition else 0
        return condition and self._streak[name] >= max(1, int(needed))

    def _report(self, kind: str, severity: str, layers: list, evidence: dict, message: str) -> Finding:
        f = self._findings.get(kind)
        if f is None:
            f = Finding(kind, severity, self._step, self._epoch, list(layers), evidence, message,
                        fixes_for(kind, self.spec))
            self._findings[kind] = f
            self._base[kind] = (severity, message)
            return f
        f.layers = [n for n in self.layer_names if n in set(f.layers) | set(layers)]
        f.evidence = evidence
        worst = max(severity, self._base[kind][0], key=severity_rank)
        self._base[kind] = (worst, message)
        f.severity, f.message = worst, message
        return f

    def _names(self, indices) -> list[str]:
        return [self.layer_names[i] for i in indices]

    def _active(self, kinds) -> bool:
        return any(k in self._base and severity_rank(self._base[k][0]) >= 1 for k in kinds)

    def _rank_symptoms(self) -> None:
        """Findings explained by a root cause drop to "info"; otherwise they keep their own level."""
        for kind, causes in EXPLAINED_BY.items():
            f = self._findings.get(kind)
            if f is None:
                continue
            severity, message = self._base[kind]
            if self._active(causes):
                severity, message = "info", message[:-1] + ", a consequence of the problem reported with it."
            f.severity, f.message = severity, message

    # ---- rules ---------------------------------------------------------------------------------------------
    def _non_finite(self, loss: float, stats: dict) -> None:
        bad = [i for i in range(len(self.layer_names))
               if not np.isfinite(stats.get("grad_norm", np.zeros(len(self.layer_names)))[i])]
        evidence = {"loss": loss}
        self._report("non_finite", "error", self._names(bad),
                     evidence, "The loss or the gradients became infinite or NaN (not a number), so training "
                               "cannot continue.")
        growth = self._growth(stats)
        self._report("exploding_gradient", "error", self._names(bad) or self._names(range(len(self.layer_names))),
                     {"loss": loss, **growth}, "The gradients grew until they overflowed to infinity/NaN, which "
                                               "wrecks the weights: the gradients exploded.")

    def _growth(self, stats: dict) -> dict:
        norm = stats.get("grad_norm")
        if self._first is None or norm is None:
            return {}
        first = self._first["grad_norm"]
        with np.errstate(divide="ignore", invalid="ignore"):
            growth = np.where(first > 0, norm / first, np.nan)
        finite = growth[np.isfinite(growth)]
        return {"max_grad_norm_growth": float(finite.max()) if finite.size else float("nan"),
                "first_max_grad_norm": float(np.nanmax(first))}

    def _exploding(self, stats: dict) -> None:
        c = self.config
        g, norm, upd = stats["grad_mean_abs"], stats["grad_norm"], stats.get("update_ratio")
        reverse = g[0] / g[-1] if g[-1] > 0 else 0.0
        growth = self._growth(stats)["max_grad_norm_growth"]
        max_norm = float(np.max(norm))
        max_update = float(np.nanmax(upd)) if upd is not None and np.any(np.isfinite(upd)) else 0.0
        signals = {"reverse_ratio": reverse > c["exploding_ratio"], "growth": growth > c["exploding_growth"],
                   "norm": max_norm > c["exploding_norm"], "update": max_update > c["exploding_update_ratio"]}
        if not self._held("exploding", any(signals.values()), c["exploding_records"]):
            return
        layers = [i for i in range(len(norm)) if norm[i] > c["exploding_norm"]] or [int(np.argmax(norm))]
        evidence = {"first_to_last_grad_ratio": float(reverse), "max_grad_norm": max_norm,
                    "max_grad_norm_growth": growth, "max_update_ratio": max_update}
        severe = max_norm > 100 * c["exploding_norm"] or max_update > 10 * c["exploding_update_ratio"]
        self._report("exploding_gradient", "error" if severe else "warning", self._names(layers), evidence,
                     f"The gradients are huge (largest norm {max_norm:.3g}, {growth:.3g}x their starting size), "
                     "so each step throws the weights far away instead of improving them: the gradients explode.")

    def _units(self, stats: dict, stat: str, kind: str) -> None:
        values = stats.get(stat)
        if values is None:
            return
        c = self.config
        limit = c["dead_fraction"] if kind == "dead_units" else c["saturated_fraction"]
        hits = [i for i in self.hidden if np.isfinite(values[i]) and values[i] >= limit]
        if not self._held(kind, bool(hits), c["unit_records"]):
            return
        worst = max(hits, key=lambda i: values[i])
        evidence = {f"{stat}[{self.layer_names[i]}]": float(values[i]) for i in hits}
        evidence["threshold"] = float(limit)
        share = f"{values[worst]:.0%}"
        if kind == "dead_units":
            message = (f"{share} of the units in {self.layer_names[worst]} output zero for every example, so "
                       "they pass no gradient and stop learning: these ReLU units are dead.")
        else:
            message = (f"{share} of the inputs to {self.layer_names[worst]}'s {self.activations[worst]} units sit in "
                       "its flat tails, where the slope is almost zero: the units are saturated.")
        # Below 90 % a network can still learn around its dead/saturated units (Adam at lr 0.01 leaves ~60 % of
        # an MNIST first layer dead and reaches 89 %): warn only while the loss is not falling either.
        stalled = self._loss >= c["plateau_progress"] * self._first["loss"]
        evidence["loss_vs_first"] = self._loss / self._first["loss"] if self._first["loss"] else float("nan")
        severity = "error" if values[worst] >= 0.9 else ("warning" if stalled else "info")
        self._report(kind, severity, self._names(hits), evidence, message)

    def _vanishing(self, stats: dict) -> None:
        c = self.config
        g = stats["grad_mean_abs"]
        if len(g) < 2 or not g[-1] > 0:
            return
        ratio = g[0] / g[-1]
        first_ratio = self._first["grad_mean_abs"][0] / max(self._first["grad_mean_abs"][-1], 1e-300)
        trend = first_ratio / ratio if ratio > 0 else float("inf")
        upd = stats.get("update_ratio")
        output_moves = upd is None or not np.isfinite(upd[-1]) or upd[-1] >= c["flat_update_ratio"]
        near = ratio < 10 * c["vanishing_ratio"]
        # Seed 002's first sign: a loss stuck where it started, with the first layer's gradient close to the
        # threshold, is vanishing too (tiny initial weights shrink the output layer's gradient as well, which
        # hides the ratio).
        stalled = "loss_plateau" in self._base and severity_rank(self._base["loss_plateau"][0]) >= 1
        condition = output_moves and (ratio < c["vanishing_ratio"] or (near and g[0] < c["vanishing_floor"])
                                      or (near and trend >= c["vanishing_trend"]) or (near and stalled))
        if not self._held("vanishing", condition, c["vanishing_records"]):
            return
        depth = len(g) - 1  # weight layers between the first hidden layer's weights and the output's
        factor = ratio ** (1.0 / depth) if ratio > 0 else 0.0
        layers = [i for i in self.hidden if g[i] / g[-1] < c["vanishing_layer_ratio"]] or [0]
        saturating = sum(self.activations[i] in catalog.SATURATING for i in self.hidden)
        evidence = {"first_to_last_grad_ratio": float(ratio), "first_layer_grad_mean_abs": float(g[0]),
                    "last_layer_grad_mean_abs": float(g[-1]), "per_layer_factor": float(factor),
                    "layers_crossed": depth, "factor_power_L": float(factor ** depth),
                    "sigmoid_bound_power_L": 0.25 ** depth, "ratio_fall_since_start": float(trend)}
        # Dead ReLUs zero the backward signal too: then the cause to fix is the dead units (reported once they
        # have held for unit_records), so this record's vanishing is only "info".
        dead = stats.get("dead_fraction")
        explained = dead is not None and any(dead[i] >= c["dead_fraction"] for i in self.hidden)
        severe = ratio < c["vanishing_ratio"] / 100 or g[0] < c["vanishing_floor"]
        severity = "info" if explained else ("error" if severe else "warning")
        why = (" — close to sigmoid's 0.25 per layer" if saturating and factor < 0.4 else "")
        self._report("vanishing_gradient", severity, self._names(layers), evidence,
                     f"The first layer's gradients are {ratio:.1e} times the output layer's (about "
                     f"{factor:.2f}x per layer{why}), so the early layers barely learn: the gradients vanish.")

    def _vanishing_through_time(self, time_grad) -> None:
        """Seed 001 §1.3: through a recurrent layer the gradient is multiplied once per time step on its way back,
        so the input steps far from the end get a vanishing share of it."""
        if time_grad is None:
            return
        g = np.asarray(time_grad, dtype=np.float64)
        if g.size < 4 or not np.all(np.isfinite(g)) or not g[-1] > 0:
            return
        c = self.config
        head = max(1, int(round(0.05 * g.size)))
        ratio = float(np.mean(g[:head]) / g[-1])
        if not self._held("time_vanishing", ratio < c["time_vanishing_ratio"], c["vanishing_records"]):
            return
        below = np.nonzero(g / g[-1] < c["time_horizon_fraction"])[0]
        horizon = int(g.size - 1 - below.max()) if below.size else int(g.size)
        factor = ratio ** (1.0 / max(g.size - head, 1))
        evidence = {"first_to_last_step_ratio": ratio, "effective_horizon_steps": horizon,
                    "sequence_length": int(g.size), "per_step_factor": float(factor),
                    "horizon_fraction": float(c["time_horizon_fraction"])}
        kinds = sorted({layer.kind for layer in self.spec.network.layers if layer.kind in catalog.RECURRENT_KINDS})
        self._report("vanishing_through_time", "error" if ratio < c["time_vanishing_ratio"] / 1000 else "warning",
                     [n for n, layer in zip(self.layer_names, self.spec.network.layers)
                      if layer.kind in catalog.RECURRENT_KINDS],
                     evidence,
                     f"The gradient reaching the first time steps is {ratio:.1e} times that at the last step "
                     f"(about {factor:.2f}x per step back through the {'/'.join(kinds)} layer), so the network "
                     f"cannot learn dependencies longer than about {horizon} steps: the gradient vanishes through "
                     "time.")

    def _flat_weights(self, stats: dict) -> None:
        upd = stats.get("update_ratio")
        if upd is None:
            return
        c = self.config
        flat = np.isfinite(upd) & (upd < c["flat_update_ratio"])
        self._flat_streak = np.where(flat, self._flat_streak + 1, 0)
        held = [i for i in range(len(upd)) if self._flat_streak[i] >= max(1, int(c["flat_records"]))]
        if not held:
            return
        frozen_network = (len(upd) - 1) in held  # even the output layer does not move: nothing learns
        evidence = {f"update_ratio[{self.layer_names[i]}]": float(upd[i]) for i in held}
        evidence["threshold"] = float(c["flat_update_ratio"])
        if frozen_network:
            message = ("No layer's weights change from step to step (relative change below "
                       f"{c['flat_update_ratio']:.0e}), so the network is not learning at all.")
        else:
            message = (f"The weights of {', '.join(self._names(held))} hardly change from step to step, so those "
                       "layers are not learning.")
        self._report("flat_weights", "warning" if frozen_network or len(held) * 2 >= len(upd) else "info",
                     self._names(held), evidence, message)

    def _plateau(self, losses, window: int, unit: str) -> None:
        c = self.config
        if len(losses) < max(2, window) or self._first is None:
            return
        values = np.asarray(losses)
        mean = float(values.mean())
        spread = float(values.max() - values.min()) / max(abs(mean), 1e-12)
        first = self._first["loss"]
        far = mean >= c["plateau_progress"] * first
        if self.num_classes and self.spec.loss == "sparse_categorical_crossentropy":
            far = far and mean >= c["plateau_far"] * math.log(self.num_classes)
        if not (spread < c["plateau_tolerance"] and far):
            return
        evidence = {"loss": mean, "relative_change": spread, "first_loss": first, "window": len(values)}
        if self.num_classes:
            evidence["chance_loss"] = math.log(self.num_classes)
        span = f"{len(values)} epochs" if unit == "epochs" else f"{self._step - self._losses[0][0]} steps"
        self._report("loss_plateau", "warning", [], evidence,
                     f"The loss has stayed at about {mean:.3g} over the last {span} (it started at "
                     f"{first:.3g}), so training has stalled.")


def diagnose_run(run_dir) -> tuple[Diagnoser, dict]:
    """Diagnose a run directory offline: (the replayed engine, the run's report.json). Raises RunStoreError or
    SpecError with a one-line message naming the bad file."""
    from vg_studio.train.runstore import load_run

    spec, history, report = load_run(run_dir)
    classes = (report.get("dataset") or {}).get("classes") if isinstance(report, dict) else None
    num_classes = len(classes) if isinstance(classes, list) and len(classes) >= 2 else None
    return Diagnoser.from_history(history, spec, num_classes=num_classes), report
