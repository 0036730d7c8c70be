"""A nineteenth held-out grid of users' models of kinds no other set has: depthwise-separable CNNs, MLPs with
LayerNormalization before each activation, and Conv1D stacks over an Embedding of pixel tokens; AdamW beside the
other optimizers. Seeds 211–217, never used by any other set; fixed in this file before any of its runs was trained
or diagnosed. Each label is built into each kind of model; what each run shows is measured by `checks.truth`, as
for every set (a run that does not show what it was built to show is scored by what it shows).

    nice -n 10 python benchmarks/diagnostics_grid.py --set heldout19 --jobs 2 --runs runs/heldout19-grid
"""

from __future__ import annotations

from grid.cycling import model_runs
from grid.models import ModelConfig

ARCHS = ("sepconv", "lnmlp", "embconv")
DATA = ("digits", "mnist-5k", "shapes10")
LONG = {"epochs": 4, "limit": 1000}  # ~110 steps: room for a finding to hold past the start


_M = model_runs(211, 7, DATA, kinds=ARCHS, spread=2, defaults=LONG)


def _runs(arch: str, width: int) -> list[ModelConfig]:
    spike = {"spike": (45, 1.0, 5)}
    return [
        _M("healthy", 0, arch, 3, width, "relu", "adam", 1e-3, kernel="he_normal", record_every=1),
        _M("healthy", 1, arch, 2, width, "gelu", "adamw", 2e-3, record_every=2),
        _M("healthy", 2, arch, 3, width, "elu", "rmsprop", 1e-3, record_every=5),
        _M("vanishing", 0, arch, 6, width, "sigmoid", "sgd", 0.1, record_every=2),
        _M("vanishing", 1, arch, 5, width, "tanh", "sgd", 0.1, init_stddev=0.01, record_every=1),
        _M("exploding", 0, arch, 3, width, "relu", "sgd", 0.1, init_stddev=1.5, record_every=1),
        _M("exploding", 1, arch, 3, width, "relu", "adam", 1e-3, kernel="he_normal", record_every=2, **spike),
        _M("dead", 0, arch, 3, width, "relu", "adam", 1e-3, bias=-6.0, record_every=2),
        _M("saturated", 0, arch, 3, width, "tanh", "sgd", 0.01, init_stddev=1.5, record_every=1),
        _M("oscillating", 0, arch, 3, width, "swish", "rmsprop", 0.05, init_stddev=0.8, batch_size=16,
           record_every=2, epochs=5),
        _M("slow", 0, arch, 3, width, "relu", "adam", 1e-5, kernel="he_normal", record_every=2),
        _M("flat", 0, arch, 3, width, "relu", "sgd", 0.0, kernel="he_normal", record_every=5),
        _M("poor_init", 0, arch, 3, width, "relu", "adam", 1e-3, kernel="he_normal", out_scale=30.0,
           record_every=1),
    ]


def heldout19_model_set() -> list[ModelConfig]:
    """Users' own Keras models of three kinds no other set has, every label in each."""
    return _runs("sepconv", 16) + _runs("lnmlp", 64) + _runs("embconv", 24)


SETS = {"heldout19-model": heldout19_model_set}
