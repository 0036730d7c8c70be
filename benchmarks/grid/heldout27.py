"""A twenty-seventh held-out grid of about the size of the twenty-sixth (66 runs: at least six built for every label,
fourteen healthy; the app's dense networks and users' own Keras models about half each), on configurations set 26 had
not: spec runs on shapes10 beside mnist-5k, tabular5, digits and cancer2; PReLU units, Adagrad and Adadelta; users'
hard_tanh and mish layers, subclassed models, Conv1D, GRU and bidirectional LSTM stacks, a LayerNorm MLP, a
transformer in batches of 32, Nadam and AdamW, a clipped SGD; records every 1 to 8 steps. The runs built to oscillate
use the construction earlier sets measured oscillating most often (N(0, 0.7–0.8) kernels under RMSprop 0.04–0.06 in
batches of 16 for three epochs, on mnist-5k and shapes10; set 26's on digits and tabular5 saturated instead). The
explosions: large-init linear, ELU and leaky-ReLU units, Adam at 0.9, a residual MLP at SGD 2.5, a rate spike under
RMSprop on a subclassed MLP (set 26's spike on a CNN killed its ReLUs instead). Poor initialisations of tiny or large
kernels (no scaled output layers: those trained through); slow runs of at least 68 steps. Seeds 291–297, never used
by any other set; fixed in this file before any of its runs was trained or diagnosed. What each run shows is
measured by `checks.truth`.

    nice -n 10 python benchmarks/diagnostics_grid.py --set heldout27 --jobs 2 --runs runs/heldout27-grid
"""

from __future__ import annotations

from grid.cycling import model_runs, spec_runs
from grid.models import ModelConfig
from grid.spec_sets import Config

SPEC_DATA = ("mnist-5k", "shapes10", "tabular5", "digits", "cancer2")  # run k: SPEC_DATA[k % 5], seed 291 + k % 7
MODEL_DATA = ("mnist-5k", "shapes10", "digits")
_S = spec_runs(291, 7, SPEC_DATA)
_M = model_runs(291, 7, MODEL_DATA)
SWING = {"init_stddev": 0.8, "batch_size": 16}  # 34–38 steps of 16 an epoch, three epochs
SLOW = {"epochs": 4}  # 68–76 steps: past the start-up steps a slow run is judged after


def heldout27_spec_set() -> list[Config]:
    """The app's dense networks: three built for each label (four to explode and to oscillate), six healthy."""
    m9 = {"momentum": 0.9}
    norm, res = (("batch_norm", True),), (("residual", True),)
    return [
        _S("vanishing", 0, 8, 40, "sigmoid", "glorot_uniform", "sgd", 0.08, record_every=4),
        _S("vanishing", 3, 9, 48, "sigmoid", "he_normal", "sgd", 0.1, record_every=5),
        _S("vanishing", 4, 8, 32, "sigmoid", "lecun_normal", "sgd", 0.05, record_every=2),
        _S("exploding", 1, 4, 40, "linear", "random_normal", "sgd", 0.1, init_stddev=1.3, record_every=3),
        _S("exploding", 2, 3, 48, "elu", "random_normal", "sgd", 0.2, init_stddev=1.3, record_every=1),
        _S("exploding", 5, 4, 56, "leaky_relu", "random_normal", "sgd_momentum", 0.05, init_stddev=1.1,
           record_every=8, **m9),
        _S("exploding", 8, 3, 64, "elu", "he_uniform", "adam", 0.9, record_every=2),
        _S("dead", 1, 3, 56, "relu", "he_uniform", "adam", 0.003, bias_init=-6.0, record_every=5),
        _S("dead", 2, 4, 48, "relu", "lecun_uniform", "sgd_momentum", 0.02, bias_init=-5.0, record_every=2, **m9),
        _S("dead", 4, 3, 32, "relu", "glorot_normal", "adagrad", 0.05, bias_init=-9.0, record_every=1),
        _S("saturated", 0, 2, 56, "tanh", "glorot_uniform", "rmsprop", 0.001, bias_init=5.0, record_every=3),
        _S("saturated", 3, 1, 80, "sigmoid", "random_normal", "adam", 0.002, init_stddev=3.0, record_every=6),
        _S("saturated", 2, 2, 40, "sigmoid", "glorot_normal", "adam", 0.003, bias_init=-8.0, record_every=4),
        _S("flat", 1, 3, 64, "selu", "lecun_normal", "adadelta", 1e-9, record_every=3),
        _S("flat", 4, 2, 32, "relu", "he_normal", "sgd", 1e-9, record_every=5),
        _S("flat", 3, 4, 48, "swish", "he_uniform", "adam", 1e-10, record_every=8),
        _S("oscillating", 0, 3, 72, "elu", "random_normal", "rmsprop", 0.05, record_every=2, **SWING),
        _S("oscillating", 1, 3, 80, "gelu", "random_normal", "rmsprop", 0.05, record_every=1,
           **{**SWING, "init_stddev": 0.75}),
        _S("oscillating", 5, 3, 64, "swish", "random_normal", "rmsprop", 0.06, record_every=3, **SWING),
        _S("oscillating", 6, 3, 56, "relu", "random_normal", "rmsprop", 0.06, record_every=2, **SWING),
        _S("slow", 0, 3, 48, "leaky_relu", "he_uniform", "rmsprop", 1.5e-5, record_every=2, **SLOW),
        _S("slow", 3, 2, 64, "tanh", "glorot_normal", "sgd", 1e-3, record_every=4, **SLOW),
        _S("slow", 2, 2, 48, "relu", "he_uniform", "adagrad", 3e-4, record_every=5, **SLOW),
        _S("poor_init", 1, 5, 56, "gelu", "random_normal", "adam", 0.001, init_stddev=0.004, record_every=3),
        _S("poor_init", 2, 5, 64, "relu", "random_normal", "rmsprop", 0.001, init_stddev=0.003, record_every=2),
        _S("poor_init", 3, 3, 48, "elu", "random_normal", "adam", 5e-4, init_stddev=0.6, record_every=6),
        _S("healthy", 0, 3, 64, "swish", "he_normal", "adam", 0.002, record_every=5),
        _S("healthy", 2, 3, 48, "tanh", "glorot_normal", "adam", 0.002, layer=norm, record_every=3),
        _S("healthy", 3, 2, 96, "relu", "he_uniform", "sgd_momentum", 0.02, record_every=8, **m9),
        _S("healthy", 4, 2, 32, "elu", "he_normal", "rmsprop", 0.002, record_every=2),
        _S("healthy", 5, 4, 64, "prelu", "he_normal", "adam", 0.001, layer=res, record_every=4),
        _S("healthy", 8, 3, 64, "leaky_relu", "he_normal", "adagrad", 0.05, layer=(("dropout", 0.1),),
           record_every=1),
    ]


def heldout27_model_set() -> list[ModelConfig]:
    """Users' own Keras models: three built for each label (four to oscillate and to be slow), eight healthy."""
    he = {"kernel": "he_normal"}
    return [
        _M("vanishing", 0, "mlp", 8, 56, "sigmoid", "sgd", 0.2, init_stddev=0.01, record_every=2),
        _M("vanishing", 1, "rnn", 4, 24, "sigmoid", "sgd", 0.1, rnn="simple_rnn", record_every=5),
        _M("vanishing", 2, "subclassed", 9, 40, "sigmoid", "sgd", 0.1, record_every=3),
        _M("exploding", 3, "resmlp", 2, 64, "relu", "sgd", 2.5, init_stddev=1.1, record_every=3),
        _M("exploding", 4, "mlp", 3, 56, "elu", "sgd", 0.05, init_stddev=1.2, record_every=6),
        _M("exploding", 5, "subclassed", 3, 48, "relu", "rmsprop", 1e-3, spike=(42, 1.2, 4), epochs=6,
           record_every=2, **he),
        _M("dead", 6, "cnn", 3, 16, "relu", "nadam", 1e-3, bias=-7.0, record_every=4),
        _M("dead", 0, "densenet", 3, 32, "relu", "adam", 1e-3, bias=-6.0, record_every=1),
        _M("dead", 1, "mlp", 3, 48, "relu", "rmsprop", 1e-3, bias=-5.0, noise=0.1, record_every=7),
        _M("saturated", 2, "mlp", 1, 64, "hard_tanh", "rmsprop", 1e-3, init_stddev=3.0, record_every=5),
        _M("saturated", 3, "cnn", 2, 16, "tanh", "nadam", 1e-3, bias=-5.0, record_every=2),
        _M("saturated", 4, "subclassed", 2, 64, "sigmoid", "adam", 1e-3, bias=8.0, record_every=3),
        _M("flat", 5, "mlp", 3, 64, "gelu", "adamw", 0.0, record_every=4, **he),
        _M("flat", 6, "rnn", 2, 32, "tanh", "sgd", 0.0, rnn="lstm", record_every=3, dataset="digits"),
        _M("flat", 0, "resnet", 2, 16, "relu", "sgd", 1e-9, batch_norm=True, record_every=2, dataset="digits"),
        _M("oscillating", 0, "mlp", 3, 80, "gelu", "rmsprop", 0.05, record_every=1, **SWING),
        _M("oscillating", 1, "subclassed", 3, 72, "swish", "rmsprop", 0.05, record_every=2, **SWING),
        _M("oscillating", 3, "subclassed", 3, 64, "elu", "rmsprop", 0.05, record_every=2,
           **{**SWING, "init_stddev": 0.75}),
        _M("oscillating", 4, "mlp", 3, 64, "mish", "rmsprop", 0.04, record_every=3,
           **{**SWING, "init_stddev": 0.7}),
        _M("slow", 2, "mlp", 3, 48, "relu", "adam", 1.2e-5, record_every=3, **SLOW, **he),
        _M("slow", 0, "subclassed", 2, 56, "tanh", "sgd", 2e-3, record_every=2, **SLOW),
        _M("slow", 5, "cnn", 2, 16, "tanh", "rmsprop", 2e-5, record_every=1, **SLOW),
        _M("slow", 6, "lnmlp", 3, 64, "relu", "adam", 1e-5, record_every=5, **SLOW, **he),
        _M("poor_init", 0, "conv1d", 4, 24, "tanh", "adam", 1e-3, init_stddev=0.005, record_every=2),
        _M("poor_init", 1, "subclassed", 5, 56, "swish", "nadam", 1e-3, init_stddev=0.004, record_every=3),
        _M("poor_init", 2, "cnn", 4, 16, "gelu", "rmsprop", 1e-3, init_stddev=0.005, record_every=1),
        _M("healthy", 0, "cnn", 3, 16, "elu", "nadam", 1e-3, record_every=3),
        _M("healthy", 1, "cnn", 2, 16, "relu", "adam", 2e-3, batch_norm=True, record_every=2),
        _M("healthy", 2, "rnn", 1, 32, "tanh", "adam", 3e-3, rnn="gru", epochs=5, record_every=1),
        _M("healthy", 5, "rnn", 1, 32, "tanh", "adam", 3e-3, rnn="bilstm", epochs=5, record_every=3),
        _M("healthy", 3, "resnet", 2, 16, "relu", "rmsprop", 1e-3, record_every=2, dataset="digits"),
        _M("healthy", 4, "lnmlp", 3, 64, "gelu", "nadam", 1e-3, epochs=4, record_every=4),
        _M("healthy", 6, "mlp", 4, 64, "relu", "sgd", 0.05, momentum=0.9, clipnorm=1.0, record_every=6, **he),
        _M("healthy", 2, "transformer", 1, 32, "relu", "adam", 3e-3, epochs=5, record_every=5),
    ]


SETS = {"heldout27-spec": heldout27_spec_set, "heldout27-model": heldout27_model_set}
