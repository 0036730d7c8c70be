"""The loss rules judge a network that computes otherwise in training (BatchNormalization under tiny batches) on its
loss in inference mode where the records carry it: a BatchNorm MLP under batches of 4 whose training-mode batch
losses scatter without coming down while it learns is no oscillation; one whose rate is far too high still is.
Real runs on the offline mnist-5k and digits data (seeded: Keras's CPU kernels give the same run each time)."""

import keras
import numpy as np

from vg_studio.data import load_dataset
from vg_studio.monitor import GradientMonitor


def _bn_mlp_findings(tmp_path, dataset, limit, seed, lr, batch_size, epochs):
    """A 3 × 64 ReLU MLP with BatchNormalization after each Dense, SGD with momentum 0.9, recorded every 2 steps with
    the probe rows' targets; its findings at the end (kind -> state)."""
    data = load_dataset(dataset, {"limit": limit})
    x, y = data.x_train, data.y_train
    keras.utils.set_random_seed(seed)
    inputs = keras.Input(x.shape[1:])
    hidden = keras.layers.Flatten()(inputs)
    for _ in range(3):
        hidden = keras.layers.Dense(64, kernel_initializer="he_normal")(hidden)
        hidden = keras.layers.Activation("relu")(keras.layers.BatchNormalization()(hidden))
    model = keras.Model(inputs, keras.layers.Dense(data.num_classes, activation="softmax")(hidden))
    model.compile(keras.optimizers.SGD(lr, momentum=0.9), "sparse_categorical_crossentropy", metrics=["accuracy"])
    monitor = GradientMonitor(tmp_path / "run", record_every=2, probe_data=x[:128], probe_targets=y[:128])
    model.fit(x, y, epochs=epochs, batch_size=batch_size, validation_split=0.1, verbose=0, callbacks=[monitor])
    probabilities = np.asarray(model(x[:128], training=False), dtype=np.float64)
    loss = float(-np.mean(np.log(np.clip(probabilities[np.arange(128), y[:128]], 1e-7, 1.0))))
    return {f.kind: (f.severity, f.state) for f in monitor.findings}, loss


def test_batchnorm_under_batches_of_4_that_learns_in_inference_mode_is_no_oscillation(tmp_path):
    findings, loss = _bn_mlp_findings(tmp_path, "mnist-5k", 300, 272, 0.05, 4, 2)
    assert loss < 0.8 * np.log(10)  # it learned: in inference mode its loss on the probe rows is below guessing
    assert findings.get("oscillating_loss", ("", ""))[1] != "active", findings


def test_batchnorm_at_a_rate_far_too_high_still_oscillates(tmp_path):
    findings, loss = _bn_mlp_findings(tmp_path, "digits", 800, 1, 0.5, 16, 3)
    assert loss > 0.8 * np.log(10)  # in inference mode too it has not learned
    assert findings.get("oscillating_loss") == ("warning", "active"), findings


def test_slow_convergence_and_a_plateau_are_judged_on_the_inference_loss_where_recorded():
    """A training-mode loss that hardly comes down at ordinary steps (2.35 → 2.34 over the budget: slow) while
    the loss on the probe batch in inference mode, measured every 20 steps, falls from 2.3 to 0.6: the network
    learns, neither holds. Measured flat at 2.3 the same run is still slow."""
    from tests.test_rules import model_diagnoser, record, running_means
    from vg_studio.train.events import ProbeRecord

    rng = np.random.default_rng(3)
    batches = [2.35 - 0.0001 * s + 0.005 * rng.normal() for s in range(1, 101)]

    def run(inference):
        d = model_diagnoser(budget=100, per_epoch=25, optimizer="Adam", rate=1e-3)
        for s, m in enumerate(running_means(batches, 25), 1):
            r = record(s, loss=m, update=[1e-3] * 4, epoch=(s - 1) // 25)
            d.on_record(ProbeRecord(r.step, r.epoch, r.loss, r.stats,
                                    probe_loss=inference(s) if s % 20 == 1 or s == 100 else float("nan")))
        d.finish()
        return {f.kind: f.severity for f in d.findings}

    learns = run(lambda s: 2.3 - 1.7 * s / 100)
    assert learns.get("slow_convergence", "info") == "info" and learns.get("loss_plateau", "info") == "info", learns
    stalled = run(lambda s: 2.3)
    assert stalled["slow_convergence"] == "warning", stalled
