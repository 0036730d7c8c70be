"""User files: `npz:PATH` (arrays x_train, y_train, x_test, y_test, optional class_names) and `folder:PATH` (one
sub-folder per class).

Nothing here executes code from a file: an .npz member that holds Python objects is refused, never unpickled;
images are decoded by Pillow. Every size is checked against `vg_studio.limits` from the headers — the zip
directory, each array's .npy header, each image's declared size — before anything big is read, so a bad file is
refused within a second with one line naming the file, the field and the limit.
"""

from __future__ import annotations

import os
import tokenize
import warnings
import zipfile
from pathlib import Path

import numpy as np

from vg_studio import limits, safeio
from vg_studio.data.base import Dataset, DatasetError, split_fixed

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp"}
NPZ_ARRAYS = ("x_train", "y_train", "x_test", "y_test")
MAX_FOLDER_DEPTH = 32  # class folders may have sub-folders; deeper than this is not a dataset
BOMB_CHECK_BYTES = 64 * 2**20  # members smaller than this are never decompression bombs worth refusing


def regular_file(path: Path, what: str) -> os.stat_result:
    """stat() of a regular file; a FIFO, a device or a folder is refused without being opened."""
    try:
        return safeio.regular_file(path, what)
    except safeio.UnreadableFile as exc:
        raise DatasetError(str(exc)) from None


def _limit(name: str) -> int:
    return getattr(limits.LIMITS, name)


def _over(value: int, what: str, name: str) -> str:
    return f"{value:,} {what}; the limit is {_limit(name):,} (VG_STUDIO_LIMITS {name})"


# ---- .npz ----------------------------------------------------------------------------------------------------
def read_npz(path: Path, required: tuple = NPZ_ARRAYS, optional: tuple = ("class_names",)) -> dict:
    """The named arrays of an .npz, after checking the zip directory and every member's .npy header against the
    limits; object arrays are refused (never unpickled)."""
    info = regular_file(path, ".npz file")
    if info.st_size > _limit("npz_bytes"):
        raise DatasetError(f"{path}: {_over(info.st_size, 'bytes', 'npz_bytes')}")
    try:
        with zipfile.ZipFile(path) as archive:
            members = archive.infolist()
            if len(members) > _limit("npz_members"):
                raise DatasetError(f"{path}: {_over(len(members), 'arrays in the file', 'npz_members')}")
            by_name = {m.filename[:-4]: m for m in members if m.filename.endswith(".npy")}
            missing = [k for k in required if k not in by_name]
            if missing:
                raise DatasetError(f"{path}: missing array(s) {', '.join(missing)} (expected "
                                   f"{', '.join(required)}; found {', '.join(sorted(by_name)) or 'none'})")
            wanted = [k for k in (*required, *optional) if k in by_name]
            unpacked = sum(by_name[k].file_size for k in wanted)
            if unpacked > _limit("npz_bytes"):
                raise DatasetError(f"{path}: {_over(unpacked, 'bytes once unpacked', 'npz_bytes')}")
            headers = {k: _npy_header(archive, by_name[k], path) for k in wanted}
            declared = sum(n for _, _, n in headers.values())
            if declared > _limit("npz_bytes"):
                raise DatasetError(f"{path}: {_over(declared, 'bytes of arrays declared', 'npz_bytes')}")
            return {k: _npy_array(archive, by_name[k], headers[k], path) for k in wanted}
    except DatasetError:
        raise
    except zipfile.BadZipFile:
        raise DatasetError(f"{path}: not a readable .npz file (not a zip archive)") from None
    except (OSError, ValueError, EOFError, RuntimeError, NotImplementedError, zipfile.LargeZipFile, SyntaxError,
            tokenize.TokenError) as exc:  # the last two: numpy parsing a .npy header that is not a Python dict
        text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise DatasetError(f"{path}: not a readable .npz file ({text})") from None


def _npy_header(archive: zipfile.ZipFile, member: zipfile.ZipInfo, path: Path) -> tuple:
    """(shape, dtype, bytes) from the member's .npy header, checked: no objects, sizes consistent."""
    name = member.filename[:-4]
    if (member.file_size > BOMB_CHECK_BYTES
            and member.file_size > _limit("npz_ratio") * max(member.compress_size, 1)):
        raise DatasetError(f"{path}: array {name} is compressed {member.file_size // max(member.compress_size, 1):,}"
                           f" to 1 (a decompression bomb?); the limit is {_limit('npz_ratio')} "
                           "(VG_STUDIO_LIMITS npz_ratio)")
    with archive.open(member) as fh:
        version = np.lib.format.read_magic(fh)
        if version == (1, 0):
            shape, fortran, dtype = np.lib.format.read_array_header_1_0(fh)
        else:
            shape, fortran, dtype = np.lib.format.read_array_header_2_0(fh)
    if dtype.hasobject:
        raise DatasetError(f"{path}: array {name} holds Python objects; refused (they would have to be "
                           "unpickled, which can run code)")
    count = int(np.prod(shape, dtype=np.float64))
    size = count * dtype.itemsize
    if size > member.file_size:
        raise DatasetError(f"{path}: array {name} declares shape {shape} ({size:,} bytes) but holds "
                           f"{member.file_size:,} bytes")
    return shape, dtype, size


def _npy_array(archive: zipfile.ZipFile, member: zipfile.ZipInfo, header: tuple, path: Path) -> np.ndarray:
    with archive.open(member) as fh:
        return np.lib.format.read_array(fh, allow_pickle=False)


def _as_inputs(x: np.ndarray, path: Path, key: str, scale: float = 1.0) -> np.ndarray:
    if x.dtype.kind not in "biuf":
        raise DatasetError(f"{path}: array {key} has non-numeric dtype {x.dtype}")
    if x.ndim < 2:
        raise DatasetError(f"{path}: array {key} must have one row per example (got shape {x.shape})")
    if x.ndim > 4:
        raise DatasetError(f"{path}: array {key} has {x.ndim} dimensions; at most 4 (examples, height, width, "
                           "channels)")
    x = x.astype(np.float32)
    if not np.all(np.isfinite(x)):
        raise DatasetError(f"{path}: array {key} contains NaN or infinite values")
    x = x / scale
    return x[..., None] if x.ndim == 3 else x


def _as_labels(y: np.ndarray, path: Path, key: str) -> np.ndarray:
    y = np.asarray(y)
    if y.dtype.kind not in "biuf":
        raise DatasetError(f"{path}: array {key} must hold integer class labels (got dtype {y.dtype})")
    if y.ndim == 2 and y.shape[1] > 1:  # one-hot rows
        if not (np.isin(y, (0, 1)).all() and (y.sum(axis=1) == 1).all()):
            raise DatasetError(f"{path}: array {key} has shape {y.shape} but its rows are not one-hot; give one "
                               "integer class label per example")
        y = y.argmax(axis=1)
    elif y.ndim > 2 or (y.ndim == 2 and y.shape[1] != 1):
        raise DatasetError(f"{path}: array {key} has shape {y.shape}; expected one label per example")
    y = y.reshape(-1)
    if y.dtype.kind == "f" and not (np.isfinite(y).all() and np.all(y == np.round(y))):
        raise DatasetError(f"{path}: array {key} must hold integer class labels (got fractions)")
    if y.size and y.min() < 0:
        raise DatasetError(f"{path}: array {key} has negative class labels ({y.min():g})")
    if y.size and y.max() >= _limit("classes"):
        raise DatasetError(f"{path}: array {key} has the label {int(y.max()):,}: "
                           f"{_over(int(y.max()) + 1, 'classes', 'classes')}")
    return y.astype(np.int32)


def _class_names(names: np.ndarray | None, path: Path) -> list | None:
    if names is None:
        return None
    if names.dtype.kind not in "US" or names.ndim != 1:
        raise DatasetError(f"{path}: array class_names must be a list of texts (got {names.dtype}, shape "
                           f"{names.shape})")
    if len(names) > _limit("classes"):
        raise DatasetError(f"{path}: class_names has {_over(len(names), 'names', 'classes')}")
    out = [n.decode("utf-8", "replace") if isinstance(n, bytes) else str(n) for n in names.tolist()]
    if len(set(out)) != len(out):
        raise DatasetError(f"{path}: class_names has duplicates")
    return out


def load_npz(path_text: str) -> Dataset:
    path = Path(path_text).expanduser()
    arrays = read_npz(path)
    x_train, x_test = arrays["x_train"], arrays["x_test"]
    values = x_train.size + x_test.size
    if values > _limit("dataset_values"):
        raise DatasetError(f"{path}: x_train and x_test hold {_over(values, 'numbers', 'dataset_values')}")
    # 0–255 pixels are scaled like the built-in sets; one decision for both splits so they stay comparable
    numeric = [a for a in (x_train, x_test) if a.dtype.kind in "biuf" and a.size]
    scale = 255.0 if any(float(np.nanmax(a)) > 1.5 for a in numeric) else 1.0
    x_tr, x_te = _as_inputs(x_train, path, "x_train", scale), _as_inputs(x_test, path, "x_test", scale)
    y_tr, y_te = _as_labels(arrays["y_train"], path, "y_train"), _as_labels(arrays["y_test"], path, "y_test")
    if len(x_tr) != len(y_tr) or len(x_te) != len(y_te):
        raise DatasetError(f"{path}: x and y have different lengths ({len(x_tr)}/{len(y_tr)} train, "
                           f"{len(x_te)}/{len(y_te)} test)")
    if x_tr.shape[1:] != x_te.shape[1:]:
        raise DatasetError(f"{path}: x_train examples have shape {x_tr.shape[1:]} but x_test {x_te.shape[1:]}")
    if len(x_tr) == 0 or len(x_te) == 0:
        raise DatasetError(f"{path}: x_train and x_test must not be empty")
    if 0 in x_tr.shape[1:]:
        raise DatasetError(f"{path}: x_train examples have shape {x_tr.shape[1:]}: no values to learn from")
    names = _class_names(arrays.get("class_names"), path)
    largest = int(max(y_tr.max(), y_te.max()))
    if names is not None and largest >= len(names):
        key = "y_train" if y_tr.max() == largest else "y_test"
        raise DatasetError(f"{path}: array {key} has the label {largest}, but class_names names only "
                           f"{len(names)} classes (0–{len(names) - 1})")
    names = names or [str(i) for i in range(largest + 1)]
    return Dataset(f"npz:{path}", x_tr, y_tr, None, None, x_te, y_te, names).checked(str(path))


# ---- image folders -----------------------------------------------------------------------------------------------
def _image_files(folder: Path, budget: list) -> list[Path]:
    """Image files below `folder` (sub-folders too; symlinked folders are not followed), iteratively — a tree of
    any depth cannot exhaust the stack — and counted against the image limit while walking (budget: [images
    left, entries left])."""
    found, stack = [], [(folder, 0)]
    while stack:
        current, depth = stack.pop()
        try:
            entries = sorted(os.scandir(current), key=lambda e: e.name)
        except OSError as exc:
            raise DatasetError(f"{current}: cannot read the folder ({exc.strerror or exc})") from None
        budget[1] -= len(entries)
        if budget[1] < 0:  # millions of other files would make the walk itself the hang
            raise DatasetError(f"{folder.parent}: more than {10 * _limit('images'):,} files and folders; an image "
                               f"folder holds at most {_limit('images'):,} images (VG_STUDIO_LIMITS images)")
        for entry in entries:
            if entry.name.startswith("."):
                continue
            if entry.is_dir(follow_symlinks=False):
                if depth + 1 > MAX_FOLDER_DEPTH:
                    raise DatasetError(f"{entry.path}: folders nested more than {MAX_FOLDER_DEPTH} deep")
                stack.append((Path(entry.path), depth + 1))
            elif Path(entry.name).suffix.lower() in IMAGE_SUFFIXES:
                budget[0] -= 1
                if budget[0] < 0:
                    raise DatasetError(f"{folder.parent}: more than {_limit('images'):,} images (VG_STUDIO_LIMITS "
                                       "images)")
                found.append(Path(entry.path))
    return sorted(found)


def _open_image(path: Path):
    """The image, opened lazily (Pillow has read its header only), after its declared size is checked."""
    from PIL import Image, UnidentifiedImageError

    regular_file(path, "image")
    # Pillow's own bomb check must not be stricter than ours, or raising the limit would not help
    Image.MAX_IMAGE_PIXELS = max(Image.MAX_IMAGE_PIXELS or 0, _limit("image_pixels"))
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            im = Image.open(path)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise DatasetError(f"{path}: declares more pixels than Pillow will decode (a decompression bomb?); the "
                           f"limit is {_limit('image_pixels'):,} pixels (VG_STUDIO_LIMITS image_pixels)") from None
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as exc:
        raise DatasetError(f"{path}: not a readable image ({str(exc).splitlines()[0] if str(exc) else exc})") \
            from None
    width, height = im.size
    if width * height > _limit("image_pixels"):
        im.close()
        raise DatasetError(f"{path}: declares {width:,}×{height:,} pixels; the limit is "
                           f"{_limit('image_pixels'):,} (VG_STUDIO_LIMITS image_pixels)")
    if width < 1 or height < 1:
        im.close()
        raise DatasetError(f"{path}: an image of {width}×{height} pixels")
    return im


GREY_MODES = ("L", "1", "I", "I;16", "I;16B", "I;16L", "F", "LA")


def load_folder(path_text: str, image_size=None, seed: int = 0, test_fraction: float = 0.2) -> Dataset:
    """Images in PATH/<class>/…; every image is converted to grey (or RGB if any is colour) and resized to
    `image_size` (default: the size of the first image), so mixed sizes are fine; a broken image is an error
    naming the file."""
    from PIL import Image

    root = Path(path_text).expanduser()
    if not root.is_dir():
        raise DatasetError(f"{root}: folder not found")
    try:
        classes = sorted(e.name for e in os.scandir(root) if e.is_dir(follow_symlinks=False)
                         and not e.name.startswith("."))
    except OSError as exc:
        raise DatasetError(f"{root}: cannot read the folder ({exc.strerror or exc})") from None
    if len(classes) < 2:
        raise DatasetError(f"{root}: needs at least 2 class sub-folders with images (found {len(classes)})")
    if len(classes) > _limit("classes"):
        raise DatasetError(f"{root}: {_over(len(classes), 'class folders', 'classes')}")
    files, budget = [], [_limit("images"), 10 * _limit("images")]  # images; entries walked
    for label, name in enumerate(classes):
        found = _image_files(root / name, budget)
        if not found:
            raise DatasetError(f"{root / name}: class folder has no images ({', '.join(sorted(IMAGE_SUFFIXES))})")
        files.extend((p, label) for p in found)
    # first pass: headers only (sizes and modes), so a bomb or a huge folder is refused before decoding anything
    modes, first_size = [], None
    for p, _ in files:
        with _open_image(p) as im:
            modes.append(im.mode)
            first_size = first_size or im.size[::-1]
    colour = any(m not in GREY_MODES for m in modes)
    channels = 3 if colour else 1
    size = tuple(image_size) if image_size else first_size
    if len(size) != 2 or min(size) < 1 or max(size) > 1024:
        raise DatasetError(f"data.options.image_size: must be [height, width] between 1 and 1024, got {size}")
    values = len(files) * size[0] * size[1] * channels
    if values > _limit("dataset_values"):
        raise DatasetError(f"{root}: {len(files):,} images of {size[0]}×{size[1]}×{channels} are "
                           f"{_over(values, 'numbers', 'dataset_values')}")
    arr = np.empty((len(files), size[0], size[1], channels), dtype=np.float32)
    mode = "RGB" if colour else "L"
    for i, (p, _) in enumerate(files):
        try:
            with _open_image(p) as im:
                im.load()
                pixels = im.convert(mode).resize((size[1], size[0]))
        except DatasetError:
            raise
        except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as exc:
            raise DatasetError(f"{p}: not a readable image ({str(exc).splitlines()[0] if str(exc) else exc})") \
                from None
        arr[i] = np.asarray(pixels, dtype=np.float32).reshape(size[0], size[1], channels) / 255.0
    labels = np.array([label for _, label in files], dtype=np.int32)
    n_test = max(1, int(round(len(arr) * test_fraction)))
    if len(arr) - n_test < 2:
        raise DatasetError(f"{root}: too few images ({len(arr)}) to split into training and test sets")
    x_tr, y_tr, x_te, y_te = split_fixed(arr, labels, n_test, seed)
    return Dataset(f"folder:{root}", x_tr, y_tr, None, None, x_te, y_te, classes).checked(str(root))
