"""A tuning set of two classes at a definitional edge. Explosions and what they leave: learning-rate spikes under
Adam, RMSprop and Nadam (0.3–2.0 for 3–6 steps, mid-run) on ReLU and tanh MLPs, CNNs and `keras.Model` subclasses,
some leaving the loss far above guessing to the end while the gradients and relative steps have come down, some
after which the network recovers; Adam at rates of 0.3–1 from the start. Tiny initial weights whose loss sits at
guessing: Conv1D, CNN, MLP and subclassed tanh stacks with N(0, 0.004–0.01) kernels, where the first/output
gradient ratio of the kernels and that of every weight (biases included) can fall on either side of a line. Beside
them healthy models of the same kinds. Seeds 91–94: no held-out set uses them. Rules may be chosen on this set; what
each run shows is measured by `checks.truth`, as for every set.

    nice -n 10 python benchmarks/diagnostics_grid.py --set aftermath-spec,aftermath-model --jobs 2
"""

from __future__ import annotations

from grid.cycling import model_runs, spec_runs
from grid.models import ModelConfig
from grid.spec_sets import Config

DATA = ("digits", "shapes10", "mnist-5k")
_S = spec_runs(91, 4, DATA)  # run k: data set k (cycling), seed 91 + k % 4
_M = model_runs(91, 4, DATA)


def aftermath_spec_set() -> list[Config]:
    return [
        # an adaptive optimizer at a rate far too high from the start
        _S("exploding", 0, 3, 64, "relu", "he_normal", "adam", 0.5, record_every=1),
        _S("exploding", 1, 3, 48, "relu", "he_uniform", "rmsprop", 0.3, record_every=2),
        # tiny initial weights: the loss sits at guessing
        _S("poor_init", 2, 5, 48, "tanh", "random_normal", "adam", 0.001, init_stddev=0.005, record_every=2),
        _S("poor_init", 3, 4, 64, "tanh", "random_normal", "rmsprop", 0.001, init_stddev=0.008, record_every=1),
        _S("healthy", 4, 3, 64, "relu", "he_normal", "adam", 0.001, record_every=2),
        _S("healthy", 5, 3, 48, "tanh", "glorot_uniform", "adam", 0.002, record_every=1),
    ]


def aftermath_model_set() -> list[ModelConfig]:
    e6 = {"epochs": 6, "record_every": 1}
    return [
        # learning-rate spikes mid-run: what they leave behind
        _M("exploding", 0, "mlp", 3, 64, "relu", "adam", 0.001, kernel="he_normal", spike=(40, 1.0, 5), **e6),
        _M("exploding", 1, "mlp", 3, 48, "relu", "adam", 0.001, kernel="he_normal", spike=(50, 0.5, 6), **e6),
        _M("exploding", 2, "mlp", 3, 64, "relu", "rmsprop", 0.001, kernel="he_normal", spike=(40, 0.5, 4), **e6),
        _M("exploding", 3, "subclassed", 3, 48, "relu", "nadam", 0.001, kernel="he_normal", spike=(45, 1.5, 3),
           **e6),
        _M("exploding", 4, "cnn", 2, 16, "relu", "adam", 0.001, spike=(40, 1.0, 5), epochs=6, record_every=2),
        _M("exploding", 5, "mlp", 3, 64, "tanh", "adam", 0.001, spike=(40, 2.0, 4), **e6),
        _M("exploding", 6, "mlp", 4, 48, "relu", "adam", 0.002, kernel="he_normal", spike=(60, 0.3, 5), **e6),
        _M("dead", 7, "mlp", 3, 64, "relu", "adam", 0.001, kernel="he_normal", spike=(40, 0.08, 4), **e6),
        _M("healthy", 0, "mlp", 3, 64, "relu", "adam", 0.001, kernel="he_normal", spike=(40, 0.01, 5), **e6),
        # tiny initial weights whose loss sits at guessing
        _M("poor_init", 1, "conv1d", 4, 16, "tanh", "adam", 0.001, init_stddev=0.004, record_every=2),
        _M("poor_init", 2, "conv1d", 3, 24, "tanh", "rmsprop", 0.001, init_stddev=0.005, record_every=1),
        _M("poor_init", 3, "conv1d", 5, 16, "tanh", "adam", 0.001, init_stddev=0.006, record_every=2),
        _M("poor_init", 4, "cnn", 3, 16, "tanh", "adam", 0.001, init_stddev=0.005, record_every=2),
        _M("poor_init", 5, "mlp", 5, 64, "tanh", "adam", 0.001, init_stddev=0.008, record_every=1),
        _M("poor_init", 6, "subclassed", 4, 48, "tanh", "rmsprop", 0.001, init_stddev=0.006, record_every=2),
        _M("vanishing", 7, "mlp", 6, 64, "tanh", "sgd", 0.1, init_stddev=0.02, record_every=2),
        _M("vanishing", 8, "conv1d", 4, 16, "tanh", "sgd", 0.1, init_stddev=0.01, record_every=2),
        # healthy models of the same kinds
        _M("healthy", 1, "conv1d", 3, 16, "tanh", "adam", 0.002, record_every=2),
        _M("healthy", 2, "cnn", 2, 16, "relu", "adam", 0.001, record_every=2),
        _M("healthy", 3, "subclassed", 3, 48, "relu", "nadam", 0.001, kernel="he_normal", record_every=1),
    ]


SETS = {"aftermath-spec": aftermath_spec_set, "aftermath-model": aftermath_model_set}
