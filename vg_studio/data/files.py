"""User files: `npz:PATH` (arrays x_train, y_train, x_test, y_test) and `folder:PATH` (one sub-folder per class).

Nothing here executes code from the file: .npz is read with allow_pickle=False, images through Pillow.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from vg_studio.data.base import Dataset, DatasetError, split_fixed

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp"}


def _as_inputs(x: np.ndarray, path: Path, key: str, scale: float = 1.0) -> np.ndarray:
    if x.dtype.kind not in "biuf":
        raise DatasetError(f"{path}: array {key} has non-numeric dtype {x.dtype}")
    x = x.astype(np.float32)
    if x.ndim < 2:
        raise DatasetError(f"{path}: array {key} must have one row per example (got shape {x.shape})")
    if not np.all(np.isfinite(x)):
        raise DatasetError(f"{path}: array {key} contains NaN or infinite values")
    x = x / scale
    return x[..., None] if x.ndim == 3 else x


def _as_labels(y: np.ndarray, path: Path, key: str) -> np.ndarray:
    y = np.asarray(y)
    if y.ndim == 2 and y.shape[1] > 1:  # one-hot
        y = y.argmax(axis=1)
    y = y.reshape(-1)
    if y.dtype.kind not in "biu" and not (y.dtype.kind == "f" and np.all(y == np.round(y))):
        raise DatasetError(f"{path}: array {key} must hold integer class labels (got dtype {y.dtype})")
    y = y.astype(np.int64)
    if y.size and y.min() < 0:
        raise DatasetError(f"{path}: array {key} has negative class labels")
    return y.astype(np.int32)


def load_npz(path_text: str) -> Dataset:
    path = Path(path_text).expanduser()
    if not path.is_file():
        raise DatasetError(f"{path}: file not found")
    try:
        with np.load(path, allow_pickle=False) as f:
            missing = [k for k in ("x_train", "y_train", "x_test", "y_test") if k not in f.files]
            if missing:
                raise DatasetError(f"{path}: missing array(s) {', '.join(missing)} "
                                   f"(expected x_train, y_train, x_test, y_test; found {', '.join(f.files) or 'none'})")
            arrays = {k: f[k] for k in ("x_train", "y_train", "x_test", "y_test")}
            names = [str(n) for n in f["class_names"]] if "class_names" in f.files else None
    except DatasetError:
        raise
    except Exception as exc:  # zipfile.BadZipFile, pickled objects refused, truncated data …
        raise DatasetError(f"{path}: not a readable .npz file ({type(exc).__name__}: {exc})") from None
    # 0–255 pixels are scaled like the built-in sets; one decision for both splits so they stay comparable
    numeric = [a for a in (arrays["x_train"], arrays["x_test"]) if a.dtype.kind in "biuf" and a.size]
    scale = 255.0 if any(float(np.nanmax(a)) > 1.5 for a in numeric) else 1.0
    x_tr = _as_inputs(arrays["x_train"], path, "x_train", scale)
    x_te = _as_inputs(arrays["x_test"], path, "x_test", scale)
    y_tr, y_te = _as_labels(arrays["y_train"], path, "y_train"), _as_labels(arrays["y_test"], path, "y_test")
    if len(x_tr) != len(y_tr) or len(x_te) != len(y_te):
        raise DatasetError(f"{path}: x and y have different lengths ({len(x_tr)}/{len(y_tr)} train, "
                           f"{len(x_te)}/{len(y_te)} test)")
    if x_tr.shape[1:] != x_te.shape[1:]:
        raise DatasetError(f"{path}: x_train examples have shape {x_tr.shape[1:]} but x_test {x_te.shape[1:]}")
    if len(x_tr) == 0 or len(x_te) == 0:
        raise DatasetError(f"{path}: x_train and x_test must not be empty")
    n_classes = int(max(y_tr.max(), y_te.max())) + 1
    if n_classes < 2:
        raise DatasetError(f"{path}: needs at least 2 classes")
    names = names if names and len(names) >= n_classes else [str(i) for i in range(n_classes)]
    return Dataset(f"npz:{path}", x_tr, y_tr, None, None, x_te, y_te, names)


def load_folder(path_text: str, image_size=None, seed: int = 0, test_fraction: float = 0.2) -> Dataset:
    """Images in PATH/<class>/…; every image is converted to grey (or RGB if any is colour) and resized to
    `image_size` (default: the size of the first image), so mixed sizes are fine; a broken image is an error
    naming the file."""
    from PIL import Image, UnidentifiedImageError

    root = Path(path_text).expanduser()
    if not root.is_dir():
        raise DatasetError(f"{root}: folder not found")
    classes = sorted(p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    if len(classes) < 2:
        raise DatasetError(f"{root}: needs at least 2 class sub-folders with images (found {len(classes)})")
    files = []
    for label, name in enumerate(classes):
        found = sorted(p for p in (root / name).rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)
        if not found:
            raise DatasetError(f"{root / name}: class folder has no images ({', '.join(sorted(IMAGE_SUFFIXES))})")
        files.extend((p, label) for p in found)
    images = []
    for p, _ in files:
        try:
            with Image.open(p) as im:
                im.load()
                images.append(im.copy())
        except (UnidentifiedImageError, OSError, ValueError) as exc:
            raise DatasetError(f"{p}: not a readable image ({exc})") from None
    colour = any(im.mode not in ("L", "1", "I", "I;16", "F", "LA") for im in images)
    mode = "RGB" if colour else "L"
    size = tuple(image_size) if image_size else images[0].size[::-1]
    if len(size) != 2 or min(size) < 1 or max(size) > 1024:
        raise DatasetError(f"data.options.image_size: must be [height, width] between 1 and 1024, got {size}")
    arr = np.stack([np.asarray(im.convert(mode).resize((size[1], size[0])), dtype=np.float32) / 255.0
                    for im in images])
    if arr.ndim == 3:
        arr = arr[..., None]
    labels = np.array([label for _, label in files], dtype=np.int32)
    n_test = max(1, int(round(len(arr) * test_fraction)))
    if len(arr) - n_test < 2:
        raise DatasetError(f"{root}: too few images ({len(arr)}) to split into training and test sets")
    x_tr, y_tr, x_te, y_te = split_fixed(arr, labels, n_test, seed)
    return Dataset(f"folder:{root}", x_tr, y_tr, None, None, x_te, y_te, classes)
