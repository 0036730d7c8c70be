"""Suggested fixes: each one a pure spec → spec edit the GUI applies in one click and the CLI prints.

The remedies are those of seeds 000–003: non-saturating activations (ReLU, LeakyReLU, ELU) with a matching
initializer, He/Xavier initialization, seed 000's attention block, residual connections, BatchNorm, SDAGD or
Adam instead of plain SGD, and — for exploding gradients — gradient clipping and a lower learning rate.
`Fix.apply` never mutates its argument; every result passes `ExperimentSpec.validate()`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from vg_studio import catalog
from vg_studio.spec import ExperimentSpec


@dataclass(frozen=True)
class Fix:
    id: str
    title: str
    why: str
    edit: Callable[[ExperimentSpec], None]  # mutates the copy it is given

    def apply(self, spec: ExperimentSpec) -> ExperimentSpec:
        new = spec.copy()
        self.edit(new)
        return new

    def to_dict(self) -> dict:
        return {"id": self.id, "title": self.title, "why": self.why}

    def __str__(self) -> str:
        return f"{self.title} — {self.why}"


# ---- edits ---------------------------------------------------------------------------------------------------
def _hidden(spec: ExperimentSpec):
    return spec.network.layers


def _replace_saturating(activation: str, initializer: str):
    def edit(spec):
        layers = [layer for layer in _hidden(spec) if layer.activation in catalog.SATURATING]
        for layer in layers or _hidden(spec):
            layer.activation = activation
            layer.initializer = initializer
    return edit


def _set_initializer(initializer: str):
    def edit(spec):
        for layer in _hidden(spec):
            layer.initializer = initializer
    return edit


def _set_layer_flag(name: str):
    def edit(spec):
        for layer in _hidden(spec):
            setattr(layer, name, True)
    return edit


def _switch_optimizer(name: str):
    def edit(spec):
        defaults = catalog.OPTIMIZERS[name]
        spec.optimizer.name = name
        spec.optimizer.learning_rate = defaults["learning_rate"]
        spec.optimizer.params = dict(defaults["params"])
    return edit


def _clip_gradients(spec):
    spec.optimizer.clipnorm = None
    spec.optimizer.clipvalue = None
    spec.optimizer.global_clipnorm = 1.0


def _lower_learning_rate(spec):
    spec.optimizer.learning_rate = spec.optimizer.learning_rate / 10.0


def _raise_learning_rate(spec):
    default = catalog.OPTIMIZERS[spec.optimizer.name]["learning_rate"]
    lr = spec.optimizer.learning_rate
    spec.optimizer.learning_rate = default if lr <= 0 else max(lr * 10.0, min(default, lr * 100.0))


def _zero_bias(spec):
    for layer in _hidden(spec):
        layer.bias_init = 0.0


def _relu_to_leaky(spec):
    for layer in _hidden(spec):
        if layer.activation in catalog.DYING:
            layer.activation = "leaky_relu"
        if layer.bias_init < 0:
            layer.bias_init = 0.0


def _gated(kind: str):
    def edit(spec):
        for layer in _hidden(spec):
            if layer.kind == "simple_rnn":
                layer.kind = kind
                layer.activation = "tanh"
    return edit


def _shorter_sequence(spec):
    if spec.data.dataset in ("adding", "recall"):
        spec.data.options["length"] = max(2, int(spec.data.options.get("length", 100)) // 2)


def _aux_head(spec):
    """A midway classifier (Inception's auxiliary heads, seed 001 §2.2) after the middle hidden layer."""
    dense = [layer for layer in _hidden(spec) if layer.kind == "dense"]
    if len(dense) >= 3:
        dense[len(dense) // 2 - 1].aux_head = True


FIXES = {f.id: f for f in [
    Fix("relu_he", "Use ReLU with He initialization",
        "ReLU's derivative is 1 for positive inputs, so the gradient is not shrunk by up to 4x per layer as with "
        "sigmoid (seed 001 §2); He init keeps the signal's scale through ReLU layers.",
        _replace_saturating("relu", "he_normal")),
    Fix("leaky_relu_he", "Use LeakyReLU with He initialization",
        "LeakyReLU keeps ReLU's unit slope and adds a 0.01 slope for negative inputs, so units never stop "
        "passing gradient (seed 001 §2).", _replace_saturating("leaky_relu", "he_normal")),
    Fix("elu_he", "Use ELU with He initialization",
        "ELU does not saturate for positive inputs and its smooth negative part keeps gradients flowing "
        "(seed 001 §2).", _replace_saturating("elu", "he_normal")),
    Fix("he_init", "Use He initialization",
        "He init scales each layer's weights by its fan-in so activations and gradients keep their size "
        "through ReLU layers.", _set_initializer("he_normal")),
    Fix("xavier_init", "Use Xavier (Glorot) initialization",
        "Xavier init balances fan-in and fan-out so sigmoid/tanh layers start in their responsive middle range "
        "instead of their flat tails or a too-small signal.", _set_initializer("glorot_uniform")),
    Fix("attention", "Add attention blocks to the hidden layers",
        "Seed 000's attention block re-weights each hidden layer's input, giving the gradient a shorter, "
        "stronger path back to the early layers.", _set_layer_flag("attention")),
    Fix("residual", "Add residual (skip) connections",
        "A skip connection adds the identity to each layer's derivative, so the gradient reaches early layers "
        "without being multiplied down layer after layer.", _set_layer_flag("residual")),
    Fix("batch_norm", "Add BatchNorm to the hidden layers",
        "BatchNorm re-centres and re-scales each layer's pre-activations, keeping units out of the flat, "
        "saturated regions and gradients at a steady size.", _set_layer_flag("batch_norm")),
    Fix("sdagd", "Use the SDAGD optimizer",
        "SDAGD (seed 003) adapts its step to the gradient's size, so layers with tiny gradients still move.",
        _switch_optimizer("sdagd")),
    Fix("adam", "Use the Adam optimizer",
        "Adam divides each step by the gradient's running size, so layers with tiny gradients still take "
        "useful steps.", _switch_optimizer("adam")),
    Fix("clip_gradients", "Clip the gradient norm to 1",
        "Clipping caps the size of each update, so one huge gradient cannot throw the weights far away.",
        _clip_gradients),
    Fix("lower_lr", "Lower the learning rate 10x",
        "Smaller steps stop the updates from overshooting and growing the weights each step.",
        _lower_learning_rate),
    Fix("raise_lr", "Raise the learning rate",
        "With a zero or tiny learning rate the weights cannot move, whatever the gradients are.",
        _raise_learning_rate),
    Fix("zero_bias", "Start biases at 0",
        "A strongly negative starting bias puts ReLU units below zero for every input, where they pass no "
        "gradient and never recover.", _zero_bias),
    Fix("leaky_relu", "Use LeakyReLU instead of ReLU",
        "LeakyReLU passes a small gradient for negative inputs, so a unit that went negative can come back.",
        _relu_to_leaky),
    Fix("aux_head", "Add an auxiliary classifier midway",
        "A softmax head after a middle layer (as in Inception, seed 001 §2.2) adds an error signal that reaches "
        "the early layers through half as many layers; it is used in training only.", _aux_head),
    Fix("lstm", "Use LSTM instead of SimpleRNN",
        "The LSTM's cell state is carried forward through a forget gate instead of a squashing matrix product, "
        "so the gradient can survive many time steps (seed 001 §2.3).", _gated("lstm")),
    Fix("gru", "Use GRU instead of SimpleRNN",
        "The GRU's update gate lets the state (and its gradient) pass through time nearly unchanged "
        "(seed 001 §2.3).", _gated("gru")),
    Fix("shorter_sequence", "Halve the sequence length",
        "Fewer time steps mean fewer factors in the product the gradient is multiplied by on its way back.",
        _shorter_sequence),
]}


def fixes_for(kind: str, spec: ExperimentSpec) -> list[Fix]:
    """The fixes that change something for this finding kind on this spec, best first."""
    activations = {layer.activation for layer in spec.network.layers}
    saturating = bool(activations & set(catalog.SATURATING))
    plain_sgd = spec.optimizer.name == "sgd"
    ids: list[str]
    if kind == "vanishing_gradient":
        ids = (["relu_he", "leaky_relu_he", "elu_he"] if saturating else ["he_init"]) + [
            "attention", "residual", "batch_norm", "aux_head"] + (["sdagd", "adam"] if plain_sgd else [])
        if saturating:
            ids.insert(3, "he_init")
    elif kind == "vanishing_through_time":
        ids = ["lstm", "gru", "clip_gradients", "shorter_sequence"] + (["adam"] if plain_sgd else [])
    elif kind in ("exploding_gradient", "non_finite"):
        ids = ["clip_gradients", "lower_lr", "he_init" if not saturating else "xavier_init", "batch_norm"]
    elif kind == "dead_units":
        ids = ["zero_bias", "leaky_relu", "he_init", "lower_lr"]
    elif kind == "saturated_units":
        ids = ["relu_he", "xavier_init", "batch_norm"]
    elif kind in ("flat_weights", "loss_plateau"):
        low_lr = spec.optimizer.learning_rate < catalog.OPTIMIZERS[spec.optimizer.name]["learning_rate"] / 5
        ids = (["raise_lr"] if low_lr else []) + (["adam", "sdagd"] if spec.optimizer.name not in ("adam", "sdagd") else [])
        if saturating:
            ids += ["relu_he"]
    else:
        ids = []
    return [FIXES[i] for i in ids if FIXES[i].apply(spec) != spec]
