"""A tuning set of learning rates too high for the network, where the loss may swing without coming down: BatchNorm
ReLU/ELU networks at SGD rates of 2–4 (dense, convolutional, residual; spec runs and users' models), and networks
without BatchNorm under Adam and RMSprop at rates of 0.02–0.05, recorded every 1–3 steps so that records fall on
every place in an epoch. Seeds 45–48: no held-out set uses them. Rules and thresholds may be chosen on this set;
what each run shows is measured by `checks.truth`, as for every set.

    nice -n 10 python benchmarks/diagnostics_grid.py --set oscillation-spec,oscillation-model --jobs 2
"""

from __future__ import annotations

from grid.cycling import model_runs, spec_runs
from grid.models import ModelConfig
from grid.spec_sets import Config

DATA = ("digits", "shapes10", "mnist-5k")
_S = spec_runs(45, 4, DATA)  # run k: data set k (cycling), seed 45 + k % 4
_M = model_runs(45, 4, DATA)

BN = (("batch_norm", True),)
LONG = {"epochs": 5, "limit": 1000}


def oscillation_spec_set() -> list[Config]:
    return [
        _S("oscillating", 0, 3, 48, "relu", "he_normal", "sgd", 2.5, layer=BN, record_every=1, **LONG),
        _S("oscillating", 1, 3, 56, "relu", "he_uniform", "sgd", 3.5, layer=BN, record_every=2, **LONG),
        _S("oscillating", 2, 2, 64, "relu", "he_normal", "sgd", 3.0, layer=BN, record_every=3, **LONG),
        _S("oscillating", 3, 3, 48, "elu", "he_normal", "sgd", 3.0, layer=BN, record_every=2, **LONG),
        _S("oscillating", 4, 3, 80, "swish", "random_normal", "rmsprop", 0.05, init_stddev=0.8, batch_size=16,
           record_every=1),
        _S("oscillating", 5, 3, 64, "relu", "he_normal", "adam", 0.05, record_every=2, **LONG),
        _S("oscillating", 6, 3, 64, "leaky_relu", "he_normal", "sgd_momentum", 0.5, layer=BN, record_every=2,
           momentum=0.9, **LONG),
        _S("oscillating", 7, 2, 64, "relu", "he_normal", "rmsprop", 0.02, record_every=1, **LONG),
    ]


def oscillation_model_set() -> list[ModelConfig]:
    long = {"epochs": 5, "limit": 1000}
    return [
        _M("oscillating", 1, "mlp", 3, 48, "relu", "sgd", 3.0, batch_norm=True, kernel="he_normal", record_every=2,
           **long),
        _M("oscillating", 0, "mlp", 3, 64, "relu", "sgd", 2.5, batch_norm=True, kernel="he_normal", record_every=1,
           **long),
        _M("oscillating", 2, "cnn", 2, 16, "relu", "sgd", 3.0, batch_norm=True, record_every=2, **long),
        _M("oscillating", 3, "mlp", 3, 64, "relu", "adam", 0.05, kernel="he_normal", record_every=2, **long),
        _M("oscillating", 4, "resmlp", 4, 48, "relu", "sgd", 2.0, batch_norm=True, kernel="he_normal",
           record_every=3, **long),
        _M("oscillating", 5, "mlp", 3, 80, "swish", "rmsprop", 0.05, init_stddev=0.8, batch_size=16,
           record_every=1),
    ]


SETS = {"oscillation-spec": oscillation_spec_set, "oscillation-model": oscillation_model_set}
