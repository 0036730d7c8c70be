"""Does Keras's iterate averaging (`use_ema=True`) work with SDAGD, and is it what gets scored?

    python benchmarks/sdagd_sweeps/check_ema.py [MOMENTUM [EVERY]]

Three paths, each on a small 784-32x2-10 ReLU net on mnist-5k, 2 epochs: (1) plain `fit` of the app's training
graph with the option set on the optimizer before it is built (the sweep's "class_params"), (2) the same with
`jit_compile=True`, (3) the app's Trainer (the run recorder's step, the report's test error), the option set on the
optimizer `make_optimizer` returns. Each records the user network's weights after every step and checks, in NumPy,
that after `fit` the network holds their exponential moving average taken every e steps (a = w_1, then
a ← m^e·a + (1 − m^e)·w at steps 1 + e, 1 + 2e, …; e = ema_every, the catalog's by default), not the last iterate; (3) also that the report's test error is the averaged network's.
"""

import sys
import tempfile

import keras
import numpy as np

sys.path.insert(0, "benchmarks")
from bench_sdagd import _spec

from vg_studio import catalog
from vg_studio.data import load_dataset
from vg_studio.nn.build import build_models
from vg_studio.nn.optimizers import make_optimizer
from vg_studio.spec import DataSpec, OptimizerSpec

MOMENTUM = float(sys.argv[1]) if len(sys.argv) > 1 else 0.99
EVERY = int(sys.argv[2]) if len(sys.argv) > 2 else catalog.OPTIMIZERS["sdagd"]["params"]["ema_every"]


def numpy_ema(steps):
    average, momentum = [w.copy() for w in steps[0]], MOMENTUM ** EVERY
    for weights in steps[EVERY::EVERY]:
        average = [momentum * a + (1 - momentum) * w for a, w in zip(average, weights)]
    return average


def verdict(label, network, steps):
    final = [np.asarray(v) for v in network.trainable_weights]
    expected = numpy_ema(steps)
    error = max(float(np.max(np.abs(f - e)) / (np.max(np.abs(e)) + 1e-12)) for f, e in zip(final, expected))
    distance = max(float(np.max(np.abs(f - s)) / (np.max(np.abs(s)) + 1e-12)) for f, s in zip(final, steps[-1]))
    ok = error < 1e-4 and distance > 1e-3
    print(f"{label}: {len(steps)} steps; max relative difference to the NumPy average {error:.2e}, to the last "
          f"iterate {distance:.2e} -> {'OK' if ok else 'FAIL'}", flush=True)
    return ok


class Weights(keras.callbacks.Callback):
    def __init__(self, network):
        super().__init__()
        self.network, self.steps = network, []

    def on_train_batch_end(self, batch, logs=None):
        sync = getattr(self.model, "jax_state_sync", None)  # JAX: the variables hold the step's state only after it
        if callable(sync):
            sync()
        self.steps.append([np.array(keras.ops.convert_to_numpy(v)) for v in self.network.trainable_weights])


def plain_fit(jit_compile):
    spec = _spec(OptimizerSpec(name="sdagd", learning_rate=1.0), 32, 2, "relu", epochs=2)
    data = load_dataset("mnist-5k", {"seed": 0})
    x, y = data.x_train[:1000].reshape(1000, -1), data.y_train[:1000]
    models = build_models(spec, x.shape[1:], data.num_classes)
    optimizer = make_optimizer(spec.optimizer, 100)
    optimizer.use_ema, optimizer.ema_momentum, optimizer.ema_every = True, MOMENTUM, EVERY  # as class_params would
    models.train.compile(optimizer, "sparse_categorical_crossentropy", jit_compile=jit_compile)
    record = Weights(models.user)
    models.train.fit(x, y, batch_size=100, epochs=2, verbose=0, shuffle=True, callbacks=[record])
    taps = len(models.train.trainable_weights) - len(models.user.trainable_weights)
    print(f"  training graph: {len(models.train.trainable_weights)} trainable variables ({taps} of them the "
          f"curvature taps), averages kept: {sum(a is not None for a in optimizer._model_variables_moving_average)}")
    return verdict(f"fit, jit_compile={jit_compile}", models.user, record.steps)


def trainer_path():
    import vg_studio.train.trainer as trainer_module
    from vg_studio.train.recorder import RunRecorder
    from vg_studio.train.trainer import Trainer, prepare_data

    steps = []

    class RecordingRecorder(RunRecorder):
        def on_train_batch_end(self, batch, logs=None):
            super().on_train_batch_end(batch, logs)
            sync = getattr(self.model, "jax_state_sync", None)
            if callable(sync):
                sync()
            steps.append([np.array(keras.ops.convert_to_numpy(v)) for v in self.network.trainable_weights])

    def averaging_optimizer(spec, batch_size=None):
        optimizer = make_optimizer(spec, batch_size)
        optimizer.use_ema, optimizer.ema_momentum, optimizer.ema_every = True, MOMENTUM, EVERY
        return optimizer

    spec = _spec(OptimizerSpec(name="sdagd", learning_rate=1.0), 32, 2, "relu", epochs=2)
    spec = spec.model_copy(update={"data": DataSpec(dataset="mnist-5k", options={"seed": 0, "limit": 1000})})
    trainer_module.RunRecorder, trainer_module.make_optimizer = RecordingRecorder, averaging_optimizer
    try:
        with tempfile.TemporaryDirectory() as run_dir:
            result = Trainer(spec, run_dir=run_dir).run()
    finally:
        trainer_module.RunRecorder, trainer_module.make_optimizer = RunRecorder, make_optimizer
    ok = verdict("Trainer", result.model, steps)
    data = prepare_data(spec)
    x_test = data.x_test  # as the Trainer feeds it
    mcr = float(np.mean(np.argmax(result.model.predict(x_test, verbose=0), axis=1) != data.y_test))
    reported = result.report["test_metrics"]["misclassification_rate"]
    # the last iterate's test error, for contrast: the network with the last step's weights
    for variable, value in zip(result.model.trainable_weights, steps[-1]):
        variable.assign(value)
    last = float(np.mean(np.argmax(result.model.predict(x_test, verbose=0), axis=1) != data.y_test))
    same = abs(mcr - reported) < 1e-9
    print(f"Trainer report: test error {100 * reported:.2f} %, the averaged network's {100 * mcr:.2f} %, the last "
          f"iterate's {100 * last:.2f} % -> {'OK' if same else 'FAIL'}", flush=True)
    return ok and same


if __name__ == "__main__":
    print(f"keras {keras.__version__}, backend {keras.backend.backend()}, ema_momentum {MOMENTUM}, ema_every {EVERY}")
    results = [plain_fit(False), plain_fit(True), trainer_path()]
    sys.exit(0 if all(results) else 1)
