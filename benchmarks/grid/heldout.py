"""The held-out grid: configurations no threshold or rule was chosen on, scored apart from every other set.

Seeds 11–19 (the other sets use 0–6), widths, depths, learning rates, batch sizes and optimizers the other sets do
not use (Nadam, Adadelta at small rates, Adagrad at large ones), and users' models of kinds the other sets lack or
barely have: Conv1D stacks over an image's rows, GRU / LSTM / BiLSTM stacks, small transformers, residual CNNs and
`keras.Model` subclasses without a functional graph. Every label has at least a dozen runs built to show it —
oscillating and slow included — on digits 8×8, mnist-5k and shapes10; what each run shows is measured by
`checks.truth`, as for every other set. The list was fixed before any of its runs was diagnosed: a run that does
not show what it was built to show is scored by what it shows, never dropped or rebuilt.

    nice -n 10 python benchmarks/diagnostics_grid.py --set heldout --jobs 2
"""

from __future__ import annotations

from grid.cycling import model_runs
from grid.models import ModelConfig
from grid.spec_sets import Config

DATA = ("digits", "mnist-5k", "shapes10")
BN, RES, DROP, ATT = (("batch_norm", True),), (("residual", True),), (("dropout", 0.1),), (("attention", True),)


def _S(label, k, depth, width, activation, initializer, optimizer, lr, **kw) -> Config:
    """A spec run on the k-th dataset (cycling), seed 11 + k % 9 unless given."""
    kw.setdefault("seed", 11 + k % 9)
    return Config(label, DATA[k % 3], depth, width, activation, initializer, optimizer, lr, **kw)


def heldout_spec_set() -> list[Config]:
    """The app's dense networks (84 runs)."""
    m9 = {"momentum": 0.9}
    long = {"epochs": 5, "limit": 1000}  # ≥ 150 steps: an oscillation or a slow descent has room to show
    out = [
        # vanishing: deep sigmoid / tanh under SGD-like optimizers, initialisers the other sets use less
        _S("vanishing", 0, 9, 40, "sigmoid", "glorot_uniform", "sgd", 0.2, record_every=3),
        _S("vanishing", 1, 7, 72, "sigmoid", "he_uniform", "sgd", 0.08, record_every=5),
        _S("vanishing", 2, 8, 56, "tanh", "random_normal", "sgd", 0.05, init_stddev=0.015, record_every=2),
        _S("vanishing", 3, 11, 32, "tanh", "random_normal", "sgd_momentum", 0.005, init_stddev=0.04,
           record_every=1, **m9),
        _S("vanishing", 4, 10, 24, "sigmoid", "lecun_normal", "adagrad", 0.005, record_every=4),
        _S("vanishing", 5, 6, 80, "sigmoid", "glorot_normal", "sgd", 0.3, batch_size=40, record_every=2),
        _S("vanishing", 6, 7, 100, "sigmoid", "random_normal", "sgd", 0.15, init_stddev=0.2, record_every=1),
        _S("vanishing", 7, 8, 48, "tanh", "random_normal", "sgd", 0.1, init_stddev=0.02, record_every=10),
        _S("vanishing", 8, 12, 32, "sigmoid", "he_normal", "sgd", 0.2, record_every=6),
        _S("vanishing", 9, 6, 64, "sigmoid", "lecun_uniform", "sgd", 0.02, record_every=2),
        # exploding: large initial weights and/or large rates
        _S("exploding", 0, 4, 72, "relu", "random_normal", "sgd", 0.05, init_stddev=0.9, record_every=1),
        _S("exploding", 1, 3, 48, "elu", "random_normal", "sgd_momentum", 0.1, init_stddev=0.6, record_every=3,
           **m9),
        _S("exploding", 2, 5, 40, "leaky_relu", "random_normal", "sgd", 0.08, init_stddev=0.5, record_every=2),
        _S("exploding", 3, 3, 96, "relu", "he_normal", "sgd", 3.0, record_every=2),
        _S("exploding", 4, 6, 32, "selu", "random_normal", "rmsprop", 0.03, init_stddev=0.7, record_every=5),
        _S("exploding", 5, 3, 128, "linear", "random_normal", "sgd", 0.3, init_stddev=0.3, record_every=4),
        _S("exploding", 6, 5, 48, "gelu", "random_normal", "sgd", 0.02, init_stddev=1.2, record_every=1),
        _S("exploding", 7, 2, 200, "relu", "random_normal", "adagrad", 0.5, init_stddev=2.0, record_every=2),
        # dead ReLUs
        _S("dead", 0, 3, 80, "relu", "he_uniform", "adam", 0.002, bias_init=-7.0, record_every=2),
        _S("dead", 1, 4, 40, "relu", "glorot_normal", "sgd", 0.05, bias_init=-5.0, record_every=5),
        _S("dead", 2, 2, 100, "relu", "lecun_normal", "rmsprop", 0.0005, bias_init=-9.0, record_every=3),
        _S("dead", 3, 5, 32, "relu", "he_normal", "sgd_momentum", 0.02, bias_init=-4.0, record_every=1, **m9),
        _S("dead", 4, 3, 64, "relu", "he_normal", "adagrad", 0.02, bias_init=-15.0, record_every=10),
        _S("dead", 5, 4, 56, "relu", "he_uniform", "adam", 0.001, bias_init=-6.0, record_every=4),
        _S("dead", 6, 2, 48, "relu", "glorot_uniform", "adadelta", 1.0, bias_init=-10.0, record_every=2),
        _S("dead", 7, 6, 48, "relu", "he_normal", "adam", 0.0005, bias_init=-3.5, record_every=2),
        # saturated sigmoid / tanh units
        _S("saturated", 0, 1, 80, "sigmoid", "random_normal", "adam", 0.002, init_stddev=2.5, record_every=1),
        _S("saturated", 1, 2, 40, "tanh", "glorot_uniform", "adam", 0.002, bias_init=4.5, record_every=3),
        _S("saturated", 2, 1, 64, "sigmoid", "glorot_uniform", "rmsprop", 0.002, bias_init=-7.0, record_every=2),
        _S("saturated", 3, 2, 100, "tanh", "random_normal", "sgd", 0.05, init_stddev=1.5, record_every=4),
        _S("saturated", 4, 1, 120, "sigmoid", "random_normal", "sgd_momentum", 0.02, init_stddev=1.0,
           record_every=2, **m9),
        _S("saturated", 5, 2, 48, "tanh", "glorot_normal", "adagrad", 0.05, bias_init=-4.0, record_every=5),
        _S("saturated", 6, 3, 40, "sigmoid", "glorot_uniform", "adam", 0.001, bias_init=9.0, record_every=2),
        _S("saturated", 7, 2, 64, "sigmoid", "random_normal", "adam", 0.005, init_stddev=4.0, record_every=10),
        # flat: a rate of zero or so small that nothing moves
        _S("flat", 0, 4, 48, "tanh", "glorot_normal", "sgd", 0.0, record_every=3),
        _S("flat", 1, 3, 80, "relu", "he_uniform", "rmsprop", 1e-9, record_every=5),
        _S("flat", 2, 5, 32, "selu", "lecun_normal", "adam", 0.0, record_every=2),
        _S("flat", 3, 2, 120, "gelu", "he_normal", "adagrad", 1e-8, record_every=1),
        _S("flat", 4, 3, 56, "swish", "he_normal", "sgd_momentum", 0.0, record_every=10, **m9),
        _S("flat", 5, 2, 72, "sigmoid", "glorot_uniform", "adadelta", 0.0, record_every=4),
        # oscillating: BatchNorm keeps a far too large rate finite, the loss swings without coming down
        _S("oscillating", 0, 3, 48, "relu", "he_normal", "sgd", 3.0, layer=BN, record_every=1, **long),
        _S("oscillating", 1, 2, 64, "relu", "he_normal", "sgd_momentum", 0.8, layer=BN, record_every=2, **long,
           **m9),
        _S("oscillating", 2, 3, 56, "tanh", "glorot_uniform", "sgd", 4.0, layer=BN, record_every=1, **long),
        _S("oscillating", 3, 4, 40, "elu", "he_normal", "sgd", 2.5, layer=BN, record_every=2, **long),
        _S("oscillating", 4, 3, 32, "relu", "he_uniform", "adam", 0.3, layer=BN, record_every=1, **long),
        _S("oscillating", 5, 2, 80, "relu", "he_normal", "rmsprop", 0.1, layer=BN, record_every=2, **long),
        _S("oscillating", 6, 2, 96, "leaky_relu", "he_normal", "sgd_momentum", 1.5, layer=BN, record_every=1,
           **long, **m9),
        _S("oscillating", 7, 4, 48, "tanh", "glorot_normal", "sgd", 3.5, layer=BN, record_every=2, **long),
        _S("oscillating", 8, 3, 64, "relu", "he_normal", "sgd_momentum", 0.6, layer=BN, record_every=1, **long,
           momentum=0.95),
        _S("oscillating", 9, 3, 64, "sigmoid", "glorot_uniform", "sgd", 8.0, layer=BN, record_every=2, **long),
        _S("oscillating", 10, 2, 100, "relu", "he_normal", "adagrad", 2.0, layer=BN, record_every=1, **long),
        _S("oscillating", 11, 4, 32, "gelu", "he_normal", "sgd", 3.0, layer=BN, record_every=1, **long),
        # slow: the loss falls, far too slowly for the budget
        _S("slow", 0, 3, 48, "relu", "he_normal", "adam", 2e-5, record_every=1, epochs=4),
        _S("slow", 1, 2, 64, "tanh", "glorot_uniform", "sgd", 1e-3, record_every=2, epochs=4),
        _S("slow", 2, 3, 56, "relu", "he_normal", "rmsprop", 2e-5, record_every=2, epochs=4),
        _S("slow", 3, 4, 40, "elu", "he_normal", "adagrad", 5e-4, record_every=3, epochs=4),
        _S("slow", 4, 3, 32, "sigmoid", "glorot_uniform", "adam", 5e-5, record_every=1, epochs=4),
        _S("slow", 5, 2, 80, "relu", "he_uniform", "sgd_momentum", 1e-4, record_every=2, epochs=4, **m9),
        _S("slow", 6, 2, 96, "swish", "he_normal", "adadelta", 0.02, record_every=1, epochs=4),
        _S("slow", 7, 4, 48, "relu", "he_normal", "sgd", 2e-3, record_every=5, epochs=4),
        _S("slow", 8, 3, 64, "tanh", "glorot_normal", "adam", 1e-5, record_every=2, epochs=4),
        _S("slow", 9, 3, 64, "selu", "lecun_normal", "rmsprop", 1e-5, record_every=2, epochs=4),
        _S("slow", 10, 2, 100, "gelu", "he_normal", "adagrad", 1e-3, record_every=3, epochs=4),
        _S("slow", 11, 4, 32, "leaky_relu", "he_normal", "sgd", 3e-3, record_every=1, epochs=4),
        # poor initialisation: the signal collapses (tiny weights) or blows up across depth
        _S("poor_init", 0, 6, 48, "relu", "random_normal", "adam", 0.001, init_stddev=0.004, record_every=2),
        _S("poor_init", 1, 5, 64, "tanh", "random_normal", "rmsprop", 0.001, init_stddev=0.008, record_every=3),
        _S("poor_init", 2, 7, 40, "relu", "random_normal", "adam", 0.002, init_stddev=0.01, record_every=2),
        _S("poor_init", 3, 5, 56, "elu", "random_normal", "adam", 0.001, init_stddev=0.6, record_every=1),
        _S("poor_init", 4, 6, 32, "gelu", "random_normal", "adam", 0.001, init_stddev=0.005, record_every=5),
        _S("poor_init", 5, 4, 80, "relu", "random_normal", "adam", 0.0005, init_stddev=0.4, record_every=2),
        # healthy, of many kinds: none may warn
        _S("healthy", 0, 3, 48, "relu", "he_normal", "adam", 0.002, record_every=1),
        _S("healthy", 1, 4, 80, "tanh", "glorot_uniform", "sgd_momentum", 0.02, record_every=3, **m9),
        _S("healthy", 2, 2, 56, "elu", "he_uniform", "adam", 0.001, record_every=2),
        _S("healthy", 3, 5, 40, "selu", "lecun_normal", "sgd", 0.05, record_every=2),
        _S("healthy", 4, 3, 100, "gelu", "he_normal", "rmsprop", 0.0005, record_every=5),
        _S("healthy", 5, 3, 72, "swish", "he_normal", "adagrad", 0.05, record_every=1),
        _S("healthy", 6, 2, 64, "sigmoid", "glorot_normal", "adam", 0.005, record_every=3),
        _S("healthy", 7, 2, 48, "relu", "he_uniform", "adam", 0.002, layer=BN, record_every=2),
        _S("healthy", 8, 4, 48, "relu", "he_normal", "sgd", 0.1, layer=BN, record_every=4),
        _S("healthy", 9, 6, 48, "relu", "he_normal", "sgd", 0.03, layer=RES, record_every=2),
        _S("healthy", 10, 3, 64, "tanh", "glorot_uniform", "adam", 0.001, layer=DROP, record_every=10),
        _S("healthy", 11, 5, 40, "leaky_relu", "he_normal", "sgd_momentum", 0.01, record_every=2, **m9),
        _S("healthy", 12, 4, 64, "tanh", "glorot_uniform", "adadelta", 1.0, record_every=1),
        _S("healthy", 13, 3, 40, "relu", "he_normal", "adam", 0.001, layer=ATT, record_every=2),
    ]
    return out


_M = model_runs(11, 9, DATA)


def heldout_model_set() -> list[ModelConfig]:
    """Users' own Keras models, trained with `model.fit` and `GradientMonitor` (88 runs)."""
    long = {"epochs": 5, "limit": 1000}
    out = [
        # vanishing
        _M("vanishing", 0, "conv1d", 5, 16, "sigmoid", "sgd", 0.05, record_every=1),
        _M("vanishing", 1, "conv1d", 6, 24, "sigmoid", "sgd", 0.1, record_every=5),
        _M("vanishing", 0, "subclassed", 7, 48, "sigmoid", "sgd", 0.1, record_every=2),
        _M("vanishing", 2, "subclassed", 6, 64, "tanh", "sgd", 0.05, init_stddev=0.02, record_every=3),
        _M("vanishing", 2, "cnn", 5, 16, "sigmoid", "sgd", 0.03, record_every=2),
        _M("vanishing", 1, "rnn", 3, 32, "sigmoid", "sgd", 0.05, rnn="simple_rnn", record_every=4),
        _M("vanishing", 0, "mlp", 9, 40, "sigmoid", "rmsprop", 1e-4, record_every=2),
        _M("vanishing", 2, "conv1d", 4, 32, "tanh", "sgd", 0.1, init_stddev=0.03, record_every=2),
        _M("vanishing", 1, "subclassed", 10, 32, "sigmoid", "sgd", 0.01, momentum=0.9, record_every=10),
        _M("vanishing", 0, "rnn", 4, 24, "tanh", "sgd", 0.1, rnn="simple_rnn", init_stddev=0.05, record_every=1),
        # exploding
        _M("exploding", 0, "conv1d", 3, 32, "relu", "sgd", 0.1, init_stddev=0.6, record_every=1),
        _M("exploding", 1, "subclassed", 4, 64, "relu", "sgd", 0.05, init_stddev=1.0, record_every=2),
        _M("exploding", 2, "resnet", 2, 16, "relu", "sgd", 0.05, init_stddev=0.4, record_every=2),
        _M("exploding", 0, "mlp", 3, 128, "elu", "sgd", 0.05, init_stddev=0.8, momentum=0.9, record_every=5),
        _M("exploding", 1, "cnn", 3, 16, "leaky_relu", "sgd", 0.1, init_stddev=0.6, record_every=4),
        _M("exploding", 0, "rnn", 2, 32, "tanh", "sgd", 5.0, rnn="gru", record_every=1),
        _M("exploding", 0, "transformer", 1, 32, "relu", "sgd", 0.5, init_stddev=0.5, batch_size=64,
           record_every=2),
        _M("exploding", 2, "subclassed", 3, 96, "selu", "rmsprop", 0.05, init_stddev=0.5, record_every=3),
        # dead
        _M("dead", 0, "conv1d", 3, 24, "relu", "adam", 0.001, bias=-6.0, record_every=2),
        _M("dead", 2, "subclassed", 3, 64, "relu", "sgd", 0.05, bias=-7.0, record_every=1),
        _M("dead", 0, "resnet", 2, 16, "relu", "rmsprop", 0.001, bias=-8.0, record_every=3),
        _M("dead", 1, "cnn", 3, 24, "relu", "nadam", 0.001, bias=-5.0, record_every=5),
        _M("dead", 2, "mlp", 4, 48, "relu", "adam", 0.001, kernel="he_normal", spike=(50, 0.1, 5), epochs=8,
           record_every=2),
        _M("dead", 0, "mlp", 3, 96, "relu", "nadam", 0.002, bias=-9.0, record_every=1),
        _M("dead", 1, "subclassed", 2, 128, "relu", "adam", 0.003, bias=-12.0, record_every=10),
        _M("dead", 2, "conv1d", 4, 16, "relu", "sgd", 0.02, bias=-4.0, momentum=0.9, record_every=1),
        # saturated
        _M("saturated", 0, "conv1d", 2, 16, "tanh", "adam", 0.001, bias=5.0, record_every=1),
        _M("saturated", 2, "subclassed", 1, 64, "sigmoid", "adam", 0.003, init_stddev=3.0, record_every=2),
        _M("saturated", 0, "cnn", 2, 16, "sigmoid", "rmsprop", 0.001, bias=7.0, record_every=3),
        _M("saturated", 2, "mlp", 2, 64, "softsign", "nadam", 0.001, init_stddev=4.0, record_every=2),
        _M("saturated", 1, "subclassed", 2, 48, "tanh", "sgd", 0.05, init_stddev=2.0, record_every=5),
        _M("saturated", 1, "conv1d", 1, 32, "sigmoid", "adam", 0.002, init_stddev=2.5, record_every=2),
        _M("saturated", 0, "mlp", 1, 96, "tanh", "rmsprop", 0.002, bias=-5.0, record_every=1),
        _M("saturated", 2, "cnn", 1, 24, "tanh", "adam", 0.001, init_stddev=1.5, record_every=4),
        # flat
        _M("flat", 0, "conv1d", 3, 24, "relu", "adam", 0.0, record_every=2),
        _M("flat", 1, "subclassed", 3, 64, "tanh", "sgd", 1e-9, record_every=3),
        _M("flat", 0, "rnn", 2, 32, "tanh", "rmsprop", 0.0, rnn="gru", record_every=2),
        _M("flat", 0, "transformer", 1, 32, "gelu", "adam", 1e-9, batch_size=64, record_every=2),
        _M("flat", 2, "resnet", 2, 16, "relu", "sgd", 0.0, record_every=5),
        _M("flat", 0, "rnn", 1, 24, "tanh", "nadam", 0.0, rnn="bilstm", record_every=1),
        # oscillating
        _M("oscillating", 0, "mlp", 3, 48, "relu", "sgd", 3.0, batch_norm=True, kernel="he_normal", record_every=1,
           **long),
        _M("oscillating", 2, "subclassed", 3, 64, "relu", "sgd", 4.0, batch_norm=True, record_every=1, **long),
        _M("oscillating", 0, "cnn", 2, 16, "relu", "sgd", 2.0, batch_norm=True, record_every=2, **long),
        _M("oscillating", 0, "conv1d", 3, 24, "relu", "sgd", 3.0, batch_norm=True, record_every=1, **long),
        _M("oscillating", 1, "mlp", 4, 64, "tanh", "sgd", 1.5, batch_norm=True, momentum=0.9, record_every=2,
           epochs=4, limit=1000),
        _M("oscillating", 0, "resnet", 2, 16, "relu", "sgd", 2.0, batch_norm=True, record_every=1, **long),
        _M("oscillating", 0, "mlp", 3, 96, "elu", "adam", 0.3, batch_norm=True, record_every=1, **long),
        _M("oscillating", 1, "subclassed", 2, 48, "tanh", "sgd", 2.0, batch_norm=True, momentum=0.9,
           record_every=1, epochs=4, limit=1000),
        _M("oscillating", 2, "mlp", 2, 128, "relu", "rmsprop", 0.2, batch_norm=True, record_every=2, **long),
        _M("oscillating", 2, "cnn", 3, 16, "tanh", "sgd", 5.0, batch_norm=True, record_every=1, epochs=4,
           limit=1000),
        _M("oscillating", 1, "conv1d", 2, 32, "elu", "sgd", 1.0, batch_norm=True, momentum=0.9, record_every=2,
           epochs=4, limit=1000),
        _M("oscillating", 0, "mlp", 3, 64, "gelu", "nadam", 0.3, batch_norm=True, record_every=1, **long),
        _M("oscillating", 0, "subclassed", 4, 32, "relu", "sgd", 6.0, batch_norm=True, record_every=2, **long),
        _M("oscillating", 2, "mlp", 3, 64, "sigmoid", "sgd", 10.0, batch_norm=True, record_every=1, **long),
        # slow
        _M("slow", 0, "conv1d", 3, 24, "relu", "adam", 2e-5, record_every=1, epochs=4),
        _M("slow", 0, "subclassed", 3, 64, "relu", "sgd", 1e-3, kernel="he_normal", record_every=2, epochs=4),
        _M("slow", 0, "cnn", 3, 16, "relu", "nadam", 1e-5, record_every=2, epochs=4),
        _M("slow", 0, "rnn", 1, 32, "tanh", "adam", 3e-5, rnn="gru", record_every=2, epochs=5),
        _M("slow", 0, "rnn", 2, 24, "tanh", "sgd", 5e-3, rnn="lstm", record_every=1, epochs=4),
        _M("slow", 0, "transformer", 1, 32, "gelu", "adam", 2e-5, batch_size=64, record_every=2, epochs=4),
        _M("slow", 0, "resnet", 2, 16, "relu", "rmsprop", 1e-5, record_every=2, epochs=4),
        _M("slow", 2, "mlp", 2, 64, "tanh", "sgd", 1e-3, momentum=0.5, record_every=2, epochs=4),
        _M("slow", 1, "subclassed", 2, 96, "sigmoid", "adam", 3e-5, record_every=3),
        _M("slow", 1, "mlp", 3, 48, "elu", "sgd", 5e-5, kernel="he_normal", momentum=0.9, record_every=2, epochs=4),
        _M("slow", 2, "conv1d", 2, 32, "tanh", "rmsprop", 1e-5, record_every=1, epochs=4),
        _M("slow", 0, "rnn", 1, 16, "tanh", "rmsprop", 5e-5, rnn="bilstm", record_every=2, epochs=4),
        _M("slow", 2, "cnn", 2, 24, "relu", "sgd", 2e-3, record_every=2, epochs=4),
        _M("slow", 0, "mlp", 3, 64, "selu", "nadam", 5e-6, kernel="lecun_normal", record_every=1, epochs=4),
        # poor initialisation
        _M("poor_init", 0, "subclassed", 6, 48, "relu", "adam", 0.001, init_stddev=0.005, record_every=1),
        _M("poor_init", 0, "conv1d", 4, 24, "relu", "adam", 0.001, init_stddev=0.004, record_every=2),
        _M("poor_init", 2, "cnn", 4, 16, "tanh", "rmsprop", 0.001, init_stddev=0.01, record_every=2),
        _M("poor_init", 1, "mlp", 5, 64, "gelu", "nadam", 0.001, init_stddev=0.006, record_every=5),
        _M("poor_init", 0, "mlp", 3, 64, "relu", "adam", 1e-4, kernel="he_normal", out_scale=30.0, record_every=2),
        _M("poor_init", 0, "subclassed", 4, 64, "relu", "adam", 0.0005, init_stddev=0.8, record_every=2),
        # healthy
        _M("healthy", 0, "conv1d", 3, 32, "relu", "adam", 0.001, record_every=2),
        _M("healthy", 1, "conv1d", 2, 32, "relu", "nadam", 0.002, batch_norm=True, record_every=5),
        _M("healthy", 0, "rnn", 2, 32, "tanh", "adam", 0.005, rnn="gru", record_every=2, epochs=5),
        _M("healthy", 0, "rnn", 1, 24, "tanh", "nadam", 0.005, rnn="bilstm", record_every=1, epochs=5),
        _M("healthy", 0, "rnn", 1, 48, "tanh", "rmsprop", 0.003, rnn="lstm", record_every=3, epochs=5),
        _M("healthy", 0, "transformer", 1, 32, "relu", "adam", 0.001, batch_size=64, record_every=2, epochs=5),
        _M("healthy", 0, "transformer", 2, 32, "gelu", "nadam", 0.0005, batch_size=64, record_every=3, epochs=4),
        _M("healthy", 0, "resnet", 3, 16, "relu", "nadam", 0.002, batch_norm=True, record_every=2),
        _M("healthy", 2, "resnet", 2, 16, "relu", "sgd", 0.02, momentum=0.9, record_every=3),
        _M("healthy", 0, "subclassed", 3, 64, "relu", "adam", 0.001, kernel="he_normal", record_every=1),
        _M("healthy", 2, "subclassed", 4, 48, "tanh", "rmsprop", 0.001, record_every=2),
        _M("healthy", 1, "subclassed", 3, 64, "relu", "sgd", 0.1, batch_norm=True, record_every=4),
        _M("healthy", 1, "cnn", 3, 24, "elu", "nadam", 0.001, record_every=10),
        _M("healthy", 2, "mlp", 4, 64, "swish", "adam", 0.002, kernel="he_normal", record_every=2),
    ]
    return out


SETS = {"heldout-spec": heldout_spec_set, "heldout-model": heldout_model_set}
