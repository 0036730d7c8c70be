"""A twenty-first held-out grid: learning rates far too high, far too low and zero on the kinds of users' models the
nineteenth and twentieth sets brought in (LayerNorm MLPs, GroupNorm and separable CNNs, DenseNet-style MLPs, Conv1D
over token embeddings), with healthy runs of each kind beside them. Seeds 231–237, never used by any other set;
fixed in this file before any of its runs was trained or diagnosed. What each run shows is measured by
`checks.truth`, as for every set.

    nice -n 10 python benchmarks/diagnostics_grid.py --set heldout21 --jobs 2 --runs runs/heldout21-grid
"""

from __future__ import annotations

from grid.cycling import model_runs
from grid.models import ModelConfig

DATA = ("digits", "mnist-5k", "shapes10")
KINDS = (("lnmlp", 3, 64), ("gncnn", 2, 16), ("densenet", 3, 32), ("sepconv", 2, 16), ("embconv", 2, 24))
LONG = {"epochs": 5, "limit": 1000}  # ≥ 150 steps: an oscillation or a slow descent has room to show


_M = model_runs(231, 7, DATA, kinds=KINDS, spread=3, defaults=LONG)


def _runs(arch: str, depth: int, width: int) -> list[ModelConfig]:
    he = {"kernel": "he_normal"}
    return [
        _M("oscillating", 0, arch, depth, width, "relu", "sgd", 2.5, record_every=1, **he),
        _M("oscillating", 1, arch, depth, width, "relu", "adam", 0.05, record_every=2, **he),
        _M("oscillating", 2, arch, depth, width, "elu", "rmsprop", 0.02, record_every=3, **he),
        _M("slow", 0, arch, depth, width, "relu", "adam", 1e-5, record_every=2, **he),
        _M("flat", 0, arch, depth, width, "relu", "sgd", 1e-8, record_every=1, **he),
        _M("healthy", 0, arch, depth, width, "relu", "adam", 2e-3, record_every=2, **he),
        _M("healthy", 1, arch, depth, width, "gelu", "nadam", 1e-3, record_every=1),
    ]


def heldout21_model_set() -> list[ModelConfig]:
    """Users' own Keras models of five kinds at rates far too high, far too low and zero, and healthy ones."""
    return [run for arch, depth, width in KINDS for run in _runs(arch, depth, width)]


SETS = {"heldout21-model": heldout21_model_set}
