"""An eleventh held-out grid: seeds 131–137, never used by any other set, fixed in this file before any of its runs
was trained or diagnosed, after the rules learnt to judge an explosion on the gradients of its last steps and to
recover the batches after an epoch's last record. It is trained and scored once, and reported as it comes out. The
tenth set's configurations with every record interval of 1 and 2 swapped and the learning-rate spikes moved. Spec
runs (the app's dense networks) on shapes10, mnist-5k, scikit-learn's tabular five-class set and digits 8×8, and
users' own Keras models (CNNs, Conv1D stacks, SimpleRNN / LSTM / GRU / bidirectional stacks, transformers, residual
CNNs and MLPs, `keras.Model` subclasses) on the image sets. What each run shows is measured by `checks.truth`, as
for every set — a run that does not show what it was built to show is scored by what it shows, never dropped or
rebuilt.

    nice -n 10 python benchmarks/diagnostics_grid.py --set heldout11 --jobs 2 --runs runs/heldout11-grid
"""

from __future__ import annotations

from grid.cycling import model_runs, spec_runs
from grid.models import ModelConfig
from grid.spec_sets import Config

SPEC_DATA = ("shapes10", "mnist-5k", "tabular5", "digits")
MODEL_DATA = ("mnist-5k", "digits", "shapes10")
_S = spec_runs(131, 7, SPEC_DATA)  # run k: data set k (cycling), seed 131 + k % 7
_M = model_runs(131, 7, MODEL_DATA)

BN = (("batch_norm", True),)


def heldout11_spec_set() -> list[Config]:
    """The app's dense networks (36 runs)."""
    m9, e4, long = {"momentum": 0.9}, {"epochs": 4}, {"epochs": 5, "limit": 1000}
    swing = {"init_stddev": 0.8, "batch_size": 16, "record_every": 2}
    return [
        _S("vanishing", 0, 8, 56, "sigmoid", "glorot_uniform", "sgd", 0.08, record_every=2),
        _S("vanishing", 1, 9, 48, "sigmoid", "glorot_normal", "sgd_momentum", 0.003, record_every=1, **m9),
        _S("vanishing", 2, 7, 40, "tanh", "random_normal", "sgd", 0.1, init_stddev=0.03, record_every=2),
        _S("vanishing", 3, 10, 56, "sigmoid", "he_normal", "rmsprop", 5e-5, record_every=1),
        _S("exploding", 0, 3, 48, "relu", "random_normal", "sgd", 0.1, init_stddev=1.3, record_every=1),
        _S("exploding", 1, 4, 64, "leaky_relu", "random_normal", "sgd", 0.05, init_stddev=1.0, record_every=2),
        _S("exploding", 2, 3, 56, "relu", "he_uniform", "rmsprop", 0.5, record_every=2),
        _S("exploding", 3, 4, 48, "linear", "random_normal", "sgd", 0.06, init_stddev=1.3, record_every=1),
        _S("dead", 0, 2, 64, "relu", "he_normal", "adam", 0.002, bias_init=-9.0, record_every=2),
        _S("dead", 1, 3, 56, "relu", "he_uniform", "rmsprop", 0.001, bias_init=-8.0, record_every=1),
        _S("dead", 2, 3, 48, "relu", "glorot_uniform", "adam", 0.001, bias_init=-7.0, record_every=2),
        _S("saturated", 0, 2, 56, "tanh", "glorot_uniform", "rmsprop", 0.001, bias_init=9.0, record_every=1),
        _S("saturated", 1, 2, 64, "sigmoid", "glorot_normal", "adam", 0.001, bias_init=-8.0, record_every=2),
        _S("saturated", 2, 2, 48, "swish", "glorot_uniform", "adam", 0.001, bias_init=-10.0, record_every=1),
        _S("saturated", 3, 2, 56, "tanh", "random_normal", "rmsprop", 0.001, init_stddev=2.5, record_every=2),
        _S("flat", 0, 2, 64, "relu", "he_normal", "adam", 1e-10, record_every=1),
        _S("flat", 1, 3, 48, "tanh", "glorot_normal", "rmsprop", 1e-9, record_every=2),
        _S("flat", 2, 2, 56, "gelu", "he_normal", "sgd_momentum", 1e-10, record_every=1, **m9),
        _S("oscillating", 0, 3, 64, "swish", "random_normal", "rmsprop", 0.05, **swing),
        _S("oscillating", 1, 3, 72, "elu", "random_normal", "rmsprop", 0.04, **swing),
        _S("oscillating", 3, 3, 64, "relu", "he_normal", "sgd", 3.0, layer=BN, record_every=2, **long),
        _S("oscillating", 4, 3, 80, "gelu", "random_normal", "rmsprop", 0.06, **swing),
        _S("slow", 0, 3, 56, "relu", "he_uniform", "adam", 1.5e-5, record_every=1, **e4),
        _S("slow", 1, 2, 48, "elu", "he_normal", "sgd", 1e-3, record_every=2, **e4),
        _S("slow", 3, 2, 64, "tanh", "glorot_uniform", "rmsprop", 2e-5, record_every=1, **e4),
        _S("poor_init", 0, 5, 56, "tanh", "random_normal", "adam", 0.001, init_stddev=0.005, record_every=1),
        _S("poor_init", 1, 6, 64, "relu", "random_normal", "rmsprop", 0.001, init_stddev=0.004, record_every=2),
        _S("poor_init", 2, 5, 48, "gelu", "random_normal", "adam", 0.001, init_stddev=0.003, record_every=1),
        _S("poor_init", 3, 3, 48, "elu", "random_normal", "adam", 0.0005, init_stddev=0.7, record_every=2),
        _S("healthy", 0, 3, 56, "relu", "he_normal", "rmsprop", 0.001, record_every=2),
        _S("healthy", 1, 2, 64, "tanh", "glorot_normal", "adam", 0.002, record_every=1),
        _S("healthy", 2, 3, 48, "elu", "he_uniform", "adam", 0.001, record_every=1),
        _S("healthy", 3, 3, 56, "leaky_relu", "he_normal", "sgd_momentum", 0.02, record_every=2, **m9),
        _S("healthy", 4, 3, 64, "relu", "he_normal", "sgd", 0.05, layer=BN, record_every=1),
        _S("healthy", 5, 2, 48, "gelu", "he_normal", "adam", 0.001, record_every=2),
        _S("healthy", 6, 2, 56, "sigmoid", "glorot_uniform", "adam", 0.003, record_every=1),
    ]


def heldout11_model_set() -> list[ModelConfig]:
    """Users' own Keras models, trained with `model.fit` and `GradientMonitor` (46 runs)."""
    e4, e6, long = {"epochs": 4}, {"epochs": 6}, {"epochs": 5, "limit": 1000}
    swing = {"init_stddev": 0.8, "batch_size": 16, "record_every": 2}
    return [
        _M("vanishing", 0, "cnn", 6, 16, "sigmoid", "sgd", 0.1, record_every=1),
        _M("vanishing", 1, "subclassed", 7, 48, "sigmoid", "sgd", 0.05, record_every=2),
        _M("vanishing", 2, "mlp", 8, 56, "sigmoid", "sgd", 0.05, record_every=1),
        _M("vanishing", 3, "conv1d", 6, 24, "sigmoid", "sgd", 0.08, record_every=1),
        _M("vanishing", 4, "rnn", 3, 24, "sigmoid", "sgd", 0.1, rnn="simple_rnn", record_every=2),
        _M("exploding", 0, "conv1d", 3, 24, "relu", "sgd", 0.08, init_stddev=1.0, record_every=1),
        _M("exploding", 1, "mlp", 3, 48, "relu", "sgd", 0.1, init_stddev=1.3, record_every=2),
        _M("exploding", 2, "mlp", 3, 56, "relu", "rmsprop", 0.001, kernel="he_normal", spike=(43, 1.2, 5),
           record_every=1, **e6),
        _M("exploding", 3, "subclassed", 3, 48, "relu", "adam", 0.001, kernel="he_normal", spike=(47, 0.9, 5),
           record_every=2, **e6),
        _M("exploding", 4, "cnn", 2, 16, "relu", "nadam", 0.001, spike=(39, 1.0, 4), record_every=1, **e6),
        _M("healthy", 5, "mlp", 3, 48, "relu", "rmsprop", 0.001, kernel="he_normal", spike=(44, 0.003, 5),
           record_every=2, **e6),
        _M("dead", 0, "mlp", 3, 64, "relu", "sgd", 0.05, bias=-8.0, record_every=2),
        _M("dead", 1, "conv1d", 2, 24, "relu", "adam", 0.001, bias=-9.0, record_every=1),
        _M("dead", 2, "cnn", 2, 16, "relu", "rmsprop", 0.001, bias=-7.0, record_every=2),
        _M("saturated", 0, "subclassed", 2, 48, "sigmoid", "adam", 0.001, bias=9.0, record_every=2),
        _M("saturated", 1, "mlp", 2, 64, "tanh", "rmsprop", 0.001, bias=-8.0, record_every=1),
        _M("saturated", 2, "cnn", 2, 16, "gelu", "adam", 0.001, bias=-8.0, record_every=2),
        _M("saturated", 3, "conv1d", 2, 24, "sigmoid", "rmsprop", 0.001, bias=-9.0, record_every=1),
        _M("flat", 0, "conv1d", 3, 16, "tanh", "adam", 1e-10, record_every=1),
        _M("flat", 1, "mlp", 2, 56, "relu", "sgd", 1e-9, record_every=2),
        _M("flat", 2, "rnn", 1, 32, "tanh", "rmsprop", 1e-10, rnn="gru", record_every=1),
        _M("oscillating", 0, "mlp", 3, 64, "swish", "rmsprop", 0.06, **swing),
        _M("oscillating", 1, "mlp", 3, 72, "elu", "rmsprop", 0.05, **swing),
        _M("oscillating", 2, "subclassed", 3, 64, "gelu", "rmsprop", 0.05, **swing),
        _M("oscillating", 3, "resmlp", 2, 56, "relu", "sgd", 3.5, batch_norm=True, kernel="he_normal",
           record_every=2, **long),
        _M("slow", 0, "subclassed", 2, 56, "relu", "adam", 1.5e-5, kernel="he_normal", record_every=2, **e4),
        _M("slow", 1, "cnn", 2, 16, "tanh", "sgd", 2e-3, record_every=1, **e4),
        _M("slow", 2, "mlp", 3, 48, "elu", "rmsprop", 1.5e-5, kernel="he_normal", record_every=2, **e4),
        _M("poor_init", 0, "mlp", 6, 56, "tanh", "adam", 0.001, init_stddev=0.005, record_every=1),
        _M("poor_init", 1, "cnn", 4, 16, "swish", "rmsprop", 0.001, init_stddev=0.004, record_every=2),
        _M("poor_init", 2, "conv1d", 5, 24, "tanh", "nadam", 0.001, init_stddev=0.004, record_every=1),
        _M("poor_init", 3, "subclassed", 5, 48, "gelu", "adam", 0.001, init_stddev=0.006, record_every=2),
        _M("poor_init", 4, "mlp", 3, 48, "relu", "rmsprop", 1e-4, kernel="he_normal", out_scale=30.0,
           record_every=1),
        _M("poor_init", 5, "conv1d", 2, 16, "relu", "adam", 1e-4, out_scale=35.0, record_every=2),
        _M("healthy", 0, "conv1d", 3, 24, "relu", "adam", 0.001, record_every=2),
        _M("healthy", 1, "mlp", 3, 56, "swish", "rmsprop", 0.001, kernel="he_normal", record_every=1),
        _M("healthy", 2, "cnn", 2, 16, "elu", "adam", 0.001, record_every=1),
        _M("healthy", 3, "subclassed", 2, 56, "relu", "nadam", 0.001, kernel="he_normal", record_every=2),
        _M("healthy", 4, "rnn", 1, 32, "tanh", "adam", 0.003, rnn="lstm", record_every=1, epochs=5),
        _M("healthy", 5, "rnn", 1, 32, "tanh", "rmsprop", 0.003, rnn="bilstm", record_every=1, epochs=5),
        _M("healthy", 6, "transformer", 1, 32, "gelu", "adam", 0.002, batch_size=64, record_every=2, epochs=6),
        _M("healthy", 0, "resnet", 2, 16, "relu", "adam", 0.001, batch_norm=True, record_every=1),
        _M("healthy", 1, "resmlp", 3, 48, "relu", "rmsprop", 0.001, kernel="he_normal", record_every=2),
        _M("healthy", 2, "mlp", 2, 64, "tanh", "adam", 0.001, record_every=1),
        _M("healthy", 3, "rnn", 1, 24, "tanh", "adam", 0.003, rnn="gru", record_every=2, epochs=5),
        _M("healthy", 4, "cnn", 3, 16, "relu", "adam", 0.001, record_every=1),
    ]


SETS = {"heldout11-spec": heldout11_spec_set, "heldout11-model": heldout11_model_set}
