"""One optimizer's probe: around each of its updates, on record steps, what the update applied.

The probe stands in for the optimizer's own entry point while a probed step runs — `apply` (TensorFlow,
PyTorch: Keras's `train_step` and a custom one's `apply_gradients` go through it) or `stateless_apply` (JAX) — as
an attribute of that one optimizer object, set for the duration of the call and removed after it: the optimizer's
class, configuration and variables are never touched. Around the optimizer's own update it reads the weights
before and after, and measures, from the gradients handed to the optimizer:

- the gradient the optimizer applies: divided by the loss scale (`loss_scale_factor`, or a LossScaleOptimizer's
  dynamic scale), summed across replicas under `tf.distribute` (per-replica gradients are added before any
  statistic, as the optimizer adds them; statistics are never averaged across replicas), and with
  `gradient_accumulation_steps` the accumulated average the optimizer applies at its update step; before clipping;
- only the variables the optimizer updates from gradients (not those it overwrites with their "gradient", such as
  float8 scales and amax histories) and only those with a gradient in this step.

Records follow the step counter of the probed step (vg_studio.train.probes.step): a record falls due at the first
step and every `record_every` steps; it is taken at the next update the optimizer really applies (with gradient
accumulation: the step that applies the accumulated gradient; with loss scaling: not a step skipped for
non-finite gradients), labelled with that step. On the steps between records a `cond` skips every copy and
reduction (PyTorch decides on the host). An optimizer applied several times in one step (a critic's extra steps,
or one part of the model after another) records each variable at its last update of the record step, in one slot.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import Callable

import keras
import numpy as np
from keras import ops

from vg_studio.train.probes.measure import measure, quantities
from vg_studio.train.probes.sampling import plan_samples
from vg_studio.train.statistics import ROW_WIDTH

RING_SIZE = 64  # records the device holds between two host reads


class OptimizerProbe:
    """The probe of `optimizer` (named `label`, its attribute on the model) inside `owner`'s probed step."""

    def __init__(self, label: str, optimizer, owner):
        self.label, self.optimizer, self.owner = label, optimizer, owner
        self.index = len(owner.probes)
        self.variables: list | None = None  # the measured variables, in the optimizer's order
        self.sizes = np.zeros(0, dtype=np.int64)
        self.samples: list = []
        self.measured = np.zeros(0, dtype=bool)  # a gradient reached the variable in the traced step
        self.applied = False  # the optimizer applied gradients while a step was traced
        self.scalar_names: list[str] = []
        self.store = None
        self.accumulation = int(getattr(optimizer, "gradient_accumulation_steps", None) or 0)
        self.loss_scaled = isinstance(optimizer, keras.optimizers.LossScaleOptimizer)
        self.host: dict = {}  # PyTorch: the counters kept on the host
        self.plan_built()

    # ---- planning -----------------------------------------------------------------------------------------
    def plan_built(self) -> None:
        """Plan now if the optimizer is built (else its first update plans)."""
        if self.optimizer.built and getattr(self.optimizer, "_trainable_variables", None):
            self.plan(list(self.optimizer._trainable_variables))

    def plan(self, variables) -> None:
        """Decide, once, which variables are measured and make the record store for them."""
        if self.variables is not None:
            return
        watch = self.owner.watch
        self.variables = [v for v in variables if watch(v) and not getattr(v, "overwrite_with_gradient", False)]
        self._slot_of = {id(v): j for j, v in enumerate(self.variables)}
        self.sizes = np.array([int(np.prod(v.shape)) for v in self.variables], dtype=np.int64)
        self.samples = plan_samples(self.sizes)
        self.measured = np.zeros(len(self.variables), dtype=bool)
        report = getattr(self.optimizer, "diagnostic_scalars", None)  # e.g. SDAGD's μ and phase-I share
        self.scalar_names = sorted(report()) if callable(report) and self.optimizer.built else []
        v, s = max(len(self.variables), 1), max(len(self.scalar_names), 1)
        self.store = self.owner.make_store(self.index, {
            "rows": ((RING_SIZE, v, ROW_WIDTH), "float32", 0), "steps": ((RING_SIZE,), "int32", 0),
            "count": ((), "int32", 0), "pending": ((), "int32", 0), "scalars": ((RING_SIZE, s), "float32", 0),
            "last": ((), "int32", 0)})

    def start(self) -> None:
        """A new run: nothing pending; PyTorch's host counters from the optimizer's state."""
        if self.store is not None:
            self.store.reset("pending", 0)
            self.store.reset("last", 0)
        if self.owner.backend == "torch":
            self.host = {"iterations": steps_taken(self.optimizer), "pending": False, "records": []}

    # ---- the entry points ---------------------------------------------------------------------------------
    def apply(self, original, grads, trainable_variables=None):
        """TensorFlow and PyTorch: `optimizer.apply(grads, trainable_variables)`."""
        opt = self.optimizer
        if self.owner.busy:  # an optimizer applied from within another probed one (a MultiOptimizer's parts)
            return original(grads, trainable_variables)
        if trainable_variables is None and not opt.built:
            return original(grads, trainable_variables)
        variables = list(trainable_variables) if trainable_variables is not None else list(opt._trainable_variables)
        if not opt.built:  # as `apply` would, first: the probe reads the optimizer's state before the update
            with keras.name_scope(opt.name, caller=opt):
                opt.build(variables)
            opt.built = True
        self.plan(variables)
        self.applied = True
        picks = self._picks(grads, variables)
        with self.owner.inside():
            if self.owner.backend == "torch":
                return self._eager(original, grads, trainable_variables, picks)
            current = _current
            self._traced(picks, _Update(before=current, after=current, state=current, state_after=current,
                                        run=lambda: original(grads, trainable_variables)))

    def stateless_apply(self, original, optimizer_variables, grads, trainable_variables):
        """JAX: `optimizer.stateless_apply(optimizer_variables, grads, trainable_variables)`."""
        if self.owner.busy:
            return original(optimizer_variables, grads, trainable_variables)
        opt = self.optimizer
        built = list(opt._trainable_variables)  # the order of `trainable_variables`
        self.plan(built)
        self.applied = True
        picks = self._picks(grads, built)
        index = {id(v): i for i, v in enumerate(built)}
        position = {id(v): i for i, v in enumerate(opt.variables)}
        new = {}

        def run():
            new["trainable"], new["optimizer"] = original(optimizer_variables, grads, trainable_variables)

        def after_scope():  # the optimizer's report reads its state, and the weights, after the update
            return keras.StatelessScope(state_mapping=list(zip(opt.variables, new["optimizer"]))
                                        + list(zip(built, new["trainable"])))

        with self.owner.inside():
            self._traced(picks, _Update(
                before=lambda v: trainable_variables[index[id(v)]], after=lambda v: new["trainable"][index[id(v)]],
                state=lambda v: optimizer_variables[position[id(v)]],
                state_after=lambda v: new["optimizer"][position[id(v)]], run=run, after_scope=after_scope))
        return new["trainable"], new["optimizer"]

    def _picks(self, grads, variables) -> list:
        """(slot, gradient) of the measured variables that have a gradient, in slot order."""
        picks = sorted((self._slot_of[id(v)], g) for g, v in zip(grads, variables)
                       if g is not None and id(v) in self._slot_of)
        for j, _ in picks:
            self.measured[j] = True
        return picks

    # ---- compiled steps (TensorFlow, JAX) -----------------------------------------------------------------
    def _traced(self, picks, update: "_Update") -> None:
        opt, store, samples, variables = self.optimizer, self.store, self.samples, self.variables
        step, record_now = self.owner.step_and_record()
        pending = ops.logical_or(store.get("pending") > 0, record_now)
        gate = pending
        if self.accumulation > 1:  # only the k-th call applies an update
            calls = ops.cast(update.state(steps_counter(opt)), "int32")
            gate = ops.logical_and(gate, ops.equal(ops.mod(calls + 1, self.accumulation), 0))
        scale = self._scale(update.state)
        # Under several replicas the gradients' sample is summed across them on every step (a collective must
        # not sit in a branch some replica might skip); otherwise it is taken on record steps only.
        several = self.owner.several_replicas()
        summed = self.owner.sum_across_replicas([samples[j].take(ops.convert_to_tensor(g)) for j, g in picks]) \
            if several else None
        accumulators = self._accumulators(update.state, [j for j, _ in picks])

        def read_before():
            out = [ops.copy(samples[j].take(update.before(variables[j]))) for j, _ in picks]
            return out + [samples[j].take(a) for (j, _), a in zip(picks, accumulators)]

        def no_read():
            out = [ops.zeros((samples[j].count,), variables[j].dtype) for j, _ in picks]
            return out + [ops.zeros((samples[j].count,), a.dtype) for (j, _), a in zip(picks, accumulators)]

        before = _cond(gate, read_before, no_read) if picks else []  # copies only on record steps
        with _after(before):
            update.run()

        def applied():
            ok = gate
            if self.loss_scaled:  # a step with non-finite gradients halves the scale and applies nothing
                ok = ops.logical_and(ok, ops.greater_equal(update.state_after(opt.dynamic_scale), scale))
            return ok

        def rows():
            sampled = summed if summed is not None else \
                [samples[j].take(ops.convert_to_tensor(g)) for j, g in picks]
            after = [samples[j].take(update.after(variables[j])) for j, _ in picks]
            weights_before, accumulated = before[:len(picks)], before[len(picks):]
            qs = [None] * len(variables)
            for k, ((j, _), g, w0, w1) in enumerate(zip(picks, sampled, weights_before, after)):
                g = ops.cast(g, "float32")
                if accumulated:  # the accumulated average the optimizer applies at its update step
                    g = (g + ops.cast(accumulated[k], "float32")) / float(self.accumulation)
                if scale is not None:
                    g = g / ops.cast(scale, "float32")
                qs[j] = quantities(g, w0, w1)
            return measure(qs, samples), self._scalars(update.after_scope)

        def write(ok, row, scalar_row):
            # a further update of the step already recorded (a critic's extra updates, or another part of the
            # model) goes into that step's slot: per variable its last update, and one slot per step in the ring
            count = ops.cast(store.get("count"), "int32")
            again = ops.logical_and(ok, ops.logical_and(count > 0, ops.equal(store.get("last"), step)))
            slot = ops.mod(count - ops.cast(again, "int32"), RING_SIZE)
            untouched = ops.logical_not(ops.any(ops.not_equal(row, 0), axis=1, keepdims=True))
            row = ops.where(ops.logical_and(again, untouched), ops.take(store.get("rows"), slot, axis=0), row)
            store.write_slot("rows", slot, row)
            store.write_slot("steps", slot, ops.where(ok, step, ops.zeros_like(step)))
            store.write_slot("scalars", slot, scalar_row)
            store.set("count", count + ops.cast(ops.logical_and(ok, ops.logical_not(again)), "int32"))
            store.set("last", ops.where(ok, step, store.get("last")))

        zeros = (ops.zeros((max(len(variables), 1), ROW_WIDTH), "float32"),
                 ops.zeros((max(len(self.scalar_names), 1),), "float32"))
        if store.writes_in_branches and not several:
            # TensorFlow: the whole record — its reads, reductions and ring writes — is one branch, so a step
            # between records runs none of it
            def record():
                write(applied(), *(rows() if picks else zeros))
                return ops.zeros((), "int32")

            ok = applied()
            _cond(gate, record, lambda: ops.zeros((), "int32"))
        else:  # JAX's carry is written outside the branch: the branch returns the row
            ok = applied()
            write(ok, *(_cond(gate, rows, lambda: zeros) if picks else zeros))
        store.set("pending", ops.cast(ops.logical_and(pending, ops.logical_not(ok)), "int32"))

    def _scale(self, value_of):
        """The loss scale the gradients carry (None: unscaled)."""
        if self.loss_scaled:
            return value_of(self.optimizer.dynamic_scale)
        return self.optimizer.loss_scale_factor

    def _accumulators(self, value_of, slots) -> list:
        """Keras's gradient accumulators of the picked variables (empty without gradient accumulation): what the
        optimizer adds to this step's gradient at its update step."""
        if self.accumulation < 2:
            return []
        opt = self.optimizer
        if not hasattr(opt, "_accumulated_gradients"):
            from vg_studio.train.probes.step import CannotWatch

            raise CannotWatch(f"GradientMonitor: {self.label} accumulates gradients where this Keras version does "
                              "not let the probes read them; fit without gradient_accumulation_steps")
        return [value_of(opt._accumulated_gradients[opt._get_variable_index(self.variables[j])]) for j in slots]

    def _scalars(self, after_scope=contextlib.nullcontext):
        """The optimizer's own report after its update (`diagnostic_scalars()`, e.g. SDAGD's μ), in name order."""
        if not self.scalar_names:
            return ops.zeros((1,), "float32")
        with after_scope():
            report = self.optimizer.diagnostic_scalars()
            return ops.stack([ops.cast(report[name], "float32") for name in self.scalar_names])

    # ---- eager steps (PyTorch) ----------------------------------------------------------------------------
    def _eager(self, original, grads, trainable_variables, picks):
        host = self.host
        host["iterations"] += 1
        step, record_now = self.owner.step_and_record()
        pending = host["pending"] or record_now
        applies = self.accumulation < 2 or host["iterations"] % self.accumulation == 0
        if not (pending and applies and picks):
            host["pending"] = pending
            return original(grads, trainable_variables)
        opt, samples = self.optimizer, self.samples
        scale = self._scale(lambda variable: variable.value)
        scale_before = float(ops.convert_to_numpy(scale)) if scale is not None else None
        accumulators = [ops.copy(samples[j].take(a)) for (j, _), a in
                        zip(picks, self._accumulators(lambda variable: variable.value, [j for j, _ in picks]))]
        before = [ops.copy(samples[j].take(self.variables[j].value)) for j, _ in picks]
        result = original(grads, trainable_variables)
        if self.loss_scaled and float(ops.convert_to_numpy(opt.dynamic_scale)) < scale_before:
            host["pending"] = True  # skipped for non-finite gradients: the next applied update is recorded
            return result
        qs = [None] * len(self.variables)
        for k, ((j, g), w0) in enumerate(zip(picks, before)):
            g = ops.cast(samples[j].take(ops.convert_to_tensor(g)), "float32")
            if accumulators:
                g = (g + ops.cast(accumulators[k], "float32")) / float(self.accumulation)
            if scale_before is not None:
                g = g / scale_before
            qs[j] = quantities(g, w0, samples[j].take(self.variables[j].value))
        scalars = self._scalars()
        host["records"].append((step, measure(qs, samples), scalars))
        host["pending"] = False
        return result

    # ---- the host side ------------------------------------------------------------------------------------
    def read(self, after_step: int) -> list:
        """The records of steps after `after_step`: (step, rows (V, ROW_WIDTH), {scalar name: value}), oldest
        first."""
        if self.store is None and not self.host.get("records"):
            return []
        if self.owner.backend == "torch":
            records, self.host["records"] = self.host["records"], []
            out = [(step, np.asarray(ops.convert_to_numpy(rows), dtype=np.float64),
                    np.asarray(ops.convert_to_numpy(scalars), dtype=np.float64)) for step, rows, scalars in records]
        else:
            steps = self.store.numpy("steps").astype(np.int64)
            fresh = np.flatnonzero(steps > after_step)
            if fresh.size == 0:
                return []
            rows, scalars = self.store.numpy("rows"), self.store.numpy("scalars")
            out = [(int(steps[slot]), rows[slot].astype(np.float64), scalars[slot].astype(np.float64))
                   for slot in fresh[np.argsort(steps[fresh])]]
        return [(step, rows, {name: float(values[i]) for i, name in enumerate(self.scalar_names)})
                for step, rows, values in out if step > after_step]


@dataclass
class _Update:
    """One update as the probe sees it, whichever backend: the values of a measured variable before and after it,
    of an optimizer variable before and after it, the update itself, and where the optimizer's state after it can
    be read (TensorFlow: the variables themselves; JAX: the values handed in and out of `stateless_apply`)."""

    before: Callable
    after: Callable
    state: Callable
    state_after: Callable
    run: Callable
    after_scope: Callable = contextlib.nullcontext


def _current(variable):
    return variable.value


def steps_counter(optimizer):
    """The optimizer's count of `apply` calls (with gradient accumulation `iterations` counts updates instead)."""
    inner = getattr(optimizer, "inner_optimizer", optimizer)
    return inner._iterations if hasattr(inner, "_iterations") else inner.iterations


def steps_taken(optimizer) -> int:
    return int(ops.convert_to_numpy(steps_counter(optimizer)))


def _cond(pred, true_fn, false_fn):
    """`ops.cond`; on JAX outside `jit` (`jit_compile=False`, `run_eagerly`) a Python branch on the concrete
    predicate: there `lax.cond` would trace and compile both branches at every step."""
    if keras.backend.backend() == "jax":
        import jax

        if not isinstance(pred, jax.core.Tracer):
            return true_fn() if bool(pred) else false_fn()
    return ops.cond(pred, true_fn, false_fn)


def _after(tensors):
    """TensorFlow: run the update after the reads of `tensors`. A read aliases the variable's buffer; were the
    in-place update scheduled first, TensorFlow would copy the whole buffer to keep the read's value. The update's
    ops wait on one barrier op after the reads, not on each read (a graph that grows with variables × update ops:
    a 100-layer model's first step took twice as long to trace and optimise)."""
    tensors = [t for t in tensors if t is not None]
    if keras.backend.backend() != "tensorflow" or not tensors:
        return contextlib.nullcontext()
    import tensorflow as tf

    return tf.control_dependencies([tf.group(*tensors)])
