"""The probed training step of one model: which optimizers are watched, the step counter, the probed train
function, and how the model gets back exactly what it had.

`StepProbe.attach(model, ...)` (at `on_train_begin`) finds every optimizer the model holds — `model.optimizer`
and optimizer attributes such as a GAN's `d_optimizer` / `g_optimizer` — and builds a train function of the
model's own kind in which, while it runs, each of them is probed (vg_studio.train.probes.optimizer_probe), the
step is counted and the time-step tap is in place; it becomes `model.train_function` for the fit:

- TensorFlow, PyTorch: Keras's own `make_train_function` over a `train_step` that counts the step first (so
  `tf.function`, XLA, `tf.distribute`, `steps_per_execution` are Keras's);
- JAX: Keras's step is pure, so the probes' state must travel with it: a `jax.jit` of (Keras state, probe
  state, batch) -> (logs, Keras state, probe state), run `steps_per_execution` times per call as Keras's is.

Nothing else of the model or its optimizers is changed: the probes stand in for each optimizer's entry point as
instance attributes only while a step of this function runs, and their state lives in the probe objects. At
`on_train_end` (`detach`) the model's train function is the one Keras made again. If `fit` raises inside the step,
the function itself ends the run and puts it back before the error goes on; if it raises elsewhere (another
callback), the next call of the stale function notices that no monitored fit called it and does the same. The
probed function is kept (per model, while the model lives) and reused by the next monitored fit of the same
compiled model, so that a refit with a new monitor traces nothing a plain refit would not.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import weakref

import keras
import numpy as np
from keras import ops

from vg_studio.text import inert
from vg_studio.train.probes.optimizer_probe import OptimizerProbe
from vg_studio.train.probes.stores import CarryStore, VariableStore
from vg_studio.train.probes.time_steps import TimeStepTap

log = logging.getLogger(__name__)

_PROBES: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()  # model -> its StepProbe

# tf.distribute strategies whose step the probes run in (per replica, gradients summed across replicas)
_STRATEGIES = ("_DefaultDistributionStrategy", "OneDeviceStrategy", "MirroredStrategy", "MultiWorkerMirroredStrategy",
               "CollectiveAllReduceStrategy")


class CannotWatch(ValueError):
    """A training setup the monitor cannot watch; the message is one line saying what and why."""


def model_optimizers(model) -> list[tuple[str, object]]:
    """(attribute name, optimizer) of every Keras optimizer the model holds: `model.optimizer`, then optimizer
    attributes in the order they were set (a GAN's `d_optimizer`, `g_optimizer`)."""
    found, seen = [], set()
    candidates = [("optimizer", getattr(model, "optimizer", None))] + list(vars(model).items())
    for name, value in candidates:
        if isinstance(value, keras.optimizers.Optimizer) and id(value) not in seen:
            seen.add(id(value))
            found.append((name.lstrip("_") or name, value))
    return found


def check_watchable(model, optimizers) -> None:
    """Refuse, before anything is changed, what the probes cannot watch."""
    backend = keras.backend.backend()
    if not optimizers:
        raise CannotWatch("GradientMonitor: compile the model (model.compile(optimizer=..., loss=...)) before fit")
    if model.built and not model.trainable_variables and _keras_train_step(model):
        raise CannotWatch("GradientMonitor: the model has no trainable weights (every layer is frozen: "
                          "trainable=False), so no gradient to watch; unfreeze a layer and compile again")
    changed = _trainable_since_build(model)
    if changed:
        raise CannotWatch(f"GradientMonitor: which weights are trainable changed since the optimizer was built "
                          f"({changed}); compile the model again after setting trainable (Keras trains the weights "
                          "trainable at compile)")
    if backend == "jax":
        if keras.config.is_nnx_enabled():
            raise CannotWatch("GradientMonitor: Flax NNX models (keras.config.is_nnx_enabled()) are not supported: "
                              "their step is not Keras's stateless train_step")
        unbuilt = [name for name, opt in optimizers if name != "optimizer" and not opt.built]
        if unbuilt:
            raise CannotWatch(f"GradientMonitor: {unbuilt[0]} is not built; on JAX an optimizer's state must exist "
                              f"before fit (call {unbuilt[0]}.build(variables) in compile())")
    if backend == "tensorflow":
        strategy = type(model.distribute_strategy).__name__
        if strategy not in _STRATEGIES:
            raise CannotWatch(f"GradientMonitor: {strategy} is not supported: the probes run inside the replicated "
                              "step of one machine's devices (MirroredStrategy, MultiWorkerMirroredStrategy)")
        if model.distribute_strategy.num_replicas_in_sync > 1 and any(
                (getattr(opt, "gradient_accumulation_steps", None) or 0) > 1 for _, opt in optimizers):
            raise CannotWatch("GradientMonitor: gradient_accumulation_steps under a tf.distribute strategy with "
                              "several replicas is not supported (the accumulators hold per-replica sums)")
    if backend == "torch" and getattr(model, "jit_compile", False) is True:
        raise CannotWatch("GradientMonitor: jit_compile=True on the PyTorch backend (torch.compile) is not "
                          "supported: compile with jit_compile=False")


class StepProbe:
    """The probed step of one compiled model (see the module)."""

    @classmethod
    def attach(cls, model, watch, time_layer=None) -> "StepProbe":
        """The model's StepProbe for this fit: the one of its previous monitored fit when nothing it depends on
        changed (no recompile, the same optimizers, variables and time layer), else a new one."""
        optimizers = model_optimizers(model)
        check_watchable(model, optimizers)
        probe = _PROBES.get(model)
        if probe is not None:
            probe.release()  # a fit that ended without telling (an error outside the step): its run ends now
            if probe.fits(model, optimizers, watch, time_layer):
                return probe
        probe = cls(model, optimizers, watch, time_layer)
        _PROBES[model] = probe
        return probe

    @staticmethod
    def owner_of(model):
        """The recorder of the model's fit in progress (or of one that raised outside its step), or None."""
        probe = _PROBES.get(model)
        return probe.owner if probe is not None else None

    def __init__(self, model, optimizers, watch, time_layer):
        self.model = model
        self.backend = keras.backend.backend()
        self.watch = watch
        self.plain = model.train_function  # Keras's own function of this fit, untouched
        self.owner = None  # the recorder of the fit in progress
        self.armed = False  # the recorder called it for this step (see ProbedTrainFunction)
        self._local = threading.local()  # per thread: tf.distribute traces each replica's step in a thread
        self.traces = 0  # steps traced (TensorFlow, JAX): a refit with a new monitor should add none
        self.tracing = None  # JAX: the probe state while the step is traced
        self.carry = {"probes": [None] * len(optimizers)}
        self._host_step = 0  # PyTorch
        self._host_record = False
        self._traced_scale = None
        self._key = self._fit_key(model, optimizers, watch, time_layer)
        self._state = self._make_state()
        self.probes: list[OptimizerProbe] = []
        for label, optimizer in optimizers:
            self.probes.append(OptimizerProbe(label, optimizer, self))
        self.time_tap = TimeStepTap(time_layer, self) if time_layer is not None else None
        self.function = ProbedTrainFunction(self, self._make_inner())

    # ---- identity of a fit --------------------------------------------------------------------------------
    @staticmethod
    def _fit_key(model, optimizers, watch, time_layer) -> tuple:
        return (tuple(id(o) for _, o in optimizers), tuple(id(v) for v in model.trainable_variables if watch(v)),
                id(time_layer), model.steps_per_execution, getattr(model, "jit_compile", None),
                getattr(model, "run_eagerly", None))

    def fits(self, model, optimizers, watch, time_layer) -> bool:
        current = model.train_function
        return (current is self.plain or current is self.function) and \
            self._key == self._fit_key(model, optimizers, watch, time_layer)

    # ---- the fit --------------------------------------------------------------------------------------------
    def start(self, owner, first_step: int, record_every: int) -> None:
        """Count this fit's steps from `first_step` (the step after the optimizer's iterations), record at it and
        every `record_every` steps, and make the probed function the model's."""
        self.owner = owner
        if self.backend == "torch":
            self._host_step, self._every, self._first = first_step - 1, int(record_every), int(first_step)
        else:
            self._state.reset("step", first_step - 1)
            self._state.reset("every", int(record_every))
            self._state.reset("first", int(first_step))
        for probe in self.probes:
            probe.start()
        if self.model.train_function is not self.function:
            self.plain = self.model.train_function
        self.model.train_function = self.function

    def arm(self) -> None:
        self.armed = True

    def detach(self) -> None:
        """The model's own train function again (the end of the fit, or of a failed one)."""
        if self.model.train_function is self.function:
            self.model.train_function = self.plain
        self.owner = None
        self.armed = False

    def release(self) -> None:
        """End a fit whose recorder never heard of its end (its `fit` raised outside the probed step)."""
        owner = self.owner
        if owner is not None:
            owner.finish(RuntimeError("fit stopped by an error outside the training step"))
        self.detach()

    # ---- what the probes ask ----------------------------------------------------------------------------------
    def make_store(self, index, specs: dict):
        if self.backend == "tensorflow":
            return VariableStore(specs, self.model.distribute_strategy)
        if self.backend == "jax":
            return CarryStore(self, index, specs)
        return None

    def _make_state(self):
        specs = {"step": ((), "int32", 0), "every": ((), "int32", 1), "first": ((), "int32", 1)}
        if self.backend == "tensorflow":
            return VariableStore(specs, self.model.distribute_strategy)
        if self.backend == "jax":
            return CarryStore(self, "state", specs)
        return None

    def step_and_record(self):
        """This step's number and whether it is a record step (tensors; host values on PyTorch)."""
        if self.backend == "torch":
            return self._host_step, self._host_record
        step, every, first = (self._state.get(name) for name in ("step", "every", "first"))
        return step, ops.logical_or(ops.equal(step, first), ops.equal(ops.mod(step, every), 0))

    def loss_scale(self):
        """The scale of the loss whose gradient this step computes (None: unscaled)."""
        optimizer = getattr(self.model, "optimizer", None)
        if isinstance(optimizer, keras.optimizers.LossScaleOptimizer):
            if self.backend == "jax":
                return self._traced_scale
            value = optimizer.dynamic_scale.value
            return float(ops.convert_to_numpy(value)) if self.backend == "torch" else value
        return getattr(optimizer, "loss_scale_factor", None)

    def several_replicas(self) -> bool:
        """Whether the step being traced is one replica of several (a tf.distribute step)."""
        if self.backend != "tensorflow":
            return False
        import tensorflow as tf

        context = tf.distribute.get_replica_context()
        return context is not None and context.num_replicas_in_sync > 1

    def sum_across_replicas(self, tensors: list):
        """The tensors summed across the replicas of a tf.distribute step (None with one replica)."""
        if not tensors or not self.several_replicas():
            return None
        import tensorflow as tf

        context = tf.distribute.get_replica_context()
        sizes = [int(np.prod(t.shape)) for t in tensors]
        flat = tf.concat([tf.reshape(tf.cast(t, tf.float32), (-1,)) for t in tensors], axis=0)
        total = context.all_reduce(tf.distribute.ReduceOp.SUM, flat)
        return list(tf.split(total, sizes))

    @property
    def busy(self) -> bool:
        """Whether this thread is inside a probed optimizer's update."""
        return getattr(self._local, "busy", False)

    @contextlib.contextmanager
    def inside(self):
        busy, self._local.busy = self.busy, True
        try:
            yield
        finally:
            self._local.busy = busy

    # ---- installing for the duration of a step ------------------------------------------------------------
    @contextlib.contextmanager
    def installed(self):
        """The probes in place: each optimizer's entry point, the counting train_step (PyTorch) and the
        time-step tap, as attributes of those objects, removed again after the step."""
        entry = "stateless_apply" if self.backend == "jax" else "apply"
        placed = []
        try:
            for probe in self.probes:
                optimizer = probe.optimizer
                original = getattr(optimizer, entry)
                wrapper = _bound(getattr(probe, entry), original)
                object.__setattr__(optimizer, entry, wrapper)
                placed.append((optimizer, entry))
            if self.backend == "torch":
                object.__setattr__(self.model, "train_step", self._counting_step(self.model.train_step))
                placed.append((self.model, "train_step"))
            if self.time_tap is not None:
                self.time_tap.install()
            yield
        finally:
            if self.time_tap is not None:
                self.time_tap.uninstall()
            for obj, name in reversed(placed):
                obj.__dict__.pop(name, None)

    def _counting_step(self, train_step):
        def step(data):
            self._begin_step()
            out = train_step(data)
            self._check_applied()
            return out

        return step

    def _begin_step(self) -> None:
        if self.backend == "torch":
            self._host_step += 1
            step = self._host_step
            self._host_record = step == self._first or step % self._every == 0
        else:
            self._state.set("step", self._state.get("step") + 1)

    def build_before_trace(self, args) -> None:
        """TensorFlow, a model trained by Keras's own `train_step`: build what its first step would build (the
        optimizer's, the metrics' and the loss's state, and an unbuilt model) from the batch's spec before the
        probed step is first traced, as Keras itself does under a distribution strategy. A `tf.function` that
        creates variables while it traces is traced twice — the second time without them — so this halves the
        tracing (and graph optimisation) of the probed step; it builds exactly what that first step would have.
        A custom `train_step` is left alone (its optimizers may update other variables than the model's)."""
        model = self.model
        if self.backend != "tensorflow" or model.run_eagerly:
            return
        spec = getattr(args[0], "element_spec", None) if args else None
        optimizer = getattr(model, "optimizer", None)
        unbuilt = (optimizer is not None and not optimizer.built) or any(
            part is not None and not part.built
            for part in (getattr(model, "_compile_metrics", None), getattr(model, "_compile_loss", None)))
        if unbuilt and spec is not None and _keras_train_step(model):
            try:
                with model.distribute_strategy.scope():
                    model._symbolic_build(data_batch=spec)
            except Exception:  # the first trace builds it instead, as without the monitor
                log.debug("building %s before its first step failed; its step builds it", model.name, exc_info=True)
        for probe in self.probes:  # the probes' own state too: variables made while tracing also cost a retrace
            probe.plan_built()

    def _check_applied(self) -> None:
        """At the first traced step: refuse a step that applied gradients through none of the model's optimizers
        (a custom train_step with an optimizer the model does not hold) — before anything ran."""
        self.traces += 1
        if self.traces == 1 and not any(p.applied for p in self.probes):
            names = ", ".join(p.label for p in self.probes)
            raise CannotWatch(f"GradientMonitor: the training step applied no gradients through the model's "
                              f"optimizers ({names}); keep each optimizer the step uses as an attribute of the "
                              "model and apply gradients with its apply/apply_gradients")

    # ---- the function ---------------------------------------------------------------------------------------
    def _make_inner(self):
        model = self.model
        if self.backend == "jax":
            return self._jax_function()
        original_step = model.train_step
        counting = self._counting_step(original_step) if self.backend == "tensorflow" else None
        plain = model.train_function
        try:
            if counting is not None:  # TensorFlow takes the bound train_step when it makes the function
                object.__setattr__(model, "train_step", counting)
            model.make_train_function(force=True)
            return model.train_function
        finally:
            model.__dict__.pop("train_step", None)
            model.train_function = plain

    def _jax_function(self):
        import jax

        model = self.model
        position = None
        optimizer = getattr(model, "optimizer", None)
        if isinstance(optimizer, keras.optimizers.LossScaleOptimizer):
            position = next(i for i, v in enumerate(optimizer.variables) if v is optimizer.dynamic_scale)

        def step(state, carry, data):
            self.tracing = carry
            self._traced_scale = state[2][position] if position is not None else None
            try:
                self._begin_step()
                logs, state = model.train_step(state, data)
                self._check_applied()
                return logs, state, self.tracing
            finally:
                self.tracing = None

        if not model.run_eagerly and model.jit_compile:
            out_shardings = None
            if keras.distribution.distribution() is not None and hasattr(model, "_get_state_sharding_spec"):
                out_shardings = (None, model._get_state_sharding_spec(), None)
            step = jax.jit(step, donate_argnums=(0, 1), out_shardings=out_shardings)

        def train_function(state, iterator):
            logs, state, self.carry = step(state, self.carry, next(iterator))
            for _ in range(int(model.steps_per_execution) - 1):
                try:
                    data = next(iterator)
                except StopIteration:
                    break
                logs, state, self.carry = step(state, self.carry, data)
            return logs, state

        return train_function


class ProbedTrainFunction:
    """The model's train function while it is monitored: Keras's own call convention, the probes installed for
    the duration of each call. Called by no monitored fit (a previous fit raised outside the step and left it
    behind), it ends that fit's run and hands over to the model's own function."""

    def __init__(self, probe: StepProbe, inner):
        self.probe, self.inner = probe, inner

    def __call__(self, *args):
        probe = self.probe
        if not probe.armed:
            probe.release()
            model = probe.model
            if model.train_function is self:
                model.train_function = probe.plain
            if model.train_function is None:
                model.make_train_function()
            return model.train_function(*args)
        probe.armed = False
        if probe.traces == 0:
            probe.build_before_trace(args)
        try:
            with probe.installed():
                return self.inner(*args)
        except (StopIteration, _end_of_data()):  # Keras ends an epoch of unknown length this way
            probe.armed = True
            raise
        except BaseException as exc:
            owner = probe.owner
            if owner is not None:
                owner.finish(exc)  # the run says why it failed, and the model is given back first
            probe.detach()
            raise


def _trainable_since_build(model) -> str:
    """A model trained by Keras's own step whose trainable weights are not those its optimizer was built for (a
    layer frozen or unfrozen after compile): the first few that differ, else ""."""
    optimizer = getattr(model, "optimizer", None)
    if not isinstance(optimizer, keras.optimizers.Optimizer) or not optimizer.built or not _keras_train_step(model):
        return ""
    built = getattr(getattr(optimizer, "inner_optimizer", optimizer), "_trainable_variables", None)
    if built is None:
        return ""
    now, then = {id(v): v for v in model.trainable_variables}, {id(v): v for v in built}
    became = [f"{inert(v.path)} now trainable" for k, v in now.items() if k not in then]
    stopped = [f"{inert(v.path)} now frozen" for k, v in then.items() if k not in now]
    changed = became + stopped
    return ", ".join(changed[:2]) + (", …" if len(changed) > 2 else "")


def _keras_train_step(model) -> bool:
    """Whether the model trains with Keras's own `train_step` (not one a class of the user's defines)."""
    for cls in type(model).__mro__:
        if "train_step" in vars(cls):
            return cls.__module__.startswith("keras.")
    return False


def _bound(method, original):
    def entry(*args, **kwargs):
        return method(original, *args, **kwargs)

    return entry


def _end_of_data():
    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        return tf.errors.OutOfRangeError
    return StopIteration
