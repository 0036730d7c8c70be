"""Per-layer gradient and weight probes; the gradient statistics are computed inside the compiled training step.

`with_probes(optimizer, record_every)` returns a copy of the user's optimizer whose `apply` — on each record step
only, under `ops.cond` — reduces the very gradients it is about to apply (after loss-scale unscaling, before
clipping) to Σ|g| and Σg² per trainable variable and stores them in a small optimizer variable. This works on the
TensorFlow, JAX and PyTorch backends alike because Keras routes every train step through `optimizer.apply` (on JAX
via `stateless_apply`, which carries the variable as optimizer state), and it is traced into the same compiled step:
no second pass over the data, and nothing at all on the steps between records.

At each record the host reads that (n_variables × 3) array and, from a snapshot of the weights, the weight norms
and the net change since the previous record. `ProbeReader` aggregates variables into the spec's layer groups.
Unit statistics (saturated and dead units) need activations, not gradients: they are measured on a fixed probe
batch at each record by a side model that shares the user's layers.
"""

from __future__ import annotations

import functools

import keras
import numpy as np
from keras import ops

from vg_studio import catalog

# Columns of the in-step array, per trainable variable: Σ|g|, Σg², and the step they were computed at.
SUM_ABS_GRAD, SUM_SQ_GRAD, AT_STEP = range(3)
_N_STATS = 3

LAYER_STATS = catalog.LAYER_STATS  # the per-layer statistics each record carries


class _ProbeMixin:
    """Mixed in front of a keras optimizer class by `with_probes`."""

    vg_record_every = 1
    vg_time_probe = None  # the TimeStepProbe's zero tensor, for recurrent networks (vg_studio.nn.build)

    def build(self, variables):
        super().build(variables)
        self.vg_probe_stats = self.add_variable(
            shape=(len(variables), _N_STATS), initializer="zeros", dtype="float32", name="vg_probe_stats")
        self._vg_time_index = None
        if self.vg_time_probe is not None:
            self._vg_time_index = [id(v) for v in variables].index(id(self.vg_time_probe))
            steps = self.vg_time_probe.shape[1]
            # mean |dL/dx_t| per time step, and the step it was computed at (last entry)
            self.vg_time_stats = self.add_variable(shape=(steps + 1,), initializer="zeros", dtype="float32",
                                                   name="vg_time_stats")

    def apply(self, grads, trainable_variables=None):
        if not self.built and trainable_variables is not None:
            with keras.backend.name_scope(self.name, caller=self):
                self.build(list(trainable_variables))
            self.built = True
        step = ops.cast(self.iterations, "float32") + 1.0  # this step, 1-based
        # mirrors is_record_step: the first step, then every record_every steps
        is_record = ops.logical_or(ops.equal(ops.mod(step, float(self.vg_record_every)), 0.0), ops.equal(step, 1.0))
        scale = self.loss_scale_factor

        def reduce_gradients():
            rows = []
            for g in grads:
                if g is None:
                    rows.append(ops.stack([0.0, 0.0, step]))
                    continue
                g = ops.cast(g, "float32")
                if scale is not None:
                    g = g / scale
                rows.append(ops.stack([ops.sum(ops.abs(g)), ops.sum(ops.square(g)), step]))
            return ops.stack(rows)

        current = ops.convert_to_tensor(self.vg_probe_stats)
        # The assignment stays outside the cond: JAX's stateless scope does not allow side effects in a branch.
        self.vg_probe_stats.assign(ops.cond(is_record, reduce_gradients, lambda: current))
        if self._vg_time_index is None:
            super().apply(grads, trainable_variables)
            return
        variables = self._trainable_variables if trainable_variables is None else list(trainable_variables)
        grads, variables = list(grads), list(variables)
        probe_grad = grads.pop(self._vg_time_index)
        variables.pop(self._vg_time_index)  # the probe stays zero: it is measured, never trained

        def reduce_time_steps():
            g = ops.abs(ops.cast(probe_grad, "float32"))
            if scale is not None:
                g = g / scale
            per_example = ops.sum(g, axis=tuple(range(2, len(g.shape))))  # (batch rows, steps)
            used = ops.maximum(ops.sum(ops.cast(ops.sum(per_example, axis=1) > 0, "float32")), 1.0)
            features = float(np.prod(g.shape[2:]))
            return ops.concatenate([ops.sum(per_example, axis=0) / used / features, ops.reshape(step, (1,))])

        current_time = ops.convert_to_tensor(self.vg_time_stats)
        self.vg_time_stats.assign(ops.cond(is_record, reduce_time_steps, lambda: current_time))
        super().apply(grads, variables)
        # Re-state p = 0 as this step's value: on JAX an untouched variable would hand its donated input buffer
        # back as an output ("donate the same buffer twice" on the next step).
        self.vg_time_probe.assign(ops.zeros(self.vg_time_probe.shape, self.vg_time_probe.dtype))


def is_record_step(step: int, record_every: int) -> bool:
    """Records are taken at the first step — so a network broken from its initialization is diagnosed at once —
    and then every `record_every` steps."""
    return step == 1 or step % record_every == 0


@functools.lru_cache(maxsize=None)
def _probed_class(cls):
    return type(f"Probed{cls.__name__}", (_ProbeMixin, cls), {"__module__": __name__})


def with_probes(optimizer: keras.optimizers.Optimizer, record_every: int = 1, time_probe=None,
                ) -> keras.optimizers.Optimizer:
    """A fresh optimizer of the same class and configuration that also reduces the gradients every
    `record_every` steps; `time_probe` is a TimeStepProbe layer whose gradient gives the per-time-step probe."""
    probed = optimizer if isinstance(optimizer, _ProbeMixin) else _probed_class(type(optimizer)).from_config(
        optimizer.get_config())
    probed.vg_record_every = int(record_every)
    probed.vg_time_probe = time_probe.probe if time_probe is not None else None
    return probed


class ProbeReader:
    """Reads and resets the in-step accumulator; aggregates variables into the spec's layer groups."""

    def __init__(self, model: keras.Model, optimizer, groups, probe_x: np.ndarray | None, unit_stats: bool,
                 user_model: keras.Model | None = None):
        """`model` is the model being trained (its variables are probed); `user_model`, when that is a training
        graph around the user's network, is the network whose pre-activations the unit statistics read."""
        self.model = model
        self.optimizer = optimizer
        self.groups = groups
        index = {id(v): i for i, v in enumerate(model.trainable_variables)}
        layer_by_name = {layer.name: layer for layer in model.layers}
        self.group_vars = []
        self.group_kernels = []
        for group in groups:
            ids = [index[id(v)] for name in group.layer_names for v in layer_by_name[name].trainable_variables]
            self.group_vars.append(np.array(sorted(ids), dtype=int))
        self.sizes = np.array([int(np.prod(v.shape)) for v in model.trainable_variables], dtype=np.float64)
        self.probe_x = probe_x
        self.previous_weights = None
        self.previous_step = 0
        self.unit_model = None
        if unit_stats and probe_x is not None:
            user_model = user_model or model
            taps = [user_model.get_layer(g.preact_layer).output for g in groups if g.preact_layer]
            if taps:
                self.unit_model = keras.Model(user_model.input, taps)

    def read(self, step: int) -> dict:
        """Per-group statistics at training step `step` (arrays of length n_groups). Gradient statistics are
        NaN when `step` is not a record step (e.g. a record forced by a non-finite loss)."""
        acc = np.asarray(keras.ops.convert_to_numpy(self.optimizer.vg_probe_stats), dtype=np.float64)
        fresh = bool(acc.size) and int(round(acc[:, AT_STEP].max())) == step
        weights = self._snapshot()
        previous, self.previous_weights = self.previous_weights, weights
        steps = max(step - self.previous_step, 1)
        self.previous_step = step
        # Per variable: Σw², Σ|Δw|, Σ(Δw)² in float32 NumPy (BLAS dot products where possible: this runs on the
        # host at every record, so it must stay cheap).
        per_var = np.zeros((len(weights), 3))
        for i, w in enumerate(weights):
            per_var[i, 0] = np.dot(w, w)
            if previous is not None:
                d = w - previous[i]
                per_var[i, 1] = np.abs(d).sum(dtype=np.float64)
                per_var[i, 2] = np.dot(d, d)
        out = {name: np.full(len(self.groups), np.nan) for name in LAYER_STATS}
        for gi, ids in enumerate(self.group_vars):
            if len(ids) == 0:
                continue
            n = self.sizes[ids].sum()
            if fresh:
                out["grad_mean_abs"][gi] = acc[ids, SUM_ABS_GRAD].sum() / n
                out["grad_norm"][gi] = np.sqrt(acc[ids, SUM_SQ_GRAD].sum())
            out["weight_norm"][gi] = weight_norm = np.sqrt(per_var[ids, 0].sum())
            if previous is not None:
                out["update_mean_abs"][gi] = per_var[ids, 1].sum() / n / steps
                delta_norm = np.sqrt(per_var[ids, 2].sum())
                out["update_ratio"][gi] = delta_norm / steps / weight_norm if weight_norm > 0 else np.nan
        if self.unit_model is not None:
            for gi, saturated, dead in self._unit_stats():
                out["saturated_fraction"][gi] = saturated
                out["dead_fraction"][gi] = dead
        return out

    def read_time_steps(self, step: int) -> np.ndarray | None:
        """mean |∂L/∂x_t| per input time step at `step` (NaN if `step` was not a record step); None when the
        network is not recurrent."""
        if getattr(self.optimizer, "vg_time_probe", None) is None:
            return None
        values = np.asarray(keras.ops.convert_to_numpy(self.optimizer.vg_time_stats), dtype=np.float64)
        if int(round(values[-1])) != step:
            return np.full(len(values) - 1, np.nan)
        return values[:-1]

    def start(self, step: int = 0) -> None:
        """Take the reference weight snapshot the first record's change is measured against."""
        self.previous_weights = self._snapshot()
        self.previous_step = step

    def _snapshot(self) -> list:
        # On the torch backend convert_to_numpy shares memory the optimizer updates in place: copy it there only.
        copy = keras.backend.backend() == "torch"
        return [np.array(keras.ops.convert_to_numpy(v), dtype=np.float32, copy=copy or None).ravel()
                for v in self.model.trainable_variables]

    def _unit_stats(self):
        """(group index, saturated fraction, dead fraction) for each group with a pre-activation tap."""
        preacts = self.unit_model.predict_on_batch(self.probe_x)  # the compiled predict step, not eager
        if not isinstance(preacts, (list, tuple)):
            preacts = [preacts]
        tapped = [(gi, g) for gi, g in enumerate(self.groups) if g.preact_layer]
        return [(gi, saturated_fraction(group.activation, np.asarray(z)), dead_fraction(group.activation, np.asarray(z)))
                for (gi, group), z in zip(tapped, preacts)]


# Pre-activation magnitude beyond which a unit is "saturated": σ'(5) ≈ 0.0066 (2.7 % of σ's maximum 0.25, the
# ±5 of DeepDiagnosis); tanh'(2.5) ≈ 0.027 (2.7 % of its maximum 1). Same relative flatness for both.
SATURATION_THRESHOLD = {"sigmoid": 5.0, "tanh": 2.5}


def saturated_fraction(activation: str, preact: np.ndarray) -> float:
    if activation not in catalog.SATURATING:
        return 0.0
    return float(np.mean(np.abs(preact) > SATURATION_THRESHOLD[activation]))


def dead_fraction(activation: str, preact: np.ndarray) -> float:
    """Units whose pre-activation is ≤ 0 on every probe example: for ReLU they pass no gradient at all."""
    if activation not in catalog.DYING or preact.ndim != 2:
        return 0.0
    return float(np.mean(np.all(preact <= 0, axis=0)))
