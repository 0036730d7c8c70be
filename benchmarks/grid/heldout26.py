"""A twenty-sixth held-out grid, larger than the ones before so that each label's precision and recall rest on more
than a few runs: six runs built for every label and thirteen healthy ones, half of them the app's dense networks,
half users' own Keras models (MLPs, CNNs with and without BatchNorm, residual and DenseNet-style MLPs, a residual
CNN, SimpleRNN and LSTM stacks, a small transformer). Configurations no set had: hard_sigmoid, softsign and selu
units beside the usual ones, dropout, residual and BatchNorm spec layers, SGD with momentum, RMSprop and Adam, records
every 1 to 8 steps, label priors far from uniform (four in five of one class, and the breast-cancer set's own 63 / 37),
labels partly shuffled. Seeds 281–287, never used by any other set; fixed in this file before any of its runs was
trained or diagnosed, with the checks reading the loss of guessing the label prior for "learned nothing". What each
run shows is measured by `checks.truth`.

    nice -n 10 python benchmarks/diagnostics_grid.py --set heldout26 --jobs 2 --runs runs/heldout26-grid
"""

from __future__ import annotations

from grid.cycling import model_runs, spec_runs
from grid.models import ModelConfig
from grid.spec_sets import Config

SPEC_DATA = ("digits", "tabular5", "mnist-5k", "cancer2")
MODEL_DATA = ("digits", "shapes10", "mnist-5k")
_S = spec_runs(281, 7, SPEC_DATA)
_M = model_runs(281, 7, MODEL_DATA)
SWING = {"init_stddev": 0.8, "batch_size": 16, "epochs": 4}  # ≥ 100 steps of 16: room for a swing to show
LONG = {"epochs": 4, "limit": 800}  # 720 training examples: 23 steps of 32 an epoch, 45 of 16


def heldout26_spec_set() -> list[Config]:
    """The app's dense networks: three built for each label, six healthy."""
    m9 = {"momentum": 0.9}
    drop, norm, res = (("dropout", 0.1),), (("batch_norm", True),), (("residual", True),)
    return [
        _S("vanishing", 0, 9, 32, "sigmoid", "glorot_normal", "sgd", 0.05, record_every=3),
        _S("vanishing", 1, 7, 40, "tanh", "random_normal", "sgd", 0.05, init_stddev=0.02, record_every=6),
        _S("vanishing", 2, 8, 48, "sigmoid", "lecun_uniform", "sgd_momentum", 0.01, record_every=2, **m9),
        _S("exploding", 3, 3, 64, "relu", "random_normal", "sgd", 0.1, init_stddev=1.0, record_every=5),
        _S("exploding", 4, 4, 48, "selu", "random_normal", "sgd", 0.05, init_stddev=1.2, record_every=2),
        _S("exploding", 5, 3, 56, "leaky_relu", "random_normal", "sgd_momentum", 0.05, init_stddev=1.5,
           record_every=7, **m9),
        _S("dead", 6, 3, 48, "relu", "he_normal", "adam", 0.002, bias_init=-6.0, record_every=3),
        _S("dead", 0, 4, 40, "relu", "he_uniform", "sgd", 0.05, bias_init=-5.0, record_every=6),
        _S("dead", 1, 3, 64, "relu", "glorot_uniform", "rmsprop", 0.01, bias_init=-7.0, layer=drop, record_every=1),
        _S("saturated", 2, 2, 48, "sigmoid", "glorot_uniform", "adam", 0.001, bias_init=7.0, record_every=3),
        _S("saturated", 3, 2, 64, "tanh", "random_normal", "sgd", 0.01, init_stddev=2.0, record_every=5),
        _S("saturated", 4, 3, 40, "sigmoid", "random_normal", "sgd_momentum", 0.01, init_stddev=1.5,
           record_every=4, **m9),
        _S("flat", 5, 3, 48, "relu", "he_normal", "adam", 1e-10, record_every=2),
        _S("flat", 6, 2, 64, "tanh", "glorot_normal", "sgd", 1e-9, record_every=7),
        _S("flat", 0, 3, 40, "elu", "he_uniform", "rmsprop", 1e-10, record_every=4),
        _S("oscillating", 1, 3, 64, "swish", "random_normal", "rmsprop", 0.05, record_every=2, **SWING),
        _S("oscillating", 2, 3, 56, "relu", "random_normal", "rmsprop", 0.06, record_every=6, **SWING),
        _S("oscillating", 4, 3, 48, "gelu", "random_normal", "adam", 0.05, record_every=3, **SWING),
        _S("slow", 5, 3, 48, "relu", "he_uniform", "adam", 1.5e-5, record_every=3, epochs=4),
        _S("slow", 6, 2, 64, "tanh", "glorot_uniform", "sgd", 1e-3, record_every=6, epochs=4),
        _S("slow", 3, 3, 40, "selu", "lecun_normal", "sgd", 5e-4, record_every=2),
        _S("poor_init", 0, 5, 48, "tanh", "random_normal", "adam", 0.001, init_stddev=0.004, record_every=3),
        _S("poor_init", 1, 6, 40, "relu", "random_normal", "adam", 0.001, init_stddev=0.003, record_every=5),
        _S("poor_init", 2, 5, 48, "selu", "random_normal", "rmsprop", 0.001, init_stddev=0.005, record_every=2),
        _S("healthy", 0, 3, 48, "relu", "he_normal", "adam", 0.001, record_every=3),
        _S("healthy", 1, 2, 64, "tanh", "glorot_uniform", "rmsprop", 0.001, record_every=5),
        _S("healthy", 2, 3, 56, "selu", "lecun_normal", "sgd_momentum", 0.01, record_every=2, **m9),
        _S("healthy", 3, 3, 48, "leaky_relu", "he_uniform", "adam", 0.001, layer=(("dropout", 0.2),), record_every=7),
        _S("healthy", 4, 2, 64, "gelu", "he_normal", "adam", 0.002, layer=norm, record_every=4),
        _S("healthy", 5, 4, 48, "elu", "he_normal", "sgd", 0.05, layer=res, record_every=1),
    ]


def heldout26_model_set() -> list[ModelConfig]:
    """Users' own Keras models: three built for each label, seven healthy; skewed priors and shuffled labels."""
    he, skew, noisy = {"kernel": "he_normal"}, {"skew": 0.8}, {"noise": 0.2}
    return [
        _M("vanishing", 0, "mlp", 9, 48, "hard_sigmoid", "sgd", 0.1, record_every=3),
        _M("vanishing", 1, "mlp", 8, 48, "softsign", "sgd", 0.05, init_stddev=0.02, record_every=1, **skew),
        _M("vanishing", 2, "rnn", 3, 32, "sigmoid", "sgd", 0.1, rnn="simple_rnn", record_every=4),
        _M("exploding", 3, "resmlp", 3, 48, "relu", "sgd", 1.5, init_stddev=1.0, record_every=2),
        _M("exploding", 4, "mlp", 3, 64, "selu", "sgd", 0.1, init_stddev=1.2, record_every=5, **noisy),
        _M("exploding", 5, "cnn", 2, 16, "relu", "adam", 1e-3, spike=(40, 1.0, 5), record_every=1, epochs=4, **he),
        _M("dead", 6, "mlp", 3, 48, "relu", "sgd", 0.05, bias=-7.0, record_every=2, **skew),
        _M("dead", 0, "cnn", 2, 16, "relu", "adam", 1e-3, bias=-8.0, record_every=3),
        _M("dead", 1, "mlp", 3, 64, "relu6", "adam", 1e-3, bias=-6.0, record_every=6),
        _M("saturated", 2, "mlp", 2, 64, "hard_sigmoid", "adam", 1e-3, init_stddev=2.0, record_every=2),
        _M("saturated", 3, "mlp", 2, 64, "softsign", "adam", 1e-3, bias=8.0, record_every=8),
        _M("saturated", 4, "cnn", 2, 16, "tanh", "rmsprop", 1e-3, bias=5.0, record_every=3, skew=0.7),
        _M("flat", 5, "mlp", 3, 48, "relu", "sgd", 0.0, record_every=3, **skew, **he),
        _M("flat", 6, "cnn", 2, 16, "relu", "adam", 0.0, record_every=5),
        _M("flat", 0, "mlp", 3, 64, "relu", "adam", 1e-3, schedule="cosine", decay_steps=12, record_every=1, **he),
        _M("oscillating", 1, "mlp", 3, 64, "relu", "sgd", 1.0, momentum=0.9, batch_norm=True, record_every=2,
           **LONG, **he),
        _M("oscillating", 2, "mlp", 3, 48, "selu", "rmsprop", 0.05, record_every=1, limit=800, **SWING),
        _M("oscillating", 3, "gncnn", 2, 16, "relu", "sgd", 2.0, batch_size=16, record_every=4, **LONG, **he),
        _M("slow", 4, "mlp", 3, 64, "relu", "adam", 1e-5, record_every=2, **skew, **he),
        _M("slow", 5, "cnn", 2, 16, "relu", "rmsprop", 3e-5, record_every=4),
        _M("slow", 6, "resmlp", 2, 48, "relu", "adam", 1e-5, record_every=7, **he),
        _M("poor_init", 0, "mlp", 6, 48, "relu", "adam", 1e-3, init_stddev=0.005, record_every=4),
        _M("poor_init", 1, "mlp", 3, 64, "softsign", "adam", 1e-3, out_scale=30.0, record_every=1),
        _M("poor_init", 2, "densenet", 3, 32, "gelu", "adam", 1e-3, out_scale=40.0, record_every=5, skew=0.7),
        _M("healthy", 0, "mlp", 3, 64, "hard_sigmoid", "adam", 2e-3, record_every=3),
        _M("healthy", 1, "mlp", 3, 64, "softsign", "adam", 1e-3, record_every=6, **skew),
        _M("healthy", 2, "cnn", 2, 16, "relu", "adam", 1e-3, batch_norm=True, record_every=2, **he),
        _M("healthy", 3, "resnet", 2, 16, "relu", "adam", 1e-3, batch_norm=True, record_every=4),
        _M("healthy", 4, "rnn", 2, 32, "tanh", "adam", 3e-3, rnn="lstm", record_every=2, dataset="digits"),
        _M("healthy", 5, "transformer", 1, 32, "gelu", "adam", 1e-3, batch_size=64, record_every=5,
           dataset="digits"),
        _M("healthy", 6, "mlp", 4, 64, "selu", "sgd", 0.05, kernel="lecun_normal", record_every=8, **noisy),
    ]


SETS = {"heldout26-spec": heldout26_spec_set, "heldout26-model": heldout26_model_set}
