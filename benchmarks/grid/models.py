"""Runs of a user's own Keras models in the labelled grid: built and compiled as a user would, trained with plain
`model.fit` and `GradientMonitor`, diagnosed from their model.json runs. Before and after training the worker
measures what each run shows, independently of the rules (`checks.measure`), and runs the pre-flight check on the
first batch; both are stored beside the run directory (NAME.checks.json, NAME.preflight.json), never in it.

Sets: `model` — CNNs with and without BatchNorm, residual CNNs, small transformers with an Embedding, MLPs;
sigmoid/tanh/ReLU/GELU; SGD, Adam, RMSprop, Nadam. `findings` — the classes that findings with a life, ranking by
persistence, layer-kind advice and the rules for oscillation, slow convergence and poor initialisation are about: a
residual ReLU+BN MLP under SGD+momentum whose loss starts far above chance and then trains; a tiny-init deep
sigmoid; an Adam learning-rate spike that leaves dead ReLUs; a residual MLP at lr 1e-8; hard_sigmoid and softsign
networks; LSTM/BiLSTM/SimpleRNN stacks; oscillating, slowly converging and poorly initialised networks.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

TOKEN_ARCHS = ("transformer", "embconv")  # models whose inputs are pixels as token ids


@dataclass(frozen=True)
class ModelConfig:
    """`arch`: "mlp", "cnn" (Conv2D stack, optional BatchNorm → activation, then Dense), "resnet" (residual CNN),
    "resmlp" (residual Dense blocks), "rnn" (a stack of `rnn` layers over the image's rows), "transformer",
    "sepconv" (depthwise-separable convolutions), "lnmlp" (Dense → LayerNormalization → activation), "embconv"
    (an Embedding of pixel tokens under Conv1D layers), "densenet" (each Dense layer's output concatenated to its
    input) or "gncnn" (Conv2D → GroupNormalization → activation)."""
    label: str
    dataset: str
    arch: str
    depth: int
    width: int
    activation: str
    optimizer: str
    lr: float
    batch_norm: bool = False
    init_stddev: float | None = None  # RandomNormal(stddev) kernels instead of `kernel`
    kernel: str = "glorot_uniform"
    bias: float = 0.0
    batch_size: int = 32
    record_every: int = 2
    epochs: int = 3
    limit: int = 600
    seed: int = 0
    pool: bool = True  # a CNN on images larger than 16×16 pools after its first convolution
    head: int = 32  # the width of a CNN's Dense layer before the softmax
    momentum: float = 0.0  # SGD momentum
    rnn: str = "simple_rnn"  # the recurrent layer of arch "rnn": simple_rnn, lstm, gru, bilstm
    spike: tuple = ()  # (first step, learning rate, steps): the rate is raised for a few steps, then restored
    out_scale: float = 1.0  # the output layer's kernel is scaled by this at the start
    # a learning-rate schedule: "cosine" (a tenth of decay_steps' warm-up from 0, then cosine decay to 0 at
    # decay_steps), "exponential" (10x lower every decay_steps), "plateau" (Keras's ReduceLROnPlateau cutting the rate
    # 100x after every epoch whose loss fell by less than 0.1)
    schedule: str = ""
    decay_steps: int = 0
    frozen: int = 0  # the first `frozen` layers with a kernel are not trainable (fine-tuning)
    clipnorm: float = 0.0  # the optimizer clips each gradient to this norm
    weight_decay: float = 0.0  # AdamW's decoupled weight decay
    skew: float = 0.0  # the training examples redrawn so that this share of them is of class 0 (a label prior)
    noise: float = 0.0  # this share of the training labels shuffled among themselves (labels partly wrong)

    @property
    def name(self) -> str:
        init = f"-n{self.init_stddev:g}" if self.init_stddev else ("" if self.kernel == "glorot_uniform"
                                                                    else f"-{self.kernel}")
        init += ("" if self.pool else "-nopool") + ("" if self.head == 32 else f"-head{self.head}")
        extra = (f"-{self.rnn}" if self.arch == "rnn" else "") + (f"-m{self.momentum:g}" if self.momentum else "") \
            + (f"-spike{'_'.join(f'{v:g}' for v in self.spike)}" if self.spike else "") \
            + (f"-out{self.out_scale:g}" if self.out_scale != 1 else "")
        extra += (f"-{self.schedule}{self.decay_steps or ''}" if self.schedule else "") \
            + (f"-frozen{self.frozen}" if self.frozen else "") + (f"-clip{self.clipnorm:g}" if self.clipnorm else "")
        extra += (f"-wd{self.weight_decay:g}" if self.weight_decay else "") \
            + (f"-skew{self.skew:g}" if self.skew else "") + (f"-noise{self.noise:g}" if self.noise else "")
        bias = f"-b{self.bias:g}" if self.bias else ""
        return (f"model-{self.label}-{self.dataset}-{self.arch}{self.depth}x{self.width}-{self.activation}"
                f"{'-bn' if self.batch_norm else ''}{init}{bias}{extra}-{self.optimizer}{self.lr:g}-"
                f"bs{self.batch_size}-re{self.record_every}-e{self.epochs}-s{self.seed}")

    def build(self, input_shape, num_classes: int):
        import keras

        keras.utils.set_random_seed(self.seed)
        kernel = keras.initializers.RandomNormal(stddev=self.init_stddev) if self.init_stddev else self.kernel
        bias = keras.initializers.Constant(self.bias)
        if self.arch == "subclassed":
            return self._compile(keras, self._subclassed(keras, input_shape, num_classes, kernel, bias))
        inputs = keras.Input(input_shape, dtype="int32" if self.arch in TOKEN_ARCHS else None)
        x = inputs
        side = int(round(np.sqrt(np.prod(input_shape))))
        body = getattr(self, f"_{self.arch}", None)  # an architecture with a builder method of its own
        if body is not None:
            x = body(keras, x, side, kernel, bias)
        else:
            x = keras.layers.Reshape((side, side, 1))(x) if self.arch == "cnn" else \
                keras.layers.Reshape((side, side))(x) if self.arch == "conv1d" else keras.layers.Flatten()(x)
        for i in range(self.depth if self.arch in ("cnn", "mlp", "conv1d") else 0):
            if self.arch in ("cnn", "conv1d"):
                conv = keras.layers.Conv2D if self.arch == "cnn" else keras.layers.Conv1D
                layer = conv(self.width, 3, padding="same", kernel_initializer=kernel, bias_initializer=bias,
                             activation=None if self.batch_norm else self.activation)
            else:
                layer = keras.layers.Dense(self.width, kernel_initializer=kernel, bias_initializer=bias,
                                           activation=None if self.batch_norm else self.activation)
            x = layer(x)
            if self.batch_norm:
                x = keras.layers.BatchNormalization()(x)
                x = keras.layers.Activation(self.activation)(x)
            if self.arch == "cnn" and i == 0 and side > 16 and self.pool:
                x = keras.layers.MaxPooling2D(2)(x)  # keeps mnist-sized CNNs quick on a CPU
        if self.arch in ("cnn", "conv1d"):
            x = keras.layers.Flatten()(x)
            x = keras.layers.Dense(self.head, activation=self.activation, kernel_initializer=kernel)(x)
        output = keras.layers.Dense(num_classes, activation="softmax")
        model = keras.Model(inputs, output(x))
        if self.out_scale != 1:
            output.kernel.assign(output.kernel * self.out_scale)
        for layer in [layer for layer in model.layers if hasattr(layer, "kernel")][:self.frozen]:
            layer.trainable = False
        return self._compile(keras, model)

    def _subclassed(self, keras, input_shape, num_classes, kernel, bias):
        """A user's `keras.Model` subclass: Flatten, `depth` × (Dense [→ BatchNorm → Activation]), a softmax Dense,
        called in turn from `call` (no functional graph). `stack` lists them in that order."""
        config = self

        class UserNet(keras.Model):
            def __init__(self):
                super().__init__()
                self.stack = [keras.layers.Flatten()]
                for _ in range(config.depth):
                    self.stack.append(keras.layers.Dense(config.width, kernel_initializer=kernel,
                                                         bias_initializer=bias,
                                                         activation=None if config.batch_norm else config.activation))
                    if config.batch_norm:
                        self.stack += [keras.layers.BatchNormalization(), keras.layers.Activation(config.activation)]
                self.stack.append(keras.layers.Dense(num_classes, activation="softmax"))

            def call(self, x, training=False):
                for layer in self.stack:
                    x = layer(x, training=training) if isinstance(layer, keras.layers.BatchNormalization) else layer(x)
                return x

        model = UserNet()
        model(np.zeros((1, *input_shape), dtype="float32"))
        if self.out_scale != 1:
            model.stack[-1].kernel.assign(model.stack[-1].kernel * self.out_scale)
        return model

    def _resnet(self, keras, x, side, kernel, bias):
        """A conv stem, `depth` residual blocks (conv → [BN] → act → conv → [BN], added to the block's input,
        then act), global average pooling."""
        def conv(y):
            return keras.layers.Conv2D(self.width, 3, padding="same", kernel_initializer=kernel,
                                       bias_initializer=bias)(y)

        def act(y):
            return keras.layers.Activation(self.activation)(y)

        def norm(y):
            return keras.layers.BatchNormalization()(y) if self.batch_norm else y

        x = act(norm(conv(keras.layers.Reshape((side, side, 1))(x))))
        for _ in range(self.depth):
            x = act(keras.layers.Add()([x, norm(conv(act(norm(conv(x)))))]))
        return keras.layers.GlobalAveragePooling2D()(x)

    def _resmlp(self, keras, x, side, kernel, bias):
        """A Dense stem, then `depth` residual blocks: Dense → [BN] → activation, added to the block's input (the
        sum's scale grows with depth: the outputs start large)."""
        x = keras.layers.Dense(self.width, kernel_initializer=kernel)(keras.layers.Flatten()(x))
        for _ in range(self.depth):
            y = keras.layers.Dense(self.width, kernel_initializer=kernel, bias_initializer=bias)(x)
            if self.batch_norm:
                y = keras.layers.BatchNormalization()(y)
            x = keras.layers.Add()([x, keras.layers.Activation(self.activation)(y)])
        return x

    def _rnn(self, keras, x, side, kernel, bias):
        """The image's rows as time steps: `depth` recurrent layers of `width` units."""
        x = keras.layers.Reshape((side, side))(x)
        for i in range(self.depth):
            last = i == self.depth - 1
            if self.rnn == "bilstm":
                x = keras.layers.Bidirectional(keras.layers.LSTM(self.width, return_sequences=not last))(x)
            else:
                layer = {"simple_rnn": keras.layers.SimpleRNN, "lstm": keras.layers.LSTM,
                         "gru": keras.layers.GRU}[self.rnn]
                x = layer(self.width, activation=self.activation, return_sequences=not last,
                          kernel_initializer=kernel)(x)
        return x

    def _sepconv(self, keras, x, side, kernel, bias):
        """A Conv2D stem (pooled on images larger than 16×16), `depth` SeparableConv2D layers [→ BatchNorm →
        activation], global average pooling."""
        x = keras.layers.Conv2D(self.width, 3, padding="same", activation=self.activation, kernel_initializer=kernel,
                                bias_initializer=bias)(keras.layers.Reshape((side, side, 1))(x))
        if side > 16:
            x = keras.layers.MaxPooling2D(2)(x)
        for _ in range(self.depth):
            x = keras.layers.SeparableConv2D(self.width, 3, padding="same", depthwise_initializer=kernel,
                                             pointwise_initializer=kernel, bias_initializer=bias,
                                             activation=None if self.batch_norm else self.activation)(x)
            if self.batch_norm:
                x = keras.layers.Activation(self.activation)(keras.layers.BatchNormalization()(x))
        return keras.layers.GlobalAveragePooling2D()(x)

    def _lnmlp(self, keras, x, side, kernel, bias):
        """`depth` × (Dense → LayerNormalization → activation)."""
        x = keras.layers.Flatten()(x)
        for _ in range(self.depth):
            x = keras.layers.Dense(self.width, kernel_initializer=kernel, bias_initializer=bias)(x)
            x = keras.layers.Activation(self.activation)(keras.layers.LayerNormalization()(x))
        return x

    def _embconv(self, keras, x, side, kernel, bias):
        """Pixels as 17 token ids (as the transformer's): an Embedding of 16, `depth` Conv1D layers over the
        pixel sequence, global max pooling."""
        x = keras.layers.Embedding(17, 16)(keras.layers.Flatten()(x))
        for _ in range(self.depth):
            x = keras.layers.Conv1D(self.width, 5, padding="same", activation=self.activation,
                                    kernel_initializer=kernel, bias_initializer=bias)(x)
        return keras.layers.GlobalMaxPooling1D()(x)

    def _densenet(self, keras, x, side, kernel, bias):
        """`depth` Dense layers, each fed the concatenation of the input and every earlier layer's output."""
        x = keras.layers.Flatten()(x)
        for _ in range(self.depth):
            y = keras.layers.Dense(self.width, activation=self.activation, kernel_initializer=kernel,
                                   bias_initializer=bias)(x)
            x = keras.layers.Concatenate()([x, y])
        return y

    def _gncnn(self, keras, x, side, kernel, bias):
        """`depth` × (Conv2D → GroupNormalization of 4 groups → activation), pooled after the first on images
        larger than 16×16, then global average pooling."""
        x = keras.layers.Reshape((side, side, 1))(x)
        for i in range(self.depth):
            x = keras.layers.Conv2D(self.width, 3, padding="same", kernel_initializer=kernel, bias_initializer=bias)(x)
            x = keras.layers.Activation(self.activation)(keras.layers.GroupNormalization(4)(x))
            if i == 0 and side > 16:
                x = keras.layers.MaxPooling2D(2)(x)
        return keras.layers.GlobalAveragePooling2D()(x)

    def _transformer(self, keras, x, side, kernel, bias):
        """Pixels quantised to 17 levels (token ids, one per pixel): an Embedding plus a learned position
        embedding, `depth` post-norm encoder blocks (MultiHeadAttention, LayerNormalization, a two-layer
        feed-forward of `activation`), mean pooling."""
        tokens = keras.layers.Flatten()(x)  # integer inputs: see train_model_run
        length = side * side
        x = keras.layers.Embedding(17, self.width)(tokens)
        positions = keras.layers.Embedding(length, self.width)(keras.ops.arange(length)[None, :])
        x = keras.layers.Add()([x, positions])
        for _ in range(self.depth):
            attended = keras.layers.MultiHeadAttention(4, self.width // 4, kernel_initializer=kernel)(x, x)
            x = keras.layers.LayerNormalization()(keras.layers.Add()([x, attended]))
            hidden = keras.layers.Dense(2 * self.width, activation=self.activation, kernel_initializer=kernel,
                                        bias_initializer=bias)(x)
            x = keras.layers.LayerNormalization()(keras.layers.Add()([x, keras.layers.Dense(self.width)(hidden)]))
        return keras.layers.GlobalAveragePooling1D()(x)

    def _compile(self, keras, model):
        make = {"sgd": keras.optimizers.SGD, "adam": keras.optimizers.Adam, "rmsprop": keras.optimizers.RMSprop,
                "nadam": keras.optimizers.Nadam, "adamw": keras.optimizers.AdamW}[self.optimizer]
        rate = self.lr
        if self.schedule == "cosine":
            warmup = max(1, self.decay_steps // 10)
            rate = keras.optimizers.schedules.CosineDecay(0.0, self.decay_steps - warmup, warmup_target=self.lr,
                                                          warmup_steps=warmup)
        elif self.schedule == "exponential":
            rate = keras.optimizers.schedules.ExponentialDecay(self.lr, self.decay_steps, 0.1)
        clip = {"clipnorm": self.clipnorm} if self.clipnorm else {}
        if self.weight_decay:
            clip["weight_decay"] = self.weight_decay
        optimizer = make(learning_rate=rate, momentum=self.momentum, **clip) if self.optimizer == "sgd" \
            else make(learning_rate=rate, **clip)
        model.compile(optimizer=optimizer, loss="sparse_categorical_crossentropy", metrics=["accuracy"])
        return model


def model_inputs(config: ModelConfig, x: np.ndarray) -> np.ndarray:
    """The training inputs of `config`'s model: the pixels, or for a token model the pixels in [0, 1] as 17 token
    ids."""
    if config.arch in TOKEN_ARCHS:
        return np.round(x / max(float(x.max()), 1e-12) * 16).astype("int32")
    return x


def relabelled(config: ModelConfig, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The training set a skewed or noisy run trains on (the same size, in a shuffled order); others unchanged."""
    rng = np.random.default_rng(config.seed)
    if config.skew:
        zeros, rest = np.flatnonzero(y == 0), np.flatnonzero(y != 0)
        count = round(config.skew * len(y))
        picks = rng.permutation(np.concatenate([rng.choice(zeros, count), rng.choice(rest, len(y) - count)]))
        x, y = x[picks], y[picks]
    if config.noise:
        y = y.copy()
        moved = rng.choice(len(y), int(config.noise * len(y)), replace=False)
        y[moved] = y[rng.permutation(moved)]
    return x, y


def spike_callback(spike: tuple, base_lr: float):
    """A plain Keras callback that sets the learning rate to `spike[1]` for `spike[2]` steps from step
    `spike[0]`, then back: a user's schedule gone wrong."""
    import keras

    first, rate, steps = spike

    class Spike(keras.callbacks.Callback):
        step = 0

        def on_train_batch_begin(self, batch, logs=None):
            self.step += 1
            if self.step == int(first):
                self.model.optimizer.learning_rate.assign(rate)
            elif self.step == int(first) + int(steps):
                self.model.optimizer.learning_rate.assign(base_lr)

    return Spike()


def train_model_run(config: ModelConfig, run_dir: str) -> dict:
    """Train one model run into `run_dir` (in a worker process), with the checks before and after and the
    pre-flight findings; never raises."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    try:
        import keras

        from grid import checks
        from vg_studio.data import load_dataset
        from vg_studio.diagnose.preflight import preflight
        from vg_studio.monitor import GradientMonitor

        data = load_dataset(config.dataset, {"limit": config.limit})
        x, y = relabelled(config, model_inputs(config, data.x_train), data.y_train)
        model = config.build(x.shape[1:], data.num_classes)
        probe_x, probe_y = x[:128], y[:128]
        before = checks.measure(model, probe_x, probe_y, data.num_classes)
        found = preflight(model, x[:config.batch_size])
        batches, late = checks.BatchLosses(), checks.LastEpochChange()
        # the probe rows' targets: model.json's loss of guessing is measured on them
        monitor = GradientMonitor(run_dir, record_every=config.record_every, probe_data=probe_x, probe_targets=probe_y)
        callbacks = [monitor, batches, late]
        if config.spike:
            callbacks.append(spike_callback(config.spike, config.lr))
        if config.schedule == "plateau":
            callbacks.append(keras.callbacks.ReduceLROnPlateau("loss", factor=0.01, patience=0, min_delta=0.1))
        model.fit(x, y, epochs=config.epochs, batch_size=config.batch_size, validation_split=0.1,
                  verbose=0, callbacks=callbacks)
        after = checks.measure(model, probe_x, probe_y, data.num_classes, before=before)
        measured = {"before": before.summary(), "after": after.summary(), "batch_losses": batches.losses,
                    "num_classes": data.num_classes}
        if config.schedule or config.frozen:  # (the sets before have no such measure: their truth stays as it was)
            measured["last_epoch_change"] = late.change
        Path(f"{run_dir}.checks.json").write_text(json.dumps(measured, default=float))
        Path(f"{run_dir}.preflight.json").write_text(json.dumps([f.to_dict() for f in found]))
        return {"status": "completed"}
    except Exception as exc:  # noqa: BLE001 - the grid reports the run as missing and goes on
        return {"status": "failed", "message": f"{type(exc).__name__}: {exc}".splitlines()[0]}


def model_set() -> list[ModelConfig]:
    """Users' own Keras models: a deep sigmoid CNN with SGD vanishes, a ReLU + BatchNorm CNN with Adam is healthy,
    residual networks, small transformers, every label."""
    out = []
    common = dict(seed=0, record_every=1)
    out += [
        ModelConfig("vanishing", "digits", "cnn", 6, 16, "sigmoid", "sgd", 0.05, **common),
        ModelConfig("vanishing", "digits", "mlp", 6, 64, "sigmoid", "sgd", 0.1, **common),
        ModelConfig("healthy", "digits", "cnn", 6, 16, "relu", "adam", 0.001, batch_norm=True, **common),
        ModelConfig("healthy", "digits", "cnn", 3, 16, "relu", "adam", 0.001, **common),
        ModelConfig("healthy", "digits", "mlp", 3, 64, "tanh", "rmsprop", 0.001, **common),
        ModelConfig("healthy", "digits", "cnn", 4, 16, "sigmoid", "adam", 0.003, batch_norm=True, **common),
        ModelConfig("exploding", "digits", "mlp", 3, 64, "relu", "sgd", 0.1, init_stddev=1.0, **common),
        ModelConfig("exploding", "digits", "cnn", 3, 16, "relu", "sgd", 0.05, init_stddev=0.5, **common),
        ModelConfig("dead", "digits", "cnn", 3, 16, "relu", "adam", 0.001, bias=-8.0, **common),
        ModelConfig("dead", "digits", "mlp", 3, 64, "relu", "sgd", 0.05, bias=-6.0, **common),
        ModelConfig("saturated", "digits", "mlp", 1, 64, "sigmoid", "adam", 0.001, bias=8.0, **common),
        ModelConfig("saturated", "digits", "mlp", 2, 64, "tanh", "adam", 0.001, init_stddev=1.0, **common),
        ModelConfig("flat", "digits", "cnn", 3, 16, "relu", "adam", 0.0, **common),
    ]
    common = dict(seed=1, record_every=5)  # 28×28 digits: the costlier CNNs, a few of them
    out += [ModelConfig("vanishing", "mnist-5k", "cnn", 6, 16, "sigmoid", "sgd", 0.05, **common),
            ModelConfig("healthy", "mnist-5k", "cnn", 6, 16, "relu", "adam", 0.001, batch_norm=True, **common),
            ModelConfig("exploding", "mnist-5k", "mlp", 3, 64, "relu", "sgd", 0.1, init_stddev=1.0, **common)]
    # GradientMonitor's default record interval (10), a sigmoid CNN at a small SGD rate with a wide Dense head, a
    # ReLU + BatchNorm CNN without pooling on 28×28 digits
    out += [ModelConfig("vanishing", "digits", "cnn", 4, 32, "sigmoid", "sgd", 0.01, head=64, record_every=10),
            ModelConfig("vanishing", "mnist-5k", "cnn", 4, 32, "sigmoid", "sgd", 0.01, head=64, record_every=10),
            ModelConfig("healthy", "mnist-5k", "cnn", 4, 16, "relu", "adam", 0.001, batch_norm=True, pool=False,
                        record_every=10),
            ModelConfig("healthy", "digits", "cnn", 4, 32, "relu", "adam", 0.001, batch_norm=True, head=64,
                        record_every=10)]
    common = dict(seed=2, record_every=2)
    out += [
        ModelConfig("healthy", "digits", "resnet", 3, 16, "relu", "adam", 0.001, batch_norm=True, **common),
        ModelConfig("healthy", "digits", "resnet", 4, 16, "relu", "rmsprop", 0.001, **common),
        ModelConfig("healthy", "digits", "cnn", 3, 16, "tanh", "sgd", 0.05, **common),
        ModelConfig("healthy", "digits", "mlp", 4, 64, "relu", "nadam", 0.001, **common),
        ModelConfig("vanishing", "digits", "mlp", 7, 64, "tanh", "sgd", 0.1, init_stddev=0.03, **common),
        ModelConfig("vanishing", "digits", "cnn", 8, 16, "sigmoid", "sgd", 0.1, **common),
        ModelConfig("exploding", "digits", "resnet", 2, 16, "relu", "sgd", 0.1, init_stddev=0.5, **common),
        ModelConfig("dead", "digits", "resnet", 2, 16, "relu", "adam", 0.001, bias=-10.0, **common),
        ModelConfig("saturated", "digits", "cnn", 2, 16, "tanh", "adam", 0.001, bias=5.0, **common),
    ]
    out += [ModelConfig("healthy", "digits", "transformer", 1, 32, "gelu", "adam", 0.001, batch_size=64, seed=4),
            ModelConfig("healthy", "digits", "transformer", 2, 32, "relu", "adam", 0.0005, batch_size=64,
                        record_every=1, seed=5),
            ModelConfig("flat", "digits", "transformer", 1, 32, "gelu", "sgd", 0.0, batch_size=64, seed=6)]
    return out


def findings_set() -> list[ModelConfig]:
    """The classes of findings with a life, causes not hidden by transients, unknown activations, layer-kind
    advice and the rules for oscillation, slow convergence and poor initialisation."""
    M = ModelConfig
    return [
        # a loss far above chance at the start that then trains: an early transient, no warning
        M("healthy", "mnist-5k", "resmlp", 12, 64, "relu", "sgd", 0.05, batch_norm=True, kernel="he_normal",
          momentum=0.9, limit=1500, epochs=8, record_every=2),
        M("healthy", "digits", "resmlp", 12, 64, "relu", "sgd", 0.05, batch_norm=True, kernel="he_normal",
          momentum=0.9, limit=1500, epochs=5, record_every=2, seed=1),
        # tiny init on a deep sigmoid net: vanishing (and poor initialisation), never an explosion
        M("vanishing", "digits", "mlp", 8, 64, "sigmoid", "sgd", 0.1, init_stddev=0.001, record_every=1),
        M("vanishing", "mnist-5k", "mlp", 6, 64, "sigmoid", "sgd", 0.5, init_stddev=0.001, record_every=2),
        # an Adam learning-rate spike mid-run that leaves the ReLUs dead for good
        M("dead", "digits", "mlp", 3, 64, "relu", "adam", 0.001, kernel="he_normal", spike=(60, 0.05, 5),
          epochs=10, record_every=1),
        M("dead", "digits", "mlp", 3, 64, "relu", "adam", 0.001, kernel="he_normal", spike=(60, 0.1, 3),
          epochs=10, record_every=1),
        M("dead", "mnist-5k", "mlp", 3, 128, "relu", "adam", 0.001, kernel="he_normal", spike=(40, 0.05, 5),
          epochs=8, record_every=2),
        # a residual MLP at lr 1e-8 whose loss starts far above chance: flat, and an initialisation problem
        M("flat", "digits", "resmlp", 12, 64, "relu", "sgd", 1e-8, kernel="he_normal", record_every=1),
        M("flat", "mnist-5k", "resmlp", 8, 64, "relu", "adam", 1e-9, kernel="he_normal", record_every=2),
        # activations the unit statistics used not to know
        M("saturated", "digits", "mlp", 2, 64, "hard_sigmoid", "adam", 0.001, init_stddev=2.0, record_every=1),
        M("saturated", "digits", "mlp", 2, 64, "softsign", "adam", 0.001, bias=8.0, record_every=1),
        M("saturated", "digits", "mlp", 1, 64, "hard_tanh", "rmsprop", 0.001, init_stddev=3.0, record_every=2),
        M("healthy", "digits", "mlp", 2, 64, "hard_sigmoid", "adam", 0.01, epochs=5, record_every=1),
        M("healthy", "digits", "mlp", 3, 64, "softsign", "adam", 0.003, record_every=2),
        M("dead", "digits", "mlp", 3, 64, "relu6", "adam", 0.001, bias=-6.0, record_every=1),
        # a user's recurrent stacks over the image's rows
        M("vanishing", "digits", "rnn", 4, 32, "sigmoid", "sgd", 0.1, rnn="simple_rnn", record_every=1),
        M("healthy", "digits", "rnn", 2, 32, "tanh", "adam", 0.01, rnn="lstm", epochs=6, record_every=2),
        M("healthy", "digits", "rnn", 1, 32, "tanh", "adam", 0.01, rnn="bilstm", epochs=6, record_every=2),
        # the learning rate too high: the loss swings without coming down (BatchNorm keeps it finite)
        M("oscillating", "digits", "mlp", 3, 64, "relu", "sgd", 1.0, batch_norm=True, kernel="he_normal",
          momentum=0.9, epochs=4, limit=800, record_every=1),
        M("oscillating", "digits", "mlp", 3, 64, "relu", "sgd", 5.0, batch_norm=True, kernel="he_normal",
          epochs=4, limit=800, record_every=2),
        M("oscillating", "mnist-5k", "mlp", 3, 64, "tanh", "sgd", 2.0, batch_norm=True, momentum=0.9, epochs=3,
          limit=800, record_every=1),
        # the loss falls, far too slowly for the budget
        M("slow", "digits", "mlp", 3, 64, "relu", "adam", 1e-5, kernel="he_normal", epochs=4, limit=800,
          record_every=1),
        M("slow", "digits", "mlp", 3, 64, "relu", "sgd", 5e-4, kernel="he_normal", epochs=4, limit=800,
          record_every=2),
        M("slow", "mnist-5k", "cnn", 3, 16, "relu", "rmsprop", 3e-5, epochs=5, record_every=2),
        # the initial weights collapse the signal across depth (or blow it up), whatever the optimizer
        M("poor_init", "digits", "mlp", 6, 64, "relu", "adam", 0.001, init_stddev=0.005, record_every=1),
        M("poor_init", "digits", "mlp", 5, 64, "tanh", "adam", 0.001, init_stddev=0.01, record_every=1),
        M("poor_init", "mnist-5k", "cnn", 4, 16, "relu", "adam", 0.001, init_stddev=0.005, record_every=2),
        # healthy networks beside them, none may warn
        M("healthy", "digits", "mlp", 4, 64, "relu", "sgd", 0.05, kernel="he_normal", momentum=0.9, record_every=1),
        M("healthy", "mnist-5k", "mlp", 3, 128, "gelu", "adam", 0.001, kernel="he_normal", record_every=2),
        M("healthy", "digits", "mlp", 5, 64, "selu", "sgd", 0.05, kernel="lecun_normal", record_every=1),
    ]


SETS = {"model": model_set, "findings": findings_set}
