"""Spec runs of the labelled grid: the app's own dense networks, trained by `vg-studio reproduce`'s cells.

Sets: `dev` — the configurations the thresholds were chosen on (digits, mnist-5k); `holdout` — configurations kept
aside while choosing them (shapes10, other activations/initialisers/optimisers/widths/batch sizes); `stress` —
borderline cases (healthy saturating networks at high Adam rates, plain SGD at high rates and tiny batches, deep
sigmoid vanishing with other initialisers, saturation by biases of moderate size, every record interval); `fresh`
— other depths, widths, learning rates, batch sizes, record intervals and datasets; `unseen` — tabular data among
others, BatchNorm / residual / attention / dropout layers in healthy networks, tiny (not zero) learning rates.
Each run's label is what it was built to show; `checks` measures what it shows (docs/diagnostics.md).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from vg_studio.spec import DataSpec, ExperimentSpec, LayerSpec, MonitoringSpec, NetworkSpec, OptimizerSpec, \
    TrainingSpec

@dataclass(frozen=True)
class Config:
    """One labelled run: a plain dense network on an image dataset."""
    label: str
    dataset: str
    depth: int
    width: int
    activation: str
    initializer: str
    optimizer: str
    lr: float
    init_stddev: float = 0.05
    bias_init: float = 0.0
    batch_size: int = 32
    record_every: int = 2
    epochs: int = 3
    limit: int = 600
    seed: int = 0
    momentum: float | None = None
    layer: tuple = ()  # further LayerSpec options for every hidden layer, e.g. (("batch_norm", True),)

    @property
    def name(self) -> str:
        init = self.initializer + (f"{self.init_stddev:g}" if self.initializer == "random_normal" else "")
        bias = f"-b{self.bias_init:g}" if self.bias_init else ""
        extra = "".join(f"-{k}{'' if v is True else v}" for k, v in self.layer)
        return (f"{self.label}-{self.dataset}-{self.depth}x{self.width}-{self.activation}{extra}-{init}{bias}-"
                f"{self.optimizer}{self.lr:g}-bs{self.batch_size}-re{self.record_every}-s{self.seed}")

    def spec(self) -> ExperimentSpec:
        layers = [LayerSpec(units=self.width, activation=self.activation, initializer=self.initializer,
                            init_stddev=self.init_stddev, bias_init=self.bias_init, **dict(self.layer))
                  for _ in range(self.depth)]
        params = {"momentum": self.momentum} if self.momentum is not None else {}
        return ExperimentSpec(
            name=self.name,
            data=DataSpec(dataset=dataset_name(self.dataset), options={"limit": self.limit}),
            network=NetworkSpec(layers=layers),
            optimizer=OptimizerSpec(name=self.optimizer, learning_rate=self.lr, params=params),
            training=TrainingSpec(epochs=self.epochs, batch_size=self.batch_size, seed=self.seed),
            monitoring=MonitoringSpec(record_every=self.record_every, probe_batch_size=128))


def _C(label, dataset, depth, width, activation, initializer, optimizer, lr, **kw) -> Config:
    return Config(label, dataset, depth, width, activation, initializer, optimizer, lr, **kw)


# ---- tabular data sets unlike the image sets the thresholds were chosen on ---------------------------------------
DATA_DIR = Path("runs/diagnostics-grid/data")  # main() moves it under --runs


def dataset_name(alias: str) -> str:
    """A spec dataset name: the built-in sets as they are; "tabular5" (scikit-learn's make_classification: 1,500
    examples of 30 features, 5 classes) and "cancer2" (scikit-learn's breast-cancer set, 2 classes) written once
    as .npz files, features scaled to [0, 1]."""
    if alias not in ("tabular5", "cancer2"):
        return alias
    path = (DATA_DIR / f"{alias}.npz").resolve()
    if not path.exists():
        from sklearn.datasets import load_breast_cancer, make_classification
        from sklearn.model_selection import train_test_split

        if alias == "tabular5":
            x, y = make_classification(1500, 30, n_informative=12, n_redundant=6, n_classes=5,
                                       n_clusters_per_class=2, class_sep=1.2, random_state=5)
        else:
            x, y = load_breast_cancer(return_X_y=True)
        x = (x - x.min(axis=0)) / np.maximum(x.max(axis=0) - x.min(axis=0), 1e-12)
        x_train, x_test, y_train, y_test = train_test_split(x.astype(np.float32), y, test_size=0.2,
                                                            random_state=0, stratify=y)
        path.parent.mkdir(parents=True, exist_ok=True)
        np.savez(path, x_train=x_train, y_train=y_train, x_test=x_test, y_test=y_test)
    return f"npz:{path}"


# ---- the sets ---------------------------------------------------------------------------------------------------
def dev_set() -> list[Config]:
    """The configurations the thresholds were chosen on: every label on digits and mnist-5k, persistent
    large-but-finite gradients, record intervals 1–10."""
    out = []
    for dataset, seed in itertools.product(("digits", "mnist-5k"), (0, 1)):
        v = seed + (dataset != "digits")
        for i, depth in enumerate((5, 6, 8)):
            k = v + i
            out.append(_C("vanishing", dataset, depth, (32, 64, 128)[k % 3], "sigmoid",
                          ("random_normal", "glorot_uniform")[k % 2], "sgd", (0.1, 0.05, 0.2)[k % 3],
                          init_stddev=(0.05, 0.1, 0.02)[k % 3], seed=seed, record_every=(2, 1, 5)[k % 3]))
        for i, depth in enumerate((2, 4, 6)):
            k = v + i
            width = (32, 64, 128)[k % 3]
            out.append(_C("exploding", dataset, depth, width, ("relu", "linear", "leaky_relu")[k % 3],
                          "random_normal", "sgd", (0.5, 1.0, 0.3)[k % 3], init_stddev=(1.0, 2.0, 0.7)[k % 3],
                          seed=seed, record_every=(2, 10, 1)[k % 3]))
            out.append(_C("dead", dataset, depth, width, "relu", "he_normal", *(("adam", 0.001), ("sgd", 0.05))[k % 2],
                          bias_init=(-5.0, -10.0, -3.0)[k % 3], seed=seed, record_every=(2, 5, 1)[k % 3]))
            out.append(_C("flat", dataset, depth, width, *(("relu", "he_normal"), ("sigmoid", "glorot_uniform"),
                                                           ("tanh", "glorot_uniform"))[k % 3],
                          ("adam", "sgd", "rmsprop")[k % 3], 0.0, seed=seed, record_every=(2, 1, 10)[k % 3]))
            out.append(_C("healthy", dataset, depth, width, "relu", ("he_normal", "he_uniform")[k % 2], "adam",
                          (0.001, 0.003, 0.0005)[k % 3], seed=seed, record_every=(2, 1, 5)[k % 3]))
        for i, (activation, how) in enumerate((("tanh", "init"), ("sigmoid", "bias"), ("tanh", "bias"))):
            k = v + i
            init = dict(initializer="random_normal", init_stddev=(1.0 if dataset == "digits" else 0.4) * (1 + k % 2))
            if how == "bias":
                init = dict(initializer="glorot_uniform", bias_init=(8.0, -8.0)[k % 2] if activation == "sigmoid"
                            else (4.0, -4.0)[k % 2])
            out.append(_C("saturated", dataset, (1, 2, 3)[k % 3], (32, 64, 128)[k % 3], activation,
                          optimizer=("adam", "rmsprop", "sgd")[k % 3], lr=(0.001, 0.001, 0.05)[k % 3],
                          seed=seed, record_every=(2, 1, 10)[k % 3], **init))
        # gradients that stay large but finite, the loss far above chance (no two threshold crossings in a row)
        for i, (activation, std, lr) in enumerate((("relu", 0.5, 0.02), ("leaky_relu", 0.4, 0.05))):
            out.append(_C("exploding", dataset, 4 + i, 64, activation, "random_normal", "sgd", lr, init_stddev=std,
                          seed=seed, record_every=(1, 2)[(v + i) % 2]))
        # healthy networks that are not ReLU + Adam
        for i, (activation, init, opt, lr) in enumerate((("tanh", "glorot_uniform", "adam", 0.001),
                                                         ("sigmoid", "glorot_uniform", "adam", 0.003),
                                                         ("relu", "he_normal", "sgd", 0.05))):
            out.append(_C("healthy", dataset, (2, 3, 4)[i], 64, activation, init, opt, lr, seed=seed,
                          record_every=(2, 5, 1)[(v + i) % 3]))
        # deep or wide healthy networks, whose first steps have large losses and gradients, and a high rate
        for i, (depth, width, activation, init, opt, lr) in enumerate((
                (8, 256, "relu", "he_normal", "adam", 0.001), (10, 128, "relu", "he_uniform", "sgd_momentum", 0.01),
                (6, 128, "selu", "lecun_normal", "adam", 0.001), (5, 64, "swish", "he_normal", "rmsprop", 0.001),
                (3, 128, "relu", "he_normal", "adam", 0.01))):
            out.append(_C("healthy", dataset, depth, width, activation, init, opt, lr, seed=seed,
                          momentum=0.9 if opt == "sgd_momentum" else None, record_every=(1, 2, 5)[(v + i) % 3]))
    return out


def holdout_set() -> list[Config]:
    """shapes10, and other activations, initializers, optimizers, widths and batch size than the dev set's."""
    out = []
    for seed, (d_i, depth) in itertools.product((0, 1), enumerate((2, 4, 6))):
        v = seed + d_i
        width = (48, 96)[v % 2]
        deep = max(depth, 5)
        common = dict(batch_size=64, seed=seed, record_every=(2, 1, 4)[v % 3])
        activation, init, std = (("tanh", "random_normal", 0.02), ("sigmoid", "lecun_normal", 0.05))[v % 2]
        out.append(_C("vanishing", "shapes10", deep + d_i, width, activation, init, "sgd", 0.1, init_stddev=std,
                      **common))
        out.append(_C("exploding", "shapes10", depth, width, ("elu", "relu")[v % 2], "random_normal", "sgd_momentum",
                      0.5, init_stddev=1.5, momentum=0.9, **common))
        out.append(_C("dead", "shapes10", depth, width, "relu", "glorot_uniform", ("rmsprop", "adam")[v % 2], 0.001,
                      bias_init=-8.0, **common))
        out.append(_C("flat", "shapes10", depth, width, ("elu", "gelu")[v % 2], "he_uniform",
                      ("sgd_momentum", "adagrad")[v % 2], 0.0, **common))
        out.append(_C("saturated", "shapes10", (1, 2)[v % 2], width, ("tanh", "sigmoid")[v % 2], "random_normal",
                      ("adagrad", "adam")[v % 2], 0.01 if v % 2 == 0 else 0.001, init_stddev=0.6 + 0.4 * (v % 2),
                      **common))
        healthy = (("elu", OptimizerSpec(name="rmsprop", learning_rate=0.001)),
                   ("leaky_relu", OptimizerSpec(name="sgd_momentum", learning_rate=0.01)))[v % 2]
        out.append(_C("healthy", "shapes10", depth, width, healthy[0], "he_normal", healthy[1].name,
                      healthy[1].learning_rate, **common))
    return out


def stress_set() -> list[Config]:
    """Borderline cases: healthy saturating networks with high Adam rates, healthy plain SGD at high rates and tiny
    batches, deep sigmoid vanishing with other initialisers, saturation by biases of moderate size, every record
    interval, and ReLU + He under SGD momentum at rate 1, whose loss climbs 4x in ten steps before the units die."""
    out = []
    for k, dataset in enumerate(("digits", "mnist-5k", "shapes10")):
        common = dict(seed=2, record_every=(1, 5, 10)[k], batch_size=(16, 32, 64)[k])
        out += [
            _C("healthy", dataset, 2, 64, "sigmoid", "glorot_uniform", "adam", 0.01, **common),
            _C("healthy", dataset, 3, 128, "tanh", "glorot_normal", "adam", 0.003, **common),
            _C("healthy", dataset, 3, 64, "relu", "he_normal", "sgd", 0.2, **common),
            _C("healthy", dataset, 4, 96, "tanh", "glorot_uniform", "sgd_momentum", 0.05, momentum=0.9, **common),
            _C("healthy", dataset, 4, 32, "leaky_relu", "he_uniform", "adagrad", 0.05, **common),
            _C("vanishing", dataset, 7, 64, "sigmoid", "lecun_normal", "sgd", 0.05, **common),
            _C("vanishing", dataset, 6, 64, "sigmoid", "he_normal", "sgd", 0.3, **common),
            _C("saturated", dataset, 2, 64, "tanh", "glorot_uniform", "adam", 0.001, bias_init=3.0, **common),
            _C("saturated", dataset, 1, 128, "sigmoid", "random_normal", "sgd_momentum", 0.01,
               init_stddev=(2.0, 1.2, 1.0)[k], momentum=0.9, **common),
            _C("dead", dataset, 3, 64, "relu", "he_normal", "rmsprop", 0.001, bias_init=-2.5, **common),
            _C("exploding", dataset, 3, 256, "relu", "random_normal", "sgd", 0.1, init_stddev=0.3, **common),
            # a loss that climbs 4x in ten steps, then the ReLUs die: the oversized step is the cause to report
            _C("exploding", dataset, 3, 64, "relu", "he_normal", "sgd_momentum", 1.0, momentum=0.9, **common),
        ]
    return out


def fresh_set() -> list[Config]:
    """Other depths (3–10), widths (16–256), learning rates, batch sizes (16–128), record intervals (1–20),
    initialisers, optimisers and three datasets."""
    out = []
    datasets = ("digits", "mnist-5k", "shapes10")
    for seed, dataset in itertools.product((3,), datasets):
        k = datasets.index(dataset)
        common = dict(seed=seed, batch_size=(16, 128, 48)[k], record_every=(1, 20, 3)[k], limit=800)
        out += [
            _C("vanishing", dataset, (7, 10, 9)[k], (16, 256, 40)[k], ("sigmoid", "tanh", "sigmoid")[k],
               ("glorot_normal", "random_normal", "lecun_uniform")[k], "sgd", (0.3, 0.02, 0.08)[k],
               init_stddev=0.01, **common),
            _C("vanishing", dataset, 8, 100, "sigmoid", "random_normal", "sgd_momentum", 0.01, init_stddev=0.08,
               momentum=0.5, **common),
            _C("exploding", dataset, (3, 5, 4)[k], (16, 256, 40)[k], ("relu", "selu", "linear")[k], "random_normal",
               "sgd", (0.2, 0.1, 0.4)[k], init_stddev=(2.5, 1.2, 1.0)[k], **common),
            _C("exploding", dataset, 3, 80, ("swish", "relu", "elu")[k], "random_normal", "rmsprop", 0.05,
               init_stddev=0.8, **common),
            _C("dead", dataset, (3, 5, 4)[k], (16, 256, 40)[k], "relu", ("he_uniform", "glorot_normal", "lecun_normal")[k],
               ("sgd_momentum", "adam", "sgd")[k], (0.01, 0.0003, 0.1)[k], bias_init=(-6.0, -4.0, -12.0)[k],
               momentum=0.9 if k == 0 else None, **common),
            _C("saturated", dataset, (1, 2, 1)[k], (16, 256, 40)[k], ("sigmoid", "tanh", "tanh")[k],
               "glorot_uniform", ("adam", "rmsprop", "sgd_momentum")[k], (0.002, 0.0005, 0.02)[k],
               bias_init=(-10.0, 5.0, -6.0)[k], momentum=0.9 if k == 2 else None, **common),
            _C("flat", dataset, (3, 5, 4)[k], (16, 256, 40)[k], ("selu", "swish", "tanh")[k],
               ("lecun_normal", "he_normal", "glorot_normal")[k], ("adam", "adadelta", "sgd")[k], 0.0, **common),
            _C("healthy", dataset, (3, 5, 4)[k], (16, 256, 40)[k], ("selu", "swish", "gelu")[k],
               ("lecun_normal", "he_uniform", "he_normal")[k], ("adam", "rmsprop", "sgd_momentum")[k],
               (0.002, 0.0003, 0.02)[k], momentum=0.9 if k == 2 else None, **common),
            _C("healthy", dataset, (6, 8, 2)[k], 64, ("relu", "tanh", "sigmoid")[k],
               ("he_normal", "glorot_uniform", "glorot_uniform")[k], ("adagrad", "adam", "adam")[k],
               (0.05, 0.001, 0.005)[k], **common),
        ]
    return out


def unseen_set() -> list[Config]:
    """Tabular data (30 features, 5 classes; a 2-class medical set) beside the image sets, depths up to 12,
    BatchNorm / residual / attention / dropout layers in healthy networks, tiny (not zero) learning rates,
    Adagrad/Adadelta/RMSprop beside SGD and Adam, and for every rule a case unlike the others: gradients that stay
    large at a small rate (no overflow, no climbing loss), saturation that persists while Adam lowers the loss,
    ReLUs killed by biases of −4 to −20."""
    m9 = dict(momentum=0.9)
    bn, res, att, drop = (("batch_norm", True),), (("residual", True),), (("attention", True),), \
        (("dropout", 0.2),)
    return [
        # vanishing: deep sigmoid/tanh, small or LeCun/Glorot init, SGD-like optimisers
        _C("vanishing", "tabular5", 7, 48, "sigmoid", "glorot_normal", "sgd", 0.1, record_every=1),
        _C("vanishing", "mnist-5k", 9, 32, "sigmoid", "random_normal", "sgd", 0.5, init_stddev=0.1, batch_size=64,
           record_every=4),
        _C("vanishing", "shapes10", 6, 128, "tanh", "random_normal", "sgd", 0.05, init_stddev=0.01, record_every=1),
        _C("vanishing", "digits", 12, 64, "sigmoid", "he_uniform", "sgd", 0.1, record_every=8),
        _C("vanishing", "tabular5", 6, 64, "tanh", "random_normal", "sgd_momentum", 0.01, init_stddev=0.03,
           record_every=2, **m9),
        _C("vanishing", "mnist-5k", 8, 64, "sigmoid", "lecun_uniform", "adagrad", 0.01, record_every=3),
        _C("vanishing", "cancer2", 8, 32, "sigmoid", "glorot_uniform", "sgd", 0.1, record_every=1),
        # exploding: large init and/or a high rate; large-but-finite gradients at a small rate
        _C("exploding", "mnist-5k", 4, 64, "relu", "random_normal", "sgd", 0.005, init_stddev=0.4, record_every=1),
        _C("exploding", "tabular5", 3, 128, "linear", "random_normal", "sgd", 0.05, init_stddev=1.0, record_every=2),
        _C("exploding", "digits", 4, 64, "relu", "he_normal", "sgd", 2.0, record_every=1),
        _C("exploding", "mnist-5k", 6, 128, "leaky_relu", "random_normal", "sgd", 0.02, init_stddev=0.2,
           record_every=10),
        _C("exploding", "cancer2", 3, 32, "relu", "random_normal", "sgd", 0.1, init_stddev=3.0, record_every=1),
        _C("exploding", "shapes10", 4, 96, "selu", "random_normal", "sgd_momentum", 0.05, init_stddev=0.8,
           record_every=2, **m9),
        _C("exploding", "tabular5", 2, 256, "swish", "random_normal", "rmsprop", 0.1, init_stddev=1.5,
           record_every=5),
        # dead ReLUs: strongly negative biases
        _C("dead", "digits", 4, 64, "relu", "he_normal", "sgd", 0.1, bias_init=-6.0, record_every=1),
        _C("dead", "mnist-5k", 3, 128, "relu", "glorot_uniform", "adam", 0.003, bias_init=-4.0, record_every=3),
        _C("dead", "shapes10", 5, 48, "relu", "he_uniform", "rmsprop", 0.001, bias_init=-7.0, record_every=10),
        _C("dead", "tabular5", 3, 64, "relu", "lecun_normal", "sgd_momentum", 0.01, bias_init=-5.0, record_every=2,
           **m9),
        _C("dead", "cancer2", 3, 32, "relu", "he_normal", "adam", 0.001, bias_init=-8.0, record_every=1),
        _C("dead", "mnist-5k", 2, 256, "relu", "he_normal", "adagrad", 0.05, bias_init=-20.0, record_every=20),
        # saturated: most sigmoid/tanh units in their tails for the whole run, often while the loss falls
        _C("saturated", "digits", 1, 96, "sigmoid", "random_normal", "adam", 0.003, init_stddev=3.0, record_every=1),
        _C("saturated", "mnist-5k", 2, 64, "tanh", "glorot_uniform", "rmsprop", 0.001, bias_init=6.0,
           record_every=1),
        _C("saturated", "shapes10", 1, 128, "sigmoid", "glorot_uniform", "adam", 0.01, bias_init=-9.0,
           record_every=2),
        _C("saturated", "tabular5", 2, 48, "tanh", "random_normal", "adam", 0.001, init_stddev=2.0, record_every=1),
        _C("saturated", "tabular5", 1, 64, "sigmoid", "random_normal", "sgd", 0.1, init_stddev=3.0, record_every=4),
        _C("saturated", "cancer2", 1, 32, "tanh", "glorot_uniform", "sgd_momentum", 0.01, bias_init=5.0,
           record_every=1, **m9),
        _C("saturated", "mnist-5k", 3, 64, "tanh", "random_normal", "adagrad", 0.01, init_stddev=0.5,
           record_every=5),
        # flat: nothing moves (rate 0, or so small that no weight changes by a millionth per step)
        _C("flat", "digits", 3, 64, "relu", "he_normal", "adam", 0.0, record_every=1),
        _C("flat", "mnist-5k", 4, 128, "gelu", "he_normal", "sgd", 1e-8, record_every=5),
        _C("flat", "shapes10", 2, 64, "tanh", "glorot_uniform", "rmsprop", 0.0, record_every=2),
        _C("flat", "tabular5", 3, 32, "elu", "he_normal", "adam", 1e-9, record_every=1),
        _C("flat", "cancer2", 2, 32, "sigmoid", "glorot_uniform", "sgd_momentum", 0.0, record_every=1, **m9),
        _C("flat", "mnist-5k", 5, 64, "leaky_relu", "he_normal", "adadelta", 0.0, record_every=10),
        # healthy, of many kinds: none may get a warning
        _C("healthy", "digits", 2, 32, "sigmoid", "glorot_uniform", "adam", 0.01, record_every=1),
        _C("healthy", "mnist-5k", 4, 128, "relu", "he_normal", "sgd_momentum", 0.01, batch_size=64, record_every=2,
           **m9),
        _C("healthy", "shapes10", 3, 64, "tanh", "glorot_uniform", "rmsprop", 0.001, record_every=1),
        _C("healthy", "tabular5", 3, 64, "relu", "he_normal", "adam", 0.001, record_every=1),
        _C("healthy", "cancer2", 2, 16, "relu", "he_normal", "sgd", 0.05, record_every=1),
        _C("healthy", "mnist-5k", 3, 64, "relu", "he_normal", "adam", 0.001, layer=bn, record_every=2),
        _C("healthy", "digits", 6, 64, "relu", "he_normal", "sgd", 0.05, layer=res, record_every=1),
        _C("healthy", "shapes10", 4, 64, "elu", "he_normal", "adam", 0.001, layer=drop, record_every=3),
        _C("healthy", "digits", 3, 64, "sigmoid", "glorot_uniform", "sgd", 0.1, layer=bn, record_every=2),
        _C("healthy", "digits", 3, 64, "relu", "he_normal", "adam", 0.001, layer=att, record_every=1),
        _C("healthy", "tabular5", 5, 32, "selu", "lecun_normal", "adagrad", 0.05, record_every=5),
        _C("healthy", "mnist-5k", 3, 128, "swish", "he_uniform", "adam", 0.002, record_every=10),
        _C("healthy", "shapes10", 6, 64, "tanh", "glorot_uniform", "adam", 0.001, record_every=2),
        _C("healthy", "cancer2", 3, 32, "tanh", "glorot_normal", "rmsprop", 0.001, record_every=1),
    ]




SETS = {"dev": dev_set, "holdout": holdout_set, "stress": stress_set, "fresh": fresh_set, "unseen": unseen_set}
