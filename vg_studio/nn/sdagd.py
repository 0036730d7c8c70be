"""Stochastic Diagonal Approximate Greatest Descent (SDAGD), Tan & Lim (2019) §III eq. (7), as a Keras 3 optimizer.

    w ← w − η · d_k / (μ_k + h + ε),   d_k = the bias-corrected running mean of g (momentum β₁; g with β₁ = 0)
    μ_k = RMS(d_k) / R_k · max(1, √s·R/R_z)   per output unit,   h = truncated Gauss–Newton diagonal
    R_k = R · min(1, (k+1)/τ_w) / (1 + k/τ_d)   (warm-up over τ_w steps, then annealed; τ = radius_growth_steps
    optionally grows R_k by (1 + k/τ) and divides η by it)

Phase I (μ ≫ h, the diagonal Newton step |d|/h is longer than the search radius): every weight of a unit moves by
≈ η·R_k along −d/RMS(d), whatever its layer's width and however small (vanishing) its gradient — Goh's spherical
search region — and, with the pre-activation radius R_z, the unit's pre-activation moves by at most R_z (RMS over the
batch; s is the squared pre-activation change per squared per-weight step, refreshed with the curvature). Phase II
(h ≫ μ, the Newton step is shorter than the radius): the damped diagonal Newton step η·d/h — stochastic diagonal
Levenberg–Marquardt (LeCun et al., "Efficient BackProp", 1998). As R_k anneals, weights move into phase II.

A step of fixed relative length never settles: it bounces at the radius' scale around where the fit would settle.
By default SDAGD therefore keeps Keras's exponential moving average of the weights (use_ema, ema_momentum 0.98: about
the last 50 steps), which `fit` writes into the network when it ends; the curvature taps are not averaged.

Curvature h, per weight:
- "gauss_newton" (default): LeCun's truncated Gauss–Newton diagonal of the batch, computed inside the compiled
  step by the taps the builder puts into the training graph (vg_studio.nn.curvature), every `curvature_every`
  steps, averaged like Adam's second moment. With curvature_scale="unit" (default) each output unit's diagonal is
  rescaled at every refresh by ρ = gᵀH_unit g / gᵀdiag(h)g, so that along the unit's gradient it has the curvature of
  the unit's full Gauss–Newton block (the coupling of the unit's inputs, which the diagonal drops: ρ ≈ 10²–10³ in
  a 700-wide sigmoid net); phase I/II then compare the per-unit Newton step along g with R.
  Variables the taps do not reach (BatchNorm's γ/β, attention projections, PReLU slopes, recurrent cells; every
  variable of a model without taps) use "difference".
- "difference": B·½·EMA[(ḡ_k − ḡ_{k−1})²], the per-example gradient variance (the Fisher diagonal) recovered from
  mean gradients: successive batches carry independent noise of variance σ²/B each.
- "second_moment": B·EMA[ḡ²] (a soft per-weight clip far from a minimum, not AGD; kept for comparison).
docs/sdagd.md has the derivation, the measurements and every choice.
"""

from __future__ import annotations

import math
import re

import keras
import numpy as np
from keras import ops

from vg_studio.nn.curvature import Untracked
from vg_studio.nn.diagnostic_medians import diagnostic_sample, weighted_median

NORM_SCOPES = ("rms", "unit", "tensor", "global")
CURVATURES = ("gauss_newton", "difference", "second_moment")
CURVATURE_SCALES = ("diagonal", "unit", "layer")
DEFAULT_CURVATURE = "gauss_newton"
MAX_CURVATURE_WEIGHT = 1e30  # the update's γ/η at most: finite in float32, so that h = 0 never meets an infinity


def scope_safe(name: str) -> str:
    """`name` as TensorFlow accepts it for a scope or variable name (ASCII letters, digits, `_.-`; not starting
    with `_` or `-`); Keras's optimizers name their slots after the model's variables, whose names may hold any
    Unicode."""
    safe = re.sub(r"[^A-Za-z0-9_.\-]", "_", name)
    return safe if re.match(r"[A-Za-z0-9.]", safe) else f"v{safe}"


def uses_gauss_newton(params: dict) -> bool:
    """Whether SDAGD with these spec params wants the Gauss–Newton taps in the training graph."""
    return params.get("curvature", DEFAULT_CURVATURE) == "gauss_newton"


@keras.saving.register_keras_serializable(package="vg_studio")
class SDAGD(keras.optimizers.Optimizer):
    """SDAGD (Tan, Lim & Harno 2017; Tan & Lim 2019).

    Args:
        learning_rate: η, the global step factor of stochastic diagonal Levenberg–Marquardt: phase II takes η
            times the diagonal Newton step, phase I moves each weight by η·R. The diagonal ignores the coupling of
            a unit's inputs, so a full diagonal Newton step (η = 1) overshoots (docs/sdagd.md; curvature_scale
            "unit" restores the coupling within a unit, not between units and layers).
        radius: R, the radius of the local search region (per weight, before η, with norm_scope "unit"/"rms";
            of a tensor's step with "tensor"; of the whole step with "global"). A weight is in phase II once its
            diagonal Newton step |g|/h is shorter than R.
        curvature_decay: β, running-average rate of the curvature (per step; the Gauss–Newton average is
            refreshed every `curvature_every` steps with rate β^curvature_every).
        epsilon: damping added to μ + h so a zero gradient gives a zero step.
        norm_scope: "unit" (μ = RMS/R of each output unit's slice of a kernel, i.e. over all axes but the last;
            per variable for biases), "rms" (μ = RMS(g)/R per variable), "tensor" (‖g‖/R per variable) or
            "global" (one μ = ‖g‖/R over all variables, as in Goh's AGD).
        batch_size: the training mini-batch size (always `training.batch_size` in the app); scales the
            "difference"/"second_moment" estimates to per-example variances.
        curvature: "gauss_newton", "difference" or "second_moment" (module docstring).
        curvature_every: steps between Gauss–Newton refreshes (its extra matmuls run only on those steps).
        momentum: β₁ ≥ 0 steps along Adam's bias-corrected running mean of the gradient instead of g (not in
            eq. 7; an option, docs/sdagd.md).
        radius_growth_steps: τ; R grows to R·(1 + k/τ) and η shrinks to η/(1 + k/τ) after k steps. 0: constant.
        radius_decay_steps: τ_d; R shrinks to R/(1 + k/τ_d) after k steps (η stays): the phase-I step η·R anneals,
            the damped Newton steps keep their gain. 0: no decay.
        curvature_scale: "diagonal" (the Gauss–Newton diagonal as it is) or "unit" (each output unit's diagonal
            rescaled, at every refresh, so that its quadratic form along the unit's gradient equals that of the
            unit's full Gauss–Newton block: the coupling of a unit's inputs that the diagonal drops). Gauss–Newton
            sites only.
        preactivation_radius: R_z, per Gauss–Newton site unit: the phase-I step also moves the unit's
            pre-activation by at most R_z (RMS over the batch). 0: off.
        radius_warmup_steps: τ_w; R_k grows linearly over the first τ_w steps. 0: no warm-up.
        curvature_examples: the Gauss–Newton curvature from the first n examples of each batch (0: all).
        use_ema, ema_momentum: Keras's iterate averaging, on by default with momentum 0.98 (a window of ~50 steps):
            `fit` ends with the average of the last steps' weights, not the last iterate. The training graph's
            curvature taps keep their own values.
        ema_every: the average takes in the weights every this many steps (the first step's, then every
            ema_every-th), with momentum ema_momentum**ema_every: the same window of steps, at 1/ema_every of the
            cost of a pass over every weight each step.
    """

    def __init__(
        self,
        learning_rate=1.0,
        radius=0.0015,
        curvature_decay=0.99,
        epsilon=1e-8,
        norm_scope="unit",
        batch_size=100,
        curvature=DEFAULT_CURVATURE,
        curvature_every=10,
        momentum=0.9,
        radius_growth_steps=0.0,
        radius_decay_steps=100.0,
        curvature_scale="unit",
        preactivation_radius=0.1,
        radius_warmup_steps=20.0,
        curvature_examples=50,
        weight_decay=None,
        clipnorm=None,
        clipvalue=None,
        global_clipnorm=None,
        use_ema=True,
        ema_momentum=0.98,
        ema_every=5,
        ema_overwrite_frequency=None,
        loss_scale_factor=None,
        gradient_accumulation_steps=None,
        name=None,
        **kwargs,
    ):
        super().__init__(
            learning_rate=learning_rate,
            name=scope_safe(name) if name else name,  # the slots are created inside a scope of this name
            weight_decay=weight_decay,
            clipnorm=clipnorm,
            clipvalue=clipvalue,
            global_clipnorm=global_clipnorm,
            use_ema=use_ema,
            ema_momentum=ema_momentum,
            ema_overwrite_frequency=ema_overwrite_frequency,
            loss_scale_factor=loss_scale_factor,
            gradient_accumulation_steps=gradient_accumulation_steps,
            **kwargs,
        )
        if curvature not in CURVATURES:
            raise ValueError(f"curvature: must be one of {', '.join(CURVATURES)}, got {curvature!r}")
        if curvature_scale not in CURVATURE_SCALES:
            raise ValueError(f"curvature_scale: must be one of {', '.join(CURVATURE_SCALES)}, got {curvature_scale!r}")
        for field, value in (("preactivation_radius", preactivation_radius),
                             ("radius_warmup_steps", radius_warmup_steps), ("curvature_examples", curvature_examples)):
            if not value >= 0:
                raise ValueError(f"{field}: must be >= 0 (0: off), got {value!r}")
        if norm_scope not in NORM_SCOPES:
            raise ValueError(f"norm_scope: must be one of {', '.join(NORM_SCOPES)}, got {norm_scope!r}")
        for field, value in (("radius", radius), ("batch_size", batch_size), ("curvature_every", curvature_every)):
            if not value > 0:
                raise ValueError(f"{field}: must be > 0, got {value!r}")
        for field, value in (("curvature_decay", curvature_decay), ("momentum", momentum)):
            if not 0.0 <= value < 1.0:
                raise ValueError(f"{field}: must be in [0, 1), got {value!r}")
        if radius_growth_steps < 0:
            raise ValueError(f"radius_growth_steps: must be >= 0 (0: a constant radius), got {radius_growth_steps!r}")
        if radius_decay_steps < 0:
            raise ValueError(f"radius_decay_steps: must be >= 0 (0: no decay), got {radius_decay_steps!r}")
        if not (isinstance(ema_every, (int, np.integer)) and ema_every >= 1):
            raise ValueError(f"ema_every: must be an integer >= 1, got {ema_every!r}")
        if momentum and norm_scope == "global":
            raise ValueError("momentum: not available with norm_scope='global'")
        self.radius = radius
        self.curvature_decay = curvature_decay
        self.epsilon = epsilon
        self.norm_scope = norm_scope
        self.batch_size = batch_size
        self.curvature_estimate = curvature
        self.curvature_every = int(curvature_every)
        self.momentum = momentum
        self.radius_growth_steps = radius_growth_steps
        self.radius_decay_steps = radius_decay_steps
        self.curvature_scale = curvature_scale
        self.preactivation_radius = preactivation_radius
        self.radius_warmup_steps = radius_warmup_steps
        self.ema_every = int(ema_every)
        self.curvature_examples = int(curvature_examples)  # read by the training graph's taps (curvature.py)
        self._global_mu = None  # set per step by _backend_update_step when norm_scope="global"
        self._step_curvature_scale = None  # set per step by _backend_update_step

    def build(self, var_list):
        if self.built:
            return
        super().build(var_list)
        # "half_sq_difference": the running average the curvature is read from (for a Gauss–Newton site the
        # average of its Gauss–Newton diagonal); the name is kept so that older checkpoints load.
        self._previous_gradients = self._add_slots(var_list, "previous_gradient")
        self._half_sq_errors = self._add_slots(var_list, "half_sq_difference")
        self._momentums = self._add_slots(var_list, "momentum") if self.momentum else None
        self._find_curvature_taps(var_list)

    def add_variable(self, *args, name=None, **kwargs):
        """Every optimizer variable named as TensorFlow accepts inside a compiled step (`scope_safe`), also the ones
        the base class makes after the model's variables (the weights' averages)."""
        return super().add_variable(*args, name=scope_safe(name) if name else name, **kwargs)

    def _add_slots(self, var_list, slot: str) -> list:
        """One zero slot per variable, like `add_optimizer_variables`, but named so that TensorFlow accepts the name
        in a compiled step whatever the model's names: a slot is named after its variable's path, which holds the
        user's layer names (any Unicode), and TensorFlow's scope names must be ASCII."""
        return [None if getattr(v, "overwrite_with_gradient", False) else
                self.add_variable(shape=v.shape, dtype=v.dtype, name=scope_safe(f"{v.path}_{slot}"),
                                  layout=getattr(v, "_layout", None)) for v in var_list]

    def _find_curvature_taps(self, var_list):
        """The Gauss–Newton taps of a builder training graph (vg_studio.nn.curvature), found by their variables:
        the probes are read, never trained. Without taps every variable uses the "difference" estimate."""
        known = {id(v) for v in var_list}
        self._tap_ids = {id(v) for v in var_list if getattr(v, "curvature_site", None) is not None
                         or getattr(v, "curvature_refresh", False)}
        # held outside Keras's attribute tracking: they are the model's variables, not the optimizer's
        self._refresh_holder = Untracked([v for v in var_list if getattr(v, "curvature_refresh", False)])
        sites = {id(v.curvature_site): v.curvature_site for v in var_list if getattr(v, "curvature_site", None)}
        self._sites = [s for s in sites.values() if id(s.kernel) in known]
        self._site_of = {id(t): s for s in self._sites for t in (s.kernel, s.bias) if t is not None and id(t) in known}
        if self.curvature_estimate != "gauss_newton":
            self._site_of = {}
        # update_step receives the backend's variables (TensorFlow: the tf.Variable inside the Keras variable), so
        # it recognises the sites by index, never by the Keras variable's id
        self._site_indices = frozenset(self._get_variable_index(v) for v in var_list if id(v) in self._site_of)
        self._refreshes = self.add_variable(shape=(), initializer="zeros", dtype="float32",
                                            name="curvature_refreshes")
        # preactivation_radius: per output unit of a Gauss–Newton site's kernel, the running average of
        # s = mean_n (x_n·d)² / mean_j d_j², the squared pre-activation change per squared per-weight step
        self._preactivation_scales = {}
        if self.preactivation_radius:
            for site in self._sites:
                if site.kind == "gauss_newton" and id(site.kernel) in self._site_of:
                    self._preactivation_scales[self._get_variable_index(site.kernel)] = self.add_variable(
                        shape=(site.kernel.shape[-1],), initializer="zeros", dtype="float32",
                        name=scope_safe(f"{site.kernel.path}_preactivation_scale"))

    def _curvature_scale(self, errors_seen):
        """B / (1 − β^n): turns the running mean of ½Δḡ² over n differences into the per-example variance."""
        decay = ops.cast(self.curvature_decay, "float32")
        correction = ops.maximum(1.0 - ops.power(decay, ops.cast(errors_seen, "float32")), 1e-12)
        return ops.cast(self.batch_size, "float32") / correction

    def _terms_averaged(self, steps_taken):
        """How many terms the curvature average holds after `steps_taken` steps (the first step has no difference)."""
        steps = ops.cast(steps_taken, "float32")
        return steps if self.curvature_estimate == "second_moment" else ops.maximum(steps - 1.0, 0.0)

    def radius_growth(self, steps_taken):
        """γ_k = 1 + k/τ: the radius is R·γ_k and the learning rate η/γ_k after k steps, so the phase-I step η·R
        stays and only the switch (Newton step < R·γ_k) and the phase-II gain η/γ_k (→ 1/k) move."""
        if not self.radius_growth_steps:
            return ops.cast(1.0, "float32")
        return 1.0 + ops.cast(steps_taken, "float32") / float(self.radius_growth_steps)

    def radius_decay(self, steps_taken):
        """δ_k = (1 + k/τ_d) / min(1, (k + 1)/τ_w): the radius is R·γ_k/δ_k after k steps (μ_k = RMS(g)·δ_k/(R·γ_k)):
        it grows linearly over the first τ_w steps (radius_warmup_steps), then anneals."""
        steps = ops.cast(steps_taken, "float32")
        decay = 1.0 + steps / float(self.radius_decay_steps) if self.radius_decay_steps else ops.cast(1.0, "float32")
        if self.radius_warmup_steps:
            decay = decay / ops.minimum(1.0, (steps + 1.0) / float(self.radius_warmup_steps))
        return decay

    def _momentum_scale(self, steps):
        """1 / (1 − β₁^k): the momentum average's bias correction after k steps."""
        decay = ops.cast(self.momentum, "float32")
        return 1.0 / ops.maximum(1.0 - ops.power(decay, ops.cast(steps, "float32")), 1e-12)

    def _refresh_decay(self):
        """The running average's rate per Gauss–Newton refresh: β per step, refreshed every `curvature_every`."""
        return float(self.curvature_decay) ** self.curvature_every

    def _gauss_newton_scale(self, refreshes):
        """1 / (1 − β_r^m): Adam's bias correction of the average over m refreshes."""
        decay = ops.cast(self._refresh_decay(), "float32")
        return 1.0 / ops.maximum(1.0 - ops.power(decay, ops.cast(refreshes, "float32")), 1e-12)

    def curvature(self, variable):
        """The current Hessian-diagonal estimate h for `variable` (zeros before the first estimate)."""
        average, scale = self._curvature_parts(variable)
        return scale * average

    def _curvature_parts(self, variable):
        """h = scale · average: the running average (a slot) and its bias correction (a scalar)."""
        index = self._get_variable_index(variable)
        average = ops.cast(self._half_sq_errors[index], "float32")
        if index in self._site_indices:
            return average, self._gauss_newton_scale(self._refreshes)
        return average, self._curvature_scale(self._terms_averaged(self.iterations))

    def _update_model_variables_moving_average(self, trainable_variables):
        """Keras's average (a_1 = w_1, a_k = m·a_{k−1} + (1 − m)·w_k) of every weight, taken in every `ema_every`
        steps with momentum m^ema_every (steps 1, 1 + e, 1 + 2e, …); a curvature tap's average is the tap itself,
        at every step, so that `fit`'s closing overwrite leaves the taps as they are (the refresh flag says whether
        the next step refreshes; the probes stay zero)."""
        if not self.use_ema:
            return
        every = self.ema_every
        first = ops.cast(ops.not_equal(self.iterations, 0), "float32")
        momentum = first * float(self.ema_momentum) ** every
        taps = getattr(self, "_tap_ids", ())  # (Keras hands the model's Keras variables here on every backend)
        pairs = []
        for variable, average in zip(trainable_variables, self._model_variables_moving_average):
            if average is None:
                continue
            if id(variable) in taps:
                if getattr(variable, "curvature_refresh", False):
                    average.assign(variable)
                continue  # a probe and its average are both zero
            pairs.append((variable, average))

        def averaged():  # a + (1 − m)·(w − a): Keras's m·a + (1 − m)·w with one weight-sized pass fewer
            return [average + ops.cast(1.0 - momentum, variable.dtype) * (variable - average)
                    for variable, average in pairs]

        averages = [average for _, average in pairs]
        if every == 1 or not pairs:
            for average, value in zip(averages, averaged()):
                self.assign(average, value)
            return
        self._assign_when(ops.equal(ops.mod(self.iterations, every), 0), averages, averaged)

    def _assign_when(self, condition, targets: list, values):
        """Assign `values()` to `targets` on the steps where `condition` holds. JAX's stateless step allows no side
        effects in a branch: there the branch returns the new values or the current ones, assigned after it;
        elsewhere only those steps write (the others would rewrite every target)."""
        if keras.backend.backend() == "jax":
            current = tuple(ops.convert_to_tensor(target) for target in targets)
            for target, value in zip(targets, ops.cond(condition, lambda: tuple(values()), lambda: current)):
                self.assign(target, value)
            return

        def assign():
            for target, value in zip(targets, values()):
                self.assign(target, value)
            return ops.convert_to_tensor(True)

        ops.cond(condition, assign, lambda: ops.convert_to_tensor(False))

    def _overwrite_model_variables_with_average_value(self, trainable_variables):
        """`fit`'s closing overwrite, with a copy of each average on JAX: there the assignment would put the
        average's own buffer into the weight, and the next `fit`'s compiled step would donate that buffer twice."""
        if keras.backend.backend() != "jax":
            return super()._overwrite_model_variables_with_average_value(trainable_variables)
        for variable, average in zip(trainable_variables, self._model_variables_moving_average):
            if average is not None:
                variable.assign(ops.copy(average))

    # -- Gauss–Newton taps ----------------------------------------------------------------------------------
    def apply(self, grads, trainable_variables=None):
        if not self.built and trainable_variables is not None:
            self.build(list(trainable_variables))  # base apply would build too, but the taps must be known here
            self.built = True
        if not getattr(self, "_tap_ids", None):
            return super().apply(grads, trainable_variables)
        variables = self._trainable_variables if trainable_variables is None else list(trainable_variables)
        probes = {id(v): g for g, v in zip(grads, variables) if id(v) in self._tap_ids}
        kept = [(g, v) for g, v in zip(grads, variables) if id(v) not in self._tap_ids]
        self._read_curvature_taps(probes, {id(v): g for g, v in kept})
        super().apply([g for g, _ in kept], [v for _, v in kept])

    def _read_curvature_taps(self, probes: dict, gradients: dict):
        """On a refresh step, fold each site's Gauss–Newton diagonal (its probes' gradients multiplied; with
        curvature_scale "unit" rescaled per output unit along this step's gradient) into the running average; then
        tell the taps whether the next step refreshes, and re-state the probes as zero."""
        refresh = self._refresh_holder.items[0] if self._refresh_holder.items else None
        targets = [(s, t) for s in self._sites for t in (s.kernel, s.bias) if t is not None and id(t) in self._site_of]
        if refresh is not None and targets:
            fresh = ops.greater(ops.convert_to_tensor(refresh), 0.5)
            averages = [self._half_sq_errors[self._get_variable_index(t)] for _, t in targets]
            scaled = [s for s in self._sites if self._get_variable_index(s.kernel) in self._preactivation_scales]
            averages += [self._preactivation_scales[self._get_variable_index(s.kernel)] for s in scaled]
            unscale = 1.0 if self.loss_scale_factor is None else 1.0 / self.loss_scale_factor
            rate = 1.0 - self._refresh_decay()

            def refreshed():
                values, new = {}, []
                factors = {id(site): (ops.cast(probes[id(site.x_probe)], "float32") * unscale,
                                      ops.cast(probes[id(site.d_probe)], "float32") * unscale) for site in self._sites}
                moved = {}
                for site in self._sites:
                    x_factor, d_factor = factors[id(site)]
                    direction = self._step_direction(site, gradients)
                    projected = None  # x̃·d per example and unit: the unit scale's and the pre-activation radius's
                    if direction is not None and (self.curvature_scale != "diagonal" or site in scaled):
                        projected = ops.matmul(x_factor, direction)
                    if site in scaled:
                        moved[id(site)] = _preactivation_scale(x_factor, direction, projected)
                    if self.curvature_scale == "diagonal":
                        direction = None
                    kernel, bias = site.curvature(x_factor, d_factor, direction, projected)
                    if self.curvature_scale == "layer" and direction is not None and site.chain is not None \
                            and id(site.chain[2]) in factors:
                        coupling = site.coupling(x_factor, d_factor, direction, factors[id(site.chain[2])][1])
                        kernel, bias = kernel * coupling, bias * coupling
                    values[id(site.kernel)], values[id(site.bias)] = kernel, bias
                values = [values[id(target)] for _, target in targets]
                values += [moved[id(site)] for site in scaled]
                for value, average in zip(values, averages):
                    average = ops.convert_to_tensor(average)
                    new.append(average + rate * (ops.reshape(value, average.shape) - average))
                return tuple(new)

            self._assign_when(fresh, averages, refreshed)
            self._refreshes.assign_add(ops.cast(fresh, "float32"))
        if refresh is not None:
            upcoming = ops.equal(ops.mod(self.iterations + 1, self.curvature_every), 0)
            for variable in self._refresh_holder.items:
                variable.assign(ops.cast(upcoming, variable.dtype))
        # Re-state the probes as zero on JAX, where an untouched variable would hand its donated input buffer back
        # (elsewhere they keep their zeros: nothing ever updates them).
        if keras.backend.backend() == "jax":
            for variable in self._trainable_variables:
                if id(variable) in self._tap_ids and not getattr(variable, "curvature_refresh", False):
                    variable.assign(ops.zeros(variable.shape, variable.dtype))

    def _step_direction(self, site, gradients: dict):
        """(fan-in + 1) × units: the direction this step takes for the site's kernel and (last row) bias — the
        momentum average as this step updates it, else the gradient; None for a site without one."""
        if site.kind != "gauss_newton" or id(site.kernel) not in gradients:
            return None
        parts = []
        for variable in (site.kernel, site.bias):
            if variable is None or id(variable) not in gradients:
                parts.append(ops.zeros((1, site.kernel.shape[-1]), "float32"))
                continue
            direction = ops.cast(gradients[id(variable)], "float32")
            if self._momentums is not None:
                average = ops.cast(self._momentums[self._get_variable_index(variable)], "float32")
                direction = average + (1.0 - float(self.momentum)) * (direction - average)
            parts.append(ops.reshape(direction, (-1, site.kernel.shape[-1])))
        return ops.concatenate(parts, axis=0)

    def _sphere_scale(self, variable, in_step=False):
        """With a preactivation radius R_z, for a Gauss–Newton site's kernel: max(1, √s·R/R_z) per output unit, so
        that the phase-I step moves no weight by more than R and no unit's pre-activation by more than R_z (RMS over
        the examples); 1 elsewhere."""
        scales = getattr(self, "_preactivation_scales", None)
        slot = scales.get(self._get_variable_index(variable)) if scales else None
        if slot is None:
            return 1.0
        scale = self._step_gauss_newton_scale if in_step else self._gauss_newton_scale(self._refreshes)
        ratio = float(self.radius) / float(self.preactivation_radius)
        return ops.maximum(ops.sqrt(ops.maximum(ops.convert_to_tensor(slot) * scale, 0.0)) * ratio, 1.0)

    def _relative_step_length(self, gradient):
        """μ for one variable (norm_scope "tensor" or "rms"); "global" is computed once per step."""
        squares = ops.square(gradient)
        if self.norm_scope == "tensor":
            return ops.sqrt(ops.sum(squares)) / ops.cast(self.radius, gradient.dtype)
        if self.norm_scope == "unit" and len(gradient.shape) >= 2:  # one sphere per output unit (last axis)
            return ops.sqrt(ops.mean(squares, axis=tuple(range(len(gradient.shape) - 1)), keepdims=True)) / ops.cast(
                self.radius, gradient.dtype)
        return ops.sqrt(ops.mean(squares)) / ops.cast(self.radius, gradient.dtype)

    def _backend_update_step(self, grads, trainable_variables, learning_rate):
        # Per-step scalars shared by every variable, computed once instead of once per variable.
        self._step_curvature_scale = self._curvature_scale(self._terms_averaged(self.iterations + 1))
        self._step_gauss_newton_scale = self._gauss_newton_scale(self._refreshes)
        self._step_momentum_scale = self._momentum_scale(self.iterations + 1)
        self._step_radius_growth = self.radius_growth(self.iterations)
        self._step_radius_decay = self.radius_decay(self.iterations)
        if self.norm_scope == "global":
            squares = [ops.sum(ops.square(ops.cast(g, "float32"))) for g in grads]
            self._global_mu = ops.sqrt(ops.sum(ops.stack(squares))) / self.radius
        super()._backend_update_step(grads, trainable_variables, learning_rate)
        self._global_mu = self._step_curvature_scale = self._step_gauss_newton_scale = None
        self._step_momentum_scale = self._step_radius_growth = self._step_radius_decay = None

    def update_step(self, gradient, variable, learning_rate):
        dtype = variable.dtype
        gradient = ops.cast(gradient, dtype)
        index = self._get_variable_index(variable)
        previous = self._previous_gradients[index]
        half_sq = self._half_sq_errors[index]

        # h = h_scale · average; every scalar of the step is folded before it meets a full-size tensor (TensorFlow
        # runs the step op by op: each elementwise operation is a pass over every weight)
        if index in self._site_indices:  # Gauss–Newton: the average was updated from the taps in `apply`
            average_h, h_scale = ops.convert_to_tensor(half_sq), self._step_gauss_newton_scale
        else:
            # Curvature: running mean of ½(g_k − g_{k−1})². Successive batches carry independent noise of
            # variance σ²/B each, so B·½·E[Δg²] = σ², the per-example gradient variance (Fisher / Gauss–Newton
            # diagonal). The optimizer's own noise-driven steps inflate it by up to ~1.8× in phase II
            # (docs/sdagd.md). The first step has no g_{k−1}.
            if self.curvature_estimate == "second_moment":
                average_h = half_sq + (1 - ops.cast(self.curvature_decay, dtype)) * (ops.square(gradient) - half_sq)
            else:
                rate = (1 - ops.cast(self.curvature_decay, dtype)) * ops.cast(ops.greater(self.iterations, 0), dtype)
                average_h = half_sq + rate * (0.5 * ops.square(gradient - previous) - half_sq)
            self.assign(half_sq, average_h)
            h_scale = self._step_curvature_scale
        if self._momentums is None or index not in self._site_indices:  # the difference estimate, diagnostics
            self.assign(previous, gradient)
        direction, scale = gradient, None
        if self._momentums is not None:  # the running mean of the gradient, bias-corrected like Adam's
            average = self._momentums[index]
            self.assign_add(average, (gradient - average) * (1 - ops.cast(self.momentum, dtype)))
            direction = ops.convert_to_tensor(average)
            scale = ops.cast(self._step_momentum_scale, dtype)  # the bias correction, applied to μ and the rate
        if self._global_mu is not None:  # (no momentum with the global scope)
            mu = ops.cast(self._global_mu, dtype)
        else:
            mu = self._relative_step_length(direction) * ops.cast(self._sphere_scale(variable, True), dtype)
        rate = ops.cast(learning_rate, dtype)
        if scale is not None:  # d = c·m: μ(d) = c·μ(m), and the step is lr·c·m / (…)
            mu, rate = mu * scale, rate * scale
        # η/γ · g / (μ/γ + h) = η · g / (μ + γ·h): the schedule weights the curvature
        if self.radius_decay_steps or self.radius_warmup_steps:
            mu = mu * ops.cast(self._step_radius_decay, dtype)
        h_scale = ops.cast(h_scale, dtype) * ops.cast(self._step_radius_growth, dtype)
        # η·d / (μ + γh + ε) as d / ((γ/η)·h + (μ + ε)/η): the rate folds into a scalar and the per-unit μ, one
        # weight-sized pass fewer. A zero rate (a schedule's) gives an infinite denominator, a zero step; γ/η is
        # kept finite, since h may be 0.
        curvature_weight = ops.where(ops.greater(rate, 0.0), ops.minimum(h_scale / rate, MAX_CURVATURE_WEIGHT), 0.0)
        denominator = average_h * curvature_weight + (mu + ops.cast(self.epsilon, dtype)) / rate
        self.assign_sub(variable, direction / denominator)

    def diagnostic_scalars(self) -> dict:
        """Scalars of the latest step for the run history: μ (mean over variables; the one μ with
        norm_scope="global"), the share of weights still in phase I (μ > h), and per layer the medians of μ and h
        over its weights and its phase-I share: `sdagd_mu[<layer>]`, `sdagd_h[<layer>]`,
        `sdagd_phase1_fraction[<layer>]` (layers: the builder's groups hidden_1 … output, else Keras layer names).

        Recomputed from the slots (the last gradient and the curvature average), so training steps pay nothing
        for them; the probes ask only at record steps. The phase-I shares are exact counts over every weight; the
        median of μ is exact too (μ has one value per output unit or variable: a median weighted by how many
        weights share it); the median of h is taken over a fixed sample of at most DIAGNOSTIC_SAMPLE weights per
        variable (weighted by the variable's size): sorting every weight of a 784-700×5-10 net at each record
        would cost more than the training steps between records."""
        variables = [v for v in self._trainable_variables if id(v) not in getattr(self, "_tap_ids", ())]
        slots = self._previous_gradients if self._momentums is None else self._momentums
        scale = 1.0 if self._momentums is None else self._momentum_scale(self.iterations)
        # μ is homogeneous in the gradient: computed from the slots as they are and scaled per unit afterwards, and
        # μ > h compared as μ/scale_h > average: no pass over every weight beyond the two that read the slots
        gradients = [ops.cast(slots[self._get_variable_index(v)], "float32") for v in variables]
        if self.norm_scope == "global":
            total = ops.sqrt(ops.sum(ops.stack([ops.sum(ops.square(g)) for g in gradients])))
            mus = [ops.reshape(total / self.radius, (1,) * len(g.shape)) for g in gradients]
        else:
            mus = [self._relative_step_length(g) * self._sphere_scale(v) for g, v in zip(gradients, variables)]
        growth = self.radius_growth(self.iterations) / self.radius_decay(self.iterations)
        mus = [mu * (scale / growth) for mu in mus]  # relative to the current radius R·γ_k/δ_k
        layers: dict = {}
        for variable, gradient, mu in zip(variables, gradients, mus):
            average, h_scale = self._curvature_parts(variable)
            size = math.prod(gradient.shape)
            mu_count = size // max(math.prod(mu.shape), 1)  # how many weights share each μ
            sample = diagnostic_sample(gradient.shape)
            flat = ops.reshape(average, (-1,))
            h_sample = (ops.take(flat, sample) if sample is not None else flat) * h_scale
            entry = layers.setdefault(self._layer_label(variable), {"mu": [], "h": [], "phase1": [], "size": 0})
            entry["mu"].append((ops.reshape(mu, (-1,)), float(mu_count)))
            entry["h"].append((h_sample, size / float(h_sample.shape[0])))
            entry["phase1"].append(ops.sum(ops.cast(ops.greater(mu / h_scale, average), "float32")))
            entry["size"] += size
        out, in_phase1, count = {"sdagd_radius": self.radius * growth}, 0.0, 0
        for label, entry in layers.items():
            phase1 = ops.sum(ops.stack(entry["phase1"]))
            out[f"sdagd_mu[{label}]"] = weighted_median(entry["mu"])
            out[f"sdagd_h[{label}]"] = weighted_median(entry["h"])
            out[f"sdagd_phase1_fraction[{label}]"] = phase1 / float(entry["size"])
            in_phase1, count = in_phase1 + phase1, count + entry["size"]
        mean_mu = ops.mean(ops.stack([ops.mean(mu) for mu in mus]))  # "unit" has one μ per output unit
        return {"sdagd_mu": mean_mu, "sdagd_phase1_fraction": in_phase1 / float(max(count, 1)), **out}

    def _layer_label(self, variable) -> str:
        site = getattr(self, "_site_of", {}).get(id(variable))
        if site is not None:
            return site.group
        # The builder's hidden_3_dense, hidden_3_bn … → hidden_3, searched in the whole path: a name scope left
        # open by a failed Keras call elsewhere prefixes every later variable's path.
        builder_group = re.search(r"(?:^|/)(hidden_\d+)_[^/]*/|(?:^|/)(output)/", variable.path)
        if builder_group:
            return builder_group.group(1) or builder_group.group(2)
        return variable.path.split("/")[0]

    def get_config(self):
        config = super().get_config()
        config.update({
            "radius": self.radius,
            "curvature_decay": self.curvature_decay,
            "epsilon": self.epsilon,
            "norm_scope": self.norm_scope,
            "batch_size": self.batch_size,
            "curvature": self.curvature_estimate,
            "curvature_every": self.curvature_every,
            "momentum": self.momentum,
            "radius_growth_steps": self.radius_growth_steps,
            "radius_decay_steps": self.radius_decay_steps,
            "curvature_scale": self.curvature_scale,
            "preactivation_radius": self.preactivation_radius,
            "radius_warmup_steps": self.radius_warmup_steps,
            "curvature_examples": self.curvature_examples,
            "ema_every": self.ema_every,
        })
        return config


def _preactivation_scale(x_factor, direction, projected):
    """Per output unit: s = mean_n (x_n·d)² / mean_j d_j², d the kernel part of the unit's step direction — how far a
    per-weight step of 1 along d moves the unit's pre-activation, RMS over the examples (`projected` = [x, 1]·[d; b]
    per example: the bias entry b is taken off again). With inputs that move together (all-positive activations) s
    approaches fan-in × their mean square; with independent inputs it is their mean square."""
    examples = ops.maximum(ops.sum(x_factor[:, -1]), 1.0)  # the ones column: rows past the batch are zero
    kernel_rows = x_factor[:, -1:] * (projected - direction[-1:])  # rows past the batch stay zero
    moved = ops.sum(ops.square(kernel_rows), axis=0) / examples
    per_weight = ops.mean(ops.square(direction[:-1]), axis=0)
    positive = ops.greater(per_weight, 0.0)
    return ops.where(positive, moved / ops.where(positive, per_weight, 1.0), 0.0)
