"""Users' training code the grids do not hold, on sklearn's 8×8 digits: frozen layers, learning-rate schedules,
gradient clipping, autoencoders, unnormalised regression targets, imbalanced labels, sample weights, a tiny training
set, loss weights, a custom `train_step`, attention, bidirectional LSTMs, causal dilated Conv1D,
`steps_per_execution` and sparse records; a transformer block over token and position embeddings, a bag of
embeddings, a GAN with two optimizers, labels nine in ten of one class, 30 % of the labels shuffled, BatchNorm under
batches of 2 and 4, AdamW with a large weight decay, 20 tanh layers under LeCun's initialisation, mixed precision. Each run prints two JSON lines: first what it measures independently of
the rules (`tf.GradientTape` kernel gradients, unit counts on a probe batch, the batch losses, the weights' change
per step), then what `GradientMonitor` found.

    python benchmarks/ood_training_code.py CASE RUN_ROOT      # one case
    python benchmarks/ood_training_code.py --list              # the cases
"""

from __future__ import annotations

import json
import math
import os
import sys
import warnings

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
import keras
import numpy as np
import tensorflow as tf
from sklearn.datasets import load_digits

warnings.simplefilter("ignore")
digits = load_digits()
X = (digits.data / 16.0).astype("float32")
Y = digits.target.astype("int32")
TRAIN = 1400
STEPS_PER_EPOCH = math.ceil(TRAIN / 32)


def mlp(act="relu", depth=3, width=64, init="glorot_uniform", out=10, out_act="softmax", frozen=0, inputs=64):
    i = keras.Input((inputs,))
    h = i
    for n in range(depth):
        h = keras.layers.Dense(width, activation=act, kernel_initializer=init, trainable=n >= frozen)(h)
    return keras.Model(i, keras.layers.Dense(out, activation=out_act)(h))


def autoencoder(act="relu", init="glorot_uniform"):
    i = keras.Input((64,))
    h = keras.layers.Dense(32, activation=act, kernel_initializer=init)(i)
    h = keras.layers.Dense(8, activation=act, kernel_initializer=init)(h)
    h = keras.layers.Dense(32, activation=act, kernel_initializer=init)(h)
    return keras.Model(i, keras.layers.Dense(64, activation="sigmoid")(h))


def two_heads():
    i = keras.Input((64,))
    h = keras.layers.Dense(64, activation="relu")(i)
    h = keras.layers.Dense(64, activation="relu")(h)
    return keras.Model(i, [keras.layers.Dense(10, activation="softmax", name="digit")(h),
                           keras.layers.Dense(1, name="value")(h)])


def two_classifiers():
    i = keras.Input((64,))
    h = keras.layers.Dense(64, activation="relu")(i)
    h = keras.layers.Dense(64, activation="relu")(h)
    return keras.Model(i, [keras.layers.Dense(10, activation="softmax", name="digit")(h),
                           keras.layers.Dense(2, activation="softmax", name="parity")(h)])


def bn_cnn(frozen_bn=False):
    i = keras.Input((8, 8, 1))
    h = i
    for _ in range(3):
        h = keras.layers.Conv2D(16, 3, padding="same")(h)
        h = keras.layers.BatchNormalization(trainable=not frozen_bn)(h)
        h = keras.layers.Activation("relu")(h)
    h = keras.layers.GlobalAveragePooling2D()(h)
    return keras.Model(i, keras.layers.Dense(10, activation="softmax")(h))


def masked_gru():
    i = keras.Input((64,), dtype="int32")
    h = keras.layers.Embedding(17, 16, mask_zero=True)(i)
    h = keras.layers.GRU(32)(h)
    return keras.Model(i, keras.layers.Dense(10, activation="softmax")(h))


def attention(init="glorot_uniform"):
    i = keras.Input((8, 8))
    h = keras.layers.Dense(32, kernel_initializer=init)(i)
    a = keras.layers.MultiHeadAttention(4, 8, kernel_initializer=init)(h, h)
    h = keras.layers.LayerNormalization()(h + a)
    f = keras.layers.Dense(64, activation="relu", kernel_initializer=init)(h)
    h = keras.layers.LayerNormalization()(h + keras.layers.Dense(32, kernel_initializer=init)(f))
    h = keras.layers.GlobalAveragePooling1D()(h)
    return keras.Model(i, keras.layers.Dense(10, activation="softmax")(h))


def bilstm():
    i = keras.Input((8, 8))
    h = keras.layers.Bidirectional(keras.layers.LSTM(24, return_sequences=True))(i)
    h = keras.layers.Bidirectional(keras.layers.LSTM(24))(h)
    return keras.Model(i, keras.layers.Dense(10, activation="softmax")(h))


def causal(act="relu", init="glorot_uniform", depth=4):
    i = keras.Input((64, 1))
    h = i
    for n in range(depth):
        h = keras.layers.Conv1D(16, 3, padding="causal", dilation_rate=2 ** n, activation=act, kernel_initializer=init)(h)
    h = keras.layers.GlobalAveragePooling1D()(h)
    return keras.Model(i, keras.layers.Dense(10, activation="softmax")(h))


class CustomStep(keras.Model):
    """A functional model whose `train_step` the user wrote (TensorFlow backend)."""

    def train_step(self, data):
        x, y = data
        with tf.GradientTape() as tape:
            p = self(x, training=True)
            loss = self.compute_loss(x=x, y=y, y_pred=p)
        grads = tape.gradient(loss, self.trainable_variables)
        self.optimizer.apply(grads, self.trainable_variables)
        for m in self.metrics:
            m.update_state(loss) if m.name == "loss" else m.update_state(y, p)
        return {m.name: m.result() for m in self.metrics}


def custom_step(act="relu", depth=3, init="glorot_uniform"):
    base = mlp(act, depth, init=init)
    return CustomStep(base.inputs, base.outputs)


def pretrained_then_frozen():
    """Fine-tuning: a base trained on digits 0-4, frozen, under a new head for all ten."""
    keras.utils.set_random_seed(1)
    base = mlp(depth=3)
    base.compile(optimizer=keras.optimizers.Adam(1e-3), loss="sparse_categorical_crossentropy")
    keep = Y[:TRAIN] < 5
    base.fit(X[:TRAIN][keep], Y[:TRAIN][keep], epochs=3, batch_size=32, verbose=0)
    features = keras.Model(base.inputs, base.layers[-2].output)
    features.trainable = False
    i = keras.Input((64,))
    h = keras.layers.Dense(32, activation="relu")(features(i))
    return keras.Model(i, keras.layers.Dense(10, activation="softmax")(h))


def token_transformer(heads=4, width=32):
    """Tokens (pixel intensities 0-16) with learned position embeddings, one pre-norm transformer block."""
    i = keras.Input((64,), dtype="int32")
    tokens = keras.layers.Embedding(17, width)(i)
    positions = keras.layers.Embedding(64, width)(keras.ops.arange(64))
    h = tokens + positions
    a = keras.layers.MultiHeadAttention(heads, width // heads)(keras.layers.LayerNormalization()(h),
                                                               keras.layers.LayerNormalization()(h))
    h = h + a
    f = keras.layers.Dense(2 * width, activation="gelu")(keras.layers.LayerNormalization()(h))
    h = h + keras.layers.Dense(width)(f)
    h = keras.layers.GlobalAveragePooling1D()(keras.layers.LayerNormalization()(h))
    return keras.Model(i, keras.layers.Dense(10, activation="softmax")(h))


def bag_of_embeddings():
    """A text-style classifier: token embeddings averaged, one hidden layer."""
    i = keras.Input((64,), dtype="int32")
    h = keras.layers.GlobalAveragePooling1D()(keras.layers.Embedding(17, 16)(i))
    h = keras.layers.Dense(32, activation="relu")(h)
    return keras.Model(i, keras.layers.Dense(10, activation="softmax")(h))


def bn_mlp():
    i = keras.Input((64,))
    h = i
    for _ in range(3):
        h = keras.layers.Dense(64)(h)
        h = keras.layers.BatchNormalization()(h)
        h = keras.layers.Activation("relu")(h)
    return keras.Model(i, keras.layers.Dense(10, activation="softmax")(h))


def mixed_mlp(depth=3, act="relu"):
    """Under the mixed_float16 policy (set by the case's options before it is built); the output in float32."""
    i = keras.Input((64,))
    h = i
    for _ in range(depth):
        h = keras.layers.Dense(64, activation=act)(h)
    return keras.Model(i, keras.layers.Dense(10, activation="softmax", dtype="float32")(h))


class GAN(keras.Model):
    """A GAN on the digits: two models, two optimizers, the user's own `train_step` (TensorFlow backend)."""

    def __init__(self):
        super().__init__()
        g_in = keras.Input((16,))
        h = keras.layers.Dense(64, activation="relu")(g_in)
        h = keras.layers.Dense(64, activation="relu")(h)
        self.generator = keras.Model(g_in, keras.layers.Dense(64, activation="sigmoid")(h), name="generator")
        d_in = keras.Input((64,))
        h = keras.layers.Dense(64, activation="leaky_relu")(d_in)
        h = keras.layers.Dense(32, activation="leaky_relu")(h)
        self.discriminator = keras.Model(d_in, keras.layers.Dense(1)(h), name="discriminator")
        self.bce = keras.losses.BinaryCrossentropy(from_logits=True)

    def call(self, x):
        return self.discriminator(x)

    def compile(self, d_optimizer, g_optimizer):
        super().compile()
        self.d_optimizer, self.g_optimizer = d_optimizer, g_optimizer

    def losses_of(self, real):
        n = tf.shape(real)[0]
        fake = self.generator(tf.random.normal((n, 16)))
        real_logits, fake_logits = self.discriminator(real), self.discriminator(fake)
        d_loss = (self.bce(tf.ones_like(real_logits), real_logits) + self.bce(tf.zeros_like(fake_logits), fake_logits))
        return d_loss, self.bce(tf.ones_like(fake_logits), fake_logits)

    def train_step(self, data):
        real = data[0] if isinstance(data, tuple) else data
        with tf.GradientTape() as tape:
            d_loss, _ = self.losses_of(real)
        d_vars = self.discriminator.trainable_variables
        self.d_optimizer.apply(tape.gradient(d_loss, d_vars), d_vars)
        with tf.GradientTape() as tape:
            _, g_loss = self.losses_of(real)
        g_vars = self.generator.trainable_variables
        self.g_optimizer.apply(tape.gradient(g_loss, g_vars), g_vars)
        return {"loss": d_loss + g_loss, "d_loss": d_loss, "g_loss": g_loss}


def warmup_cosine(peak, warmup, total, floor=0.0):
    return keras.optimizers.schedules.CosineDecay(0.0, total - warmup, alpha=floor, warmup_target=peak,
                                                  warmup_steps=warmup)


TOTAL = 6 * STEPS_PER_EPOCH
SCE = "sparse_categorical_crossentropy"
# name: (builder, optimizer, loss, data kind, options)
CASES = {
    "frozen-first2-healthy": (lambda: mlp(depth=4, frozen=2), lambda: keras.optimizers.Adam(1e-3), SCE, "int", {}),
    "frozen-first2-sigmoid-sgd": (lambda: mlp("sigmoid", depth=8, frozen=2), lambda: keras.optimizers.SGD(0.05), SCE,
                                  "int", {}),
    "finetune-frozen-base-healthy": (pretrained_then_frozen, lambda: keras.optimizers.Adam(1e-3), SCE, "int", {}),
    "warmup-cosine-healthy": (mlp, lambda: keras.optimizers.Adam(warmup_cosine(3e-3, 40, TOTAL)), SCE, "int", {}),
    "cosine-to-zero-early": (mlp, lambda: keras.optimizers.Adam(warmup_cosine(1e-3, 0, 30)), SCE, "int", {}),
    "expdecay-to-zero": (mlp, lambda: keras.optimizers.SGD(keras.optimizers.schedules.ExponentialDecay(
        0.05, 10, 0.1)), SCE, "int", {}),
    "reduce-on-plateau-healthy": (mlp, lambda: keras.optimizers.Adam(3e-3), SCE, "int", {"plateau": True}),
    "clipnorm-sgd-lr-too-high": (lambda: mlp(depth=4, init="he_normal"),
                                 lambda: keras.optimizers.SGD(3.0, clipnorm=1.0), SCE, "int", {}),
    "global-clipnorm-adam-high": (lambda: mlp(depth=4), lambda: keras.optimizers.Adam(0.05, global_clipnorm=1.0), SCE,
                                  "int", {}),
    "clipnorm-adam-healthy": (mlp, lambda: keras.optimizers.Adam(1e-3, clipnorm=1.0), SCE, "int", {}),
    "autoencoder-mse-healthy": (autoencoder, lambda: keras.optimizers.Adam(3e-3), "mse", "ae", {}),
    "autoencoder-mse-tiny-sgd": (lambda: autoencoder("sigmoid", keras.initializers.RandomNormal(stddev=0.01)),
                                 lambda: keras.optimizers.SGD(0.1), "mse", "ae", {}),
    "regression-unnormalised-adam": (lambda: mlp(out=1, out_act=None), lambda: keras.optimizers.Adam(1e-3), "mse",
                                     "reg1000", {}),
    "regression-unnormalised-adam-fast": (lambda: mlp(out=1, out_act=None), lambda: keras.optimizers.Adam(0.1),
                                          "mse", "reg1000", {}),
    "imbalanced-binary-healthy": (lambda: mlp(out=1, out_act="sigmoid"), lambda: keras.optimizers.Adam(1e-3),
                                  "binary_crossentropy", "rare", {}),
    "imbalanced-binary-sigmoid-deep": (lambda: mlp("sigmoid", depth=8, out=1, out_act="sigmoid"),
                                       lambda: keras.optimizers.SGD(0.05), "binary_crossentropy", "rare", {}),
    "imbalanced-10class-lr-tiny": (mlp, lambda: keras.optimizers.Adam(1e-5), SCE, "skew", {}),
    "sample-weights-healthy": (mlp, lambda: keras.optimizers.Adam(1e-3), SCE, "int", {"weights": True}),
    "tiny-train-overfit": (lambda: mlp(width=128), lambda: keras.optimizers.Adam(3e-3), SCE, "int",
                           {"train": 48, "epochs": 60}),
    "loss-weights-healthy": (two_heads, lambda: keras.optimizers.Adam(1e-3), [SCE, "mse"], "two",
                             {"loss_weights": [1.0, 0.01]}),
    "custom-train-step-healthy": (custom_step, lambda: keras.optimizers.Adam(1e-3), SCE, "int", {}),
    "custom-train-step-sigmoid": (lambda: custom_step("sigmoid", 8), lambda: keras.optimizers.SGD(0.05), SCE, "int",
                                  {}),
    "attention-healthy": (attention, lambda: keras.optimizers.Adam(1e-3), SCE, "seq", {}),
    "attention-lr-high": (attention, lambda: keras.optimizers.Adam(0.05), SCE, "seq", {}),
    "bilstm-healthy": (bilstm, lambda: keras.optimizers.Adam(3e-3), SCE, "seq", {}),
    "causal-dilated-healthy": (causal, lambda: keras.optimizers.Adam(3e-3), SCE, "wave", {}),
    "causal-dilated-tanh-tiny": (lambda: causal("tanh", keras.initializers.RandomNormal(stddev=0.01), 6),
                                 lambda: keras.optimizers.SGD(0.05), SCE, "wave", {}),
    "steps-per-execution-healthy": (mlp, lambda: keras.optimizers.Adam(1e-3), SCE, "int", {"spe": 4}),
    "record-every-7-sigmoid": (lambda: mlp("sigmoid", depth=8), lambda: keras.optimizers.SGD(0.05), SCE, "int",
                               {"record_every": 7}),
    "validation-lr-zero-ish": (mlp, lambda: keras.optimizers.Adam(1e-8), SCE, "int", {}),
    "imbalanced-binary-lr-tiny": (lambda: mlp(out=1, out_act="sigmoid"), lambda: keras.optimizers.Adam(1e-5),
                                  "binary_crossentropy", "rare", {}),
    "class-weight-9-healthy": (lambda: mlp(out=1, out_act="sigmoid"), lambda: keras.optimizers.Adam(1e-3),
                               "binary_crossentropy", "rare", {"class_weight": {0: 1.0, 1: 9.0}}),
    "class-weight-30-healthy": (lambda: mlp(out=1, out_act="sigmoid"), lambda: keras.optimizers.Adam(1e-3),
                                "binary_crossentropy", "rare", {"class_weight": {0: 1.0, 1: 30.0}}),
    "loss-weights-10-healthy": (two_classifiers, lambda: keras.optimizers.Adam(1e-3), [SCE, SCE], "two2",
                                {"loss_weights": [10.0, 1.0]}),
    "regression-standardised-healthy": (lambda: mlp(out=1, out_act=None), lambda: keras.optimizers.Adam(1e-3),
                                        "mse", "regz", {}),
    "regression-unnormalised-sgd": (lambda: mlp(out=1, out_act=None), lambda: keras.optimizers.SGD(1e-4), "mse",
                                    "reg1000", {}),
    "reduce-on-plateau-collapse": (mlp, lambda: keras.optimizers.Adam(2e-5), SCE, "int", {"plateau": "collapse"}),
    "bilstm-lr-high": (bilstm, lambda: keras.optimizers.Adam(0.1), SCE, "seq", {}),
    "custom-train-step-sgd-high": (lambda: custom_step("relu", 6, "he_normal"), lambda: keras.optimizers.SGD(2.0),
                                   SCE, "int", {}),
    "spe-8-sigmoid-deep": (lambda: mlp("sigmoid", depth=8), lambda: keras.optimizers.SGD(0.05), SCE, "int",
                           {"spe": 8}),
    "masked-gru-healthy": (masked_gru, lambda: keras.optimizers.Adam(3e-3), SCE, "tok", {}),
    "attention-tiny-sgd": (lambda: attention(keras.initializers.RandomNormal(stddev=0.001)),
                           lambda: keras.optimizers.SGD(0.05), SCE, "seq", {}),
    "autoencoder-bce-healthy": (autoencoder, lambda: keras.optimizers.Adam(3e-3), "binary_crossentropy", "ae", {}),
    "autoencoder-bce-lr-zero-ish": (autoencoder, lambda: keras.optimizers.Adam(1e-8), "binary_crossentropy", "ae",
                                    {}),
    "autoencoder-bce-tiny-sgd": (lambda: autoencoder("sigmoid", keras.initializers.RandomNormal(stddev=0.01)),
                                 lambda: keras.optimizers.SGD(0.1), "binary_crossentropy", "ae", {}),
    "multilabel-healthy": (lambda: mlp(out=4, out_act="sigmoid"), lambda: keras.optimizers.Adam(1e-3),
                           "binary_crossentropy", "multi", {}),
    "multilabel-lr-tiny": (lambda: mlp(out=4, out_act="sigmoid"), lambda: keras.optimizers.Adam(1e-5),
                           "binary_crossentropy", "multi", {}),
    "multilabel-sigmoid-deep": (lambda: mlp("sigmoid", depth=8, out=4, out_act="sigmoid"),
                                lambda: keras.optimizers.SGD(0.05), "binary_crossentropy", "multi", {}),
    "bn-cnn-frozen-bn-healthy": (lambda: bn_cnn(True), lambda: keras.optimizers.Adam(3e-3), SCE, "img", {}),
    "grad-accumulation-4-record-4-healthy": (mlp, lambda: keras.optimizers.Adam(1e-3, gradient_accumulation_steps=4),
                                             SCE, "int", {"record_every": 4}),
    "grad-accumulation-4-record-1-healthy": (mlp, lambda: keras.optimizers.Adam(1e-3, gradient_accumulation_steps=4),
                                             SCE, "int", {"record_every": 1}),
    "grad-accumulation-3-record-2-healthy": (mlp, lambda: keras.optimizers.Adam(1e-3, gradient_accumulation_steps=3),
                                             SCE, "int", {}),
    "dataset-unknown-length-lr-tiny": (mlp, lambda: keras.optimizers.Adam(1e-5), SCE, "int", {"dataset": True}),
    "focal-binary-healthy": (lambda: mlp(out=1, out_act="sigmoid"), lambda: keras.optimizers.Adam(1e-3),
                             keras.losses.BinaryFocalCrossentropy(), "rare", {}),
    "continued-fit-adam-high": (mlp, lambda: keras.optimizers.Adam(0.01), SCE, "int", {"warm_epochs": 4}),
    "continued-fit-healthy": (mlp, lambda: keras.optimizers.Adam(1e-3), SCE, "int", {"warm_epochs": 6}),
    "cosine-restarts-adam-healthy": (mlp, lambda: keras.optimizers.Adam(keras.optimizers.schedules.CosineDecayRestarts(
        3e-3, 40)), SCE, "int", {}),
    "cosine-restarts-sgd-healthy": (lambda: mlp(init="he_normal"), lambda: keras.optimizers.SGD(
        keras.optimizers.schedules.CosineDecayRestarts(0.3, 30, m_mul=1.0), momentum=0.9), SCE, "int", {}),
    "token-transformer-healthy": (token_transformer, lambda: keras.optimizers.Adam(1e-3), SCE, "tok", {}),
    "token-transformer-lr-high": (token_transformer, lambda: keras.optimizers.Adam(0.3), SCE, "tok", {}),
    "bag-of-embeddings-healthy": (bag_of_embeddings, lambda: keras.optimizers.Adam(3e-3), SCE, "tok", {}),
    "bag-of-embeddings-lr-tiny": (bag_of_embeddings, lambda: keras.optimizers.Adam(1e-5), SCE, "tok", {}),
    "gan-two-optimizers-healthy": (GAN, lambda: None, None, "int", {"gan": True}),
    "majority-90-healthy": (mlp, lambda: keras.optimizers.Adam(1e-3), SCE, "major", {}),
    "majority-90-lr-tiny": (mlp, lambda: keras.optimizers.Adam(1e-5), SCE, "major", {}),
    "label-noise-30-healthy": (mlp, lambda: keras.optimizers.Adam(1e-3), SCE, "noisy", {}),
    "bn-batch2-healthy": (bn_mlp, lambda: keras.optimizers.Adam(1e-3), SCE, "int", {"batch": 2, "train": 600,
                                                                                     "epochs": 2}),
    "bn-batch4-healthy": (bn_mlp, lambda: keras.optimizers.Adam(1e-3), SCE, "int", {"batch": 4, "epochs": 2}),
    "adamw-huge-decay": (mlp, lambda: keras.optimizers.AdamW(1e-3, weight_decay=50.0), SCE, "int", {}),
    "adamw-large-decay-healthy": (mlp, lambda: keras.optimizers.AdamW(1e-3, weight_decay=0.5), SCE, "int", {}),
    "tanh-20-lecun-healthy": (lambda: mlp("tanh", depth=20, init="lecun_normal"), lambda: keras.optimizers.Adam(1e-3),
                              SCE, "int", {}),
    "tanh-20-lecun-sgd": (lambda: mlp("tanh", depth=20, init="lecun_normal"), lambda: keras.optimizers.SGD(0.01),
                          SCE, "int", {}),
    "mixed-float16-healthy": (mixed_mlp, lambda: keras.optimizers.Adam(1e-3), SCE, "int", {"mixed": True}),
    "mixed-float16-lr-high": (lambda: mixed_mlp(4), lambda: keras.optimizers.SGD(3.0), SCE, "int", {"mixed": True}),
    "mixed-float16-adam-high": (mixed_mlp, lambda: keras.optimizers.Adam(0.1), SCE, "int", {"mixed": True}),
    "gan-two-optimizers-lr-high": (GAN, lambda: None, None, "int", {"gan": True, "rate": 0.05}),
    "token-transformer-lr-0.01": (token_transformer, lambda: keras.optimizers.Adam(0.01), SCE, "tok", {}),
    "mixed-float16-sigmoid-deep": (lambda: mixed_mlp(8, "sigmoid"), lambda: keras.optimizers.SGD(0.05), SCE, "int",
                                   {"mixed": True}),
    "label-noise-30-lr-tiny": (mlp, lambda: keras.optimizers.Adam(1e-5), SCE, "noisy", {}),
    "bn-batch4-sgd-high": (bn_mlp, lambda: keras.optimizers.SGD(2.0), SCE, "int", {"batch": 4, "epochs": 2}),
    "token-transformer-spe4-record3-healthy": (token_transformer, lambda: keras.optimizers.Adam(1e-3), SCE, "tok",
                                               {"spe": 4, "record_every": 3}),
    "majority-90-balanced-weights-healthy": (mlp, lambda: keras.optimizers.Adam(1e-3), SCE, "major",
                                             {"weights": "balanced"}),
    "tiny-train-bn-batch4-overfit": (bn_mlp, lambda: keras.optimizers.Adam(3e-3), SCE, "int",
                                     {"train": 48, "batch": 4, "epochs": 30}),
    "mixed-float16-grad-accumulation-2-healthy": (mixed_mlp, lambda: keras.optimizers.Adam(
        1e-3, gradient_accumulation_steps=2), SCE, "int", {"mixed": True}),
}


def data(kind):
    if kind == "major":  # ten classes, nine in ten examples a 0 (the zeros drawn again and again)
        rng = np.random.default_rng(5)
        zeros, rest = np.flatnonzero(Y == 0), np.flatnonzero(Y != 0)
        picks = np.concatenate([rng.choice(zeros, 1575), rng.choice(rest, 175, replace=False)])
        return X[picks], Y[picks]
    if kind == "noisy":  # 30 % of the labels shuffled among themselves
        rng = np.random.default_rng(5)
        y = Y.copy()
        moved = rng.choice(len(y), int(0.3 * len(y)), replace=False)
        y[moved] = y[rng.permutation(moved)]
        return X, y
    if kind == "multi":  # four yes/no attributes of the digit: five or more, even, prime, with a closed loop
        return X, np.stack([Y >= 5, Y % 2 == 0, np.isin(Y, [2, 3, 5, 7]), np.isin(Y, [0, 6, 8, 9])],
                           axis=1).astype("float32")
    if kind == "img":
        return X.reshape(-1, 8, 8, 1), Y
    if kind == "regz":
        return X, ((Y - 4.5) / 2.87).astype("float32")[:, None]
    if kind == "two2":
        return X, (Y, Y % 2)
    if kind == "tok":
        return np.round(X * 16).astype("int32"), Y
    if kind == "ae":
        return X, X
    if kind == "reg1000":
        return X, (Y * 1000.0 + 500.0).astype("float32")[:, None]
    if kind == "rare":
        return X, (Y == 0).astype("float32")[:, None]  # one in ten
    if kind == "skew":  # digits 0-1 kept whole, the rest one in eight: a label prior far from uniform
        keep = (Y < 2) | (np.arange(len(Y)) % 8 == 0)
        return X[keep], Y[keep]
    if kind == "two":
        return X, (Y, (Y / 9.0).astype("float32")[:, None])
    if kind == "seq":
        return X.reshape(-1, 8, 8), Y
    if kind == "wave":
        return X.reshape(-1, 64, 1), Y
    return X, Y


def take(a, sl):
    return tuple(v[sl] for v in a) if isinstance(a, tuple) else a[sl]


def kernel_grads(model, x, y):
    """Mean |dL/dW| of every Dense/conv/recurrent kernel (trainable), in the order of `trainable_variables`."""
    kernels = [v for v in model.trainable_variables if v.path.endswith("kernel") and len(v.shape) >= 2
               and not any(p in v.path for p in ("query", "key", "value", "attention_output"))]
    with tf.GradientTape() as tape:
        p = model(x, training=False)
        loss = model.compute_loss(x=x, y=y, y_pred=p)
    grads = tape.gradient(loss, kernels)
    return float(loss), [(v.path, float(np.mean(np.abs(g))) if g is not None else 0.0) for v, g in zip(kernels, grads)]


def units(model, x):
    """The largest share of a hidden layer's units dead on every example (ReLU output 0), and of its values in a
    sigmoid/tanh flat tail (slope under 2.7 % of its maximum)."""
    layers = [layer for layer in model.layers[1:-1] if getattr(layer, "activation", None) is not None]
    named = [(layer, getattr(layer.activation, "__name__", "")) for layer in layers]
    named = [(layer, a) for layer, a in named if a in ("relu", "sigmoid", "tanh")]
    if not named:
        return math.nan, math.nan
    try:
        side = keras.Model(model.inputs, [layer.output for layer, _ in named])
        outs = side(x)
    except Exception:  # noqa: BLE001 - a subclassed model or a layer used twice: not measured here
        return math.nan, math.nan
    outs = outs if isinstance(outs, (list, tuple)) else [outs]
    dead = sat = 0.0
    for (_, a), o in zip(named, outs):
        o = np.asarray(o).reshape(-1, o.shape[-1])
        if a == "relu":
            dead = max(dead, float(np.mean(np.all(o <= 0, axis=0))))
        elif a == "sigmoid":
            sat = max(sat, float(np.mean((o < 0.00669) | (o > 0.99331))))
        else:
            sat = max(sat, float(np.mean(np.abs(o) > 0.98661)))
    return dead, sat


class Facts(keras.callbacks.Callback):
    def __init__(self):
        super().__init__()
        self.losses, self.previous, self.epoch_change = [], 0.0, []

    def on_epoch_begin(self, epoch, logs=None):
        self.start = [np.array(v.numpy()) for v in self.model.trainable_variables]
        self.steps = 0

    def on_train_batch_end(self, batch, logs=None):
        mean = float((logs or {}).get("loss", math.nan))
        self.losses.append(mean if batch == 0 else (batch + 1) * mean - batch * self.previous)
        self.previous = mean
        self.steps = batch + 1

    def on_epoch_end(self, epoch, logs=None):
        now = [np.asarray(v.numpy()) for v in self.model.trainable_variables]
        num = sum(float(((a - b) ** 2).sum()) for a, b in zip(now, self.start))
        den = sum(float((b ** 2).sum()) for b in self.start)
        self.epoch_change.append(math.sqrt(num / den) / max(self.steps, 1) if den else math.nan)


def gan_main(name, root):
    """The GAN: what it measures is each model's kernel gradients of its own loss, and the two losses."""
    keras.utils.set_random_seed(0)
    gan = GAN()
    rate = CASES[name][4].get("rate", 2e-4)
    gan.compile(keras.optimizers.Adam(rate, beta_1=0.5), keras.optimizers.Adam(rate, beta_1=0.5))
    x = X[np.random.permutation(len(X))][:TRAIN]

    def grads():
        with tf.GradientTape(persistent=True) as tape:
            d_loss, g_loss = gan.losses_of(tf.constant(x[:128]))
        out = {}
        for part, loss in (("discriminator", d_loss), ("generator", g_loss)):
            kernels = [v for v in getattr(gan, part).trainable_variables if v.path.endswith("kernel")]
            g = [float(np.mean(np.abs(t))) for t in tape.gradient(loss, kernels)]
            out[part] = {"loss": float(loss), "first_last_ratio": g[0] / g[-1], "kernel_grads": [f"{v:.2e}" for v in g]}
        return out

    before = grads()
    from vg_studio.monitor import GradientMonitor

    monitor = GradientMonitor(os.path.join(root, name), record_every=2, probe_data=x[:128], warnings=None)
    history = gan.fit(x, epochs=6, batch_size=32, verbose=0, callbacks=[monitor])
    real = gan.discriminator(x[:256])
    fake = gan.discriminator(gan.generator(tf.random.normal((256, 16))))
    print(json.dumps({"name": name, "facts": {
        "before": before, "after": grads(), "d_loss": [round(v, 3) for v in history.history["d_loss"]],
        "g_loss": [round(v, 3) for v in history.history["g_loss"]],
        "discriminator_accuracy": float(0.5 * (np.mean(real > 0) + np.mean(fake < 0))),
        "fake_mean_pixel": float(np.mean(gan.generator(tf.random.normal((256, 16))))), "real_mean_pixel":
            float(np.mean(x))}}))
    print_verdict(name, monitor)


def print_verdict(name, monitor):
    found = [(f.kind, f.severity, getattr(f, "state", "active"), f.step, getattr(f, "last_step", None))
             for f in monitor.findings]
    print(json.dumps({"name": name, "verdict": {
        "held": [f"{k}:{s}" for k, s, st, _, _ in found if st == "active" and s != "info"],
        "other": [f"{k}:{s}:{st}:{a}-{b}" for k, s, st, a, b in found if not (st == "active" and s != "info")]}}))


def main(name, root):
    build, optimizer, loss, kind, options = CASES[name]
    if options.get("gan"):
        return gan_main(name, root)
    if options.get("mixed"):
        keras.mixed_precision.set_global_policy("mixed_float16")
    keras.utils.set_random_seed(0)
    model = build()
    x, y = data(kind)
    keras.utils.set_random_seed(0)
    order = np.random.permutation(len(x))
    x, y = x[order], take(y, order)
    n = options.get("train", min(TRAIN, int(0.8 * len(x))))
    metrics = [] if kind in ("ae", "reg1000", "regz", "multi") else (["accuracy", None] if kind == "two" else
                                                           ["accuracy", "accuracy"] if kind == "two2" else ["accuracy"])
    model.compile(optimizer=optimizer(), loss=loss, metrics=metrics, loss_weights=options.get("loss_weights"),
                  steps_per_execution=options.get("spe", 1))
    probe_x, probe_y = x[:128], take(y, slice(0, 128))
    if options.get("warm_epochs"):  # training continued: a first fit without the monitor, then the monitored one
        model.fit(x[:n], take(y, slice(0, n)), epochs=options["warm_epochs"], batch_size=32, verbose=0)
    loss0, g0 = kernel_grads(model, probe_x, probe_y)
    d0, s0 = units(model, probe_x)
    from vg_studio.monitor import GradientMonitor

    # the probe rows' targets: model.json's loss of guessing is measured on them
    monitor = GradientMonitor(os.path.join(root, name), record_every=options.get("record_every", 2),
                              probe_data=probe_x, probe_targets=probe_y, warnings=None)
    facts = Facts()
    callbacks = [facts, monitor]
    if options.get("plateau") == "collapse":  # every epoch that improves less than 0.1 cuts the rate 100x
        callbacks.append(keras.callbacks.ReduceLROnPlateau("loss", factor=0.01, patience=0, min_delta=0.1))
    elif options.get("plateau"):
        callbacks.append(keras.callbacks.ReduceLROnPlateau("loss", factor=0.3, patience=1, min_delta=0.05))
    sample_weight = None
    if options.get("weights") == "balanced":  # each class weighted by 1 / (classes × its share): mean weight 1
        counts = np.bincount(y[:n], minlength=10).astype("float32")
        sample_weight = (n / (10 * np.maximum(counts, 1)))[y[:n]].astype("float32")
    elif options.get("weights"):
        sample_weight = np.where(take(y, slice(0, n)) % 2 == 0, 2.0, 0.5).astype("float32")
    train = {"x": x[:n], "y": take(y, slice(0, n)), "batch_size": options.get("batch", 32)}
    if options.get("dataset"):  # a filtered tf.data pipeline: Keras does not know an epoch's length beforehand
        pipeline = tf.data.Dataset.from_tensor_slices((x[:n], take(y, slice(0, n)))).filter(lambda a, b: True)
        train = {"x": pipeline.batch(32)}
    history = model.fit(**train, epochs=options.get("epochs", 6), verbose=0,
                        callbacks=callbacks, sample_weight=sample_weight,
                        class_weight=options.get("class_weight"),
                        validation_data=(x[n:], take(y, slice(n, None))))
    loss1, g1 = kernel_grads(model, probe_x, probe_y)
    d1, s1 = units(model, probe_x)
    evaluated = model.evaluate(x[n:], take(y, slice(n, None)), verbose=0, return_dict=True)
    ratio = (lambda g: g[0][1] / g[-1][1] if len(g) >= 2 and g[-1][1] > 0 else math.nan)
    losses = np.asarray(facts.losses)
    print(json.dumps({"name": name, "facts": {
        "batch_loss_first": losses[:3].round(4).tolist(), "batch_loss_last10_median": float(np.median(losses[-10:])),
        "epoch_loss": [round(v, 4) for v in history.history["loss"]], "probe_loss": [loss0, loss1],
        "grad_ratio_first_last": [ratio(g0), ratio(g1)], "kernel_grads_end": [(p, f"{v:.2e}") for p, v in g1],
        "dead": [d0, d1], "saturated": [s0, s1], "update_ratio_per_step_by_epoch": [f"{v:.1e}" for v in
                                                                                    facts.epoch_change],
        "eval": evaluated, "steps": len(losses)}}))
    print_verdict(name, monitor)


if __name__ == "__main__":
    if sys.argv[1:] == ["--list"]:
        print("\n".join(CASES))
    else:
        main(sys.argv[1], sys.argv[2])
