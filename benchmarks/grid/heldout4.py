"""A fourth held-out grid: seeds 51–57, never used by any other set, fixed in this file before any of its runs was
trained or diagnosed. No rule or threshold was chosen looking at it; it is trained and scored once, and reported as
it comes out. Spec runs (the app's dense networks) and users' own Keras models (CNNs, Conv1D stacks, SimpleRNN /
LSTM / GRU / BiLSTM stacks, transformers, residual CNNs and MLPs, `keras.Model` subclasses) on digits 8×8, mnist-5k
and shapes10; every label built into several runs; what each run shows is measured by `checks.truth`, as for every
set — a run that does not show what it was built to show is scored by what it shows, never dropped or rebuilt.

    nice -n 10 python benchmarks/diagnostics_grid.py --set heldout4 --jobs 2 --runs runs/heldout4-grid
"""

from __future__ import annotations

from grid.cycling import model_runs
from grid.models import ModelConfig
from grid.spec_sets import Config

DATA = ("shapes10", "digits", "mnist-5k")


def _S(label, k, depth, width, activation, initializer, optimizer, lr, **kw) -> Config:
    """A spec run on the k-th dataset (cycling), seed 51 + k % 7 (51–57)."""
    kw.setdefault("seed", 51 + k % 7)
    return Config(label, DATA[k % 3], depth, width, activation, initializer, optimizer, lr, **kw)


_M = model_runs(51, 7, DATA)  # seeds 51–57


BN = (("batch_norm", True),)


def heldout4_spec_set() -> list[Config]:
    """The app's dense networks (36 runs)."""
    m9, e4, long = {"momentum": 0.9}, {"epochs": 4}, {"epochs": 5, "limit": 1000}
    return [
        _S("vanishing", 0, 9, 40, "sigmoid", "glorot_uniform", "sgd", 0.1, record_every=2),
        _S("vanishing", 1, 8, 56, "tanh", "random_normal", "sgd", 0.05, init_stddev=0.015, record_every=1),
        _S("vanishing", 2, 7, 48, "sigmoid", "he_uniform", "sgd_momentum", 0.02, record_every=3, **m9),
        _S("vanishing", 3, 10, 32, "sigmoid", "glorot_normal", "rmsprop", 1e-4, record_every=2),
        _S("vanishing", 4, 6, 64, "tanh", "random_normal", "sgd", 0.05, init_stddev=0.012, record_every=5),
        _S("exploding", 0, 4, 48, "relu", "random_normal", "sgd", 0.3, init_stddev=0.9, record_every=2),
        _S("exploding", 1, 3, 80, "leaky_relu", "random_normal", "sgd_momentum", 0.05, init_stddev=1.2,
           record_every=1, **m9),
        _S("exploding", 2, 4, 40, "linear", "random_normal", "sgd", 0.3, init_stddev=1.3, record_every=2),
        _S("exploding", 3, 3, 64, "elu", "random_normal", "sgd", 0.2, init_stddev=1.1, record_every=1),
        _S("dead", 0, 3, 48, "relu", "he_uniform", "adam", 0.001, bias_init=-7.0, record_every=1),
        _S("dead", 1, 4, 64, "relu", "he_normal", "sgd", 0.05, bias_init=-5.0, record_every=2),
        _S("dead", 2, 2, 80, "relu", "glorot_uniform", "rmsprop", 0.001, bias_init=-9.0, record_every=3),
        _S("dead", 3, 3, 48, "relu", "he_normal", "sgd", 5.0, layer=BN, record_every=1, **long),
        _S("saturated", 0, 2, 56, "tanh", "glorot_uniform", "adam", 0.001, bias_init=6.0, record_every=2),
        _S("saturated", 1, 2, 64, "sigmoid", "glorot_uniform", "adam", 0.001, bias_init=-8.0, record_every=1),
        _S("saturated", 2, 1, 80, "tanh", "random_normal", "rmsprop", 0.001, init_stddev=2.5, record_every=2),
        _S("saturated", 3, 2, 48, "sigmoid", "random_normal", "sgd", 0.1, init_stddev=3.5, record_every=2),
        _S("flat", 0, 3, 64, "relu", "he_normal", "rmsprop", 1e-10, record_every=2),
        _S("flat", 1, 2, 48, "tanh", "glorot_uniform", "adam", 1e-9, record_every=3),
        _S("flat", 2, 3, 56, "elu", "he_normal", "sgd", 1e-9, record_every=1),
        _S("oscillating", 0, 3, 64, "relu", "he_normal", "sgd", 3.0, layer=BN, record_every=2, **long),
        _S("oscillating", 1, 2, 56, "tanh", "glorot_uniform", "sgd_momentum", 1.5, layer=BN, record_every=1,
           **long, **m9),
        _S("oscillating", 2, 3, 48, "relu", "he_uniform", "sgd", 4.5, layer=BN, record_every=2, **long),
        _S("slow", 0, 3, 48, "relu", "he_normal", "adam", 3e-5, record_every=1, **e4),
        _S("slow", 1, 2, 64, "tanh", "glorot_uniform", "sgd", 2e-3, record_every=2, **e4),
        _S("slow", 2, 3, 56, "elu", "he_normal", "rmsprop", 4e-5, record_every=3, **e4),
        _S("slow", 3, 2, 48, "relu", "he_uniform", "adagrad", 4e-4, record_every=2, **e4),
        _S("slow", 4, 3, 64, "gelu", "he_normal", "sgd_momentum", 1.5e-4, record_every=1, **e4, **m9),
        _S("poor_init", 0, 6, 48, "relu", "random_normal", "adam", 0.001, init_stddev=0.004, record_every=1),
        _S("poor_init", 1, 5, 56, "tanh", "random_normal", "rmsprop", 0.001, init_stddev=0.006, record_every=2),
        _S("poor_init", 2, 5, 48, "elu", "random_normal", "adam", 0.0005, init_stddev=0.45, record_every=3),
        _S("healthy", 0, 3, 56, "relu", "he_normal", "adam", 0.001, record_every=1),
        _S("healthy", 1, 4, 48, "tanh", "glorot_uniform", "sgd_momentum", 0.03, record_every=2, **m9),
        _S("healthy", 2, 3, 64, "elu", "he_uniform", "rmsprop", 0.001, record_every=2),
        _S("healthy", 3, 3, 56, "relu", "he_normal", "sgd", 0.05, layer=BN, record_every=1),
        _S("healthy", 4, 2, 80, "sigmoid", "glorot_uniform", "adam", 0.003, record_every=3),
    ]


def heldout4_model_set() -> list[ModelConfig]:
    """Users' own Keras models, trained with `model.fit` and `GradientMonitor` (47 runs)."""
    e4, long = {"epochs": 4}, {"epochs": 5, "limit": 1000}
    return [
        _M("vanishing", 0, "cnn", 5, 16, "sigmoid", "sgd", 0.1, record_every=1),
        _M("vanishing", 1, "conv1d", 6, 16, "sigmoid", "sgd", 0.05, record_every=2),
        _M("vanishing", 2, "subclassed", 8, 32, "sigmoid", "sgd", 0.05, record_every=2),
        _M("vanishing", 3, "mlp", 7, 48, "sigmoid", "sgd", 0.1, record_every=3),
        _M("vanishing", 4, "rnn", 3, 24, "sigmoid", "sgd", 0.1, rnn="simple_rnn", record_every=2),
        _M("vanishing", 5, "rnn", 2, 32, "sigmoid", "sgd", 0.05, rnn="simple_rnn", record_every=1),
        _M("exploding", 0, "mlp", 3, 48, "relu", "sgd", 0.1, init_stddev=1.1, record_every=2),
        _M("exploding", 1, "cnn", 3, 16, "relu", "sgd", 0.08, init_stddev=0.7, record_every=1),
        _M("exploding", 2, "subclassed", 3, 48, "relu", "sgd", 0.1, init_stddev=0.9, record_every=2),
        _M("exploding", 3, "resnet", 2, 16, "relu", "sgd", 0.05, init_stddev=0.6, record_every=2),
        _M("exploding", 4, "cnn", 2, 16, "relu", "sgd", 2.5, batch_norm=True, record_every=2, **long),
        _M("dead", 0, "cnn", 3, 16, "relu", "adam", 0.001, bias=-6.0, record_every=1),
        _M("dead", 1, "conv1d", 3, 16, "relu", "rmsprop", 0.001, bias=-7.0, record_every=2),
        _M("dead", 2, "subclassed", 3, 64, "relu", "sgd", 0.05, bias=-7.0, record_every=2),
        _M("dead", 3, "mlp", 3, 48, "relu", "adam", 0.001, kernel="he_normal", spike=(45, 0.2, 5), epochs=8,
           record_every=1),
        _M("dead", 4, "subclassed", 3, 48, "relu", "sgd", 4.0, batch_norm=True, record_every=1, **long),
        _M("saturated", 0, "mlp", 2, 48, "tanh", "adam", 0.001, bias=5.0, record_every=2),
        _M("saturated", 1, "conv1d", 1, 24, "sigmoid", "adam", 0.002, init_stddev=3.0, record_every=1),
        _M("saturated", 2, "subclassed", 2, 64, "tanh", "sgd", 0.05, init_stddev=2.5, record_every=2),
        _M("saturated", 3, "cnn", 2, 16, "tanh", "adam", 0.001, bias=6.0, record_every=2),
        _M("flat", 0, "conv1d", 2, 24, "relu", "rmsprop", 1e-9, record_every=1),
        _M("flat", 1, "subclassed", 3, 48, "tanh", "adam", 1e-10, record_every=2),
        _M("flat", 2, "rnn", 1, 24, "tanh", "sgd", 1e-9, rnn="lstm", record_every=2),
        _M("oscillating", 0, "mlp", 3, 48, "relu", "sgd", 3.0, batch_norm=True, kernel="he_normal",
           record_every=2, **long),
        _M("oscillating", 1, "cnn", 2, 16, "relu", "sgd", 4.0, batch_norm=True, record_every=1, **long),
        _M("oscillating", 2, "conv1d", 2, 24, "tanh", "sgd", 3.0, batch_norm=True, record_every=2, **long),
        _M("slow", 0, "transformer", 1, 32, "gelu", "adam", 3e-5, batch_size=64, record_every=2, epochs=6),
        _M("slow", 1, "conv1d", 2, 24, "relu", "rmsprop", 3e-5, record_every=1, **e4),
        _M("slow", 2, "subclassed", 3, 48, "tanh", "sgd", 2e-3, record_every=2, **e4),
        _M("slow", 3, "rnn", 1, 32, "tanh", "sgd", 4e-3, rnn="gru", record_every=2, **e4),
        _M("slow", 4, "cnn", 2, 16, "relu", "adam", 2e-5, record_every=2, **e4),
        _M("slow", 5, "mlp", 2, 48, "relu", "sgd", 1.5e-3, kernel="he_normal", record_every=1, **e4),
        _M("poor_init", 0, "subclassed", 5, 48, "relu", "adam", 0.001, init_stddev=0.004, record_every=1),
        _M("poor_init", 1, "conv1d", 4, 16, "tanh", "adam", 0.001, init_stddev=0.006, record_every=2),
        _M("poor_init", 2, "mlp", 3, 48, "relu", "adam", 1.5e-4, kernel="he_normal", out_scale=35.0,
           record_every=1),
        _M("poor_init", 3, "subclassed", 4, 64, "relu", "adam", 0.0005, init_stddev=0.65, record_every=2),
        _M("poor_init", 4, "mlp", 3, 64, "gelu", "rmsprop", 1e-4, kernel="he_normal", out_scale=25.0,
           record_every=2),
        _M("healthy", 0, "rnn", 1, 32, "tanh", "adam", 0.004, rnn="lstm", record_every=2, epochs=5),
        _M("healthy", 1, "rnn", 1, 24, "tanh", "adam", 0.005, rnn="bilstm", record_every=2, epochs=5),
        _M("healthy", 2, "transformer", 1, 32, "gelu", "adam", 0.002, batch_size=64, record_every=2, epochs=6),
        _M("healthy", 0, "resnet", 2, 16, "relu", "adam", 0.002, batch_norm=True, record_every=1),
        _M("healthy", 1, "subclassed", 3, 48, "relu", "rmsprop", 0.001, kernel="he_normal", record_every=2),
        _M("healthy", 2, "cnn", 2, 16, "relu", "nadam", 0.002, batch_norm=True, record_every=2),
        _M("healthy", 3, "conv1d", 2, 24, "relu", "adam", 0.002, record_every=1),
        _M("healthy", 4, "mlp", 3, 48, "relu", "adam", 5e-4, kernel="he_normal", out_scale=3.0, record_every=2),
        _M("healthy", 5, "rnn", 1, 32, "tanh", "adam", 0.003, rnn="gru", record_every=2, epochs=5),
        _M("healthy", 6, "resmlp", 6, 48, "relu", "sgd", 0.05, batch_norm=True, kernel="he_normal", momentum=0.9,
           record_every=2),
    ]


SETS = {"heldout4-spec": heldout4_spec_set, "heldout4-model": heldout4_model_set}
