"""Run directories for the report and TensorBoard tests, written through the run store's own writer from the
synthetic engine events of tests/gui/synthetic_runs.py (no Keras, no Qt): fast, and every value known."""

from __future__ import annotations

from tests.gui.synthetic_runs import synthetic_events
from vg_studio.history import History
from vg_studio.train import events
from vg_studio.train.runstore import RunStore


def vanishing_finding(layer: str = "hidden_1", label: str = "h1", message: str = "The gradient vanishes in h1."):
    from vg_studio.diagnose.findings import Finding

    return Finding("vanishing_gradient", "warning", 5, 0, (layer,), {"ratio": 1.5e-4, "layer_grad": 3e-8},
                   message, ("h1's mean |∂L/∂w| is 1.5e-04 of the output layer's.",),
                   advice=("Use ReLU with He initialisation.",), labels=(label,))


def write_run(run_dir, findings=(), layer_names=None, **kwargs) -> History:
    """Synthetic events into a History written by RunStore after every record and epoch (as the trainer does);
    report.json holds `findings`. `layer_names` renames the layer columns (a user's model); `own_losses=True`: the
    events carry each batch's own loss and history.h5 keeps them in /batches (else it has none, as older runs)."""
    store, history = RunStore(run_dir), None
    for event in synthetic_events(**kwargs):
        if isinstance(event, events.RunStarted):
            names = list(layer_names or event.layer_names)
            history = History(names, event.activations, 1, layer_kinds=event.layer_kinds,
                              layer_units=event.layer_units, attrs={
                                  "hist_edges": event.hist_edges, "epochs": event.epochs,
                                  "steps_per_epoch": event.steps_per_epoch})
        elif isinstance(event, events.ProbeRecord):
            history.add_batches((step, event.epoch, loss) for step, loss in event.batch_losses)
            history.add_record(event.step, event.epoch, event.loss, event.stats, event.optimizer,
                               metrics=event.metrics)
            store.write_history(history)
        elif isinstance(event, events.EpochEnd):
            history.add_batches((step, event.epoch, loss) for step, loss in event.batch_losses)
            history.add_epoch(event.epoch, event.logs)
            store.write_history(history)
        elif isinstance(event, events.RunFinished):
            history.status = event.status
            store.write_history(history)
            store.write_report({"name": "synthetic", "status": "completed", "message": "training finished",
                                "device": "CPU (synthetic)", "findings": [f.to_dict() for f in findings]})
    return history


def trained_run(run_dir, epochs: int = 2, tensorboard_dir=None):
    """A small real run: a Keras network trained under GradientMonitor on 104 random samples, batches of 8 (13
    steps an epoch, records every 4 steps, so batches lie between and after the records); `tensorboard_dir`: its
    events written there live too. Returns run_dir."""
    import numpy as np

    import keras
    from vg_studio.monitor import GradientMonitor

    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(104, 5)).astype("float32"), rng.integers(0, 3, 104)
    keras.utils.set_random_seed(1)
    model = keras.Sequential([keras.Input((5,)), keras.layers.Dense(6, activation="tanh"),
                              keras.layers.Dense(3, activation="softmax")])
    model.compile(keras.optimizers.SGD(0.1), "sparse_categorical_crossentropy")
    model.fit(x, y, batch_size=8, epochs=epochs, shuffle=False, validation_split=0.0, verbose=0,
              callbacks=[GradientMonitor(run_dir, record_every=4, tensorboard_dir=tensorboard_dir)])
    return run_dir
