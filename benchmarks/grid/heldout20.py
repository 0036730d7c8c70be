"""A twentieth held-out grid of users' models with activations and layers no other set uses: MLPs of hard_sigmoid,
softsign, hard_tanh, log_sigmoid, mish, relu6 and hard_silu units; DenseNet-style MLPs (each layer fed every earlier
output, concatenated); CNNs with GroupNormalization. Seeds 221–227, never used by any other set; fixed in this file
before any of its runs was trained or diagnosed. What each run shows is measured by `checks.truth`, as for every set.

    nice -n 10 python benchmarks/diagnostics_grid.py --set heldout20 --jobs 2 --runs runs/heldout20-grid
"""

from __future__ import annotations

from grid.cycling import model_runs
from grid.models import ModelConfig

DATA = ("digits", "mnist-5k", "shapes10")
LONG = {"epochs": 4, "limit": 1000}


_M = model_runs(221, 7, DATA, defaults=LONG)


def heldout20_model_set() -> list[ModelConfig]:
    """Users' own Keras models with unusual activations and layers, every label."""
    spike = {"spike": (50, 1.0, 5)}
    return [
        # healthy
        _M("healthy", 0, "mlp", 3, 64, "hard_sigmoid", "adam", 2e-3, record_every=1),
        _M("healthy", 1, "mlp", 3, 64, "softsign", "adam", 1e-3, record_every=2),
        _M("healthy", 2, "mlp", 3, 64, "mish", "adamw", 1e-3, kernel="he_normal", record_every=5),
        _M("healthy", 3, "densenet", 4, 32, "relu", "adam", 1e-3, kernel="he_normal", record_every=2),
        _M("healthy", 4, "gncnn", 2, 16, "relu", "adam", 3e-3, kernel="he_normal", record_every=1),
        _M("healthy", 5, "mlp", 3, 64, "relu6", "rmsprop", 1e-3, kernel="he_normal", record_every=2),
        # vanishing: deep saturating stacks under plain SGD, tiny initial weights
        _M("vanishing", 0, "mlp", 8, 48, "hard_sigmoid", "sgd", 0.1, record_every=2),
        _M("vanishing", 1, "mlp", 8, 48, "softsign", "sgd", 0.05, init_stddev=0.02, record_every=1),
        _M("vanishing", 2, "densenet", 6, 24, "log_sigmoid", "sgd", 0.05, init_stddev=0.01, record_every=2),
        _M("vanishing", 3, "mlp", 7, 48, "hard_tanh", "sgd", 0.05, init_stddev=0.01, record_every=5),
        # exploding
        _M("exploding", 0, "mlp", 4, 64, "mish", "sgd", 0.1, init_stddev=1.5, record_every=1),
        _M("exploding", 1, "densenet", 3, 32, "relu", "adam", 1e-3, kernel="he_normal", record_every=2, **spike),
        _M("exploding", 2, "gncnn", 2, 16, "relu", "sgd", 5.0, kernel="he_normal", record_every=1),
        # dead
        _M("dead", 0, "mlp", 3, 64, "hard_silu", "adam", 1e-3, bias=-6.0, record_every=2),
        _M("dead", 1, "densenet", 3, 32, "relu", "adam", 1e-3, bias=-6.0, record_every=1),
        _M("dead", 2, "mlp", 3, 64, "relu6", "sgd", 0.05, bias=-5.0, record_every=2),
        # saturated
        _M("saturated", 0, "mlp", 3, 64, "hard_sigmoid", "sgd", 0.01, init_stddev=1.5, record_every=1),
        _M("saturated", 1, "mlp", 3, 64, "softsign", "sgd", 0.01, init_stddev=3.0, record_every=2),
        _M("saturated", 2, "mlp", 3, 64, "hard_tanh", "sgd", 0.01, init_stddev=1.5, record_every=5),
        _M("saturated", 3, "densenet", 3, 32, "log_sigmoid", "sgd", 0.01, init_stddev=2.0, record_every=2),
        # oscillating: learning rates far too high
        _M("oscillating", 0, "mlp", 3, 64, "mish", "rmsprop", 0.05, init_stddev=0.8, batch_size=16,
           record_every=1, epochs=5),
        _M("oscillating", 1, "gncnn", 2, 16, "relu", "sgd", 2.0, kernel="he_normal", batch_size=16, record_every=2,
           epochs=5),
        _M("oscillating", 2, "densenet", 3, 32, "softsign", "rmsprop", 0.05, init_stddev=0.8, batch_size=16,
           record_every=2, epochs=5),
        # slow, flat, poor initialisation
        _M("slow", 0, "mlp", 3, 64, "softsign", "adam", 1e-5, record_every=2),
        _M("slow", 1, "gncnn", 2, 16, "relu", "adam", 1e-5, kernel="he_normal", record_every=1),
        _M("slow", 2, "densenet", 3, 32, "mish", "sgd", 1e-4, record_every=2),
        _M("flat", 0, "mlp", 3, 64, "hard_sigmoid", "sgd", 0.0, record_every=5),
        _M("flat", 1, "densenet", 3, 32, "relu", "sgd", 0.0, kernel="he_normal", record_every=2),
        _M("poor_init", 0, "mlp", 3, 64, "relu6", "adam", 1e-3, kernel="he_normal", out_scale=30.0, record_every=1),
        _M("poor_init", 1, "densenet", 3, 32, "mish", "adam", 1e-3, out_scale=40.0, record_every=2),
        _M("poor_init", 2, "gncnn", 2, 16, "relu", "adam", 1e-3, kernel="he_normal", out_scale=30.0, record_every=1),
    ]


SETS = {"heldout20-model": heldout20_model_set}
