"""Stochastic Diagonal Approximate Greatest Descent (SDAGD), seed 003 §III, as a Keras 3 optimizer.

    w ← w − lr · g / (μ + h + ε),   μ = ‖g‖ / R,   h ≈ diag of the truncated (Gauss–Newton) Hessian

Far from a minimum μ ≫ h and every step has length lr·R along −g (phase I, Goh's spherical search region);
near it μ ≪ h and the step becomes the diagonal Newton step g/h (phase II). With norm_scope="tensor" the norm,
and so the step length R, is per variable: every layer moves by R whatever the size of its gradient, which is
what lets deep sigmoid networks train (docs/sdagd.md has the derivation, the measurements and every choice).

Curvature: the update only sees the mini-batch mean gradient ḡ. Its running mean square vanishes with the
gradient, so instead h is the per-example gradient variance — the (centred) Fisher / Gauss–Newton diagonal, equal
to the Hessian diagonal at a well-fitted negative-log-likelihood minimum — recovered from the mean gradient as
B·½·E[(ḡ_k − ḡ_{k−1})²]: successive mini-batches carry independent noise of variance σ²/B each, and the difference
cancels the slowly drifting mean, which a plain variance around a running mean would count as curvature.
"""

from __future__ import annotations

import math

import keras
from keras import ops

NORM_SCOPES = ("fan_in", "rms", "tensor", "global")


def _fan_in(shape) -> int:
    """Inputs per output unit: all axes but the last (Dense/Conv kernels); 1 for a bias."""
    return max(1, math.prod(shape[:-1]))


@keras.saving.register_keras_serializable(package="vg_studio")
class SDAGD(keras.optimizers.Optimizer):
    """SDAGD (Tan, Lim & Harno 2017; seed 003).

    Args:
        learning_rate: multiplier on the whole step (1.0 = the method as published).
        radius: R, the radius of the local search region: the phase-I step length per tensor (or for the whole
            parameter vector with norm_scope="global").
        curvature_decay: running-average rate of the curvature estimate (like Adam's beta_2).
        epsilon: damping added to μ + h so a zero gradient gives a zero step.
        norm_scope: "tensor" (μ per variable, default) or "global" (one μ for all variables, as in Goh's AGD).
        batch_size: the training mini-batch size; turns the variance of the mean gradient into the per-example
            variance (a wrong value scales h, i.e. only the phase-II step, by the ratio).
    """

    def __init__(
        self,
        learning_rate=1.0,
        radius=0.5,
        curvature_decay=0.99,
        epsilon=1e-8,
        norm_scope="tensor",
        batch_size=100,
        weight_decay=None,
        clipnorm=None,
        clipvalue=None,
        global_clipnorm=None,
        use_ema=False,
        ema_momentum=0.99,
        ema_overwrite_frequency=None,
        loss_scale_factor=None,
        gradient_accumulation_steps=None,
        name=None,
        **kwargs,
    ):
        super().__init__(
            learning_rate=learning_rate,
            name=name,
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
        if norm_scope not in NORM_SCOPES:
            raise ValueError(f"norm_scope: must be one of {', '.join(NORM_SCOPES)}, got {norm_scope!r}")
        for field, value in (("radius", radius), ("batch_size", batch_size)):
            if not value > 0:
                raise ValueError(f"{field}: must be > 0, got {value!r}")
        if not 0.0 <= curvature_decay < 1.0:
            raise ValueError(f"curvature_decay: must be in [0, 1), got {curvature_decay!r}")
        self.radius = radius
        self.curvature_decay = curvature_decay
        self.epsilon = epsilon
        self.norm_scope = norm_scope
        self.batch_size = batch_size
        self._global_mu = None  # set per step by _backend_update_step when norm_scope="global"
        self._step_curvature_scale = None  # set per step by _backend_update_step

    def build(self, var_list):
        if self.built:
            return
        super().build(var_list)
        self._previous_gradients, self._half_sq_errors = self.add_optimizer_variables(
            var_list, ["previous_gradient", "half_sq_difference"])

    def _curvature_scale(self, errors_seen):
        """B / (1 − β^n): turns the running mean of ½Δḡ² over n differences into the per-example variance."""
        decay = ops.cast(self.curvature_decay, "float32")
        correction = ops.maximum(1.0 - ops.power(decay, ops.cast(errors_seen, "float32")), 1e-12)
        return ops.cast(self.batch_size, "float32") / correction

    def curvature(self, variable):
        """The current Hessian-diagonal estimate h for `variable` (zeros before the second step)."""
        index = self._get_variable_index(variable)
        seen = ops.maximum(ops.cast(self.iterations, "float32") - 1.0, 0.0)  # differences averaged so far
        return self._curvature_scale(seen) * ops.cast(self._half_sq_errors[index], "float32")

    def _relative_step_length(self, gradient):
        """μ for one variable (norm_scope "tensor" or "rms"); "global" is computed once per step."""
        squares = ops.square(gradient)
        if self.norm_scope == "tensor":
            return ops.sqrt(ops.sum(squares)) / ops.cast(self.radius, gradient.dtype)
        radius = self.radius / (_fan_in(gradient.shape) if self.norm_scope == "fan_in" else 1)
        return ops.sqrt(ops.mean(squares)) / ops.cast(radius, gradient.dtype)

    def _backend_update_step(self, grads, trainable_variables, learning_rate):
        # Per-step scalars shared by every variable, computed once instead of once per variable.
        self._step_curvature_scale = self._curvature_scale(self.iterations)
        if self.norm_scope == "global":
            squares = [ops.sum(ops.square(ops.cast(g, "float32"))) for g in grads]
            self._global_mu = ops.sqrt(ops.sum(ops.stack(squares))) / self.radius
        super()._backend_update_step(grads, trainable_variables, learning_rate)
        self._global_mu = self._step_curvature_scale = None

    def update_step(self, gradient, variable, learning_rate):
        dtype = variable.dtype
        gradient = ops.cast(gradient, dtype)
        index = self._get_variable_index(variable)
        previous = self._previous_gradients[index]
        half_sq = self._half_sq_errors[index]

        # Curvature: running mean of ½(g_k − g_{k−1})². Successive batches carry independent noise of variance
        # σ²/B each, so B·½·E[Δg²] = σ², the per-example gradient variance (Fisher / Gauss–Newton diagonal). The
        # change the optimizer's own noise-driven steps cause inflates it by up to ~1.8× in phase II (docs/sdagd.md);
        # subtracting h∘Δw instead feeds back on itself and diverged in phase I. The first step has no g_{k−1}.
        rate = (1 - ops.cast(self.curvature_decay, dtype)) * ops.cast(ops.greater(self.iterations, 0), dtype)
        new_half_sq = half_sq + rate * (0.5 * ops.square(gradient - previous) - half_sq)
        self.assign(half_sq, new_half_sq)
        self.assign(previous, gradient)
        if self._global_mu is not None:
            mu = ops.cast(self._global_mu, dtype)
        else:
            mu = self._relative_step_length(gradient)
        # μ + h + ε as one fused multiply-add: the scalars are folded before touching the tensor
        denominator = new_half_sq * ops.cast(self._step_curvature_scale, dtype) + (mu + ops.cast(self.epsilon, dtype))
        self.assign_sub(variable, gradient * (ops.cast(learning_rate, dtype) / denominator))

    def diagnostic_scalars(self) -> dict:
        """Scalars of the latest step for the run history: μ (mean over variables; the one μ with
        norm_scope="global") and the share of weights still in phase I (μ > h).

        Recomputed on demand from the slots (the last gradient and the curvature average), so training steps
        pay nothing for them; the trainer asks only at record steps."""
        gradients = [ops.cast(g, "float32") for g in self._previous_gradients]
        if self.norm_scope == "global":
            total = ops.sqrt(ops.sum(ops.stack([ops.sum(ops.square(g)) for g in gradients])))
            mus = [total / self.radius] * len(gradients)
        else:
            mus = [self._relative_step_length(g) for g in gradients]
        seen = ops.maximum(ops.cast(self.iterations, "float32") - 1.0, 0.0)
        scale = self._curvature_scale(seen)
        in_phase1 = [ops.sum(ops.cast(ops.greater(mu, scale * ops.cast(q, "float32")), "float32"))
                     for mu, q in zip(mus, self._half_sq_errors)]
        count = float(sum(math.prod(g.shape) for g in gradients))
        return {"sdagd_mu": ops.mean(ops.stack(mus)), "sdagd_phase1_fraction": ops.sum(ops.stack(in_phase1)) / count}

    def get_config(self):
        config = super().get_config()
        config.update({
            "radius": self.radius,
            "curvature_decay": self.curvature_decay,
            "epsilon": self.epsilon,
            "norm_scope": self.norm_scope,
            "batch_size": self.batch_size,
        })
        return config
