"""A fifth held-out grid: seeds 61–67, never used by any other set, fixed in this file before any of its runs was
trained or diagnosed. No rule or threshold was chosen looking at it; it is trained and scored once, and reported as
it comes out. Spec runs (the app's dense networks) and users' own Keras models (CNNs, Conv1D stacks, SimpleRNN /
LSTM / GRU / BiLSTM stacks, transformers, residual CNNs and MLPs, `keras.Model` subclasses) on digits 8×8, mnist-5k
and shapes10; every label built into several runs, the oscillating loss into nine (swish and GELU networks with
large kernels under RMSprop 0.05, BatchNorm ReLU networks at SGD 3–4); what each run shows is measured by
`checks.truth`, as for every set — a run that does not show what it was built to show is scored by what it shows,
never dropped or rebuilt.

    nice -n 10 python benchmarks/diagnostics_grid.py --set heldout5 --jobs 2 --runs runs/heldout5-grid
"""

from __future__ import annotations

from grid.cycling import model_runs, spec_runs
from grid.models import ModelConfig
from grid.spec_sets import Config

DATA = ("digits", "mnist-5k", "shapes10")
_S = spec_runs(61, 7, DATA)  # run k: data set k (cycling), seed 61 + k % 7
_M = model_runs(61, 7, DATA)

BN = (("batch_norm", True),)


def heldout5_spec_set() -> list[Config]:
    """The app's dense networks (38 runs)."""
    m9, e4, long = {"momentum": 0.9}, {"epochs": 4}, {"epochs": 5, "limit": 1000}
    return [
        _S("vanishing", 0, 8, 48, "sigmoid", "glorot_uniform", "sgd", 0.1, record_every=2),
        _S("vanishing", 1, 7, 64, "tanh", "random_normal", "sgd", 0.05, init_stddev=0.012, record_every=1),
        _S("vanishing", 2, 9, 40, "sigmoid", "he_normal", "sgd_momentum", 0.02, record_every=3, **m9),
        _S("vanishing", 3, 8, 32, "sigmoid", "glorot_normal", "adagrad", 0.01, record_every=2),
        _S("vanishing", 4, 6, 56, "tanh", "random_normal", "sgd", 0.1, init_stddev=0.015, record_every=5),
        _S("exploding", 0, 3, 64, "relu", "random_normal", "sgd", 0.2, init_stddev=1.0, record_every=2),
        _S("exploding", 1, 3, 48, "leaky_relu", "random_normal", "sgd_momentum", 0.05, init_stddev=1.3,
           record_every=1, **m9),
        _S("exploding", 2, 4, 48, "linear", "random_normal", "sgd", 0.2, init_stddev=1.2, record_every=2),
        _S("exploding", 3, 3, 56, "elu", "random_normal", "sgd", 0.3, init_stddev=1.2, record_every=1),
        _S("dead", 0, 3, 64, "relu", "he_uniform", "adam", 0.001, bias_init=-6.0, record_every=1),
        _S("dead", 1, 4, 48, "relu", "he_normal", "sgd", 0.05, bias_init=-5.0, record_every=3),
        _S("dead", 2, 2, 64, "relu", "glorot_uniform", "rmsprop", 0.001, bias_init=-8.0, record_every=2),
        _S("dead", 3, 3, 56, "relu", "he_normal", "sgd", 4.0, layer=BN, record_every=2, **long),
        _S("saturated", 0, 2, 48, "tanh", "glorot_uniform", "adam", 0.001, bias_init=5.0, record_every=1),
        _S("saturated", 1, 2, 56, "sigmoid", "glorot_uniform", "adam", 0.001, bias_init=-7.0, record_every=2),
        _S("saturated", 2, 1, 64, "tanh", "random_normal", "rmsprop", 0.001, init_stddev=3.0, record_every=2),
        _S("saturated", 3, 2, 64, "sigmoid", "random_normal", "sgd", 0.1, init_stddev=3.0, record_every=1),
        _S("flat", 0, 3, 48, "relu", "he_normal", "rmsprop", 1e-9, record_every=2),
        _S("flat", 1, 2, 64, "tanh", "glorot_uniform", "adam", 1e-10, record_every=1),
        _S("flat", 2, 3, 48, "elu", "he_normal", "sgd", 1e-10, record_every=3),
        _S("oscillating", 0, 3, 80, "swish", "random_normal", "rmsprop", 0.05, init_stddev=0.8, batch_size=16,
           record_every=1),
        _S("oscillating", 1, 3, 64, "swish", "random_normal", "rmsprop", 0.05, init_stddev=0.8, batch_size=16,
           record_every=2),
        _S("oscillating", 2, 3, 80, "gelu", "random_normal", "rmsprop", 0.05, init_stddev=0.8, batch_size=16,
           record_every=2),
        _S("oscillating", 3, 3, 64, "relu", "he_normal", "sgd", 3.5, layer=BN, record_every=2, **long),
        _S("oscillating", 4, 3, 48, "relu", "he_uniform", "sgd", 4.0, layer=BN, record_every=1, **long),
        _S("slow", 0, 3, 56, "relu", "he_normal", "adam", 2e-5, record_every=1, **e4),
        _S("slow", 1, 2, 48, "tanh", "glorot_uniform", "sgd", 1.5e-3, record_every=2, **e4),
        _S("slow", 2, 3, 48, "elu", "he_normal", "rmsprop", 3e-5, record_every=3, **e4),
        _S("slow", 3, 2, 64, "relu", "he_uniform", "adagrad", 3e-4, record_every=2, **e4),
        _S("slow", 4, 3, 56, "gelu", "he_normal", "sgd_momentum", 1e-4, record_every=1, **e4, **m9),
        _S("poor_init", 0, 6, 56, "relu", "random_normal", "adam", 0.001, init_stddev=0.005, record_every=1),
        _S("poor_init", 1, 5, 48, "tanh", "random_normal", "rmsprop", 0.001, init_stddev=0.005, record_every=2),
        _S("poor_init", 2, 5, 56, "elu", "random_normal", "adam", 0.0005, init_stddev=0.5, record_every=3),
        _S("healthy", 0, 3, 64, "relu", "he_normal", "adam", 0.001, record_every=1),
        _S("healthy", 1, 3, 48, "tanh", "glorot_uniform", "sgd_momentum", 0.03, record_every=2, **m9),
        _S("healthy", 2, 3, 56, "elu", "he_uniform", "rmsprop", 0.001, record_every=2),
        _S("healthy", 3, 3, 64, "relu", "he_normal", "sgd", 0.05, layer=BN, record_every=1),
        _S("healthy", 4, 2, 64, "sigmoid", "glorot_uniform", "adam", 0.003, record_every=3),
    ]


def heldout5_model_set() -> list[ModelConfig]:
    """Users' own Keras models, trained with `model.fit` and `GradientMonitor` (47 runs)."""
    e4, long = {"epochs": 4}, {"epochs": 5, "limit": 1000}
    return [
        _M("vanishing", 0, "cnn", 4, 16, "sigmoid", "sgd", 0.1, record_every=1),
        _M("vanishing", 1, "conv1d", 5, 24, "sigmoid", "sgd", 0.05, record_every=2),
        _M("vanishing", 2, "subclassed", 7, 48, "sigmoid", "sgd", 0.05, record_every=2),
        _M("vanishing", 3, "mlp", 8, 32, "sigmoid", "sgd", 0.1, record_every=3),
        _M("vanishing", 4, "rnn", 3, 32, "sigmoid", "sgd", 0.1, rnn="simple_rnn", record_every=2),
        _M("vanishing", 5, "rnn", 2, 24, "sigmoid", "sgd", 0.05, rnn="simple_rnn", record_every=1),
        _M("exploding", 0, "mlp", 3, 64, "relu", "sgd", 0.1, init_stddev=1.0, record_every=2),
        _M("exploding", 1, "cnn", 3, 16, "relu", "sgd", 0.1, init_stddev=0.8, record_every=1),
        _M("exploding", 2, "subclassed", 3, 64, "relu", "sgd", 0.1, init_stddev=1.0, record_every=2),
        _M("exploding", 3, "resnet", 2, 16, "relu", "sgd", 0.05, init_stddev=0.7, record_every=2),
        _M("exploding", 4, "mlp", 3, 48, "relu", "adam", 0.001, kernel="he_normal", spike=(40, 1.0, 5), epochs=6,
           record_every=2),
        _M("dead", 0, "cnn", 3, 16, "relu", "adam", 0.001, bias=-6.0, record_every=2),
        _M("dead", 1, "conv1d", 3, 24, "relu", "rmsprop", 0.001, bias=-7.0, record_every=1),
        _M("dead", 2, "subclassed", 3, 48, "relu", "sgd", 0.05, bias=-6.0, record_every=2),
        _M("dead", 3, "mlp", 3, 64, "relu", "adam", 0.001, kernel="he_normal", spike=(45, 0.2, 5), epochs=8,
           record_every=1),
        _M("dead", 4, "subclassed", 3, 64, "relu", "sgd", 4.0, batch_norm=True, record_every=2, **long),
        _M("saturated", 0, "mlp", 2, 64, "tanh", "adam", 0.001, bias=5.0, record_every=1),
        _M("saturated", 1, "conv1d", 1, 16, "sigmoid", "adam", 0.002, init_stddev=3.0, record_every=2),
        _M("saturated", 2, "subclassed", 2, 48, "tanh", "sgd", 0.05, init_stddev=2.5, record_every=2),
        _M("saturated", 3, "cnn", 2, 16, "tanh", "adam", 0.001, bias=6.0, record_every=1),
        _M("flat", 0, "cnn", 2, 16, "relu", "adam", 1e-10, record_every=2),
        _M("flat", 1, "mlp", 3, 48, "tanh", "rmsprop", 1e-9, record_every=1),
        _M("flat", 2, "rnn", 1, 32, "tanh", "sgd", 1e-9, rnn="gru", record_every=2),
        _M("oscillating", 0, "mlp", 3, 80, "swish", "rmsprop", 0.05, init_stddev=0.8, batch_size=16,
           record_every=1),
        _M("oscillating", 1, "mlp", 3, 64, "gelu", "rmsprop", 0.05, init_stddev=0.8, batch_size=16,
           record_every=2),
        _M("oscillating", 2, "mlp", 3, 64, "relu", "sgd", 3.5, batch_norm=True, kernel="he_normal",
           record_every=2, **long),
        _M("oscillating", 3, "cnn", 2, 16, "relu", "sgd", 3.0, batch_norm=True, record_every=1, **long),
        _M("slow", 0, "transformer", 1, 32, "gelu", "adam", 3e-5, batch_size=64, record_every=2, epochs=6),
        _M("slow", 1, "conv1d", 2, 24, "relu", "rmsprop", 2e-5, record_every=1, **e4),
        _M("slow", 2, "subclassed", 3, 64, "tanh", "sgd", 2e-3, record_every=2, **e4),
        _M("slow", 3, "cnn", 2, 16, "relu", "adam", 2e-5, record_every=2, **e4),
        _M("slow", 4, "mlp", 2, 64, "relu", "sgd", 1.5e-3, kernel="he_normal", record_every=1, **e4),
        _M("poor_init", 0, "subclassed", 5, 64, "relu", "adam", 0.001, init_stddev=0.004, record_every=1),
        _M("poor_init", 1, "conv1d", 4, 24, "tanh", "adam", 0.001, init_stddev=0.006, record_every=2),
        _M("poor_init", 2, "mlp", 3, 64, "relu", "adam", 1.5e-4, kernel="he_normal", out_scale=30.0,
           record_every=1),
        _M("poor_init", 3, "subclassed", 4, 48, "relu", "adam", 0.0005, init_stddev=0.6, record_every=2),
        _M("poor_init", 4, "mlp", 3, 48, "gelu", "rmsprop", 1e-4, kernel="he_normal", out_scale=25.0,
           record_every=2),
        _M("healthy", 0, "rnn", 1, 32, "tanh", "adam", 0.004, rnn="lstm", record_every=2, epochs=5),
        _M("healthy", 1, "rnn", 1, 24, "tanh", "adam", 0.005, rnn="bilstm", record_every=2, epochs=5),
        _M("healthy", 2, "transformer", 1, 32, "gelu", "adam", 0.002, batch_size=64, record_every=2, epochs=6),
        _M("healthy", 3, "resnet", 2, 16, "relu", "adam", 0.002, batch_norm=True, record_every=1),
        _M("healthy", 4, "subclassed", 3, 64, "relu", "rmsprop", 0.001, kernel="he_normal", record_every=2),
        _M("healthy", 5, "cnn", 2, 16, "relu", "nadam", 0.002, batch_norm=True, record_every=2),
        _M("healthy", 6, "conv1d", 2, 24, "relu", "adam", 0.002, record_every=1),
        _M("healthy", 0, "mlp", 3, 64, "relu", "adam", 5e-4, kernel="he_normal", out_scale=3.0, record_every=2),
        _M("healthy", 1, "rnn", 1, 32, "tanh", "adam", 0.003, rnn="gru", record_every=2, epochs=5),
        _M("healthy", 2, "resmlp", 6, 48, "relu", "sgd", 0.05, batch_norm=True, kernel="he_normal", momentum=0.9,
           record_every=2),
    ]


SETS = {"heldout5-spec": heldout5_spec_set, "heldout5-model": heldout5_model_set}
