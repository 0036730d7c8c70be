"""Suggested fixes: plain, frozen, picklable values (id, title, why) the GUI applies in one click and the CLI prints.

What a fix does to a spec is `vg_studio.edits.apply_fix(spec, fix.id)`, written once beside the other spec edits;
for a user's own Keras model, which has no spec, `Fix.advice(layers)` says what to change where. The remedies are
those of the background sources: non-saturating activations with a matching initializer, He/Xavier
initialization, Wu's attention block, residual connections, BatchNorm, auxiliary classifiers and gated recurrent
cells (the review of causes and solutions), SDAGD (Tan & Lim) or Adam instead of plain SGD, and — for exploding
gradients — gradient clipping and a lower learning rate.
"""

from __future__ import annotations

from dataclasses import dataclass

from vg_studio import catalog, edits
from vg_studio.references import cite
from vg_studio.spec import ExperimentSpec

_REVIEW = cite("causes-solutions")


@dataclass(frozen=True)
class Fix:
    id: str
    title: str
    why: str
    todo: str = ""  # advice for a model without a spec; "{layers}" is replaced by the layers it concerns

    def apply(self, spec: ExperimentSpec) -> ExperimentSpec:
        """The fixed spec (a new value; the fixed run's name says which fix): `edits.apply_fix`."""
        return edits.apply_fix(spec, self.id)

    def advice(self, layers=()) -> str:
        """What to change in a user's own model, e.g. "Add BatchNormalization after conv2d_3"."""
        names = ", ".join(layers) if layers else "the affected layers"
        return (self.todo or self.title).replace("{layers}", names)

    def to_dict(self) -> dict:
        return {"id": self.id, "title": self.title, "why": self.why}

    def __str__(self) -> str:
        return f"{self.title} — {self.why}"


FIXES: dict[str, Fix] = {f.id: f for f in [
    Fix("relu_he", "Use ReLU with He initialization",
        f"ReLU's derivative is 1 for positive inputs, so the gradient is not shrunk by up to 4x per layer as with "
        f"sigmoid {_REVIEW}; He initialization keeps the signal's scale through ReLU layers.",
        "Use activation='relu' with kernel_initializer='he_normal' in {layers}"),
    Fix("leaky_relu_he", "Use LeakyReLU with He initialization",
        f"LeakyReLU keeps ReLU's unit slope and adds a small slope for negative inputs, so units never stop "
        f"passing gradient {_REVIEW}.",
        "Use activation='leaky_relu' with kernel_initializer='he_normal' in {layers}"),
    Fix("elu_he", "Use ELU with He initialization",
        f"ELU does not saturate for positive inputs and its smooth negative part keeps gradients flowing "
        f"{_REVIEW}.", "Use activation='elu' with kernel_initializer='he_normal' in {layers}"),
    Fix("he_init", "Use He initialization",
        f"He initialization scales each layer's weights by its fan-in so activations and gradients keep their "
        f"size through ReLU layers {_REVIEW}.", "Use kernel_initializer='he_normal' in {layers}"),
    Fix("xavier_init", "Use Xavier (Glorot) initialization",
        f"Xavier initialization balances fan-in and fan-out so sigmoid/tanh layers start in their responsive "
        f"middle range instead of their flat tails or a too-small signal {_REVIEW}.",
        "Use kernel_initializer='glorot_uniform' in {layers}"),
    Fix("attention", "Add attention blocks to the hidden layers",
        f"The attention block re-weights each hidden layer's input, giving the gradient a shorter, stronger path "
        f"back to the early layers {cite('wu-attention')}.", "Add an attention block in front of {layers}"),
    Fix("residual", "Add residual (skip) connections",
        f"A skip connection adds the identity to each layer's derivative, so the gradient reaches early layers "
        f"without being multiplied down layer after layer {_REVIEW}.",
        "Add a residual (skip) connection around {layers}"),
    Fix("batch_norm", "Add BatchNorm to the hidden layers",
        f"BatchNorm re-centres and re-scales each layer's pre-activations, keeping units out of the flat, "
        f"saturated regions and gradients at a steady size {_REVIEW}.", "Add BatchNormalization after {layers}"),
    Fix("sdagd", "Use the SDAGD optimizer",
        f"SDAGD takes steps of a set length relative to the gradient's size, so layers with tiny gradients still "
        f"move {cite('tan-lim-2019')}.", "Train with vg_studio's SDAGD optimizer instead of plain SGD"),
    Fix("adam", "Use the Adam optimizer",
        "Adam divides each step by the gradient's running size, so layers with tiny gradients still take "
        "useful steps.", "Train with keras.optimizers.Adam instead of plain SGD"),
    Fix("clip_gradients", "Clip the gradient norm to 1",
        f"Clipping caps the size of each update, so one huge gradient cannot throw the weights far away "
        f"{_REVIEW}.", "Pass global_clipnorm=1.0 to the optimizer"),
    Fix("lower_lr", "Lower the learning rate 10x",
        "Smaller steps stop the updates from overshooting and growing the weights each step.",
        "Lower the optimizer's learning rate 10x"),
    Fix("raise_lr", "Raise the learning rate",
        f"With a zero or tiny learning rate the weights cannot move, whatever the gradients are "
        f"{cite('sns-recognise')}.", "Raise the optimizer's learning rate"),
    Fix("zero_bias", "Start biases at 0",
        "A strongly negative starting bias puts ReLU units below zero for every input, where they pass no "
        "gradient and never recover.", "Use bias_initializer='zeros' in {layers}"),
    Fix("leaky_relu", "Use LeakyReLU instead of ReLU",
        f"LeakyReLU passes a small gradient for negative inputs, so a unit that went negative can come back "
        f"{_REVIEW}.", "Use activation='leaky_relu' instead of 'relu' in {layers}"),
    Fix("aux_head", "Add an auxiliary classifier midway",
        f"A softmax head after a middle layer (as in Inception) adds an error signal that reaches the early "
        f"layers through half as many layers; it is used in training only {_REVIEW}.",
        "Add an auxiliary softmax classifier (training only) after a middle layer"),
    Fix("lstm", "Use LSTM instead of SimpleRNN",
        f"The LSTM's cell state is carried forward through a forget gate instead of a squashing matrix product, "
        f"so the gradient can survive many time steps {_REVIEW}.", "Replace SimpleRNN with LSTM in {layers}"),
    Fix("gru", "Use GRU instead of SimpleRNN",
        f"The GRU's update gate lets the state (and its gradient) pass through time nearly unchanged {_REVIEW}.",
        "Replace SimpleRNN with GRU in {layers}"),
    Fix("shorter_sequence", "Halve the sequence length",
        "Fewer time steps mean fewer factors in the product the gradient is multiplied by on its way back.",
        "Train on shorter sequences"),
]}


# Which layers a piece of advice fits, by the Keras kind of the layer (`layer_kinds`): an activation or kernel
# initializer only where the layer has one of its own (Dense, convolutions) — never an LSTM's gates or an
# Embedding's table; a gated cell only in place of a SimpleRNN; a skip connection or an attention block around a
# layer that transforms the signal (not an Embedding's lookup or a normalization). Fixes not listed concern the
# whole network or its optimizer.
ACTIVATION_KINDS = ("dense", "einsum_dense", "conv1d", "conv2d", "conv3d", "separable_conv1d", "separable_conv2d",
                    "depthwise_conv1d", "depthwise_conv2d", "conv1d_transpose", "conv2d_transpose",
                    "conv3d_transpose")
FITS = {**{i: ACTIVATION_KINDS for i in ("relu_he", "leaky_relu_he", "elu_he", "he_init", "xavier_init",
                                          "zero_bias", "leaky_relu", "batch_norm")},
        "lstm": ("simple_rnn",), "gru": ("simple_rnn",), "shorter_sequence": catalog.RECURRENT_KINDS
        + ("bidirectional",)}
SIGNAL_FIXES = ("attention", "residual")  # any layer but a lookup table or a normalization


def fits(fix_id: str, kind: str) -> bool:
    """Whether a fix's advice applies to a layer of this Keras kind."""
    if fix_id in SIGNAL_FIXES:
        return kind != "embedding" and "normalization" not in kind
    return fix_id not in FITS or kind in FITS[fix_id]


def _candidates(kind: str, saturating: bool, optimizer: str | None, low_lr: bool) -> list[str]:
    """Fix ids for a finding kind, best first. `optimizer` None: unknown (a user's own model)."""
    plain_sgd = optimizer in (None, "sgd")
    adaptive = [] if optimizer in ("adam", "sdagd") else ["adam", "sdagd"]
    if kind == "vanishing_gradient":
        ids = (["relu_he", "leaky_relu_he", "elu_he", "he_init"] if saturating else ["he_init"]) + [
            "lstm", "gru", "attention", "residual", "batch_norm", "aux_head"] + (["sdagd", "adam"] if plain_sgd
                                                                                 else [])
    elif kind == "vanishing_through_time":
        ids = ["lstm", "gru", "clip_gradients", "shorter_sequence"] + (["adam"] if plain_sgd else [])
    elif kind in ("exploding_gradient", "non_finite"):
        ids = ["clip_gradients", "lower_lr", "xavier_init" if saturating else "he_init", "batch_norm"]
    elif kind == "dead_units":
        ids = ["zero_bias", "leaky_relu", "he_init", "lower_lr"]
    elif kind == "saturated_units":
        ids = ["relu_he", "xavier_init", "batch_norm"]
    elif kind in ("flat_weights", "loss_plateau"):
        ids = (["raise_lr"] if low_lr else []) + adaptive + (["relu_he"] if saturating else [])
    elif kind == "oscillating_loss":
        ids = ["lower_lr", "clip_gradients", "batch_norm"]
    elif kind == "slow_convergence":
        ids = (["raise_lr"] if low_lr else []) + adaptive + ["batch_norm"] + (["relu_he"] if saturating else [])
    elif kind == "poor_initialization":
        ids = ["xavier_init" if saturating else "he_init", "batch_norm"]
    else:
        ids = []
    return ids


def fixes_for(kind: str, spec: ExperimentSpec | None, activations=None, optimizer: str | None = None,
              learning_rate: float | None = None) -> tuple[Fix, ...]:
    """The fixes for a finding kind, best first. With a spec: only those that change it and give a valid spec.
    Without one (a user's own model; `activations` of its layers, and where known its `optimizer` as a catalog
    name and `learning_rate`): the candidates — "use Adam instead of plain SGD" is not offered to a model trained
    with Adam. `advice_for` turns them into sentences for the layers each fits."""
    if spec is None:
        saturating = bool(set(activations or ()) & set(catalog.SATURATING))
        return tuple(FIXES[i] for i in _candidates(kind, saturating, optimizer, _low_rate(optimizer, learning_rate)))
    saturating = any(layer.activation in catalog.SATURATING for layer in spec.network.layers)
    optimizer = spec.optimizer.name
    low_lr = spec.optimizer.learning_rate < catalog.OPTIMIZERS.get(optimizer, {}).get("learning_rate", 0) / 5
    return tuple(FIXES[i] for i in _candidates(kind, saturating, optimizer, low_lr) if _helps(spec, i))


def advice_for(kind: str, columns, model_columns=(), optimizer: str | None = None,
               learning_rate: float | None = None, small_steps: bool = False) -> tuple[str, ...]:
    """Advice for a user's own model: one sentence per fix that fits. `columns`: (label, layer kind, activation)
    of the layers the finding concerns; `model_columns`: those of every layer (a SimpleRNN elsewhere in the model
    still gets "use LSTM"). Each fix names only the layers whose kind it fits, and is left out where none does (no
    ReLU/He for an LSTM or an Embedding). `small_steps`: the weights barely move (raise the learning rate)."""
    fitting = [a for _, k, a in columns if k in ACTIVATION_KINDS] or \
        [a for _, k, a in model_columns if k in ACTIVATION_KINDS]
    saturating = bool(set(fitting) & set(catalog.SATURATING))
    low = _low_rate(optimizer, learning_rate) or small_steps
    out = []
    for fix_id in _candidates(kind, saturating, optimizer, low):
        named = [label for label, k, _ in columns if fits(fix_id, k)]
        if not named and fix_id in ("lstm", "gru", "shorter_sequence"):
            named = [label for label, k, _ in model_columns if fits(fix_id, k)]
        layered = fix_id in FITS or fix_id in SIGNAL_FIXES
        if named or not layered:
            out.append(FIXES[fix_id].advice(named if layered else [label for label, _, _ in columns]))
    return tuple(dict.fromkeys(out))


def _low_rate(optimizer: str | None, learning_rate: float | None) -> bool:
    default = catalog.OPTIMIZERS.get(optimizer or "", {}).get("learning_rate")
    return learning_rate is not None and (learning_rate <= 0 or (default is not None
                                                                 and learning_rate < default / 5))


def _helps(spec: ExperimentSpec, fix_id: str) -> bool:
    fixed = edits.apply_fix(spec, fix_id, rename=False)
    return fixed != spec and not fixed.issues()
