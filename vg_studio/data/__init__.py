"""Datasets, all in one form (`Dataset`): see `load_dataset` and the names in `vg_studio.catalog.DATASETS`."""

from __future__ import annotations

from vg_studio.catalog import KERAS_DATASETS, SEQUENCE_TASKS
from vg_studio.data.base import Dataset, DatasetError

__all__ = ["Dataset", "DatasetError", "load_dataset"]


def load_dataset(name: str, options: dict | None = None) -> Dataset:
    """Load a dataset by its spec name. Options: seed (split/generation), limit, image_size (folder:), length and
    n (the sequence tasks)."""
    options = dict(options or {})
    seed = int(options.get("seed", 0))
    if name == "mnist-5k":
        from vg_studio.data.offline import mnist_5k
        data = mnist_5k(seed)
    elif name == "digits":
        from vg_studio.data.offline import digits
        data = digits(seed)
    elif name == "shapes10":
        from vg_studio.data.shapes import shapes10
        data = shapes10(seed)
    elif name in SEQUENCE_TASKS:
        from vg_studio.data import sequences
        length = options.get("length", 100)
        n = options.get("n", 5000)
        if not isinstance(n, int) or isinstance(n, bool) or not 20 <= n <= 1_000_000:
            raise DatasetError(f"data.options.n: must be an integer between 20 and 1000000, got {n!r}")
        if not isinstance(length, int) or isinstance(length, bool) or not 2 <= length <= 10_000:
            raise DatasetError(f"data.options.length: must be an integer between 2 and 10000, got {length!r}")
        from vg_studio.limits import LIMITS

        if n * length * 2 > LIMITS.dataset_values:  # before numpy is asked for it
            raise DatasetError(f"data.options: {n:,} sequences of {length:,} steps are {n * length * 2:,} numbers; the "
                               f"limit is {LIMITS.dataset_values:,} (VG_STUDIO_LIMITS dataset_values)")
        data = getattr(sequences, name)(length, n, seed)
    elif name == "mnist-5k-rows":
        from vg_studio.data.sequences import mnist_5k_rows
        data = mnist_5k_rows(seed)
    elif name in KERAS_DATASETS:
        from vg_studio.data.keras_sets import load
        data = load(name)
    elif name.startswith("npz:"):
        from vg_studio.data.files import load_npz
        data = load_npz(name[4:])
    elif name.startswith("folder:"):
        from vg_studio.data.files import load_folder
        data = load_folder(name[7:], options.get("image_size"), seed)
    else:
        raise DatasetError(f"data.dataset: unknown dataset {name!r}")
    return data.limited(options.get("limit"))
