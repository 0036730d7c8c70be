"""A third held-out grid: seeds 31–37, never used by any other set, fixed in this file before any of its runs was
trained or diagnosed. No rule or threshold was chosen looking at it; it is trained and scored once, and reported as
it comes out. Spec runs (the app's dense networks) and users' own Keras models (CNNs, Conv1D stacks, SimpleRNN /
LSTM / GRU / BiLSTM stacks, transformers, residual CNNs, `keras.Model` subclasses) on digits 8×8, mnist-5k and
shapes10; every label built into several runs; what each run shows is measured by `checks.truth`, as for every
set — a run that does not show what it was built to show is scored by what it shows, never dropped or rebuilt.

    nice -n 10 python benchmarks/diagnostics_grid.py --set heldout3 --jobs 2 --runs runs/heldout3-grid
"""

from __future__ import annotations

from grid.cycling import model_runs
from grid.models import ModelConfig
from grid.spec_sets import Config

DATA = ("digits", "mnist-5k", "shapes10")


def _S(label, k, depth, width, activation, initializer, optimizer, lr, **kw) -> Config:
    """A spec run on the k-th dataset (cycling), seed 31 + k % 8 (31–37 in use)."""
    kw.setdefault("seed", 31 + k % 8)
    return Config(label, DATA[k % 3], depth, width, activation, initializer, optimizer, lr, **kw)


_M = model_runs(31, 8, DATA)  # seeds 31–38


BN = (("batch_norm", True),)


def heldout3_spec_set() -> list[Config]:
    """The app's dense networks (38 runs)."""
    m9, e4, long = {"momentum": 0.9}, {"epochs": 4}, {"epochs": 5, "limit": 1000}
    return [
        _S("vanishing", 0, 8, 48, "sigmoid", "glorot_normal", "sgd", 0.1, record_every=2),
        _S("vanishing", 1, 10, 32, "tanh", "random_normal", "sgd", 0.05, init_stddev=0.02, record_every=3),
        _S("vanishing", 2, 7, 64, "sigmoid", "he_normal", "sgd_momentum", 0.01, record_every=1, **m9),
        _S("vanishing", 3, 9, 40, "sigmoid", "lecun_normal", "adagrad", 0.01, record_every=5),
        _S("vanishing", 4, 6, 56, "tanh", "random_normal", "sgd", 0.1, init_stddev=0.01, record_every=2),
        _S("exploding", 0, 4, 64, "relu", "random_normal", "sgd", 0.2, init_stddev=0.8, record_every=1),
        _S("exploding", 1, 3, 96, "leaky_relu", "random_normal", "sgd_momentum", 0.1, init_stddev=1.0,
           record_every=2, **m9),
        _S("exploding", 2, 3, 48, "linear", "random_normal", "sgd", 0.5, init_stddev=1.5, record_every=1),
        _S("exploding", 3, 5, 40, "selu", "random_normal", "sgd", 0.1, init_stddev=1.0, record_every=2),
        _S("dead", 0, 3, 64, "relu", "he_normal", "adam", 0.001, bias_init=-6.0, record_every=2),
        _S("dead", 1, 4, 48, "relu", "he_uniform", "sgd", 0.05, bias_init=-8.0, record_every=1),
        _S("dead", 2, 2, 96, "relu", "he_normal", "rmsprop", 0.001, bias_init=-4.0, record_every=3),
        _S("dead", 3, 3, 56, "relu", "glorot_uniform", "adam", 0.002, bias_init=-10.0, record_every=5),
        _S("saturated", 0, 2, 64, "tanh", "glorot_uniform", "adam", 0.001, bias_init=5.0, record_every=1),
        _S("saturated", 1, 2, 48, "sigmoid", "glorot_uniform", "rmsprop", 0.001, bias_init=-7.0, record_every=2),
        _S("saturated", 2, 1, 96, "tanh", "random_normal", "adam", 0.002, init_stddev=2.0, record_every=2),
        _S("saturated", 3, 2, 56, "sigmoid", "random_normal", "sgd", 0.05, init_stddev=3.0, record_every=3),
        _S("flat", 0, 3, 48, "relu", "he_normal", "adam", 1e-9, record_every=2),
        _S("flat", 1, 2, 64, "tanh", "glorot_uniform", "sgd", 1e-10, record_every=1),
        _S("flat", 2, 4, 40, "elu", "he_normal", "rmsprop", 1e-9, record_every=3),
        _S("oscillating", 0, 3, 56, "relu", "he_normal", "sgd", 4.0, layer=BN, record_every=1, **long),
        _S("oscillating", 1, 2, 72, "relu", "he_uniform", "sgd_momentum", 1.0, layer=BN, record_every=2, **long,
           **m9),
        _S("oscillating", 2, 3, 48, "tanh", "glorot_uniform", "sgd", 5.0, layer=BN, record_every=1, **long),
        _S("slow", 0, 3, 56, "relu", "he_normal", "adam", 4e-5, record_every=2, **e4),
        _S("slow", 1, 2, 72, "tanh", "glorot_uniform", "sgd", 3e-3, record_every=1, **e4),
        _S("slow", 2, 3, 48, "elu", "he_normal", "rmsprop", 3e-5, record_every=2, **e4),
        _S("slow", 3, 2, 56, "relu", "he_uniform", "adagrad", 5e-4, record_every=3, **e4),
        _S("slow", 4, 3, 40, "gelu", "he_normal", "sgd_momentum", 2e-4, record_every=2, **e4, **m9),
        _S("poor_init", 0, 6, 56, "relu", "random_normal", "adam", 0.001, init_stddev=0.005, record_every=2),
        _S("poor_init", 1, 5, 40, "tanh", "random_normal", "rmsprop", 0.001, init_stddev=0.008, record_every=1),
        _S("poor_init", 2, 5, 64, "elu", "random_normal", "adam", 0.0005, init_stddev=0.5, record_every=2),
        _S("poor_init", 3, 6, 48, "gelu", "random_normal", "adam", 0.001, init_stddev=0.006, record_every=3),
        _S("healthy", 0, 3, 64, "relu", "he_normal", "adam", 0.001, record_every=2),
        _S("healthy", 1, 4, 56, "tanh", "glorot_uniform", "sgd_momentum", 0.02, record_every=2, **m9),
        _S("healthy", 2, 2, 80, "elu", "he_uniform", "rmsprop", 0.001, record_every=1),
        _S("healthy", 3, 3, 48, "relu", "he_normal", "sgd", 0.1, layer=BN, record_every=3),
        _S("healthy", 4, 5, 40, "selu", "lecun_normal", "adam", 0.0005, record_every=2),
        _S("healthy", 5, 2, 64, "sigmoid", "glorot_normal", "adam", 0.003, record_every=1),
    ]


def heldout3_model_set() -> list[ModelConfig]:
    """Users' own Keras models, trained with `model.fit` and `GradientMonitor` (46 runs)."""
    e4, long = {"epochs": 4}, {"epochs": 5, "limit": 1000}
    return [
        _M("vanishing", 0, "cnn", 5, 16, "sigmoid", "sgd", 0.05, record_every=2),
        _M("vanishing", 1, "conv1d", 5, 16, "sigmoid", "sgd", 0.1, record_every=1),
        _M("vanishing", 2, "subclassed", 7, 32, "sigmoid", "sgd", 0.1, record_every=3),
        _M("vanishing", 3, "mlp", 8, 48, "sigmoid", "sgd", 0.05, record_every=2),
        _M("vanishing", 1, "rnn", 3, 32, "sigmoid", "sgd", 0.05, rnn="simple_rnn", record_every=2),
        _M("vanishing", 0, "rnn", 2, 24, "sigmoid", "sgd", 0.1, rnn="simple_rnn", record_every=1),
        _M("exploding", 0, "mlp", 3, 64, "relu", "sgd", 0.1, init_stddev=1.0, record_every=1),
        _M("exploding", 1, "cnn", 3, 16, "relu", "sgd", 0.1, init_stddev=0.6, record_every=2),
        _M("exploding", 2, "subclassed", 3, 64, "relu", "sgd", 0.05, init_stddev=1.0, record_every=2),
        _M("exploding", 3, "resnet", 2, 16, "relu", "sgd", 0.1, init_stddev=0.5, record_every=1),
        _M("dead", 0, "cnn", 3, 16, "relu", "adam", 0.001, bias=-7.0, record_every=2),
        _M("dead", 1, "conv1d", 3, 24, "relu", "adam", 0.001, bias=-6.0, record_every=1),
        _M("dead", 2, "subclassed", 3, 48, "relu", "sgd", 0.05, bias=-8.0, record_every=3),
        _M("dead", 3, "mlp", 3, 64, "relu", "adam", 0.001, kernel="he_normal", spike=(50, 0.1, 5), epochs=8,
           record_every=2),
        _M("dead", 4, "subclassed", 3, 64, "relu", "sgd", 5.0, batch_norm=True, record_every=2, **long),
        _M("saturated", 0, "mlp", 2, 64, "tanh", "adam", 0.001, bias=6.0, record_every=1),
        _M("saturated", 1, "conv1d", 1, 32, "sigmoid", "adam", 0.002, init_stddev=2.5, record_every=2),
        _M("saturated", 2, "subclassed", 2, 48, "tanh", "sgd", 0.05, init_stddev=2.0, record_every=2),
        _M("saturated", 3, "cnn", 2, 16, "tanh", "adam", 0.001, bias=5.0, record_every=3),
        _M("flat", 0, "conv1d", 3, 24, "relu", "adam", 1e-9, record_every=2),
        _M("flat", 1, "subclassed", 3, 48, "tanh", "sgd", 1e-10, record_every=1),
        _M("flat", 2, "rnn", 1, 32, "tanh", "rmsprop", 1e-9, rnn="gru", record_every=2),
        _M("oscillating", 0, "mlp", 3, 64, "relu", "sgd", 4.0, batch_norm=True, kernel="he_normal", record_every=1,
           **long),
        _M("oscillating", 1, "cnn", 2, 16, "relu", "sgd", 3.0, batch_norm=True, record_every=2, **long),
        _M("oscillating", 2, "conv1d", 2, 24, "tanh", "sgd", 4.0, batch_norm=True, record_every=1, **long),
        _M("slow", 0, "transformer", 1, 32, "relu", "adam", 4e-5, batch_size=64, record_every=2, epochs=6),
        _M("slow", 1, "conv1d", 2, 24, "relu", "adam", 4e-5, record_every=2, **e4),
        _M("slow", 2, "subclassed", 3, 48, "relu", "sgd", 2e-3, kernel="he_normal", record_every=1, **e4),
        _M("slow", 3, "rnn", 1, 24, "tanh", "sgd", 5e-3, rnn="lstm", record_every=2, **e4),
        _M("slow", 4, "cnn", 2, 16, "relu", "rmsprop", 3e-5, record_every=2, **e4),
        _M("slow", 5, "mlp", 2, 64, "tanh", "sgd", 2e-3, record_every=1, **e4),
        _M("poor_init", 0, "subclassed", 6, 48, "relu", "adam", 0.001, init_stddev=0.005, record_every=2),
        _M("poor_init", 1, "conv1d", 4, 24, "relu", "adam", 0.001, init_stddev=0.005, record_every=1),
        _M("poor_init", 2, "mlp", 3, 64, "relu", "adam", 1e-4, kernel="he_normal", out_scale=30.0, record_every=2),
        _M("poor_init", 3, "subclassed", 5, 48, "tanh", "rmsprop", 0.001, init_stddev=0.01, record_every=2),
        _M("poor_init", 4, "mlp", 4, 64, "elu", "adam", 0.0005, init_stddev=0.6, record_every=1),
        _M("healthy", 0, "rnn", 1, 32, "tanh", "adam", 0.005, rnn="gru", record_every=2, epochs=5),
        _M("healthy", 1, "rnn", 1, 24, "tanh", "nadam", 0.005, rnn="bilstm", record_every=2, epochs=5),
        _M("healthy", 2, "transformer", 1, 32, "relu", "adam", 0.001, batch_size=64, record_every=2, epochs=6),
        _M("healthy", 0, "resnet", 2, 16, "relu", "nadam", 0.002, batch_norm=True, record_every=2),
        _M("healthy", 1, "subclassed", 3, 64, "relu", "adam", 0.001, kernel="he_normal", record_every=1),
        _M("healthy", 2, "cnn", 3, 16, "relu", "adam", 0.001, batch_norm=True, record_every=2),
        _M("healthy", 3, "conv1d", 2, 32, "relu", "nadam", 0.002, record_every=2),
        _M("healthy", 4, "mlp", 3, 64, "gelu", "adam", 0.001, kernel="he_normal", record_every=1),
        _M("healthy", 5, "rnn", 2, 32, "tanh", "adam", 0.002, rnn="simple_rnn", record_every=2),
        _M("healthy", 6, "subclassed", 3, 48, "tanh", "sgd", 0.05, batch_norm=True, record_every=2),
    ]


SETS = {"heldout3-spec": heldout3_spec_set, "heldout3-model": heldout3_model_set}
