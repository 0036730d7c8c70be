"""A twenty-second held-out grid: users' training code no set had — learning-rate schedules (warm-up and cosine
decay to 0 over the budget, the same decay over its first steps, exponential decay, ReduceLROnPlateau cutting the
rate to ~0), layers frozen for fine-tuning, and gradient clipping at rates far too high — on MLPs, CNNs and LayerNorm
MLPs. Seeds 241–247, never used by any other set; fixed in this file before any of its runs was trained or
diagnosed. What each run shows is measured by `checks.truth`, as for every set (with the weights' change over the
last epoch, which a schedule decides).

    nice -n 10 python benchmarks/diagnostics_grid.py --set heldout22 --jobs 1 --runs runs/heldout22-grid
"""

from __future__ import annotations

from grid.cycling import model_runs
from grid.models import ModelConfig

DATA = ("digits", "mnist-5k", "shapes10")
KINDS = (("mlp", 3, 64), ("cnn", 2, 16), ("lnmlp", 3, 64))
LONG = {"epochs": 5, "limit": 1000}  # 900 training examples, 29 steps an epoch: 145 steps
BUDGET = 145


_M = model_runs(241, 7, DATA, kinds=KINDS, spread=3, defaults=LONG)


def _runs(arch: str, depth: int, width: int) -> list[ModelConfig]:
    he = {"kernel": "he_normal"}
    deep = 8 if arch != "cnn" else 5
    return [
        _M("healthy", 0, arch, depth, width, "relu", "adam", 3e-3, schedule="cosine", decay_steps=BUDGET, **he),
        _M("healthy", 1, arch, depth, width, "relu", "sgd", 0.05, momentum=0.9, schedule="exponential",
           decay_steps=100, record_every=1, **he),
        _M("healthy", 2, arch, depth, width, "relu", "adam", 2e-3, frozen=1, **he),
        _M("healthy", 3, arch, depth, width, "gelu", "adam", 1e-3, clipnorm=1.0, record_every=3),
        _M("flat", 0, arch, depth, width, "relu", "adam", 1e-3, schedule="cosine", decay_steps=15, **he),
        _M("flat", 1, arch, depth, width, "relu", "sgd", 0.1, schedule="exponential", decay_steps=5,
           record_every=1, **he),
        _M("flat", 2, arch, depth, width, "relu", "adam", 3e-5, schedule="plateau", **he),
        _M("vanishing", 0, arch, deep, width, "sigmoid", "sgd", 0.05, frozen=1),
        _M("exploding", 0, arch, depth, width, "relu", "sgd", 3.0, clipnorm=1.0, record_every=1, **he),
    ]


def heldout22_model_set() -> list[ModelConfig]:
    """Schedules, frozen layers and clipping on users' MLPs, CNNs and LayerNorm MLPs."""
    return [run for arch, depth, width in KINDS for run in _runs(arch, depth, width)]


SETS = {"heldout22-model": heldout22_model_set}
