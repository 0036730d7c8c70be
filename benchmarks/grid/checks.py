"""What a grid run shows, measured independently of the rules: `tf.GradientTape` gradients and NumPy statistics of
the network before and after training, and the loss of every batch from a plain Keras callback. `truth` turns the
measurements into the run's labels (several can hold: an explosion that kills the ReLUs is both). Nothing here
uses vg_studio's probes, unit tables or rules.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

LABELS = ("vanishing", "exploding", "dead", "saturated", "flat", "oscillating", "slow", "poor_init")
KERNEL_LAYERS = ("Dense", "Conv1D", "Conv2D", "Conv3D", "EinsumDense")
# layers with an activation whose pre-activation is not one kernel's product: read from the layer itself, called with
# its activation set to linear
CALLED_LAYERS = ("SeparableConv1D", "SeparableConv2D", "DepthwiseConv1D", "DepthwiseConv2D")
RESTING = ("relu", "relu6", "hard_silu", "hard_swish", "sparse_plus")  # activations that switch a unit off at 0
HE = ("relu", "leaky_relu", "elu", "gelu", "silu", "swish", "relu6", "hard_silu", "mish", "prelu", "celu")


class BatchLosses:
    """A Keras callback recording the loss of every training batch (Keras logs its running mean since the epoch
    began: batch b's own loss is (b + 1) m_b - b m_(b-1))."""

    def __new__(cls):
        import keras

        class Recorder(keras.callbacks.Callback):
            def __init__(self):
                super().__init__()
                self.losses, self._previous = [], 0.0

            def on_train_batch_end(self, batch, logs=None):
                mean = float((logs or {}).get("loss", math.nan))
                self.losses.append(mean if batch == 0 else (batch + 1) * mean - batch * self._previous)
                self._previous = mean

        return Recorder()


class LastEpochChange:
    """A Keras callback measuring ‖W_end − W_start‖ / ‖W_start‖ per step over the last epoch, every trainable weight
    (`change`; NaN before an epoch ended): whether the weights still move at the end, whatever a schedule did."""

    def __new__(cls):
        import keras

        class Recorder(keras.callbacks.Callback):
            change = math.nan

            def on_epoch_begin(self, epoch, logs=None):
                self.start, self.steps = [np.array(v.numpy()) for v in self.model.trainable_variables], 0

            def on_train_batch_end(self, batch, logs=None):
                self.steps += 1

            def on_epoch_end(self, epoch, logs=None):
                now = [np.asarray(v.numpy()) for v in self.model.trainable_variables]
                num = sum(float(((a - b) ** 2).sum()) for a, b in zip(now, self.start))
                den = sum(float((b ** 2).sum()) for b in self.start)
                self.change = math.sqrt(num / den) / max(self.steps, 1) if den > 0 else math.nan

        return Recorder()


@dataclass
class Measured:
    loss: float
    grad_ratio: float  # mean |dL/dW| of the first kernel / the output kernel's (GradientTape)
    max_grad_norm: float
    dead: float  # the largest share of a hidden layer's units with zero slope and zero output on every example
    saturated: float  # the largest share of a hidden layer's values where the slope is under 3 % of its maximum
    signal_change: float  # spread of the signal entering the output layer / entering the first kernel layer
    weight_scale: float  # kernels' std / that of the initializer suiting their activation (geometric mean)
    weight_change: float = math.nan  # ‖W - W_before‖ / ‖W_before‖ over every trainable weight
    finite: bool = True  # the loss and every trainable weight
    # a recurrent network: mean |dL/dx_t| over the first 5 % of the time steps / at the last (GradientTape on the
    # input); NaN without a recurrent layer
    time_ratio: float = math.nan
    # the loss of guessing the label prior on the same rows as `loss` (`prior_loss`); NaN where not measured
    prior_loss: float = math.nan
    weights: list = field(default_factory=list, repr=False)

    def summary(self) -> dict:
        return {k: v for k, v in self.__dict__.items() if k != "weights"}


def measure(model, x, y, num_classes: int, before: Measured | None = None) -> Measured:
    import keras
    import tensorflow as tf

    kept = [(v, np.array(v.numpy())) for v in model.non_trainable_variables]  # BatchNorm's moving averages
    try:
        with tf.GradientTape() as tape:
            p = model(x, training=True)
            loss = tf.reduce_mean(keras.losses.sparse_categorical_crossentropy(y, p))
        # the kernels of Dense, convolution and recurrent layers, input to output (not an Embedding's table or
        # attention's projections, whose share of the gradient says nothing about its decay through depth)
        kernels = [v for v in model.trainable_variables
                   if v.path.endswith("/kernel") and len(v.shape) >= 2
                   and not any(part in v.path for part in ("embedding", "query", "key", "value", "attention"))]
        grads = tape.gradient(loss, kernels)
    finally:
        for variable, value in kept:
            variable.assign(value)
    g = [np.abs(np.asarray(gr, dtype=np.float64)) if gr is not None else np.zeros(1) for gr in grads]
    ratio = float(g[0].mean() / g[-1].mean()) if len(g) >= 2 and g[-1].mean() > 0 else math.nan
    norm = max((float(np.sqrt((a ** 2).sum())) for a in g), default=0.0)
    # the weights the steps move: not BatchNorm's moving statistics, which record the activations of past batches
    # (one exploded batch can overflow a moving variance in float32 while every weight stays finite, the loss in
    # training and in inference too) and which move at any learning rate
    weights = [np.asarray(v.numpy()) for v in model.trainable_variables]
    finite = bool(np.isfinite(float(loss)) and all(np.all(np.isfinite(w)) for w in weights))
    dead, saturated = _units(model, x)
    signal, scale = _init_scale(model, x)
    time_ratio = _time_ratio(model, x, y)
    change = math.nan
    if before is not None and before.weights:
        num = sum(float(((a - b) ** 2).sum()) for a, b in zip(weights, before.weights))
        den = sum(float((b ** 2).sum()) for b in before.weights)
        change = math.sqrt(num / den) if den > 0 else math.nan
    return Measured(float(loss), ratio, norm, dead, saturated, signal, scale, change, finite, time_ratio=time_ratio,
                    prior_loss=prior_loss(y, num_classes), weights=weights)


def prior_loss(y, num_classes: int) -> float:
    """The cross-entropy of the best constant guess on labels `y` — their class frequencies: the entropy of those
    frequencies (the grid's loss is always a sparse cross-entropy). ln k where the frequencies are within sampling
    noise of uniform (a G-test against uniform, p > 0.01): a balanced set's 128 rows keep the uniform level rather
    than one a few per cent under it by chance."""
    counts = np.bincount(np.asarray(y, dtype=np.int64).ravel(), minlength=num_classes).astype(np.float64)
    n = counts.sum()
    if n == 0 or num_classes < 2:
        return math.nan
    share = counts[counts > 0] / n
    entropy = float(-(share * np.log(share)).sum())
    g = 2 * n * (math.log(num_classes) - entropy)  # the G statistic against the uniform prior
    dof = num_classes - 1  # its 99th percentile under the uniform prior, χ² by Wilson–Hilferty's approximation
    limit = dof * (1 - 2 / (9 * dof) + 2.3263 * math.sqrt(2 / (9 * dof))) ** 3
    return math.log(num_classes) if g <= limit else entropy


RECURRENT = ("SimpleRNN", "LSTM", "GRU", "Bidirectional")


def _time_ratio(model, x, y) -> float:
    """Mean |dL/dx_t| of the first 5 % of the time steps over that of the last step, the input taken as the first
    recurrent layer's sequence (the grid's recurrent models only reshape their input into rows before it)."""
    import keras
    import tensorflow as tf

    first = next((layer for layer in _layers(model) if type(layer).__name__ in RECURRENT), None)
    if first is None:
        return math.nan
    try:
        steps = int(first.input.shape[1])
    except (AttributeError, ValueError, TypeError):
        return math.nan
    kept = [(v, np.array(v.numpy())) for v in model.non_trainable_variables]
    inputs = tf.convert_to_tensor(x, dtype=tf.float32)
    try:
        with tf.GradientTape() as tape:
            tape.watch(inputs)
            loss = tf.reduce_mean(keras.losses.sparse_categorical_crossentropy(y, model(inputs, training=True)))
        g = np.abs(np.asarray(tape.gradient(loss, inputs), dtype=np.float64)).reshape(len(x), steps, -1)
    finally:
        for variable, value in kept:
            variable.assign(value)
    head = g[:, :max(1, int(round(0.05 * steps)))].mean()
    return float(head / g[:, -1].mean()) if g[:, -1].mean() > 0 else math.nan


def _layers(model) -> list:
    """The model's layers in the order they are called: a subclassed model's own `stack` where it has no graph."""
    return list(getattr(model, "stack", None) or model.layers)


def _inputs_to(model, x, layers) -> list | None:
    """What enters each of `layers` on x: through a side model of a functional graph, or by calling a subclassed
    model's `stack` in turn (None where neither can be done)."""
    import keras

    try:
        side = keras.Model(model.inputs, [layer.input for layer in layers])
        reached = side(x, training=False)
        return [reached] if len(layers) == 1 else list(reached)
    except (ValueError, TypeError, AttributeError):
        pass
    stack = getattr(model, "stack", None)
    if not stack or any(all(layer is not s for s in stack) for layer in layers):
        return None
    seen, a = {}, x
    for layer in stack:
        seen[id(layer)] = a
        a = layer(a)
    return [seen[id(layer)] for layer in layers]


def _sites(model):
    """(layer, activation name, how to get its pre-activations) for every hidden activation."""
    import keras

    out = []
    for layer in _layers(model)[:-1]:
        kind = type(layer).__name__
        if kind in KERNEL_LAYERS and hasattr(layer, "activation"):
            name = keras.activations.serialize(layer.activation)
            if isinstance(name, str) and name not in ("linear", "softmax"):
                out.append((layer, name, "kernel"))
        elif kind in CALLED_LAYERS:
            name = keras.activations.serialize(layer.activation)
            if isinstance(name, str) and name not in ("linear", "softmax"):
                out.append((layer, name, "call"))
        elif kind in ("Activation", "ReLU"):
            name = "relu" if kind == "ReLU" else keras.activations.serialize(layer.activation)
            if isinstance(name, str) and name not in ("linear", "softmax"):
                out.append((layer, name, "input"))
    return out


def _pre_activation(layer, a, how):
    import keras

    if how == "input":
        return a
    if how == "call":
        activation, layer.activation = layer.activation, keras.activations.linear
        try:
            return np.asarray(keras.ops.convert_to_numpy(layer(a.astype("float32"))), dtype=np.float64)
        finally:
            layer.activation = activation
    kernel, bias = layer.kernel, getattr(layer, "bias", None)
    if type(layer).__name__ == "Dense":
        z = a @ np.asarray(kernel)
    else:
        z = np.asarray(keras.ops.conv(a.astype("float32"), kernel, strides=layer.strides, padding=layer.padding),
                       dtype=np.float64)
    return z + (np.asarray(bias) if bias is not None else 0.0)


def _slope(name):
    import keras

    f = keras.activations.get(name)

    def value(z):
        return np.asarray(keras.ops.convert_to_numpy(f(keras.ops.convert_to_tensor(z, "float32"))), np.float64)

    grid = np.linspace(-20, 20, 40001)
    biggest = float(np.max(np.abs(np.gradient(value(grid), grid))))

    def slope(z):  # a step relative to |z|: past |z| ~ 1e4 a step of 1e-3 is below float32's resolution
        h = 1e-3 * np.maximum(1.0, np.abs(z))
        return (value(z + h) - value(z - h)) / (2 * h)

    return value, slope, biggest


def _units(model, x) -> tuple[float, float]:
    sites = _sites(model)
    if not sites:
        return 0.0, 0.0
    inputs = _inputs_to(model, x, [layer for layer, _, _ in sites])
    if inputs is None:
        return math.nan, math.nan
    dead = saturated = 0.0
    for (layer, name, how), a in zip(sites, inputs):
        z = _pre_activation(layer, np.asarray(a, dtype=np.float64), how)
        value, slope, biggest = _slope(name)
        d = np.abs(slope(z))
        flat = d < 0.03 * biggest
        if name in RESTING:  # a zero output with zero slope is a unit switched off: dead, not saturated
            off = (d < 1e-9) & (np.abs(value(z)) < 1e-9)
            dead = max(dead, float(np.mean(np.all(off.reshape(-1, off.shape[-1]), axis=0))))
            flat &= ~off
        saturated = max(saturated, float(np.mean(flat)))
    return dead, saturated


def _init_scale(model, x) -> tuple[float, float]:
    """(spread entering the output layer / entering the first kernel layer, kernels' std vs the matching one)."""
    import keras

    order = _layers(model)
    layers = [layer for layer in order if type(layer).__name__ in ("Dense", "Conv2D", "Conv1D")]
    if len(layers) < 3:
        return 1.0, 1.0
    reached = _inputs_to(model, x, layers)
    if reached is None:
        return math.nan, math.nan
    spread = [float(np.sqrt(np.var(np.asarray(a).reshape(len(x), -1), axis=0).mean())) for a in reached]
    ratios = []
    for layer in layers[:-1]:
        w = np.asarray(layer.kernel)
        fan_in, fan_out = int(np.prod(w.shape[:-1])), int(np.prod(w.shape[:-2] or (1,))) * w.shape[-1]
        name = keras.activations.serialize(layer.activation)
        name = name if isinstance(name, str) else "linear"
        if name == "linear":  # Dense → [BatchNorm] → Activation: the activation layer that follows
            later = order[order.index(layer) + 1:order.index(layer) + 3]
            name = next((keras.activations.serialize(lay.activation) for lay in later
                         if type(lay).__name__ == "Activation"), "linear")
        std = math.sqrt(2 / fan_in) if name in HE else math.sqrt(1 / fan_in) if name == "selu" \
            else math.sqrt(2 / (fan_in + fan_out))
        ratios.append(float(np.std(w)) / std)
    change = spread[-1] / spread[0] if spread[0] > 0 else math.nan
    return change, float(np.exp(np.mean(np.log(np.maximum(ratios, 1e-300)))))


STARTUP_STEPS = 50  # the first steps of a run: what they show has not yet settled into what holds at the end


def _loss_points(checks: dict) -> tuple[np.ndarray, np.ndarray]:
    """(steps, losses) of the batch losses: each batch's own for a user's model (every step), the loss of the
    batches between two records for a spec run (with the step of the later record)."""
    losses = checks.get("batch_losses") or []
    if losses and isinstance(losses[0], (list, tuple)):
        pairs = np.asarray(losses, dtype=np.float64).reshape(-1, 2)
        return pairs[:, 0], pairs[:, 1]
    return np.arange(1, len(losses) + 1, dtype=np.float64), np.asarray(losses, dtype=np.float64)


def guessing(checks: dict) -> tuple[float, float]:
    """(uniform, prior): the loss of guessing uniformly, ln k, and that of guessing the label prior — the lower one
    a network that learned nothing from its input reaches (its output bias alone can learn the prior).
    Measurements stored without the prior's loss read ln k for both."""
    uniform = math.log(checks["num_classes"])
    prior = checks["before"].get("prior_loss", math.nan)
    return uniform, prior if prior is not None and np.isfinite(prior) and prior > 0 else uniform


def truth(checks: dict) -> set[str]:
    """The labels a run shows at its end, and a poor initialisation at its start (empty: healthy — it trained and
    shows none). "Far above any guessing" reads the uniform guess (an untrained network with small outputs starts
    there whatever the prior); "learned nothing" and "stuck at guessing" read the prior's guess."""
    before, after = checks["before"], checks["after"]
    chance, prior = guessing(checks)
    steps_at, losses = _loss_points(checks)
    out = set()
    steps = max(int(checks.get("steps") or 1), 1)
    # the loss of the batches of the last 20 steps (at least the last three points where records are sparse, none
    # from the run's first half); the final loss on the probe examples where there are fewer than three points
    end = int(steps_at[-1]) if losses.size else steps
    recent = np.flatnonzero(steps_at >= end - 20)
    recent = recent if recent.size >= 3 else np.arange(max(losses.size - 3, losses.size // 2), losses.size)
    last = float(np.median(np.nan_to_num(losses[recent], nan=np.inf))) if losses.size >= 3 else after["loss"]
    # ... still far above guessing and above where it started
    climbed = last > max(2 * chance, 2 * before["loss"])
    change = after["weight_change"]
    moved = np.isfinite(change) and change / steps >= 1e-5  # steps of some size: they can throw weights away
    # ... or far above guessing with large gradients: huge weights make the outputs huge and confidently wrong —
    # unless the loss is coming down steadily (its last 20 steps' median a tenth or more below the 20 steps' before):
    # then the steps improve the network, and what is far off is where it started (an output layer scaled 30×
    # under Adam), not the steps
    earlier = losses[(steps_at >= end - 40) & (steps_at < end - 20)]
    falling = earlier.size > 0 and np.all(np.isfinite(earlier)) and last <= 0.9 * float(np.median(earlier))
    high = last > 2 * chance and after["max_grad_norm"] > 20 and not falling
    if not after["finite"] or (moved and (climbed or high or after["max_grad_norm"] > 1e3)):
        out.add("exploding")
    # (a network can learn around a few dead units: a problem while the loss is still at least half of where it
    # started or of guessing the prior, whichever is lower — a loss that came down from above guessing to guessing
    # learned nothing)
    stuck = after["loss"] >= 0.5 * min(before["loss"], prior)
    if after["dead"] >= 0.9 or (after["dead"] >= 0.5 and stuck):
        out.add("dead")
    if after["saturated"] >= 0.5:  # (an explosion throws units into their tails: both hold)
        out.add("saturated")
    # the weights changed by under 1e-5 of their size a step although their gradients are of ordinary size (the
    # largest layer norm at least 0.01, the bottom of healthy training's): the steps are too small for them — not
    # weights that get no gradient because it vanished on the way (dead or saturated units, tiny weights)
    # ... or, at the end: the last epoch's steps are that small while the loss is still at least half of where it
    # started or of guessing (a schedule that decayed to ~0 before the network learned; one that anneals a network
    # that has learned stops nothing that matters)
    last_epoch = checks.get("last_epoch_change")
    frozen_late = last_epoch is not None and np.isfinite(last_epoch) and last_epoch < 1e-5 \
        and after["loss"] >= 0.5 * min(before["loss"], prior)
    if ((np.isfinite(change) and change / steps < 1e-5) or frozen_late) and before["max_grad_norm"] >= 1e-2:
        out.add("flat")
    ratio = after["grad_ratio"]
    still = abs(after["loss"] - before["loss"]) < 0.01 * before["loss"]  # (near the threshold: tiny weights hide it)
    # the output ignores the input from start to end (the loss is that of guessing) and the first layer's share of
    # the gradient is small: tiny weights shrink the forward signal too. Small outputs start at the uniform guess;
    # by the end the output's bias may have learned the prior, or part of it: anywhere from the one to the other
    tol = 0.002 * chance
    blind = abs(before["loss"] - chance) < tol and prior - tol < after["loss"] < chance + tol
    # ... or, through a recurrent network, the gradient reaching the first time steps is under 1e-3 of the last's
    # (without it every finding of vanishing through time would count as a false alarm: the decay is real)
    through_time = after.get("time_ratio", math.nan)
    through_time = through_time is not None and np.isfinite(through_time) and through_time < 1e-3
    if ((np.isfinite(ratio) and (ratio < 1e-3 or (ratio < 1e-2 and still) or (ratio < 0.05 and blind)))
            or through_time) and not out & {"dead", "saturated", "exploding", "flat"}:
        out.add("vanishing")
    signal, scale = before["signal_change"], before["weight_scale"]  # (NaN: not measurable, never a label)
    scale_off = np.isfinite(signal) and np.isfinite(scale) and not (1e-2 <= signal <= 1e2) \
        and not (0.5 <= scale <= 2.0)
    # ... or a loss far above guessing from the start that never came down: still there at the end, or the run
    # ended in overflow (its final loss is no number to compare, but it certainly did not come down)
    if scale_off or (before["loss"] >= 3 * chance and (after["loss"] >= 3 * chance or not after["finite"])):
        out.add("poor_init")
    # the loss of the batches of the last 100 steps, past the first STARTUP_STEPS, spanning 50 steps or more
    window = (steps_at > STARTUP_STEPS) & (steps_at > end - 100)
    tail = losses[window]
    span = float(steps_at[window][-1] - steps_at[window][0] + 1) if tail.size else 0.0
    if tail.size >= 8 and span >= 50 and np.all(np.isfinite(tail)) and "exploding" not in out:
        gap = max(1.0, float(np.median(np.diff(steps_at[window]))))
        width = max(1, int(round(5 / gap)))  # five steps' worth of points
        smooth = np.convolve(tail, np.ones(width) / width, "valid") if tail.size >= width + 3 else tail
        level = float(np.median(smooth))
        third = len(tail) // 3
        progress = (np.median(tail[:third]) - np.median(tail[-third:])) / max(np.median(tail[:third]), 1e-12)
        # (the level reads the uniform guess: "far above a good loss"; at a skewed prior's level each batch's share
        # of the rare labels swings the batch loss by half its level or more, no step overshooting)
        if level >= 0.5 * chance and (smooth.max() - smooth.min()) / level >= 0.5 and progress < 0.1:
            out.add("oscillating")
    # the share of the way from the first loss to a good one (half the prior's guess) made in the run: a network
    # still short of the prior's loss at a tiny rate is slow, however skewed the labels
    if not out and after["loss"] > 0.5 * prior and before["loss"] > 0.5 * prior:
        progress = (before["loss"] - after["loss"]) / (before["loss"] - 0.5 * prior)
        if progress < 0.1 and before["loss"] - after["loss"] >= 0.01 * before["loss"]:  # it moves, too slowly
            out.add("slow")
    return out


def trained(checks: dict) -> bool:
    """It learned: its loss fell by a fifth or more, or below half the loss of guessing the prior. Under a prior
    below the uniform guess the fifth is counted from the prior's loss where that is lower than the first: the fall
    from the one to the other is the output's bias learning the prior, and learns nothing of the input."""
    chance, prior = guessing(checks)
    before, after = checks["before"]["loss"], checks["after"]["loss"]
    return after < 0.5 * prior or after <= 0.8 * (min(before, prior) if prior < chance else before)
