"""Where the probes keep their state between steps, per backend — never where Keras saves a model.

TensorFlow: Keras variables created under the model's distribution strategy (written by the first replica), held
by the probe objects: no layer or optimizer tracks them, so `model.save`, checkpoints and `optimizer.variables`
never see them. JAX: the compiled step is a pure function, so the state travels as an extra argument and result
of the probed step function (`carry`), beside Keras's own state. PyTorch runs eagerly: plain host-side values.
Each store offers the same small interface to the probes: `get`, `set`, `write_slot` (row `slot` of an array).
"""

from __future__ import annotations

import keras
import numpy as np
from keras import ops


class VariableStore:
    """Named Keras variables (TensorFlow)."""

    writes_in_branches = True  # a `cond` branch may assign them (the step's writes are ordered by TensorFlow)

    def __init__(self, specs: dict, strategy=None):
        import tensorflow as tf

        self.variables = {}
        scope = strategy.scope() if strategy is not None else _null()
        with tf.init_scope(), scope:  # created eagerly, even when first needed while a step is traced
            for name, (shape, dtype, value) in specs.items():
                self.variables[name] = keras.Variable(np.full(shape, value, dtype=dtype), trainable=False,
                                                      aggregation="only_first_replica", name=f"vg_{name}")

    def get(self, name):
        return self.variables[name].value

    def set(self, name, value) -> None:
        variable = self.variables[name]
        variable.assign(ops.cast(value, variable.dtype))

    def write_slot(self, name, slot, row) -> None:
        """array[slot] = row: a scatter into the resource (XLA's dynamic-update-slice is compiled on demand at every
        call by TensorFlow's CPU runtime); under several replicas an assignment the first replica makes."""
        import tensorflow as tf

        variable = self.variables[name]
        row = ops.cast(ops.expand_dims(row, 0), variable.dtype)
        context = tf.distribute.get_replica_context()
        if context is not None and context.num_replicas_in_sync > 1:
            start = (slot,) + (0,) * (len(variable.shape) - 1)
            variable.assign(ops.slice_update(variable.value, start, row))
            return
        variable.value.scatter_nd_update(tf.reshape(tf.cast(slot, tf.int32), (1, 1)), row)

    def numpy(self, name) -> np.ndarray:
        return np.array(self.variables[name].numpy())

    def reset(self, name, value) -> None:
        """Set from the host, outside the step."""
        variable = self.variables[name]
        variable.assign(np.full(variable.shape, value, dtype=variable.dtype))


class CarryStore:
    """Named arrays in the JAX step's carry: `owner.carry` between steps (device arrays), the traced values while
    the step is traced (`owner.tracing`), at `path` (a key, or a ("probes", index) pair)."""

    writes_in_branches = False  # a traced value set inside a `cond` branch would leak out of it

    def __init__(self, owner, path, specs: dict):
        self.owner, self.path = owner, path
        import jax.numpy as jnp

        self._set_tree({name: jnp.full(shape, value, dtype=dtype) for name, (shape, dtype, value) in specs.items()})

    def _tree(self) -> dict:
        carry = self.owner.tracing if self.owner.tracing is not None else self.owner.carry
        return carry["probes"][self.path] if isinstance(self.path, int) else carry[self.path]

    def _set_tree(self, tree: dict) -> None:
        traced = self.owner.tracing is not None
        carry = dict(self.owner.tracing if traced else self.owner.carry)
        if isinstance(self.path, int):
            probes = list(carry["probes"])
            probes[self.path] = tree
            carry["probes"] = probes
        else:
            carry[self.path] = tree
        if traced:
            self.owner.tracing = carry
        else:
            self.owner.carry = carry

    def get(self, name):
        return self._tree()[name]

    def set(self, name, value) -> None:
        tree = dict(self._tree())
        tree[name] = ops.cast(value, tree[name].dtype)
        self._set_tree(tree)

    def write_slot(self, name, slot, row) -> None:
        array = self.get(name)
        start = (slot,) + (0,) * (len(array.shape) - 1)
        self.set(name, ops.slice_update(array, start, ops.cast(ops.expand_dims(row, 0), array.dtype)))

    def numpy(self, name) -> np.ndarray:
        return np.array(self._tree()[name])

    def reset(self, name, value) -> None:
        import jax.numpy as jnp

        array = self._tree()[name]
        self.set(name, jnp.full(array.shape, value, dtype=array.dtype))


class _null:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False
