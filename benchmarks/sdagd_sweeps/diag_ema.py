"""Held-out error after each epoch of a run with iterate averaging: the last iterate's and the average's.

    python benchmarks/sdagd_sweeps/diag_ema.py OPT DEPTH ACT REPLICATE [EMA_MOMENTUM]

The tuning digits of bench_sdagd.tuning_model; the optimizer keeps the averages (`use_ema`), and at each epoch's
end the network is scored with its own weights, then with the averages swapped in (and back).
"""

import sys

import keras
import numpy as np

sys.path.insert(0, "benchmarks")
from bench_sdagd import tuning_model

opt_name, depth, act, seed = sys.argv[1], int(sys.argv[2]), sys.argv[3], int(sys.argv[4])
momentum = float(sys.argv[5]) if len(sys.argv) > 5 else 0.99
data, models, opt = tuning_model(opt_name, depth, act, seed, 10, {"use_ema": True, "ema_momentum": momentum})
x, y = data.x_train.reshape(len(data.x_train), -1), data.y_train
xv, yv = data.x_val.reshape(len(data.x_val), -1), data.y_val


def error():
    return 100 * float(np.mean(np.argmax(models.user.predict(xv, verbose=0, batch_size=500), 1) != yv))


rows = []


class Score(keras.callbacks.Callback):
    def on_epoch_end(self, epoch, logs=None):
        variables = models.train.trainable_weights
        live = [v.numpy() for v in variables]
        last = error()
        for variable, average in zip(variables, opt._model_variables_moving_average):
            variable.assign(average)
        averaged = error()
        for variable, value in zip(variables, live):
            variable.assign(value)
        rows.append((last, averaged, logs["loss"]))


models.train.fit(x, y, batch_size=100, epochs=10, verbose=0, callbacks=[Score()])
print(opt_name, act, depth, seed, f"ema_momentum {momentum}; per epoch: held-out error last iterate / average "
      "(training loss)")
print("  " + "  ".join(f"{a:.2f}/{b:.2f} ({loss:.3f})" for a, b, loss in rows))
print(f"  after fit (the averages): {error():.2f}")
