"""Sequence datasets for recurrent networks (Causes & Solutions §1.3), generated offline and deterministic by seed.

Both tasks hinge on the first steps of a long sequence, so a network only solves them if the gradient survives the
trip back through time: the measurable difference between SimpleRNN and the gated LSTM/GRU (Causes & Solutions §2.3).
- adding: two channels, values U(0, 1) and a marker; one marker within the first 10 % of the steps, one in the
  second half. Class 1 when the two marked values sum to more than 1 (the classic regression target, thresholded
  at its median so the classes are balanced).
- recall: one-hot symbols from an alphabet of 8; the class is the symbol at step 0, followed by length-1 random
  distractor symbols from the same alphabet.
"""

from __future__ import annotations

import numpy as np

from vg_studio.data.base import Dataset, DatasetError, split_fixed

RECALL_SYMBOLS = 8


def _check_length(length: int) -> int:
    if not isinstance(length, int) or isinstance(length, bool) or not 2 <= length <= 10_000:
        raise DatasetError(f"data.options.length: must be an integer between 2 and 10000, got {length!r}")
    return length


def adding(length: int = 100, n: int = 5000, seed: int = 0) -> Dataset:
    length = _check_length(length)
    rng = np.random.default_rng(seed)
    values = rng.uniform(0.0, 1.0, size=(n, length)).astype(np.float32)
    markers = np.zeros((n, length), dtype=np.float32)
    first = rng.integers(0, max(1, length // 10), size=n)
    second = rng.integers(length // 2, length, size=n)
    second = np.where(second == first, (first + 1) % length, second)
    rows = np.arange(n)
    markers[rows, first] = 1.0
    markers[rows, second] = 1.0
    total = values[rows, first] + values[rows, second]
    x = np.stack([values, markers], axis=-1)
    y = (total > 1.0).astype(np.int32)
    x_tr, y_tr, x_te, y_te = split_fixed(x, y, n // 5, seed)
    return Dataset(f"adding-{length}", x_tr, y_tr, None, None, x_te, y_te, ["sum <= 1", "sum > 1"])


def recall(length: int = 100, n: int = 5000, seed: int = 0) -> Dataset:
    length = _check_length(length)
    rng = np.random.default_rng(seed)
    symbols = rng.integers(0, RECALL_SYMBOLS, size=(n, length))
    x = np.eye(RECALL_SYMBOLS, dtype=np.float32)[symbols]
    y = symbols[:, 0].astype(np.int32)
    x_tr, y_tr, x_te, y_te = split_fixed(x, y, n // 5, seed)
    return Dataset(f"recall-{length}", x_tr, y_tr, None, None, x_te, y_te, [f"symbol {i}" for i in range(8)])


def mnist_5k_rows(seed: int = 0) -> Dataset:
    """Row-by-row MNIST: each digit is a sequence of 28 rows of 28 pixels."""
    from vg_studio.data.offline import mnist_5k

    data = mnist_5k(seed)
    rows = lambda x: x.reshape(len(x), 28, 28)  # noqa: E731
    return Dataset("mnist-5k-rows", rows(data.x_train), data.y_train, None, None, rows(data.x_test), data.y_test,
                   data.class_names)
