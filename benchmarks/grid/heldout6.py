"""A sixth held-out grid: seeds 71–77, never used by any other set, fixed in this file before any of its runs was
trained or diagnosed. No rule or threshold was chosen looking at it; it is trained and scored once, and reported as
it comes out. Spec runs (the app's dense networks) and users' own Keras models (CNNs, Conv1D stacks, SimpleRNN /
LSTM / GRU stacks, transformers, residual CNNs and MLPs, `keras.Model` subclasses) on digits 8×8, mnist-5k and
shapes10; every label built into several runs. Twelve runs are built to oscillate, in the configurations the tuning
and earlier sets show oscillating most often (swish and GELU networks with N(0, 0.8) kernels under RMSprop 0.05 in
batches of 16, recorded every step; BatchNorm ReLU networks at SGD 4–4.5). Eighteen users' models have swish or GELU
Dense/Conv layers (saturated, oscillating, healthy, slow and poorly initialised ones). What each run shows is
measured by `checks.truth`, as for every set — a run that does not show what it was built to show is scored by what
it shows, never dropped or rebuilt.

    nice -n 10 python benchmarks/diagnostics_grid.py --set heldout6 --jobs 2 --runs runs/heldout6-grid
"""

from __future__ import annotations

from grid.cycling import model_runs, spec_runs
from grid.models import ModelConfig
from grid.spec_sets import Config

DATA = ("mnist-5k", "shapes10", "digits")
_S = spec_runs(71, 7, DATA)  # run k: data set k (cycling), seed 71 + k % 7
_M = model_runs(71, 7, DATA)

BN = (("batch_norm", True),)


def heldout6_spec_set() -> list[Config]:
    """The app's dense networks (38 runs)."""
    m9, e4, long = {"momentum": 0.9}, {"epochs": 4}, {"epochs": 5, "limit": 1000}
    swing = {"init_stddev": 0.8, "batch_size": 16, "record_every": 1}
    return [
        _S("vanishing", 0, 9, 48, "sigmoid", "glorot_uniform", "sgd", 0.05, record_every=2),
        _S("vanishing", 1, 8, 56, "tanh", "random_normal", "sgd", 0.1, init_stddev=0.012, record_every=1),
        _S("vanishing", 2, 8, 40, "sigmoid", "he_uniform", "sgd_momentum", 0.02, record_every=2, **m9),
        _S("vanishing", 3, 7, 48, "sigmoid", "glorot_normal", "rmsprop", 0.001, record_every=3),
        _S("exploding", 0, 3, 56, "relu", "random_normal", "sgd", 0.2, init_stddev=1.1, record_every=2),
        _S("exploding", 1, 4, 48, "linear", "random_normal", "sgd", 0.2, init_stddev=1.3, record_every=1),
        _S("exploding", 2, 3, 64, "elu", "random_normal", "sgd", 0.3, init_stddev=1.1, record_every=2),
        _S("exploding", 3, 3, 48, "leaky_relu", "random_normal", "sgd_momentum", 0.05, init_stddev=1.2,
           record_every=1, **m9),
        _S("dead", 0, 3, 56, "relu", "he_normal", "adam", 0.001, bias_init=-7.0, record_every=2),
        _S("dead", 1, 3, 64, "relu", "he_uniform", "sgd", 0.05, bias_init=-6.0, record_every=1),
        _S("dead", 2, 2, 48, "relu", "glorot_uniform", "rmsprop", 0.001, bias_init=-9.0, record_every=3),
        _S("saturated", 0, 2, 64, "tanh", "glorot_uniform", "adam", 0.001, bias_init=6.0, record_every=2),
        _S("saturated", 1, 2, 48, "sigmoid", "glorot_uniform", "rmsprop", 0.001, bias_init=-8.0, record_every=1),
        _S("saturated", 2, 2, 56, "swish", "glorot_uniform", "adam", 0.001, bias_init=-9.0, record_every=2),
        _S("saturated", 3, 1, 64, "tanh", "random_normal", "sgd", 0.05, init_stddev=3.0, record_every=1),
        _S("flat", 0, 3, 56, "relu", "he_normal", "adam", 1e-10, record_every=1),
        _S("flat", 1, 2, 48, "swish", "he_normal", "rmsprop", 1e-9, record_every=2),
        _S("flat", 2, 3, 64, "tanh", "glorot_uniform", "sgd", 1e-10, record_every=3),
        _S("oscillating", 0, 3, 80, "swish", "random_normal", "rmsprop", 0.05, **swing),
        _S("oscillating", 1, 3, 80, "swish", "random_normal", "rmsprop", 0.05, **swing),
        _S("oscillating", 2, 3, 80, "gelu", "random_normal", "rmsprop", 0.05, **swing),
        _S("oscillating", 3, 3, 80, "gelu", "random_normal", "rmsprop", 0.05, **swing),
        _S("oscillating", 4, 3, 56, "relu", "he_normal", "sgd", 4.0, layer=BN, record_every=1, **long),
        _S("oscillating", 5, 3, 48, "relu", "he_uniform", "sgd", 4.5, layer=BN, record_every=1, **long),
        _S("slow", 0, 3, 48, "relu", "he_normal", "adam", 2e-5, record_every=2, **e4),
        _S("slow", 1, 2, 56, "tanh", "glorot_uniform", "sgd", 1.5e-3, record_every=1, **e4),
        _S("slow", 2, 3, 64, "gelu", "he_normal", "sgd_momentum", 1e-4, record_every=2, **e4, **m9),
        _S("slow", 3, 2, 48, "relu", "he_uniform", "adagrad", 3e-4, record_every=3, **e4),
        _S("poor_init", 0, 6, 48, "relu", "random_normal", "adam", 0.001, init_stddev=0.005, record_every=2),
        _S("poor_init", 1, 5, 56, "tanh", "random_normal", "adam", 0.001, init_stddev=0.004, record_every=1),
        _S("poor_init", 2, 5, 48, "elu", "random_normal", "rmsprop", 0.0005, init_stddev=0.5, record_every=2),
        _S("healthy", 0, 3, 64, "relu", "he_normal", "adam", 0.001, record_every=2),
        _S("healthy", 1, 3, 56, "swish", "he_normal", "rmsprop", 0.001, record_every=1),
        _S("healthy", 2, 3, 64, "gelu", "he_normal", "adam", 0.001, record_every=2),
        _S("healthy", 3, 3, 48, "tanh", "glorot_uniform", "sgd_momentum", 0.03, record_every=1, **m9),
        _S("healthy", 4, 3, 64, "relu", "he_normal", "sgd", 0.05, layer=BN, record_every=2),
        _S("healthy", 5, 2, 56, "elu", "he_uniform", "rmsprop", 0.001, record_every=3),
        _S("healthy", 6, 2, 64, "sigmoid", "glorot_uniform", "adam", 0.003, record_every=2),
    ]


def heldout6_model_set() -> list[ModelConfig]:
    """Users' own Keras models, trained with `model.fit` and `GradientMonitor` (46 runs)."""
    e4, long = {"epochs": 4}, {"epochs": 5, "limit": 1000}
    swing = {"init_stddev": 0.8, "batch_size": 16, "record_every": 1}
    return [
        _M("vanishing", 0, "cnn", 4, 16, "sigmoid", "sgd", 0.05, record_every=2),
        _M("vanishing", 1, "mlp", 8, 48, "sigmoid", "sgd", 0.1, record_every=1),
        _M("vanishing", 2, "subclassed", 8, 32, "sigmoid", "sgd", 0.05, record_every=3),
        _M("vanishing", 3, "conv1d", 5, 16, "sigmoid", "sgd", 0.1, record_every=2),
        _M("vanishing", 4, "rnn", 3, 24, "sigmoid", "sgd", 0.1, rnn="simple_rnn", record_every=2),
        _M("exploding", 0, "mlp", 3, 56, "relu", "sgd", 0.1, init_stddev=1.1, record_every=1),
        _M("exploding", 1, "subclassed", 3, 48, "relu", "sgd", 0.1, init_stddev=1.1, record_every=2),
        _M("exploding", 2, "cnn", 3, 16, "relu", "sgd", 0.1, init_stddev=0.9, record_every=2),
        _M("exploding", 3, "mlp", 3, 64, "relu", "adam", 0.001, kernel="he_normal", spike=(40, 1.0, 5), epochs=6,
           record_every=1),
        _M("dead", 0, "cnn", 3, 16, "relu", "rmsprop", 0.001, bias=-7.0, record_every=1),
        _M("dead", 1, "mlp", 3, 64, "relu", "adam", 0.001, bias=-6.0, record_every=2),
        _M("dead", 2, "subclassed", 3, 48, "relu", "sgd", 0.05, bias=-7.0, record_every=1),
        _M("dead", 3, "conv1d", 3, 24, "relu", "adam", 0.001, bias=-6.0, record_every=2),
        _M("saturated", 0, "mlp", 2, 64, "swish", "adam", 0.001, bias=-8.0, record_every=1),
        _M("saturated", 1, "cnn", 2, 16, "gelu", "adam", 0.001, bias=-5.0, record_every=2),
        _M("saturated", 2, "subclassed", 2, 48, "swish", "rmsprop", 0.001, bias=-8.0, record_every=2),
        _M("saturated", 3, "conv1d", 2, 24, "gelu", "adam", 0.002, bias=-6.0, record_every=1),
        _M("saturated", 4, "mlp", 2, 48, "tanh", "adam", 0.001, bias=6.0, record_every=2),
        _M("flat", 0, "mlp", 3, 64, "relu", "adam", 1e-10, record_every=2),
        _M("flat", 1, "cnn", 2, 16, "gelu", "rmsprop", 1e-9, record_every=1),
        _M("flat", 2, "rnn", 1, 32, "tanh", "sgd", 1e-9, rnn="lstm", record_every=2),
        _M("oscillating", 0, "mlp", 3, 80, "swish", "rmsprop", 0.05, **swing),
        _M("oscillating", 1, "mlp", 3, 80, "gelu", "rmsprop", 0.05, **swing),
        _M("oscillating", 2, "mlp", 3, 80, "swish", "rmsprop", 0.05, **swing),
        _M("oscillating", 3, "subclassed", 3, 80, "swish", "rmsprop", 0.05, **swing),
        _M("oscillating", 4, "subclassed", 3, 80, "gelu", "rmsprop", 0.05, **swing),
        _M("oscillating", 5, "mlp", 3, 64, "relu", "sgd", 4.0, batch_norm=True, kernel="he_normal",
           record_every=1, **long),
        _M("slow", 0, "mlp", 2, 64, "swish", "adam", 2e-5, kernel="he_normal", record_every=1, **e4),
        _M("slow", 1, "cnn", 2, 16, "relu", "rmsprop", 2e-5, record_every=2, **e4),
        _M("slow", 2, "subclassed", 3, 48, "tanh", "sgd", 2e-3, record_every=1, **e4),
        _M("slow", 3, "conv1d", 2, 24, "gelu", "adam", 2e-5, record_every=2, **e4),
        _M("poor_init", 0, "subclassed", 5, 48, "relu", "adam", 0.001, init_stddev=0.004, record_every=2),
        _M("poor_init", 1, "mlp", 5, 64, "swish", "adam", 0.001, init_stddev=0.005, record_every=1),
        _M("poor_init", 2, "conv1d", 4, 16, "tanh", "adam", 0.001, init_stddev=0.005, record_every=2),
        _M("poor_init", 3, "mlp", 3, 48, "relu", "adam", 1.5e-4, kernel="he_normal", out_scale=30.0,
           record_every=1),
        _M("healthy", 0, "mlp", 3, 64, "swish", "adam", 0.001, kernel="he_normal", record_every=2),
        _M("healthy", 1, "cnn", 2, 16, "gelu", "adam", 0.002, record_every=1),
        _M("healthy", 2, "subclassed", 3, 48, "swish", "rmsprop", 0.001, kernel="he_normal", record_every=2),
        _M("healthy", 3, "conv1d", 2, 24, "gelu", "adam", 0.002, record_every=2),
        _M("healthy", 4, "rnn", 1, 32, "tanh", "adam", 0.004, rnn="lstm", record_every=2, epochs=5),
        _M("healthy", 5, "rnn", 1, 32, "tanh", "adam", 0.003, rnn="gru", record_every=2, epochs=5),
        _M("healthy", 6, "transformer", 1, 32, "gelu", "adam", 0.002, batch_size=64, record_every=2, epochs=6),
        _M("healthy", 0, "resnet", 2, 16, "relu", "adam", 0.002, batch_norm=True, record_every=2),
        _M("healthy", 1, "cnn", 2, 16, "relu", "nadam", 0.002, batch_norm=True, record_every=1),
        _M("healthy", 2, "resmlp", 4, 48, "relu", "sgd", 0.05, batch_norm=True, kernel="he_normal", momentum=0.9,
           record_every=2),
        _M("healthy", 3, "mlp", 3, 64, "relu", "rmsprop", 0.001, kernel="he_normal", record_every=1),
    ]


SETS = {"heldout6-spec": heldout6_spec_set, "heldout6-model": heldout6_model_set}
