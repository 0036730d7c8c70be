"""A twenty-third held-out grid: the twenty-second set's kinds of training code (learning-rate schedules, frozen
layers, gradient clipping) in configurations it did not have — residual MLPs, GroupNorm CNNs and DenseNet-style
MLPs; SGD with momentum, RMSprop and AdamW beside Adam; schedules decaying at other speeds; a slow rate under a
schedule. Seeds 251–257, never used by any other set; fixed in this file before any of its runs was trained or
diagnosed, after the rules were changed on the twenty-second set's first scores. What each run shows is measured by
`checks.truth`.

    nice -n 10 python benchmarks/diagnostics_grid.py --set heldout23 --jobs 1 --runs runs/heldout23-grid
"""

from __future__ import annotations

from grid.cycling import model_runs
from grid.models import ModelConfig

DATA = ("digits", "mnist-5k", "shapes10")
KINDS = (("resmlp", 2, 64), ("gncnn", 2, 16), ("densenet", 3, 32))
LONG = {"epochs": 5, "limit": 1000}  # 900 training examples, 29 steps an epoch: 145 steps
BUDGET = 145


_M = model_runs(251, 7, DATA, kinds=KINDS, spread=3, defaults=LONG)


def _runs(arch: str, depth: int, width: int) -> list[ModelConfig]:
    he = {"kernel": "he_normal"}
    return [
        _M("healthy", 0, arch, depth, width, "relu", "sgd", 0.05, momentum=0.9, schedule="cosine",
           decay_steps=BUDGET, **he),
        _M("healthy", 1, arch, depth, width, "elu", "rmsprop", 1e-3, schedule="exponential", decay_steps=60,
           record_every=3, **he),
        _M("healthy", 2, arch, depth, width, "relu", "adamw", 2e-3, frozen=2, record_every=1, **he),
        _M("healthy", 3, arch, depth, width, "tanh", "adam", 2e-3, clipnorm=0.5),
        _M("flat", 0, arch, depth, width, "relu", "rmsprop", 1e-3, schedule="cosine", decay_steps=25,
           record_every=1, **he),
        _M("flat", 1, arch, depth, width, "elu", "adam", 3e-3, schedule="exponential", decay_steps=8, **he),
        _M("flat", 2, arch, depth, width, "relu", "sgd", 1e-3, momentum=0.9, schedule="plateau", **he),
        _M("slow", 0, arch, depth, width, "relu", "adam", 1e-5, schedule="cosine", decay_steps=BUDGET * 2, **he),
        _M("exploding", 0, arch, depth, width, "relu", "sgd", 2.0, clipnorm=5.0, record_every=2, **he),
    ]


def heldout23_model_set() -> list[ModelConfig]:
    """Schedules, frozen layers and clipping on users' residual MLPs, GroupNorm CNNs and DenseNet-style MLPs."""
    return [run for arch, depth, width in KINDS for run in _runs(arch, depth, width)]


SETS = {"heldout23-model": heldout23_model_set}
