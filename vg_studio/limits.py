"""How big anything VG Studio reads may be: refused early, with one line naming the limit, instead of a hang,
a memory blow-up or a traceback deep inside a library.

Every limit is generous for real use and can be raised (or lowered) without code: set the environment variable
``VG_STUDIO_LIMITS`` to a JSON object, e.g. ``VG_STUDIO_LIMITS='{"npz_bytes": 8589934592}'``.
"""

from __future__ import annotations

import dataclasses
import json
import os
from dataclasses import dataclass


@dataclass(frozen=True)
class Limits:
    spec_bytes: int = 4 * 2**20  # a spec file (a 200-layer spec is ~100 KB)
    json_bytes: int = 64 * 2**20  # any other JSON file VG Studio reads (report.json, model.json)
    json_depth: int = 64  # nesting of objects/lists in any JSON file
    json_int_digits: int = 30  # an integer literal longer than this is refused (no int(10**4300) in a spec)
    # networks (the spec validates against these; a user's own model may have more weighted layers)
    layers: int = 200  # hidden layers in a spec
    units: int = 65536  # units (or filters) of one layer
    classes: int = 100_000  # classes of a dataset: a label of 10**9 would mean an output layer of 10**9 units
    # data files
    npz_members: int = 64  # arrays in one .npz (x_train, y_train, x_test, y_test, class_names: 5)
    npz_bytes: int = 2**30  # the arrays of one .npz once unpacked (1 GiB; CIFAR-10 as uint8 is 0.18 GiB)
    npz_ratio: int = 200  # unpacked/packed size of one member above 64 MiB: more is a decompression bomb
    dataset_values: int = 2**29  # numbers in a dataset's inputs (2 GiB as float32; CIFAR-10 is 0.18e9)
    images: int = 200_000  # image files in an image folder
    image_pixels: int = 2**26  # pixels one image declares (8192 x 8192); read from its header before decoding
    # a user's .keras file (`train --model`, export): checked before Keras reads it
    model_params: int = 2**29  # weights its config declares (2 GiB as float32); Keras allocates them at load
    keras_members: int = 1000  # zip members (a model has 3, plus any assets of its layers)
    keras_bytes: int = 16 * 2**30  # its members unpacked (weights + optimizer state of model_params as float64)
    keras_config_bytes: int = 16 * 2**20  # config.json (a 1,000-layer functional model's is ~3 MB)
    keras_layers: int = 2000  # layers in config.json (ResNet152: 517; Keras loads a Sequential in O(layers²))
    # run directories
    history_bytes: int = 8 * 2**30  # the arrays of one history (100 epochs x 50,000 records x 200 layers fit)
    history_layers: int = 100_000  # layer columns of a history (a user's model: every layer with weights)


class LimitsError(ValueError):
    """VG_STUDIO_LIMITS is not usable; the message is one line."""


def _from_environment() -> Limits:
    text = os.environ.get("VG_STUDIO_LIMITS", "").strip()
    if not text:
        return Limits()
    try:
        overrides = json.loads(text)
    except (ValueError, RecursionError):  # RecursionError: "[[[[…" nested past Python's stack
        raise LimitsError("VG_STUDIO_LIMITS: not a JSON object") from None
    if not isinstance(overrides, dict):
        raise LimitsError("VG_STUDIO_LIMITS: not a JSON object")
    known = {f.name for f in dataclasses.fields(Limits)}
    for key, value in overrides.items():
        if key not in known:
            raise LimitsError(f"VG_STUDIO_LIMITS: unknown limit {key!r} (known: {', '.join(sorted(known))})")
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise LimitsError(f"VG_STUDIO_LIMITS: {key} must be a positive integer")
    return Limits(**overrides)


def check_environment() -> None:
    """Raise LimitsError if VG_STUDIO_LIMITS was not usable (the CLI and the app call this at start-up; until
    then the defaults apply, so that importing VG Studio never fails)."""
    if ENVIRONMENT_ERROR:
        raise LimitsError(ENVIRONMENT_ERROR)


try:
    LIMITS = _from_environment()
    ENVIRONMENT_ERROR = ""
except LimitsError as _exc:
    LIMITS, ENVIRONMENT_ERROR = Limits(), str(_exc)
