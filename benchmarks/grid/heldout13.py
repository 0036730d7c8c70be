"""A thirteenth held-out grid: seeds 151–157, never used by any other set, fixed in this file before any of
its runs was trained or diagnosed, with the rules as they stand after the twelfth set (nothing is changed after it is
scored). It is trained and scored once, and reported as it comes out. The seventh set's configurations with every
record interval of 1 and 2 swapped and the learning-rate spikes moved. What each run shows is measured by
`checks.truth`, as for every set — a run that does not show what it was built to show is scored by what it shows,
never dropped or rebuilt.

    nice -n 10 python benchmarks/diagnostics_grid.py --set heldout13 --jobs 2 --runs runs/heldout13-grid
"""

from __future__ import annotations

from grid.cycling import model_runs, spec_runs
from grid.models import ModelConfig
from grid.spec_sets import Config

DATA = ("shapes10", "digits", "mnist-5k")
_S = spec_runs(151, 7, DATA)  # run k: data set k (cycling), seed 151 + k % 7
_M = model_runs(151, 7, DATA)

BN = (("batch_norm", True),)


def heldout13_spec_set() -> list[Config]:
    """The app's dense networks (36 runs)."""
    m9, e4, long = {"momentum": 0.9}, {"epochs": 4}, {"epochs": 5, "limit": 1000}
    swing = {"init_stddev": 0.8, "batch_size": 16, "record_every": 2}
    return [
        _S("vanishing", 0, 8, 48, "sigmoid", "glorot_normal", "sgd", 0.08, record_every=1),
        _S("vanishing", 1, 9, 40, "tanh", "random_normal", "sgd", 0.05, init_stddev=0.015, record_every=2),
        _S("vanishing", 2, 7, 56, "sigmoid", "he_normal", "sgd_momentum", 0.01, record_every=3, **m9),
        _S("vanishing", 3, 8, 64, "sigmoid", "glorot_uniform", "adagrad", 0.01, record_every=1),
        _S("exploding", 0, 3, 64, "relu", "random_normal", "sgd", 0.15, init_stddev=1.2, record_every=1),
        _S("exploding", 1, 4, 56, "linear", "random_normal", "sgd", 0.1, init_stddev=1.4, record_every=2),
        _S("exploding", 2, 3, 48, "leaky_relu", "random_normal", "sgd", 0.25, init_stddev=1.0, record_every=1),
        _S("exploding", 3, 3, 64, "relu", "he_normal", "adam", 0.8, record_every=2),
        _S("dead", 0, 3, 64, "relu", "he_uniform", "adam", 0.001, bias_init=-8.0, record_every=1),
        _S("dead", 1, 2, 56, "relu", "he_normal", "sgd", 0.05, bias_init=-7.0, record_every=2),
        _S("dead", 2, 3, 48, "relu", "glorot_normal", "rmsprop", 0.001, bias_init=-10.0, record_every=3),
        _S("saturated", 0, 2, 56, "sigmoid", "glorot_uniform", "adam", 0.001, bias_init=9.0, record_every=1),
        _S("saturated", 1, 2, 64, "tanh", "glorot_uniform", "rmsprop", 0.001, bias_init=-7.0, record_every=2),
        _S("saturated", 2, 2, 48, "gelu", "glorot_uniform", "adam", 0.001, bias_init=-8.0, record_every=1),
        _S("saturated", 3, 1, 56, "tanh", "random_normal", "sgd", 0.03, init_stddev=2.5, record_every=2),
        _S("flat", 0, 3, 48, "relu", "he_normal", "rmsprop", 1e-10, record_every=2),
        _S("flat", 1, 2, 64, "gelu", "he_normal", "adam", 1e-9, record_every=1),
        _S("flat", 2, 3, 56, "sigmoid", "glorot_uniform", "sgd", 1e-10, record_every=3),
        _S("oscillating", 0, 3, 72, "swish", "random_normal", "rmsprop", 0.05, **swing),
        _S("oscillating", 1, 3, 72, "gelu", "random_normal", "rmsprop", 0.05, **swing),
        _S("oscillating", 2, 3, 64, "relu", "he_normal", "sgd", 3.5, layer=BN, record_every=2, **long),
        _S("oscillating", 3, 3, 80, "swish", "random_normal", "rmsprop", 0.04, **swing),
        _S("slow", 0, 3, 56, "relu", "he_normal", "adam", 1.5e-5, record_every=1, **e4),
        _S("slow", 1, 2, 48, "tanh", "glorot_uniform", "sgd", 1e-3, record_every=2, **e4),
        _S("slow", 2, 3, 56, "swish", "he_normal", "sgd_momentum", 1e-4, record_every=1, **e4, **m9),
        _S("poor_init", 0, 6, 56, "relu", "random_normal", "adam", 0.001, init_stddev=0.004, record_every=1),
        _S("poor_init", 1, 5, 48, "tanh", "random_normal", "rmsprop", 0.001, init_stddev=0.005, record_every=2),
        _S("poor_init", 2, 5, 56, "gelu", "random_normal", "adam", 0.001, init_stddev=0.006, record_every=1),
        _S("poor_init", 3, 4, 48, "elu", "random_normal", "rmsprop", 0.0005, init_stddev=0.6, record_every=1),
        _S("healthy", 0, 3, 56, "relu", "he_uniform", "adam", 0.001, record_every=1),
        _S("healthy", 1, 3, 64, "swish", "he_normal", "adam", 0.001, record_every=2),
        _S("healthy", 2, 3, 48, "gelu", "he_normal", "rmsprop", 0.001, record_every=1),
        _S("healthy", 3, 3, 64, "tanh", "glorot_normal", "sgd_momentum", 0.02, record_every=2, **m9),
        _S("healthy", 4, 3, 56, "relu", "he_normal", "sgd", 0.08, layer=BN, record_every=1),
        _S("healthy", 5, 2, 64, "elu", "he_normal", "adam", 0.001, record_every=3),
        _S("healthy", 6, 2, 48, "sigmoid", "glorot_uniform", "rmsprop", 0.003, record_every=1),
    ]


def heldout13_model_set() -> list[ModelConfig]:
    """Users' own Keras models, trained with `model.fit` and `GradientMonitor` (46 runs)."""
    e4, e6, long = {"epochs": 4}, {"epochs": 6}, {"epochs": 5, "limit": 1000}
    swing = {"init_stddev": 0.8, "batch_size": 16, "record_every": 2}
    return [
        _M("vanishing", 0, "cnn", 5, 16, "sigmoid", "sgd", 0.05, record_every=1),
        _M("vanishing", 1, "mlp", 7, 56, "sigmoid", "sgd", 0.1, record_every=2),
        _M("vanishing", 2, "subclassed", 7, 40, "sigmoid", "sgd", 0.08, record_every=1),
        _M("vanishing", 3, "conv1d", 6, 16, "sigmoid", "sgd", 0.1, record_every=1),
        _M("vanishing", 4, "rnn", 3, 32, "sigmoid", "sgd", 0.05, rnn="simple_rnn", record_every=1),
        _M("exploding", 0, "mlp", 3, 64, "relu", "sgd", 0.1, init_stddev=1.2, record_every=2),
        _M("exploding", 1, "cnn", 3, 16, "relu", "sgd", 0.08, init_stddev=0.8, record_every=1),
        # learning-rate spikes: what the explosion leaves, and networks that recover
        _M("exploding", 2, "resnet", 2, 16, "relu", "adam", 0.001, spike=(46, 1.0, 4), record_every=1, **e6),
        _M("exploding", 3, "conv1d", 3, 24, "relu", "adam", 0.001, spike=(43, 0.8, 5), record_every=2, **e6),
        _M("exploding", 4, "subclassed", 3, 64, "relu", "rmsprop", 0.001, kernel="he_normal", spike=(38, 1.0, 4),
           record_every=2, **e6),
        _M("exploding", 5, "mlp", 3, 56, "gelu", "nadam", 0.001, kernel="he_normal", spike=(41, 1.2, 5),
           record_every=1, **e6),
        _M("dead", 6, "mlp", 3, 64, "relu", "rmsprop", 0.001, kernel="he_normal", spike=(46, 0.1, 3),
           record_every=2, **e6),
        _M("healthy", 0, "cnn", 2, 16, "relu", "adam", 0.001, spike=(43, 0.01, 5), record_every=1, **e6),
        _M("dead", 0, "cnn", 3, 16, "relu", "adam", 0.001, bias=-8.0, record_every=2),
        _M("dead", 1, "mlp", 3, 56, "relu", "rmsprop", 0.001, bias=-7.0, record_every=1),
        _M("dead", 2, "conv1d", 3, 16, "relu", "sgd", 0.05, bias=-7.0, record_every=2),
        _M("saturated", 0, "mlp", 2, 56, "gelu", "adam", 0.001, bias=-7.0, record_every=2),
        _M("saturated", 1, "cnn", 2, 16, "tanh", "adam", 0.001, bias=6.0, record_every=1),
        _M("saturated", 2, "subclassed", 2, 64, "sigmoid", "rmsprop", 0.001, bias=-9.0, record_every=1),
        _M("saturated", 3, "conv1d", 2, 16, "swish", "adam", 0.002, bias=-7.0, record_every=2),
        _M("flat", 0, "mlp", 3, 48, "tanh", "adam", 1e-10, record_every=1),
        _M("flat", 1, "cnn", 2, 16, "relu", "rmsprop", 1e-9, record_every=2),
        _M("flat", 2, "rnn", 1, 32, "tanh", "sgd", 1e-9, rnn="gru", record_every=1),
        _M("oscillating", 0, "mlp", 3, 72, "swish", "rmsprop", 0.05, **swing),
        _M("oscillating", 1, "mlp", 3, 72, "gelu", "rmsprop", 0.05, **swing),
        _M("oscillating", 2, "subclassed", 3, 72, "swish", "rmsprop", 0.05, **swing),
        _M("oscillating", 3, "mlp", 3, 56, "relu", "sgd", 3.5, batch_norm=True, kernel="he_normal",
           record_every=2, **long),
        _M("slow", 0, "mlp", 2, 56, "relu", "adam", 1.5e-5, kernel="he_normal", record_every=2, **e4),
        _M("slow", 1, "cnn", 2, 16, "tanh", "rmsprop", 2e-5, record_every=1, **e4),
        _M("slow", 2, "subclassed", 3, 56, "relu", "sgd", 1.5e-3, kernel="he_normal", record_every=2, **e4),
        # tiny initial weights whose loss sits at guessing
        _M("poor_init", 0, "conv1d", 6, 16, "tanh", "nadam", 0.001, init_stddev=0.003, record_every=1),
        _M("poor_init", 1, "cnn", 4, 16, "tanh", "rmsprop", 0.001, init_stddev=0.004, record_every=2),
        _M("poor_init", 2, "mlp", 6, 48, "tanh", "adam", 0.001, init_stddev=0.007, record_every=1),
        _M("poor_init", 3, "subclassed", 5, 64, "swish", "adam", 0.001, init_stddev=0.005, record_every=1),
        _M("poor_init", 4, "conv1d", 4, 24, "gelu", "adam", 0.001, init_stddev=0.005, record_every=2),
        _M("poor_init", 5, "mlp", 3, 56, "relu", "rmsprop", 1e-4, kernel="he_normal", out_scale=30.0,
           record_every=1),
        _M("healthy", 0, "mlp", 3, 56, "gelu", "adam", 0.001, kernel="he_normal", record_every=1),
        _M("healthy", 1, "cnn", 2, 16, "swish", "adam", 0.002, record_every=2),
        _M("healthy", 2, "subclassed", 3, 56, "relu", "rmsprop", 0.001, kernel="he_normal", record_every=1),
        _M("healthy", 3, "conv1d", 2, 16, "tanh", "adam", 0.002, record_every=1),
        _M("healthy", 4, "rnn", 1, 32, "tanh", "adam", 0.003, rnn="lstm", record_every=1, epochs=5),
        _M("healthy", 5, "rnn", 1, 24, "tanh", "rmsprop", 0.003, rnn="gru", record_every=1, epochs=5),
        _M("healthy", 6, "transformer", 1, 32, "relu", "adam", 0.002, batch_size=64, record_every=1, epochs=6),
        _M("healthy", 0, "resnet", 2, 16, "relu", "adam", 0.001, batch_norm=True, record_every=1),
        _M("healthy", 1, "resmlp", 3, 48, "relu", "sgd", 0.05, batch_norm=True, kernel="he_normal", momentum=0.9,
           record_every=1),
        _M("healthy", 2, "mlp", 3, 64, "tanh", "nadam", 0.001, record_every=2),
    ]


SETS = {"heldout13-spec": heldout13_spec_set, "heldout13-model": heldout13_model_set}
