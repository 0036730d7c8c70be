"""A twenty-fourth held-out grid: the kinds of users' training code whose labels the rules used to misread —
labels nine in ten of one class, 30 % of the labels shuffled, BatchNorm under batches of 2 and 4, AdamW with a large
weight decay, 20 tanh layers under LeCun's initialisation — at good rates, at far-too-small ones and with every label's
fault built into them, healthy runs beside. Seeds 261–267, never used by any other set; fixed in this file before any
of its runs was trained or diagnosed. What each run shows is measured by `checks.truth`.

    nice -n 10 python benchmarks/diagnostics_grid.py --set heldout24 --jobs 1 --runs runs/heldout24-grid
"""

from __future__ import annotations

from grid.cycling import model_runs
from grid.models import ModelConfig

DATA = ("digits", "mnist-5k")
_M = model_runs(261, 7, DATA, defaults={"epochs": 4, "limit": 800})  # 720 training examples: 92 steps of 32


def heldout24_model_set() -> list[ModelConfig]:
    """Skewed and noisy labels, BatchNorm under tiny batches, AdamW's decay, deep LeCun tanh nets."""
    he, skew, noisy = {"kernel": "he_normal"}, {"skew": 0.9}, {"noise": 0.3}
    tiny_bn = {"batch_norm": True, "limit": 300, "epochs": 2}  # 270 examples: 135 or 68 steps an epoch
    lecun = {"kernel": "lecun_normal"}
    return [
        _M("healthy", 0, "mlp", 3, 64, "relu", "adam", 1e-3, **skew, **he),
        _M("healthy", 1, "mlp", 3, 64, "relu", "adam", 1e-3, **noisy, **he),
        _M("healthy", 2, "mlp", 2, 64, "relu", "adam", 1e-3, batch_size=2, **tiny_bn, **he),
        _M("healthy", 3, "mlp", 3, 64, "relu", "sgd", 0.05, momentum=0.9, batch_size=4, **tiny_bn, **he),
        _M("healthy", 4, "mlp", 3, 64, "relu", "adamw", 1e-3, weight_decay=0.5, **he),
        _M("healthy", 5, "mlp", 20, 32, "tanh", "adam", 1e-3, **lecun),
        _M("healthy", 6, "cnn", 2, 16, "relu", "sgd", 0.05, momentum=0.9, dataset="digits", **skew, **he),
        _M("slow", 0, "mlp", 3, 64, "relu", "adam", 1e-5, **skew, **he),
        _M("slow", 1, "mlp", 3, 64, "relu", "adam", 1e-5, **noisy, **he),
        _M("slow", 2, "mlp", 20, 32, "tanh", "sgd", 1e-3, **lecun),
        _M("flat", 0, "mlp", 3, 64, "relu", "adamw", 0.0, weight_decay=0.5, **he),
        _M("flat", 1, "mlp", 3, 64, "relu", "adam", 0.0, **skew, **he),
        _M("vanishing", 0, "mlp", 20, 32, "tanh", "sgd", 0.01, **lecun),
        _M("vanishing", 1, "mlp", 8, 64, "sigmoid", "sgd", 0.1, **skew),
        _M("vanishing", 2, "mlp", 3, 64, "relu", "adamw", 1e-3, weight_decay=50.0, **he),
        _M("exploding", 0, "mlp", 3, 64, "relu", "sgd", 0.1, init_stddev=1.0, **noisy),
        _M("exploding", 1, "mlp", 3, 64, "relu", "sgd", 2.0, batch_size=4, **tiny_bn, **he),
        _M("dead", 0, "mlp", 3, 64, "relu", "sgd", 0.05, bias=-6.0, **skew),
        _M("saturated", 0, "mlp", 1, 64, "sigmoid", "adam", 1e-3, bias=8.0, **noisy),
        _M("oscillating", 0, "mlp", 3, 64, "relu", "sgd", 1.0, momentum=0.9, batch_norm=True, **noisy, **he),
        _M("poor_init", 0, "mlp", 6, 64, "relu", "adam", 1e-3, init_stddev=0.005, **skew),
    ]


SETS = {"heldout24-model": heldout24_model_set}
