"""The Gauss–Newton diagonal of a builder network, computed inside the compiled training step for SDAGD.

For a Dense layer z = xW + b of a network trained on a mean loss over n examples, the Gauss–Newton (GN) diagonal is

    H[j, i] = (1/n) Σ_n x_nj² · D_ni,      H_bias[i] = (1/n) Σ_n D_ni,

where D is the GN diagonal with respect to the pre-activation z. LeCun et al.'s stochastic diagonal
Levenberg–Marquardt ("Efficient BackProp", 1998) back-propagates D like the gradient, with squared weights and
squared activation derivatives, dropping the f'' terms and the off-diagonal terms (the truncation):

    D_x = D_z @ (W²)ᵀ,      D_z = f'(z)² ⊙ D_a,

starting from the loss's own curvature with respect to the output pre-activation (softmax cross-entropy p(1−p);
squared error: the diagonal of Jᵀ(2/K)J). The recursion passes through BatchNormalization (scale γ²/(σ²_B+ε), the
batch statistics held fixed), Dropout (the mask, squared) and residual additions (the two paths added: their cross
term is dropped). A Dense layer below an attention block (whose D cannot be propagated) gets the sum of squared
per-example gradients instead, (1/n) Σ_n x² δ² (BackPACK's estimate; δ per example from a zero tensor added to z).

How the optimizer gets these numbers inside the step, on every backend, without a second pass: while the builder
puts the training graph together, a `GaussNewtonPlan` (the optimizer's training-graph hooks,
`vg_studio.nn.optimizers.training_graph_hooks`) sees every layer it applies and records what the curvature flows
back through; the training graph (never the user's model) then holds a `GaussNewtonTaps` layer, an identity on the output layer's input. Every
`curvature_every` steps it computes, per site, the two factors [x, 1] (n × (fan-in + 1)) and D/n (n × units) and
adds the loss term Σ stop_gradient(factor) ⊙ P with P ≡ 0 trainable "probe" variables: the loss is unchanged and
the gradient of P is the factor itself. SDAGD recognises the probes (`curvature_site` on the variable), multiplies
the factors (one matmul per layer, [x², 1]ᵀ·D/n; with `curvature_scale="unit"` one more for the unit blocks' scale)
and never updates the probes. A scalar `refresh` variable, set by SDAGD, tells the taps on which steps to compute
(so the extra matmuls run only every `curvature_every` steps, under `ops.cond`).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

import keras
from keras import ops

# (loss, output activation) pairs whose curvature with respect to the output pre-activation is known in closed form
HEAD_CURVATURES = {("sparse_categorical_crossentropy", "softmax"), ("mse", "softmax"), ("mse", "sigmoid"),
                   ("mse", "linear")}
ACTIVATION_DERIVATIVES = ("sigmoid", "tanh", "relu", "leaky_relu", "elu", "selu", "gelu", "swish", "prelu", "linear")
_SELU_SCALE, _SELU_ALPHA = 1.0507009873554805, 1.6732632423543772


def activation_derivative(kind: str, z, a, layer=None):
    """f'(z) for the catalog's activations, from the pre-activation z and the activation a = f(z)."""
    if kind == "sigmoid":
        return a * (1.0 - a)
    if kind == "tanh":
        return 1.0 - ops.square(a)
    if kind == "linear":
        return ops.ones_like(z)
    positive = ops.cast(ops.greater(z, 0.0), z.dtype)
    if kind == "relu":
        return positive
    if kind == "leaky_relu":
        return positive + (1.0 - positive) * float(layer.negative_slope)
    if kind == "prelu":
        return positive + (1.0 - positive) * ops.stop_gradient(ops.cast(layer.alpha, z.dtype))
    if kind == "elu":  # Keras's elu: alpha 1, f = e^z − 1 below 0
        return positive + (1.0 - positive) * (a + 1.0)
    if kind == "selu":
        return positive * _SELU_SCALE + (1.0 - positive) * (a + _SELU_SCALE * _SELU_ALPHA)
    if kind == "gelu":  # Keras's exact gelu, z·Φ(z)
        cdf = 0.5 * (1.0 + ops.erf(z / math.sqrt(2.0)))
        return cdf + z * ops.exp(-0.5 * ops.square(z)) / math.sqrt(2.0 * math.pi)
    if kind == "swish":
        s = ops.sigmoid(z)
        return s * (1.0 + z * (1.0 - s))
    raise ValueError(f"no derivative for activation {kind!r}")


def head_curvature(loss: str, activation: str, y):
    """Per example and output unit: the GN diagonal of the loss (summed over the units, one example) with respect
    to the output pre-activation, from the output y. Keras's "mse" is the mean over the K units of (y − t)², i.e.
    Tan & Lim's eq. (5) ½Σ(D − Y)² times 2/K."""
    if loss == "sparse_categorical_crossentropy":  # softmax: the exact Hessian diag(p) − ppᵀ, its diagonal
        return y * (1.0 - y)
    scale = 2.0 / float(y.shape[-1])
    if activation == "linear":
        return ops.ones_like(y) * scale
    if activation == "sigmoid":
        return scale * ops.square(y * (1.0 - y))
    # softmax Jacobian J_ki = p_k(δ_ki − p_i): Σ_k J_ki² = p_i²(1 − 2p_i + Σ_k p_k²)
    return scale * ops.square(y) * (1.0 - 2.0 * y + ops.sum(ops.square(y), axis=-1, keepdims=True))


class GaussNewtonPlan:
    """Records, while the builder applies the training graph's layers, the operations the curvature flows back
    through (tensors are kept as indices into the taps layer's inputs); `GaussNewtonTaps(plan)` executes it in
    reverse. As the builder's hooks: `applied(layer, inputs, output)` for every layer application, and
    `before_output(layer, x)`, which records the loss's head and puts the taps on the output layer's input.

    Dense layers on flat inputs, activations, BatchNormalization, Dropout and Add are understood; any other layer
    (an attention block, a reshape, a recurrent layer) is a barrier: the curvature does not flow back through it,
    and a tensor it consumes gets an incomplete D. A Dense block below an attention block therefore gets a
    DeltaProbe on its output (`below_attention`: the names of those Dense layers)."""

    def __init__(self, loss: str = "sparse_categorical_crossentropy", output_activation: str = "softmax",
                 batch_size: int = 0, aux_weights: dict | None = None, below_attention=()):
        self.tensors: list = []
        self.ops: list = []
        self._index: dict = {}
        self.loss, self.output_activation, self.batch_size = loss, output_activation, int(batch_size)
        self.aux_weights = dict(aux_weights or {})
        self.below_attention = set(below_attention)
        self.closed = False

    @classmethod
    def for_spec(cls, spec, batch_size: int, examples: int = 0) -> "GaussNewtonPlan":
        """`examples`: how many examples of each batch the curvature is computed from (0: all)."""
        layers = spec.network.layers
        return cls(spec.loss, spec.network.output_activation, min(batch_size, examples or batch_size),
                   {f"aux_{i}_head": layer.aux_weight for i, layer in enumerate(layers, start=1) if layer.aux_head},
                   [f"hidden_{i}_dense" for i in range(1, len(layers) + 1) if any(later.attention
                                                                                  for later in layers[i:])])

    # -- the builder's hooks --
    def applied(self, layer, inputs, output):
        """Record one layer application; returns the tensor the graph continues with."""
        if self.closed:
            return output
        xs = list(inputs) if isinstance(inputs, (list, tuple)) else [inputs]
        kind = _layer_kind(layer)
        if kind == "dense" and len(xs[0].shape) == 2:
            site = _site_names(layer.name)
            if layer.name in self.aux_weights:  # an auxiliary classifier head (softmax, cross-entropy)
                self.head(layer, xs[0], output, "sparse_categorical_crossentropy", "softmax",
                          self.aux_weights[layer.name], site)
            elif layer.name in self.below_attention:  # squared per-example gradients
                probe = DeltaProbe(self.batch_size, name=f"sdagd_delta_{site[0].rsplit('_', 1)[-1]}")
                self.fisher(layer, xs[0], site, probe)
                return probe(output)
            else:
                self.dense(layer, xs[0], output, site)
        elif kind in ACTIVATION_DERIVATIVES:
            self.activation(layer, kind, xs[0], output)
        elif kind == "batch_norm":
            self.batch_norm(layer, xs[0], output)
        elif kind == "dropout":
            self.dropout(xs[0], output)
        elif kind == "add":
            self.add(xs, output)
        else:
            for x in xs:
                self.barrier(x)
        return output

    def before_output(self, layer, x):
        """The main output layer's head, and the taps on its input `x` (what the output layer is applied to)."""
        self.head(layer, x, None, self.loss, self.output_activation, 1.0, ("output", "output"))
        self.closed = True
        return GaussNewtonTaps(self, x, self.batch_size, name="sdagd_curvature")(self.tensors)

    def tap(self, tensor) -> int:
        key = id(tensor)
        if key not in self._index:
            self._index[key] = len(self.tensors)
            self.tensors.append(tensor)
        return self._index[key]

    def dense(self, layer, x, z, site: tuple):
        """z = layer(x) for a Dense layer without its own activation. `site` is (unique name, layer group)."""
        self.ops.append(("dense", layer, self.tap(x), self.tap(z), site))

    def fisher(self, layer, x, site: tuple, delta_probe):
        """A Dense layer the recursion cannot reach: squared per-example gradients via `delta_probe` (a DeltaProbe
        layer applied to its output)."""
        self.ops.append(("fisher", layer, self.tap(x), site, delta_probe))

    def activation(self, layer, kind: str, z, a):
        self.ops.append(("activation", layer, kind, self.tap(z), self.tap(a)))

    def batch_norm(self, layer, z, y):
        self.ops.append(("batch_norm", layer, self.tap(z), self.tap(y)))

    def dropout(self, a, b):
        self.ops.append(("dropout", self.tap(a), self.tap(b)))

    def add(self, inputs, out):
        self.ops.append(("add", [self.tap(t) for t in inputs], self.tap(out)))

    def barrier(self, tensor):
        """`tensor` also feeds something the recursion cannot pass (an attention block): its D is incomplete."""
        self.ops.append(("barrier", self.tap(tensor)))

    def head(self, layer, x, y, loss: str, activation: str, weight: float, site: tuple):
        """A classifier head y = activation(layer(x)) with its loss; y None: the main output, computed by the taps
        (which sit on the output layer's input)."""
        self.ops.append(("head", layer, self.tap(x), None if y is None else self.tap(y), loss, activation,
                         float(weight), site))


def _layer_kind(layer) -> str:
    """What the recursion does with a layer: "dense" (a Dense without its own activation: softmax heads are
    recorded as heads), an activation name, "batch_norm", "dropout", "add", or "" (a barrier)."""
    layers = keras.layers
    if isinstance(layer, layers.Dense):
        return "dense"
    if isinstance(layer, layers.LeakyReLU):
        return "leaky_relu"
    if isinstance(layer, layers.PReLU):
        return "prelu"
    if isinstance(layer, layers.Activation):
        return str(layer.get_config().get("activation", ""))
    if isinstance(layer, layers.BatchNormalization):
        return "batch_norm"
    if isinstance(layer, layers.Dropout):
        return "dropout"
    if isinstance(layer, layers.Add):
        return "add"
    return ""


def _site_names(layer_name: str) -> tuple:
    """(site name, layer group) of a Dense layer: hidden_3_dense → (hidden_3, hidden_3), hidden_3_shortcut →
    (hidden_3_shortcut, hidden_3); an auxiliary head or the output is its own group."""
    name = layer_name[:-len("_dense")] if layer_name.endswith("_dense") else layer_name
    group = re.match(r"(hidden_\d+)(?:_|$)", name)
    return name, group.group(1) if group else name


@dataclass(eq=False)
class CurvatureSite:
    """One Dense layer whose kernel (and bias) get their curvature from the taps. The gradient of `x_probe` is
    [x, 1] (n·[x², 1] for "fisher"), that of `d_probe` D/n ("fisher": the per-example gradient δ/n of the
    DeltaProbe on z), so one matmul gives the kernel's curvature and, in its last row, the bias's."""

    name: str  # unique among the sites (names the probe variables)
    group: str  # the layer group it belongs to, for per-layer diagnostics (hidden_1 … output)
    kind: str  # "gauss_newton" | "fisher"
    kernel: object
    bias: object
    x_probe: object = None
    d_probe: object = None
    # (activation layer, its kind, the next site) when z feeds only that activation and its output only the next
    # site's Dense or head: the plain chain through which the layer-level coupling is measured
    chain: tuple | None = None

    def curvature(self, x_factor, d_factor, direction=None, projected=None):
        """(kernel, bias) curvature from the probes' gradients (rows past the batch are zero).

        `direction` ((fan-in + 1) × units: the kernel's gradient with the bias's as its last row), Gauss–Newton
        sites only: rescale each output unit's diagonal so that its quadratic form along `direction` equals the
        unit's full Gauss–Newton block's, (1/n) Σ_n D_ni (x̃_n·v_i)² (x̃ = [x, 1]; one more matmul). The diagonal
        drops the coupling of a unit's inputs; the factor ρ_i = v_iᵀH_i v_i / Σ_j h_ji v_ji² (0 ≤ ρ ≤ fan-in + 1)
        restores its size along the step (docs/sdagd.md, "The scale of h"). `projected`: x_factor @ direction, when
        the caller has it already."""
        if self.kind == "fisher":
            full = ops.matmul(ops.transpose(x_factor), ops.square(d_factor))
            return full[:-1], full[-1]
        full = ops.matmul(ops.transpose(ops.square(x_factor)), d_factor)
        if direction is not None:
            if projected is None:
                projected = ops.matmul(x_factor, direction)
            block = ops.sum(d_factor * ops.square(projected), axis=0)  # v_iᵀ H_i v_i
            diagonal = ops.sum(full * ops.square(direction), axis=0)  # Σ_j h_ji v_ji²
            positive = ops.greater(diagonal, 0.0)
            full = full * ops.where(positive, block / ops.where(positive, diagonal, 1.0), 1.0)
        return full[:-1], full[-1]

    def coupling(self, x_factor, d_factor, direction, next_d_factor):
        """ρ_layer: the curvature along the whole layer's step `direction` one layer up (in the next site's
        pre-activation, where the units of this layer meet: Σ_n Σ_k D'_nk (Δz'_nk)², Δz' = (f'(z) ⊙ Δz) W') over the
        sum of its units' own curvatures along it (Σ_n Σ_i D_ni Δz_ni², Δz = x̃·direction). With D = f'² ⊙ D'(W'²)ᵀ
        (the recursion) the ratio is 1 for units whose changes do not interact and grows with how coherently they
        move the next layer (up to the layer's width); the truncation keeps only the denominator."""
        activation, kind, following = self.chain
        kernel = ops.cast(self.kernel, "float32")
        bias = ops.zeros((1, kernel.shape[-1]), "float32") if self.bias is None else ops.reshape(
            ops.cast(self.bias, "float32"), (1, -1))
        z = ops.matmul(x_factor, ops.concatenate([kernel, bias], axis=0))
        slope = activation_derivative(kind, z, activation.call(z), activation)
        dz = ops.matmul(x_factor, direction)
        dz_next = ops.matmul(slope * dz, ops.cast(following.kernel, "float32"))
        coupled = ops.sum(next_d_factor * ops.square(dz_next))
        separate = ops.sum(d_factor * ops.square(dz))
        return ops.where(ops.greater(separate, 0.0), coupled / ops.where(ops.greater(separate, 0.0), separate, 1.0),
                         1.0)


class Untracked:
    """Holds layers without Keras tracking them as sublayers (their weights belong to the model already)."""

    def __init__(self, items):
        self.items = list(items)


class DeltaProbe(keras.layers.Layer):
    """Training-only identity z + p, p ≡ 0 (one row per example of a batch): p's gradient is ∂L/∂z per example."""

    def __init__(self, batch_size: int, **kwargs):
        super().__init__(**kwargs)
        self.batch_size = int(batch_size)

    def build(self, input_shape):
        self.probe = self.add_weight(shape=(self.batch_size, input_shape[-1]), initializer="zeros", trainable=True,
                                     name="delta")

    def call(self, z):
        rows = _rows(z, self.batch_size)
        return z + ops.pad(ops.cast(self.probe[:rows], z.dtype), [[0, ops.shape(z)[0] - rows], [0, 0]])

    def compute_output_shape(self, input_shape):
        return input_shape


def _rows(x, limit: int):
    n = ops.shape(x)[0]
    return min(n, limit) if isinstance(n, int) else ops.minimum(n, limit)


def _constant(variable):
    """A weight as the recursion reads it: float32, without a gradient path."""
    return ops.stop_gradient(ops.cast(variable, "float32"))


def _consumed(op) -> list:
    """The tensor indices an operation of the plan reads."""
    kind = op[0]
    if kind in ("dense", "fisher", "head"):
        return [op[2]]
    if kind in ("activation", "batch_norm"):
        return [op[3] if kind == "activation" else op[2]]
    if kind == "dropout":
        return [op[1]]
    if kind == "add":
        return list(op[1])
    return [op[1]]  # barrier


class GaussNewtonTaps(keras.layers.Layer):
    """Training-only identity on the output layer's input that hands SDAGD the Gauss–Newton factors through the
    gradients of zero probe variables (module docstring). Only the trainer's training graph holds it."""

    def __init__(self, plan: GaussNewtonPlan, through, batch_size: int, **kwargs):
        super().__init__(dtype="float32", **kwargs)
        self.batch_size = int(batch_size)
        self._through = plan.tap(through)
        self._ops = Untracked(plan.ops)
        self.sites: list[CurvatureSite] = []
        self._site_ops = []
        self._plan_sites()

    # -- which Dense layers the recursion reaches (decided once, from the plan) --
    def _plan_sites(self):
        reached, poisoned = set(), set()

        def live(index):  # D reaches this tensor completely (no consumer the recursion cannot pass)
            return index in reached and index not in poisoned

        for op in reversed(self._ops.items):
            kind = op[0]
            if kind == "barrier":
                poisoned.add(op[1])
            elif kind == "head":
                _, layer, x, _, loss, activation, _, site = op
                if (loss, activation) in HEAD_CURVATURES:
                    self._site_ops.append((op, "gauss_newton", layer, site))
                    reached.add(x)
            elif kind == "dense":
                _, layer, x, z, site = op
                if live(z):
                    self._site_ops.append((op, "gauss_newton", layer, site))
                    reached.add(x)
            elif kind == "fisher":
                self._site_ops.append((op, "fisher", op[1], op[3]))
            elif kind == "activation":
                if live(op[4]) and op[2] in ACTIVATION_DERIVATIVES:
                    reached.add(op[3])
            elif kind == "batch_norm":
                if live(op[3]):
                    reached.add(op[2])
            elif kind == "dropout":
                if live(op[2]):
                    reached.add(op[1])
            elif kind == "add":
                if live(op[2]):
                    reached.update(op[1])
        self._reached = reached - poisoned
        # the plain chains Dense → activation → next Dense (or head), for the layer-level coupling
        consumers: dict = {}
        for op in self._ops.items:
            for index in _consumed(op):
                consumers.setdefault(index, []).append(op)
        self._chains = {}
        for op, kind, _, _ in self._site_ops:
            if kind != "gauss_newton" or op[0] != "dense":
                continue
            after = consumers.get(op[3], [])
            if len(after) != 1 or after[0][0] != "activation" or after[0][2] not in ACTIVATION_DERIVATIVES:
                continue
            following = consumers.get(after[0][4], [])
            if len(following) == 1 and following[0][0] in ("dense", "head") and id(following[0]) in {
                    id(o) for o, k, _, _ in self._site_ops if k == "gauss_newton"}:
                self._chains[id(op)] = (after[0][1], after[0][2], id(following[0]))

    def build(self, input_shapes):
        self.refresh = self.add_weight(shape=(), initializer="ones", trainable=True, name="refresh")
        self.refresh.curvature_refresh = True
        for op, kind, layer, (name, group) in self._site_ops:
            site = CurvatureSite(name, group, kind, layer.kernel, layer.bias)
            site.x_probe = self.add_weight(shape=(self.batch_size, input_shapes[op[2]][-1] + 1), initializer="zeros",
                                           trainable=True, name=f"x_{name}")
            if kind == "fisher":
                site.d_probe = op[4].probe
            else:
                site.d_probe = self.add_weight(shape=(self.batch_size, layer.kernel.shape[-1]), initializer="zeros",
                                               trainable=True, name=f"d_{name}")
            site.x_probe.curvature_site = site.d_probe.curvature_site = site
            self.sites.append(site)
        by_op = {id(op): site for (op, _, _, _), site in zip(self._site_ops, self.sites)}
        for (op, _, _, _), site in zip(self._site_ops, self.sites):
            if id(op) in self._chains:
                activation, kind, following = self._chains[id(op)]
                site.chain = (activation, kind, by_op[following])

    def compute_output_shape(self, input_shapes):
        return input_shapes[self._through]

    def call(self, tensors, training=None):
        through = tensors[self._through]
        if not training or not self.sites:
            return through
        rows = _rows(through, self.batch_size)
        # nothing the factors are computed from may carry a gradient: the cond would otherwise add zeros to the
        # gradients of every tapped tensor and every kernel on every step
        tensors = [ops.stop_gradient(ops.cast(t[:rows], "float32")) for t in tensors]
        fresh = ops.greater(ops.convert_to_tensor(self.refresh), 0.5)

        def skip():
            zeros = []
            for op, kind, layer, _ in self._site_ops:
                zeros.append(ops.zeros((rows, tensors[op[2]].shape[-1] + 1), "float32"))
                if kind == "gauss_newton":
                    zeros.append(ops.zeros((rows, layer.kernel.shape[-1]), "float32"))
            return tuple(zeros)

        batch = ops.cast(ops.shape(through)[0], "float32")
        factors = list(ops.cond(fresh, lambda: self._factors(tensors, rows, batch), skip))
        loss = 0.0 * ops.convert_to_tensor(self.refresh)  # a zero gradient, so `refresh` is never "unconnected"
        for site in self.sites:
            probes = (site.x_probe,) if site.kind == "fisher" else (site.x_probe, site.d_probe)
            for probe in probes:
                loss = loss + ops.sum(ops.stop_gradient(factors.pop(0)) * probe[:rows])
        self.add_loss(loss)
        return through

    def _factors(self, tensors, rows, batch):
        """Runs the plan backwards over the first `rows` examples of a batch of `batch`: D per tapped tensor; per
        site the factors [x, 1] and D/n (n = rows), or (batch²/n)·[x², 1] (the DeltaProbe's gradient is δ/batch)."""
        n = ops.cast(rows, "float32")
        curv: dict = {}

        def accumulate(index, value):
            if index in self._reached:
                curv[index] = curv[index] + value if index in curv else value

        def back_through(layer, x, d):  # D_x += D_z @ (W²)ᵀ
            accumulate(x, ops.matmul(d, ops.transpose(ops.square(_constant(layer.kernel)))))

        def with_ones(x):
            return ops.concatenate([x, ops.ones_like(x[:, :1])], axis=1)

        out = {}
        for op in reversed(self._ops.items):
            kind = op[0]
            if kind == "head":
                _, layer, x, y, loss, activation, weight, _ = op
                if (loss, activation) not in HEAD_CURVATURES:
                    continue
                if y is None:  # the main output: computed here from its input
                    logits = ops.matmul(tensors[x], _constant(layer.kernel))
                    if layer.bias is not None:
                        logits = logits + _constant(layer.bias)
                    y_value = layer.activation(logits)
                else:
                    y_value = tensors[y]
                d = weight * head_curvature(loss, activation, y_value)
                out[id(op)] = (with_ones(tensors[x]), d / n)
                back_through(layer, x, d)
            elif kind == "dense":
                _, layer, x, z, _ = op
                if z in curv:
                    out[id(op)] = (with_ones(tensors[x]), curv[z] / n)
                    back_through(layer, x, curv[z])
            elif kind == "fisher":
                out[id(op)] = (ops.square(with_ones(tensors[op[2]])) * (batch * batch / n),)
            elif kind == "activation":
                _, layer, act, z, a = op
                if a in curv and act in ACTIVATION_DERIVATIVES:
                    accumulate(z, ops.square(activation_derivative(act, tensors[z], tensors[a], layer)) * curv[a])
            elif kind == "batch_norm":
                _, layer, z, y = op
                if y in curv:  # y = γ(z − m_B)/√(σ²_B + ε) + β with the batch statistics held fixed
                    scale = 1.0 / (ops.var(tensors[z], axis=0) + float(layer.epsilon))
                    if layer.gamma is not None:
                        scale = scale * ops.square(_constant(layer.gamma))
                    accumulate(z, curv[y] * scale)
            elif kind == "dropout":
                _, a, b = op
                if b in curv:  # b = mask·a/keep: the per-example factor b/a, squared
                    nonzero = ops.not_equal(tensors[a], 0.0)
                    factor = ops.where(nonzero, tensors[b] / ops.where(nonzero, tensors[a], 1.0), 0.0)
                    accumulate(a, curv[b] * ops.square(factor))
            elif kind == "add":
                _, inputs, o = op
                if o in curv:
                    for i in inputs:
                        accumulate(i, curv[o])
        return tuple(t for op, _, _, _ in self._site_ops for t in out[id(op)])
