"""Facts about a fitted model that Keras does not hand its callbacks directly: its parameter count, a classifier's
number of classes, and the run facts a follower of the run directory needs."""

from __future__ import annotations

import keras
import numpy as np

from vg_studio.train.probes import HIST_EDGES

CLASSIFICATION_LOSSES = ("sparse_categorical_crossentropy", "categorical_crossentropy", "binary_crossentropy",
                         "SparseCategoricalCrossentropy", "CategoricalCrossentropy", "BinaryCrossentropy",
                         "categorical_focal_crossentropy", "binary_focal_crossentropy")


def param_count(model) -> int:
    """The model's parameters (also for a subclassed model Keras does not call built)."""
    try:
        return int(model.count_params())
    except ValueError:
        return int(sum(int(np.prod(v.shape)) for v in model.weights))


def num_classes_of(model) -> int | None:
    """The output width of a classifier (its loss is a cross-entropy), else None."""
    loss = getattr(model, "loss", None)
    name = loss if isinstance(loss, str) else type(loss).__name__ if loss is not None else ""
    name = getattr(loss, "__name__", name) if callable(loss) and not isinstance(loss, keras.losses.Loss) else name
    if name not in CLASSIFICATION_LOSSES:
        return None
    try:
        width = int(model.outputs[0].shape[-1]) if getattr(model, "outputs", None) else None
    except (AttributeError, TypeError, IndexError):
        width = None
    if width == 1 and "binary" in name.lower():
        return 2
    return width if width and width >= 2 else None


def run_facts(epochs: int, steps_per_epoch: int, param_count: int, device: str, sample_count: int,
              num_classes: int | None) -> dict:
    """history.attrs a follower of the run directory needs to rebuild RunStarted, and the histogram bin edges."""
    return {"hist_edges": HIST_EDGES.copy(), "epochs": int(epochs), "steps_per_epoch": int(steps_per_epoch),
            "param_count": int(param_count), "device": str(device), "sample_count": int(sample_count),
            "num_classes": int(num_classes or 0)}
