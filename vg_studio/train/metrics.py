"""Test metrics as Wu's attention paper reports them (its Table 2): accuracy, macro recall, macro F1,
misclassification rate, images/s."""

from __future__ import annotations

import time

import numpy as np
from sklearn.metrics import accuracy_score, confusion_matrix, f1_score, recall_score


def test_metrics(model, x_test: np.ndarray, y_test: np.ndarray, batch_size: int = 256) -> dict:
    model.predict(x_test[:batch_size], batch_size=batch_size, verbose=0)  # warm-up: compile outside the timing
    start = time.perf_counter()
    probs = model.predict(x_test, batch_size=batch_size, verbose=0)
    seconds = time.perf_counter() - start
    y_pred = np.asarray(probs).argmax(axis=1)
    labels = np.arange(np.asarray(probs).shape[1])
    accuracy = float(accuracy_score(y_test, y_pred))
    return {
        "accuracy": accuracy,
        "recall_macro": float(recall_score(y_test, y_pred, labels=labels, average="macro", zero_division=0)),
        "f1_macro": float(f1_score(y_test, y_pred, labels=labels, average="macro", zero_division=0)),
        "misclassification_rate": 1.0 - accuracy,
        "images_per_second": float(len(x_test) / max(seconds, 1e-9)),
        "test_examples": int(len(x_test)),
        "confusion_matrix": confusion_matrix(y_test, y_pred, labels=labels).tolist(),
    }
