"""A tuning set of four classes on a threshold's edge: outputs scaled far too large whose loss comes down steadily
under Adam/RMSprop/Nadam (an initialisation being worked off, beside explosions whose loss stays far above
guessing); BatchNorm networks at SGD rates of 3–6 whose ReLUs die while the loss swings near guessing; BatchNorm
CNNs at SGD 2–4 whose weights or statistics overflow while the loss stays finite; recurrent networks at learning
rates of 1e-9–1e-10 where nothing moves (beside a sigmoid SimpleRNN stack whose gradient does vanish through time),
and healthy models of the same kinds. Seeds 41–44: no held-out set uses them. Rules and thresholds may be chosen on
this set; what each run shows is measured by `checks.truth`, as for every set.

    nice -n 10 python benchmarks/diagnostics_grid.py --set edges-spec,edges-model --jobs 2
"""

from __future__ import annotations

from grid.cycling import model_runs
from grid.models import ModelConfig
from grid.spec_sets import Config

DATA = ("digits", "shapes10", "mnist-5k")
BN = (("batch_norm", True),)
LONG = {"epochs": 5, "limit": 1000}


def _S(label, k, depth, width, activation, initializer, optimizer, lr, **kw) -> Config:
    kw.setdefault("seed", 41 + k % 4)
    return Config(label, DATA[k % 3], depth, width, activation, initializer, optimizer, lr, **kw)


_M = model_runs(41, 4, DATA[:2])  # digits and shapes10: the quick ones


def edges_spec_set() -> list[Config]:
    return [
        # BatchNorm networks at huge SGD rates: ReLUs die while the loss swings near guessing
        _S("dead", 0, 3, 48, "relu", "he_normal", "sgd", 4.5, layer=BN, record_every=1, **LONG),
        _S("dead", 1, 2, 64, "relu", "he_uniform", "sgd", 3.0, layer=BN, record_every=2, **LONG),
        _S("dead", 2, 3, 56, "relu", "he_normal", "sgd", 6.0, layer=BN, record_every=2, **LONG),
        _S("healthy", 3, 3, 64, "relu", "he_normal", "adam", 0.001, record_every=2),
        _S("healthy", 4, 3, 48, "relu", "he_normal", "sgd", 0.1, layer=BN, record_every=1),
    ]


def edges_model_set() -> list[ModelConfig]:
    return [
        # outputs scaled far too large, trained by adaptive optimizers: the loss comes down steadily
        _M("poor_init", 0, "mlp", 3, 64, "relu", "adam", 1e-4, kernel="he_normal", out_scale=30.0, record_every=2),
        _M("poor_init", 1, "mlp", 3, 48, "relu", "adam", 1.5e-4, kernel="he_normal", out_scale=40.0, record_every=1),
        _M("poor_init", 2, "subclassed", 3, 64, "relu", "adam", 1e-4, kernel="he_normal", out_scale=30.0,
           record_every=2, dataset="mnist-5k"),
        _M("poor_init", 3, "cnn", 2, 16, "relu", "adam", 2e-4, out_scale=20.0, record_every=2),
        _M("poor_init", 0, "mlp", 3, 64, "gelu", "rmsprop", 1e-4, kernel="he_normal", out_scale=30.0, record_every=1),
        _M("poor_init", 1, "conv1d", 2, 24, "relu", "nadam", 2e-4, out_scale=30.0, record_every=2),
        # ... beside explosions whose loss stays far above guessing
        _M("exploding", 2, "mlp", 3, 64, "relu", "adam", 0.001, kernel="he_normal", spike=(40, 1.0, 5), epochs=6,
           record_every=2),
        _M("exploding", 3, "mlp", 3, 64, "relu", "sgd", 0.1, init_stddev=0.9, record_every=1),
        _M("exploding", 0, "cnn", 3, 16, "relu", "sgd", 0.08, init_stddev=0.6, record_every=2),
        # BatchNorm networks at huge SGD rates: dead ReLUs while the loss swings near guessing
        _M("dead", 1, "subclassed", 3, 48, "relu", "sgd", 4.0, batch_norm=True, record_every=1, **LONG),
        _M("dead", 2, "subclassed", 3, 64, "relu", "sgd", 6.0, batch_norm=True, record_every=2, **LONG),
        _M("dead", 3, "mlp", 3, 64, "relu", "sgd", 3.0, batch_norm=True, kernel="he_normal", record_every=2, **LONG),
        _M("dead", 0, "mlp", 3, 48, "relu", "sgd", 5.0, batch_norm=True, kernel="he_normal", record_every=1, **LONG),
        _M("dead", 1, "conv1d", 2, 24, "relu", "sgd", 4.0, batch_norm=True, record_every=2, **LONG),
        # BatchNorm CNNs at SGD 2–4: weights or statistics may overflow while the loss stays finite
        _M("exploding", 0, "cnn", 2, 16, "relu", "sgd", 3.0, batch_norm=True, record_every=2, **LONG),
        _M("exploding", 1, "cnn", 3, 16, "relu", "sgd", 4.0, batch_norm=True, record_every=1, **LONG),
        _M("exploding", 2, "cnn", 2, 16, "relu", "sgd", 2.0, batch_norm=True, record_every=2, **LONG),
        _M("exploding", 3, "resnet", 2, 16, "relu", "sgd", 3.0, batch_norm=True, record_every=2, **LONG),
        # recurrent networks where nothing moves, and one whose gradient does vanish through time
        _M("flat", 0, "rnn", 1, 32, "tanh", "adam", 1e-9, rnn="gru", record_every=2),
        _M("flat", 1, "rnn", 1, 24, "tanh", "sgd", 1e-10, rnn="lstm", record_every=1),
        _M("flat", 2, "rnn", 2, 24, "tanh", "rmsprop", 1e-9, rnn="gru", record_every=2),
        _M("flat", 3, "rnn", 1, 24, "tanh", "adam", 1e-9, rnn="bilstm", record_every=2),
        _M("vanishing", 0, "rnn", 3, 24, "sigmoid", "sgd", 0.05, rnn="simple_rnn", record_every=2),
        # healthy models of the same kinds
        _M("healthy", 1, "cnn", 2, 16, "relu", "sgd", 0.05, batch_norm=True, record_every=2),
        _M("healthy", 2, "mlp", 3, 64, "relu", "adam", 0.001, kernel="he_normal", record_every=1),
        _M("healthy", 3, "rnn", 1, 32, "tanh", "adam", 0.005, rnn="lstm", record_every=2, epochs=5),
        _M("healthy", 0, "subclassed", 3, 48, "relu", "sgd", 0.1, batch_norm=True, record_every=2),
        _M("healthy", 1, "mlp", 3, 64, "relu", "adam", 3e-4, kernel="he_normal", out_scale=3.0, record_every=2),
        # the same classes again, other kinds and seeds
        _M("poor_init", 2, "resmlp", 4, 48, "relu", "adam", 2e-4, kernel="he_normal", out_scale=25.0, record_every=2),
        _M("poor_init", 3, "subclassed", 2, 48, "tanh", "nadam", 1e-4, out_scale=35.0, record_every=1),
        _M("poor_init", 0, "cnn", 3, 16, "relu", "rmsprop", 1e-4, out_scale=30.0, record_every=2),
        _M("exploding", 1, "mlp", 3, 48, "relu", "adam", 0.001, kernel="he_normal", spike=(30, 2.0, 4), epochs=5,
           record_every=1),
        _M("dead", 2, "resnet", 2, 16, "relu", "sgd", 4.0, batch_norm=True, record_every=2, **LONG),
        _M("dead", 3, "subclassed", 4, 32, "relu", "sgd", 5.0, batch_norm=True, record_every=1, **LONG),
        _M("exploding", 0, "cnn", 2, 16, "relu", "sgd", 5.0, batch_norm=True, record_every=1, **LONG),
        _M("exploding", 1, "conv1d", 3, 16, "relu", "sgd", 3.0, batch_norm=True, record_every=2, **LONG),
        _M("flat", 2, "rnn", 1, 32, "tanh", "nadam", 1e-10, rnn="lstm", record_every=1),
        _M("flat", 3, "rnn", 2, 24, "tanh", "adam", 1e-9, rnn="simple_rnn", record_every=2),
        _M("vanishing", 1, "rnn", 2, 32, "sigmoid", "sgd", 0.1, rnn="simple_rnn", record_every=1),
        _M("healthy", 2, "rnn", 1, 32, "tanh", "rmsprop", 0.003, rnn="gru", record_every=2, epochs=5),
        _M("healthy", 3, "cnn", 3, 16, "relu", "adam", 0.001, batch_norm=True, record_every=2),
        _M("healthy", 0, "resmlp", 4, 48, "relu", "adam", 0.001, batch_norm=True, kernel="he_normal",
           record_every=1),
    ]


SETS = {"edges-spec": edges_spec_set, "edges-model": edges_model_set}
