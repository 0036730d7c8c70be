"""The one form every dataset takes, and the error a bad or missing dataset raises."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


class DatasetError(ValueError):
    """A dataset that cannot be loaded; the message names the dataset or file and what is wrong."""


@dataclass
class Dataset:
    name: str
    x_train: np.ndarray  # float32, scaled to [0, 1], shape (n, *input_shape)
    y_train: np.ndarray  # int32 class indices
    x_val: np.ndarray | None
    y_val: np.ndarray | None
    x_test: np.ndarray
    y_test: np.ndarray
    class_names: list

    @property
    def input_shape(self) -> tuple:
        return tuple(self.x_train.shape[1:])

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    def with_validation(self, fraction: float, seed: int) -> "Dataset":
        """Carve a validation split out of the training data unless the dataset has its own."""
        if self.x_val is not None or fraction <= 0:
            return self
        n = len(self.x_train)
        n_val = max(1, int(round(n * fraction)))
        if n - n_val < MIN_TRAINING_EXAMPLES:
            raise DatasetError(f"training.validation_split: {fraction:g} of {n} training examples leaves "
                               f"{n - n_val} to train on; at least {MIN_TRAINING_EXAMPLES} are needed (lower the "
                               "split or use more data)")
        order = np.random.default_rng(seed).permutation(n)
        val, train = order[:n_val], order[n_val:]
        split = Dataset(self.name, self.x_train[train], self.y_train[train], self.x_train[val], self.y_train[val],
                        self.x_test, self.y_test, self.class_names)
        return split.checked("training.validation_split")

    def limited(self, limit: int | None) -> "Dataset":
        """At most `limit` training examples (a quick look at a big set); the test set is kept."""
        if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 1):
            raise DatasetError(f"data.options.limit: must be a positive integer, got {limit!r}")  # -5 would cut 5
        if not limit or limit >= len(self.x_train):
            return self
        return Dataset(self.name, self.x_train[:limit], self.y_train[:limit], self.x_val, self.y_val,
                       self.x_test, self.y_test, self.class_names).checked("data.options.limit")

    def checked(self, where: str) -> "Dataset":
        """Refuse a dataset nothing useful can be trained on — a run of 0 steps, or a classifier that only ever
        sees one class — instead of "completing" it. `where` names the file or field to blame."""
        n = len(self.x_train)
        if n < MIN_TRAINING_EXAMPLES:
            raise DatasetError(f"{where}: {n} training example{'s' if n != 1 else ''}; at least "
                               f"{MIN_TRAINING_EXAMPLES} are needed")
        present = np.unique(self.y_train)
        if len(present) < 2:
            raise DatasetError(f"{where}: every training example is of class {self._class_name(present[0])}; at "
                               "least 2 classes are needed (is the data sorted by class? a limit takes the first "
                               "examples)")
        for split, y in (("training", self.y_train), ("validation", self.y_val), ("test", self.y_test)):
            if y is not None and len(y) and int(y.max()) >= self.num_classes:
                raise DatasetError(f"{where}: a {split} label is {int(y.max())}, but there are only "
                                   f"{self.num_classes} classes")
        return self

    def _class_name(self, label) -> str:
        label = int(label)
        name = self.class_names[label] if 0 <= label < len(self.class_names) else str(label)
        return repr(name) if name != str(label) else name


MIN_TRAINING_EXAMPLES = 2


def split_fixed(x: np.ndarray, y: np.ndarray, n_test: int, seed: int):
    """Shuffle once with a fixed seed and hold out the last `n_test` examples as the test set."""
    order = np.random.default_rng(seed).permutation(len(x))
    x, y = x[order], y[order]
    return x[:-n_test], y[:-n_test], x[-n_test:], y[-n_test:]


def as_images(x: np.ndarray, scale: float) -> np.ndarray:
    x = np.asarray(x, dtype=np.float32) / scale
    return x[..., None] if x.ndim == 3 else x
