"""The gradient per input time step: mean |∂L/∂x_t| over a batch's examples and features, at the input of one
layer (the first recurrent layer of a model, or the builder's TimeStepProbe), on record steps.

While a probed step runs, the layer's `call` (an attribute of that layer object, removed after the step) passes
its input through an identity whose gradient is the incoming one, and which, on record steps, reduces that
gradient to one number per time step on its way back: TensorFlow writes the row into the probe's record store
(a `tf.custom_gradient`), JAX hands it to the host from the compiled step (`jax.debug.callback` in a
`custom_vjp`, inside a `cond` that runs only on record steps), PyTorch keeps it from an autograd function. The
identity also takes the smallest trainable weight of the model as a second input and gives it a zero gradient:
otherwise no backward pass would reach it where the tapped input is the model's own input (nothing upstream is
trained). The model's weights, gradients, graph and saved form never change.
"""

from __future__ import annotations

import numpy as np
from keras import ops

from vg_studio.train.probes.optimizer_probe import RING_SIZE


class TimeStepTap:
    def __init__(self, layer, owner):
        self.layer, self.owner = layer, owner
        self._anchor = None
        self.store = None  # TensorFlow: (RING_SIZE, T) rows, their steps and a count
        self.host: dict = {}  # JAX and PyTorch: step -> row
        self._original = None
        self._identity = None

    def install(self) -> None:
        if self._original is None:
            self._original = self.layer.call
            object.__setattr__(self.layer, "call", self._call)

    def uninstall(self) -> None:
        if self._original is not None:
            self.layer.__dict__.pop("call", None)
            self._original = None

    def _call(self, inputs, *args, **kwargs):
        original = self._original
        if not hasattr(inputs, "shape") or len(inputs.shape) < 3 or inputs.shape[1] is None or \
                not (self.layer.trainable_variables or self.owner.model.trainable_variables):
            return original(inputs, *args, **kwargs)  # not a batch of sequences of known length
        return original(self._tap(inputs), *args, **kwargs)

    @property
    def anchor(self):
        """The smallest trainable weight of the tapped layer (or, for a layer without weights, of the model)."""
        if self._anchor is None:
            candidates = self.layer.trainable_variables or self.owner.model.trainable_variables
            self._anchor = min(candidates, key=lambda v: int(np.prod(v.shape)))
        return self._anchor

    def _row(self, gradient, scale):
        g = ops.abs(ops.cast(gradient, "float32"))
        if scale is not None:
            g = g / ops.cast(scale, "float32")
        return ops.mean(g, axis=(0,) + tuple(range(2, len(g.shape))))

    def _tap(self, x):
        backend = self.owner.backend
        if backend == "tensorflow":
            return self._tap_tensorflow(x)
        if backend == "jax":
            return self._tap_jax(x)
        return self._tap_torch(x)

    # ---- TensorFlow: a custom gradient writing the row into the store -------------------------------------
    def _tap_tensorflow(self, x):
        import tensorflow as tf

        length = int(x.shape[1])
        if self.store is None:
            self.store = self.owner.make_store("time", {
                "rows": ((RING_SIZE, length), "float32", 0), "steps": ((RING_SIZE,), "int32", 0),
                "count": ((), "int32", 0)})
        if self.store.variables["rows"].shape[1] != length:
            return x
        step, record = self.owner.step_and_record()
        scale = self.owner.loss_scale()
        store = self.store

        @tf.custom_gradient
        def identity(value, anchor):
            def gradient(dy):
                row = tf.cond(record, lambda: self._row(dy, scale), lambda: tf.zeros((length,), tf.float32))
                slot = tf.math.floormod(store.get("count"), RING_SIZE)
                store.write_slot("rows", slot, row)
                store.write_slot("steps", slot, tf.where(record, step, tf.zeros_like(step)))
                store.set("count", store.get("count") + tf.cast(record, tf.int32))
                with tf.control_dependencies([store.get("count")]):
                    return tf.identity(dy), tf.zeros_like(anchor)

            return tf.identity(value), gradient

        return identity(x, self.anchor.value)

    # ---- JAX: a custom VJP that hands the row to the host on record steps ----------------------------------
    def _tap_jax(self, x):
        import jax

        if self._identity is None:
            def keep(step, row):
                self.host[int(step)] = np.asarray(row, dtype=np.float64)

            @jax.custom_vjp
            def identity(value, anchor, record, step, scale):
                return value

            def forward(value, anchor, record, step, scale):
                return value, (anchor, record, step, scale)

            def backward(residuals, cotangent):
                anchor, record, step, scale = residuals
                jax.lax.cond(record, lambda: jax.debug.callback(keep, step, self._row(cotangent, scale)),
                             lambda: None)
                return cotangent, jax.numpy.zeros_like(anchor), None, None, None

            identity.defvjp(forward, backward)
            self._identity = identity
        step, record = self.owner.step_and_record()
        scale = self.owner.loss_scale()
        scale = ops.ones(()) if scale is None else ops.cast(scale, "float32")
        return self._identity(x, self.anchor.value, record, step, scale)

    # ---- PyTorch: an autograd function, on record steps only ----------------------------------------------
    def _tap_torch(self, x):
        step, record = self.owner.step_and_record()
        if not record:
            return x
        import torch

        tap, scale = self, self.owner.loss_scale()

        class Identity(torch.autograd.Function):
            @staticmethod
            def forward(ctx, value, anchor):
                return value.view_as(value)

            @staticmethod
            def backward(ctx, gradient):
                tap.host[int(step)] = np.asarray(ops.convert_to_numpy(tap._row(gradient.detach(), scale)),
                                                 dtype=np.float64)
                return gradient, None

        return Identity.apply(x, self.anchor.value)

    # ---- the host side ------------------------------------------------------------------------------------
    def read(self, after_step: int) -> dict:
        """{step: row} of the steps after `after_step`."""
        if self.store is not None:
            steps = self.store.numpy("steps").astype(np.int64)
            rows = self.store.numpy("rows").astype(np.float64)
            return {int(s): rows[i] for i, s in enumerate(steps) if s > after_step}
        fresh = {s: row for s, row in self.host.items() if s > after_step}
        self.host = {s: row for s, row in self.host.items() if s > after_step}
        return fresh
