"""A twenty-fifth held-out grid: both kinds of runs — the app's dense networks and users' own Keras models — recorded
sparsely (every 3 to 8 steps, where a burst of the loss falls between two records), label priors far from uniform
(a network that learned nothing but the prior sits below ln k), and Keras's ReduceLROnPlateau, beside every label's
usual faults and healthy runs. Seeds 271–277, never used by any other set; fixed in this file before any of its runs
was trained or diagnosed. What each run shows is measured by `checks.truth`.

    nice -n 10 python benchmarks/diagnostics_grid.py --set heldout25 --jobs 2 --runs runs/heldout25-grid
"""

from __future__ import annotations

from grid.cycling import model_runs, spec_runs
from grid.models import ModelConfig
from grid.spec_sets import Config

SPEC_DATA = ("shapes10", "mnist-5k", "tabular5", "digits")
MODEL_DATA = ("mnist-5k", "digits", "shapes10")
_S = spec_runs(271, 7, SPEC_DATA)
_M = model_runs(271, 7, MODEL_DATA)
LONG = {"epochs": 5, "limit": 1000}  # 900 training examples: 29 steps of 32 an epoch, 145 in all
SWING = {"init_stddev": 0.8, "batch_size": 16}


def heldout25_spec_set() -> list[Config]:
    """The app's dense networks, recorded every 3 to 8 steps."""
    m9 = {"momentum": 0.9}
    return [
        _S("vanishing", 0, 8, 48, "sigmoid", "glorot_uniform", "sgd", 0.1, record_every=4),
        _S("vanishing", 1, 7, 56, "tanh", "random_normal", "sgd", 0.05, init_stddev=0.02, record_every=5),
        _S("exploding", 0, 3, 64, "relu", "random_normal", "sgd", 0.1, init_stddev=1.2, record_every=4),
        _S("dead", 0, 3, 56, "relu", "he_normal", "adam", 0.002, bias_init=-8.0, record_every=4),
        _S("saturated", 0, 2, 48, "sigmoid", "glorot_uniform", "adam", 0.001, bias_init=8.0, record_every=5),
        _S("flat", 0, 2, 64, "relu", "he_normal", "adam", 1e-10, record_every=4),
        _S("oscillating", 0, 3, 64, "swish", "random_normal", "rmsprop", 0.05, record_every=4, **SWING),
        _S("oscillating", 1, 3, 72, "gelu", "random_normal", "rmsprop", 0.06, record_every=5, **SWING),
        _S("oscillating", 2, 3, 64, "elu", "random_normal", "rmsprop", 0.04, record_every=3, **SWING),
        _S("slow", 0, 3, 56, "relu", "he_uniform", "adam", 1.5e-5, record_every=4, epochs=4),
        _S("slow", 1, 2, 48, "tanh", "glorot_uniform", "sgd", 1e-3, record_every=5, epochs=4),
        _S("poor_init", 0, 5, 56, "tanh", "random_normal", "adam", 0.001, init_stddev=0.004, record_every=4),
        _S("healthy", 0, 3, 56, "relu", "he_normal", "rmsprop", 0.001, record_every=4),
        _S("healthy", 1, 2, 64, "tanh", "glorot_uniform", "adam", 0.001, record_every=5),
        _S("healthy", 2, 3, 48, "elu", "he_normal", "sgd_momentum", 0.05, record_every=3, **m9),
        _S("healthy", 3, 4, 64, "swish", "he_normal", "adam", 0.001, record_every=8),
    ]


def heldout25_model_set() -> list[ModelConfig]:
    """Users' own Keras models: sparse records, skewed label priors, ReduceLROnPlateau."""
    he, skew = {"kernel": "he_normal"}, {"skew": 0.85}
    return [
        _M("oscillating", 0, "mlp", 3, 64, "swish", "rmsprop", 0.06, record_every=4, **SWING, **LONG),
        _M("oscillating", 1, "cnn", 2, 16, "relu", "sgd", 0.5, momentum=0.9, batch_norm=True, record_every=5,
           **LONG, **he),
        _M("oscillating", 2, "lnmlp", 3, 64, "gelu", "rmsprop", 0.05, record_every=4, **SWING, **LONG),
        _M("healthy", 0, "mlp", 3, 64, "relu", "adam", 1e-3, record_every=5, **LONG, **he),
        _M("healthy", 1, "resmlp", 2, 64, "relu", "sgd", 0.05, momentum=0.9, record_every=4, **he),
        _M("healthy", 2, "gncnn", 2, 16, "relu", "adam", 2e-3, record_every=4, **he),
        _M("healthy", 3, "rnn", 2, 32, "tanh", "adam", 3e-3, rnn="gru", record_every=5),
        _M("healthy", 4, "sepconv", 2, 16, "relu", "adam", 2e-3, record_every=3, **he),
        _M("healthy", 5, "mlp", 3, 64, "relu", "adam", 1e-3, record_every=4, **skew, **he),
        _M("healthy", 6, "densenet", 3, 32, "relu", "sgd", 0.05, momentum=0.9, schedule="plateau", **he),
        _M("vanishing", 0, "mlp", 10, 64, "sigmoid", "sgd", 0.1, record_every=4, **skew),
        _M("vanishing", 1, "mlp", 8, 64, "tanh", "sgd", 0.01, init_stddev=0.03, record_every=5),
        _M("flat", 0, "mlp", 3, 64, "relu", "adam", 0.0, record_every=4, **skew, **he),
        _M("flat", 1, "mlp", 3, 64, "relu", "sgd", 1e-3, momentum=0.9, schedule="plateau", **he),
        _M("slow", 0, "mlp", 3, 64, "relu", "adam", 1e-5, record_every=2, **skew, **he),
        _M("slow", 1, "resmlp", 2, 64, "relu", "adam", 1e-5, record_every=5, **he),
        _M("dead", 0, "mlp", 3, 64, "relu", "sgd", 0.05, bias=-6.0, record_every=4),
        _M("saturated", 0, "mlp", 1, 64, "sigmoid", "adam", 1e-3, bias=8.0, record_every=5),
        _M("exploding", 0, "resmlp", 3, 64, "relu", "sgd", 2.0, init_stddev=1.0, record_every=4),
        _M("poor_init", 0, "mlp", 6, 64, "relu", "adam", 1e-3, init_stddev=0.005, record_every=4, **skew),
    ]


SETS = {"heldout25-spec": heldout25_spec_set, "heldout25-model": heldout25_model_set}
