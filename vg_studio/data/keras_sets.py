"""mnist, fashion_mnist and cifar10 through keras.datasets: downloaded on first use into the Keras cache.

For MNIST we read the cached `mnist.npz` ourselves when it is there, so that a user (or a test) can place the file
by hand on a machine without internet; otherwise keras.datasets downloads it. Offline, the error names the file.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from vg_studio.data.base import Dataset, DatasetError, as_images

FASHION_NAMES = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag",
                 "Ankle boot"]
CIFAR_NAMES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]
CACHE_FILES = {"mnist": "mnist.npz", "fashion_mnist": "fashion-mnist", "cifar10": "cifar-10-batches-py"}


def keras_cache_dir() -> Path:
    """Where keras.utils.get_file caches datasets: $KERAS_HOME/datasets, else ~/.keras/datasets."""
    home = os.environ.get("KERAS_HOME") or os.path.join(os.path.expanduser("~"), ".keras")
    return Path(home) / "datasets"


def _read_mnist_npz(path: Path):
    from vg_studio.data.files import read_npz

    arrays = read_npz(path, optional=())  # the same checks as a user's .npz: a cache file is a file like any other
    return (arrays["x_train"], arrays["y_train"]), (arrays["x_test"], arrays["y_test"])


def load(name: str) -> Dataset:
    import keras

    cached = keras_cache_dir() / CACHE_FILES[name]
    try:
        if name == "mnist" and cached.is_file():
            (x_tr, y_tr), (x_te, y_te) = _read_mnist_npz(cached)
        else:
            module = getattr(keras.datasets, name)
            (x_tr, y_tr), (x_te, y_te) = module.load_data()
    except DatasetError:
        raise
    except Exception as exc:  # keras raises plain Exception/URLError variants when the download fails
        raise DatasetError(
            f"dataset {name!r} is not cached and could not be downloaded ({type(exc).__name__}: {exc}). "
            f"On a machine with internet run VG Studio once with this dataset, or place the file by hand at "
            f"{cached}") from None
    names = {"mnist": [str(i) for i in range(10)], "fashion_mnist": FASHION_NAMES, "cifar10": CIFAR_NAMES}[name]
    return Dataset(name, as_images(x_tr, 255.0), np.asarray(y_tr).reshape(-1).astype(np.int32), None, None,
                   as_images(x_te, 255.0), np.asarray(y_te).reshape(-1).astype(np.int32), names)
