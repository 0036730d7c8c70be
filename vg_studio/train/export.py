"""Export the user's network — never the training wrapper — as a `.keras` file plain Keras can load."""

from __future__ import annotations

import os
from pathlib import Path

import keras

from vg_studio.nn.optimizers import make_optimizer
from vg_studio.safeio import atomic_path
from vg_studio.spec import ExperimentSpec


def export_user_model(model: keras.Model, spec: ExperimentSpec, path: str | os.PathLike) -> Path:
    """Save a clean copy of `model`: same layers and weights, compiled with the spec's loss and a fresh
    built-in optimizer (Keras's own classes only, so `keras.saving.load_model` needs no VG Studio). A model
    trained with SDAGD is saved uncompiled: the optimizer is a VG Studio class that plain Keras cannot rebuild."""
    path = Path(path)
    clean = keras.Model.from_config(model.get_config())  # same graph, fresh layers, no compile state
    clean.set_weights(model.get_weights())
    if spec.optimizer.name != "sdagd":
        metric = "categorical_accuracy" if spec.loss == "mse" else "sparse_categorical_accuracy"
        clean.compile(optimizer=make_optimizer(spec.optimizer), loss=spec.loss, metrics=[metric])
        clean.optimizer.build(clean.trainable_variables)  # saved with its (fresh) slots: loads without warnings
    with atomic_path(path, suffix=".keras") as tmp:  # Keras insists on the .keras suffix
        clean.save(tmp)
    return path
