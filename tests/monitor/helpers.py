"""Independent accounts of what the monitor should record: plain NumPy over gradients from tf.GradientTape (or any
other framework's autograd) and weights read before and after a step."""

from __future__ import annotations

import numpy as np

from vg_studio.train.statistics import HIST_EDGES

SCALARS = ("grad_mean_abs", "kernel_grad_mean_abs", "grad_norm", "weight_norm", "update_mean_abs", "update_ratio")


def column_reference(columns: dict, grads: dict, before: dict, after: dict, biases: set = frozenset()) -> dict:
    """Per column (name -> list of variable keys), the scalar statistics from per-variable arrays keyed alike:
    the gradient the optimizer applied, the weights before and after the step. The kernel statistic takes the
    column's arrays of two or more dimensions that are not `biases` (keys; a key that is a variable's path ending
    in "bias" is one too), all of them in a column that has none."""
    out = {name: [] for name in SCALARS + ("grad_log10_hist",)}
    for keys in columns.values():
        g = np.concatenate([np.ravel(grads[k]) for k in keys]).astype(np.float64)
        w0 = np.concatenate([np.ravel(before[k]) for k in keys]).astype(np.float64)
        w1 = np.concatenate([np.ravel(after[k]) for k in keys]).astype(np.float64)
        d = w1 - w0
        out["grad_mean_abs"].append(np.abs(g).mean())
        matrices = [k for k in keys if np.ndim(grads[k]) >= 2 and k not in biases
                    and not (isinstance(k, str) and k.endswith("bias"))] or keys
        out["kernel_grad_mean_abs"].append(np.abs(np.concatenate([np.ravel(grads[k]) for k in matrices])).mean())
        out["grad_norm"].append(np.linalg.norm(g))
        out["weight_norm"].append(np.linalg.norm(w1))
        out["update_mean_abs"].append(np.abs(d).mean())
        out["update_ratio"].append(np.linalg.norm(d) / np.linalg.norm(w1))
        out["grad_log10_hist"].append(log10_histogram(g))
    return {k: np.asarray(v) for k, v in out.items()}


def log10_histogram(values: np.ndarray) -> np.ndarray:
    """The share of entries per HIST_EDGES bin of log10|x| (0 and below -12 in the first bin, above 2 in the last)."""
    with np.errstate(divide="ignore"):
        logs = np.log10(np.abs(values.astype(np.float64)))
    counts, _ = np.histogram(np.clip(logs, -12, 2 - 1e-9), bins=HIST_EDGES)
    return counts / values.size


def assert_record(history, index: int, expected: dict, rtol: float = 3e-3, what: str = "",
                  hist_atol: float = 0.03) -> None:
    """The history's record `index` against `expected` (per statistic, one value per column, in the history's
    column order)."""
    for name, values in expected.items():
        got = history.stat(name)[index]
        if name.endswith("_hist"):  # an entry right at a bin edge may land in the next bin in float32
            np.testing.assert_allclose(np.cumsum(got, axis=1), np.cumsum(values, axis=1), atol=hist_atol,
                                       err_msg=f"{what}{name} at record {index}")
        else:
            np.testing.assert_allclose(got, values, rtol=rtol, atol=1e-12, err_msg=f"{what}{name} at record {index}")


def tape_sgd(model, initial: list, loss_fn, batches: list, lr: float, columns: dict) -> list[dict]:
    """What plain SGD steps with tf.GradientTape give, per step: `columns` maps a column name to its Keras
    variables. The model's weights are set to `initial` first and left after the last step."""
    import tensorflow as tf

    model.set_weights(initial)
    variables = model.trainable_variables

    @tf.function  # (a float8 layer's gradient needs a graph)
    def gradients(x, y):
        with tf.GradientTape() as tape:
            loss = loss_fn(y, model(x, training=True))
        return tape.gradient(loss, variables)

    expected = []
    for x, y in batches:
        grads = {id(v): g.numpy() for v, g in zip(variables, gradients(tf.constant(x), tf.constant(y)))
                 if g is not None}
        before = {id(v): v.numpy().copy() for v in variables}
        for v in variables:
            v.assign(v - lr * grads[id(v)])
        after = {id(v): v.numpy().copy() for v in variables}
        keys = {name: [id(v) for v in vs] for name, vs in columns.items()}
        biases = {id(v) for v in variables if v.name.endswith("bias")}
        expected.append(column_reference(keys, grads, before, after, biases))
    return expected
