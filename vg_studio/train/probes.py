"""Per-layer gradient and weight probes computed inside the compiled training step.

The probes live in the optimizer: `with_probes(optimizer)` returns a copy of the user's optimizer whose `apply`
first accumulates, per trainable variable, Σ|g|, Σg² of the very gradients it is about to apply (after loss-scale
unscaling, before clipping), then applies them and accumulates Σ|Δw|, Σ(Δw)² of the step it just took and Σw².
This works unchanged on the TensorFlow, JAX and PyTorch backends because Keras routes every train step through
`optimizer.apply` (on JAX via `stateless_apply`, which tracks the accumulator as an optimizer variable), and it is
compiled into the same XLA/tf.function step: no second pass over the data.

The host reads the small accumulator (n_variables × 6 floats) once every `record_every` steps and resets it;
`ProbeReader` turns it into per-layer-group statistics averaged over the steps since the previous record.
Unit statistics (saturated and dead units) need activations, not gradients: they are measured on a fixed probe
batch at each record by a side model that shares the user's layers.
"""

from __future__ import annotations

import functools

import keras
import numpy as np
from keras import ops

from vg_studio import catalog

# Columns of the accumulator, per trainable variable.
SUM_ABS_GRAD, SUM_SQ_GRAD, SUM_ABS_DELTA, SUM_SQ_DELTA, SUM_SQ_WEIGHT, STEPS = range(6)
_N_STATS = 6

# Per-record, per-layer statistics stored in history.h5 under probes/ (see README "history.h5").
LAYER_STATS = (
    "grad_mean_abs",  # mean |∂L/∂w| over the group's weights, averaged over the steps since the last record
    "grad_norm",  # L2 norm of the group's gradient, averaged likewise
    "weight_norm",  # L2 norm of the group's weights at the record
    "update_mean_abs",  # mean |Δw| per step since the last record (seed 002's flat-weight signal)
    "update_ratio",  # ‖Δw‖/‖w‖ per step: the relative update size
    "saturated_fraction",  # share of (example, unit) pre-activations in sigmoid/tanh's flat tails
    "dead_fraction",  # share of ReLU units inactive on every probe example
)


class _ProbeMixin:
    """Mixed in front of a keras optimizer class by `with_probes`."""

    def build(self, variables):
        super().build(variables)
        self._vg_sizes = [int(np.prod(v.shape)) for v in variables]
        self.vg_probe_stats = self.add_variable(
            shape=(len(variables), _N_STATS), initializer="zeros", dtype="float32", name="vg_probe_stats")

    def apply(self, grads, trainable_variables=None):
        if not self.built and trainable_variables is not None:
            with keras.backend.name_scope(self.name, caller=self):
                self.build(list(trainable_variables))
            self.built = True
        variables = self._trainable_variables if trainable_variables is None else list(trainable_variables)
        scale = self.loss_scale_factor
        grad_rows = []
        before = []
        for g, v in zip(grads, variables):
            if g is None:
                grad_rows.append((0.0, 0.0))
            else:
                g = ops.cast(g, "float32")
                if scale is not None:
                    g = g / scale
                grad_rows.append((ops.sum(ops.abs(g)), ops.sum(ops.square(g))))
            before.append(ops.cast(ops.convert_to_tensor(v), "float32"))
        super().apply(grads, trainable_variables)
        rows = []
        for (g_abs, g_sq), w0, v in zip(grad_rows, before, variables):
            w1 = ops.cast(ops.convert_to_tensor(v), "float32")
            delta = w1 - w0
            rows.append(ops.stack([
                ops.cast(g_abs, "float32"), ops.cast(g_sq, "float32"),
                ops.sum(ops.abs(delta)), ops.sum(ops.square(delta)), ops.sum(ops.square(w1)),
                ops.ones((), "float32"),
            ]))
        self.vg_probe_stats.assign_add(ops.stack(rows))


@functools.lru_cache(maxsize=None)
def _probed_class(cls):
    return type(f"Probed{cls.__name__}", (_ProbeMixin, cls), {"__module__": __name__})


def with_probes(optimizer: keras.optimizers.Optimizer) -> keras.optimizers.Optimizer:
    """A fresh optimizer of the same class and configuration that also records gradient probes."""
    cls = type(optimizer)
    if isinstance(optimizer, _ProbeMixin):
        return optimizer
    return _probed_class(cls).from_config(optimizer.get_config())


class ProbeReader:
    """Reads and resets the in-step accumulator; aggregates variables into the spec's layer groups."""

    def __init__(self, model: keras.Model, optimizer, groups, probe_x: np.ndarray | None, unit_stats: bool):
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
        self.unit_model = None
        if unit_stats and probe_x is not None:
            taps = [layer_by_name[g.preact_layer].output for g in groups if g.preact_layer]
            if taps:
                self.unit_model = keras.Model(model.input, taps)

    def read(self) -> dict:
        """Per-group statistics since the previous read (arrays of length n_groups), then reset."""
        acc = np.asarray(keras.ops.convert_to_numpy(self.optimizer.vg_probe_stats), dtype=np.float64)
        self.optimizer.vg_probe_stats.assign(np.zeros(acc.shape, dtype="float32"))
        steps = max(float(acc[:, STEPS].max()), 1.0)
        out = {name: np.full(len(self.groups), np.nan) for name in LAYER_STATS}
        for gi, ids in enumerate(self.group_vars):
            if len(ids) == 0:
                continue
            n = self.sizes[ids].sum()
            s = acc[ids].sum(axis=0)
            weight_norm = np.sqrt(s[SUM_SQ_WEIGHT] / steps)
            out["grad_mean_abs"][gi] = s[SUM_ABS_GRAD] / steps / n
            out["grad_norm"][gi] = np.sqrt(s[SUM_SQ_GRAD] / steps)
            out["weight_norm"][gi] = weight_norm
            out["update_mean_abs"][gi] = s[SUM_ABS_DELTA] / steps / n
            out["update_ratio"][gi] = np.sqrt(s[SUM_SQ_DELTA] / steps) / max(weight_norm, 1e-30)
        if self.unit_model is not None:
            saturated, dead = self._unit_stats()
            out["saturated_fraction"][: len(saturated)] = saturated
            out["dead_fraction"][: len(dead)] = dead
        out["steps"] = steps
        return out

    def _unit_stats(self):
        preacts = self.unit_model(self.probe_x, training=False)
        if not isinstance(preacts, (list, tuple)):
            preacts = [preacts]
        saturated, dead = [], []
        for group, z in zip([g for g in self.groups if g.preact_layer], preacts):
            z = np.asarray(keras.ops.convert_to_numpy(z), dtype=np.float64)
            saturated.append(saturated_fraction(group.activation, z))
            dead.append(dead_fraction(group.activation, z))
        return saturated, dead


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
