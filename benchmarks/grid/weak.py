"""A tuning set of the classes the diagnosis found hardest: slowly converging runs of every optimizer (spec runs and
users' models: Conv1D, GRU, transformers, subclassed models), poor initialisations of users' models (tiny and
large RandomNormal kernels in subclassed and functional models, an output layer scaled up), sigmoid SimpleRNN
stacks, subclassed BatchNorm networks at rates that kill their ReLUs, dead and saturated units beside other
problems, and healthy models of the same kinds beside them. Seeds 7–10: no held-out set uses them. Rules and
thresholds may be chosen on this set; what each run shows is measured by `checks.truth`, as for every set.

    nice -n 10 python benchmarks/diagnostics_grid.py --set weak --jobs 2
"""

from __future__ import annotations

from grid.cycling import model_runs
from grid.models import ModelConfig
from grid.spec_sets import Config

DATA = ("digits", "shapes10", "mnist-5k")


def _S(label, k, depth, width, activation, initializer, optimizer, lr, **kw) -> Config:
    kw.setdefault("seed", 7 + k % 4)
    return Config(label, DATA[k % 3], depth, width, activation, initializer, optimizer, lr, **kw)


_M = model_runs(7, 4, DATA[:2])  # digits and shapes10: the quick ones


def weak_spec_set() -> list[Config]:
    e4 = {"epochs": 4}
    return [
        _S("slow", 0, 3, 40, "relu", "he_normal", "adam", 1.5e-5, record_every=2, **e4),
        _S("slow", 1, 2, 48, "tanh", "glorot_uniform", "rmsprop", 1.5e-5, record_every=1, **e4),
        _S("slow", 2, 3, 48, "relu", "he_uniform", "sgd", 1.5e-3, record_every=3, **e4),
        _S("slow", 3, 2, 72, "elu", "he_normal", "adagrad", 3e-4, record_every=2, **e4),
        _S("slow", 4, 3, 40, "swish", "he_normal", "adadelta", 0.01, record_every=1, **e4),
        _S("slow", 5, 3, 56, "sigmoid", "glorot_uniform", "adam", 3e-5, record_every=2, **e4),
        _S("slow", 6, 4, 32, "leaky_relu", "he_normal", "sgd", 2e-3, record_every=1, **e4),
        _S("slow", 7, 2, 64, "gelu", "he_normal", "sgd_momentum", 1e-4, record_every=2, momentum=0.9, **e4),
        _S("poor_init", 0, 6, 40, "relu", "random_normal", "adam", 0.001, init_stddev=0.006, record_every=2),
        _S("poor_init", 1, 5, 48, "elu", "random_normal", "adam", 0.001, init_stddev=0.5, record_every=1),
        _S("poor_init", 2, 5, 56, "tanh", "random_normal", "rmsprop", 0.001, init_stddev=0.007, record_every=3),
        _S("poor_init", 3, 4, 64, "relu", "random_normal", "adam", 0.0005, init_stddev=0.35, record_every=2),
        _S("healthy", 0, 3, 56, "relu", "he_normal", "adam", 0.001, record_every=2),
        _S("healthy", 1, 3, 48, "tanh", "glorot_uniform", "rmsprop", 0.001, record_every=1, **e4),
        _S("healthy", 2, 4, 40, "elu", "he_normal", "sgd_momentum", 0.02, record_every=2, momentum=0.9),
        _S("healthy", 3, 2, 64, "sigmoid", "glorot_uniform", "adam", 0.003, record_every=1, **e4),
        # slow at rates that move the loss a few per cent
        _S("slow", 8, 3, 48, "relu", "he_normal", "adam", 6e-5, record_every=2, **e4),
        _S("slow", 9, 2, 56, "tanh", "glorot_uniform", "sgd", 4e-3, record_every=1, **e4),
        _S("slow", 10, 3, 40, "elu", "he_normal", "rmsprop", 5e-5, record_every=3, **e4),
        _S("slow", 11, 2, 64, "relu", "he_uniform", "sgd_momentum", 4e-4, record_every=2, momentum=0.9, **e4),
    ]


def weak_model_set() -> list[ModelConfig]:
    e4 = {"epochs": 4}
    return [
        # slow: a learning rate far too small, of several optimizers and model kinds
        _M("slow", 0, "conv1d", 2, 24, "relu", "adam", 1.5e-5, record_every=1, **e4),
        _M("slow", 1, "rnn", 1, 24, "tanh", "adam", 2e-5, rnn="gru", record_every=2, **e4),
        _M("slow", 2, "transformer", 1, 32, "relu", "adam", 1.5e-5, batch_size=64, record_every=2, **e4),
        _M("slow", 3, "transformer", 1, 32, "gelu", "nadam", 3e-5, batch_size=64, record_every=1, **e4),
        _M("slow", 0, "subclassed", 2, 64, "sigmoid", "adam", 2e-5, record_every=2, **e4),
        _M("slow", 1, "subclassed", 3, 48, "relu", "rmsprop", 1.5e-5, kernel="he_normal", record_every=1, **e4),
        _M("slow", 2, "mlp", 2, 48, "tanh", "sgd", 2e-3, record_every=2, **e4),
        _M("slow", 3, "conv1d", 2, 24, "tanh", "rmsprop", 1.5e-5, record_every=2, **e4),
        _M("slow", 0, "cnn", 2, 16, "relu", "nadam", 1.5e-5, record_every=2, **e4),
        _M("slow", 1, "rnn", 1, 24, "tanh", "sgd", 3e-3, rnn="lstm", record_every=2, **e4),
        _M("slow", 2, "resnet", 1, 16, "relu", "adam", 1.5e-5, record_every=2, **e4),
        _M("slow", 3, "mlp", 3, 48, "selu", "sgd", 1e-4, kernel="lecun_normal", momentum=0.9, record_every=1, **e4),
        # poor initialisation of users' models: tiny or large kernels, an output layer scaled up
        _M("poor_init", 0, "subclassed", 5, 48, "relu", "adam", 0.001, init_stddev=0.006, record_every=2),
        _M("poor_init", 1, "subclassed", 4, 48, "relu", "adam", 0.0005, init_stddev=0.7, record_every=1),
        _M("poor_init", 2, "subclassed", 5, 32, "tanh", "rmsprop", 0.001, init_stddev=0.01, record_every=2),
        _M("poor_init", 3, "subclassed", 3, 64, "elu", "adam", 0.001, init_stddev=0.6, record_every=2),
        _M("poor_init", 0, "mlp", 3, 48, "relu", "adam", 2e-4, kernel="he_normal", out_scale=25.0, record_every=2),
        _M("poor_init", 1, "subclassed", 3, 48, "relu", "adam", 2e-4, kernel="he_normal", out_scale=25.0,
           record_every=1),
        _M("poor_init", 2, "mlp", 4, 48, "relu", "adam", 0.001, init_stddev=0.7, record_every=2),
        _M("poor_init", 3, "conv1d", 4, 16, "tanh", "adam", 0.001, init_stddev=0.008, record_every=2),
        _M("poor_init", 0, "cnn", 3, 16, "relu", "adam", 0.001, init_stddev=0.6, record_every=2),
        # sigmoid SimpleRNN stacks under SGD: the gradient dies through depth and time
        _M("vanishing", 0, "rnn", 3, 24, "sigmoid", "sgd", 0.05, rnn="simple_rnn", record_every=2),
        _M("vanishing", 1, "rnn", 3, 32, "sigmoid", "sgd", 0.1, rnn="simple_rnn", record_every=1),
        _M("vanishing", 2, "rnn", 2, 24, "sigmoid", "sgd", 0.05, rnn="simple_rnn", record_every=3),
        # subclassed BatchNorm networks at far too large rates: the ReLUs end dead
        _M("dead", 0, "subclassed", 3, 48, "relu", "sgd", 5.0, batch_norm=True, record_every=1, epochs=5, limit=1000),
        _M("dead", 1, "subclassed", 4, 48, "relu", "sgd", 3.0, batch_norm=True, record_every=2, epochs=5, limit=1000),
        _M("dead", 2, "cnn", 2, 16, "relu", "sgd", 3.0, batch_norm=True, record_every=2, epochs=5, limit=1000),
        # dead or saturated units beside other problems
        _M("dead", 3, "mlp", 3, 64, "relu", "sgd", 0.1, init_stddev=1.0, record_every=1),
        _M("dead", 0, "resnet", 2, 16, "relu", "sgd", 0.1, init_stddev=0.45, record_every=2),
        _M("saturated", 1, "mlp", 3, 48, "tanh", "sgd", 1.5, batch_norm=True, momentum=0.9, record_every=1,
           epochs=4, limit=1000),
        _M("saturated", 2, "subclassed", 2, 48, "tanh", "sgd", 0.05, init_stddev=2.5, record_every=2),
        _M("saturated", 3, "subclassed", 2, 64, "sigmoid", "adam", 0.002, init_stddev=3.5, record_every=1),
        # healthy models of the same kinds
        _M("healthy", 0, "rnn", 1, 32, "tanh", "adam", 0.005, rnn="gru", record_every=2, epochs=5),
        _M("healthy", 1, "rnn", 2, 24, "tanh", "adam", 0.003, rnn="simple_rnn", record_every=2, epochs=5),
        _M("healthy", 2, "transformer", 1, 32, "gelu", "adam", 0.002, batch_size=64, record_every=2, epochs=5),
        _M("healthy", 3, "subclassed", 3, 48, "relu", "sgd", 0.05, batch_norm=True, record_every=2),
        _M("healthy", 0, "subclassed", 4, 48, "tanh", "adam", 0.001, record_every=1),
        _M("healthy", 1, "conv1d", 2, 32, "relu", "adam", 0.002, record_every=2),
        _M("healthy", 2, "cnn", 2, 16, "sigmoid", "adam", 0.003, batch_norm=True, record_every=2),
        _M("healthy", 3, "resnet", 2, 16, "relu", "adam", 0.002, batch_norm=True, record_every=2),
        # sigmoid SimpleRNN stacks over 28 rows, a tanh one beside them
        _M("vanishing", 1, "rnn", 2, 32, "sigmoid", "sgd", 0.05, rnn="simple_rnn", record_every=2,
           dataset="mnist-5k"),
        _M("vanishing", 2, "rnn", 3, 24, "sigmoid", "sgd", 0.1, rnn="simple_rnn", record_every=1,
           dataset="mnist-5k"),
        _M("vanishing", 3, "rnn", 3, 32, "sigmoid", "sgd", 0.02, rnn="simple_rnn", record_every=3),
        _M("healthy", 0, "rnn", 2, 32, "tanh", "adam", 0.002, rnn="simple_rnn", record_every=2, dataset="mnist-5k"),
        # slow at rates that move the loss a few per cent, budgets past the start-up steps
        _M("slow", 0, "transformer", 1, 32, "relu", "adam", 5e-5, batch_size=64, record_every=2, epochs=6),
        _M("slow", 1, "conv1d", 2, 24, "relu", "adam", 5e-5, record_every=2, **e4),
        _M("slow", 2, "cnn", 2, 16, "relu", "sgd", 4e-3, record_every=1, **e4),
        _M("slow", 3, "rnn", 1, 32, "tanh", "sgd", 0.01, rnn="gru", record_every=2, **e4),
        _M("slow", 0, "subclassed", 3, 48, "tanh", "adam", 6e-5, record_every=2, **e4),
        _M("healthy", 1, "transformer", 1, 32, "relu", "adam", 0.002, batch_size=64, record_every=2, epochs=6),
    ]


SETS = {"weak-spec": weak_spec_set, "weak-model": weak_model_set}
