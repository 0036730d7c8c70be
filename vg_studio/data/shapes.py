"""shapes10: a generated 10-class image set in the shape of Wu's attention paper's self-built one (10,000 images split
7,000 / 2,000 / 1,000), deterministic by seed. Each 28×28 grey image holds one shape of random size, position,
stroke and brightness on a noisy background, so the classes are learnable but not trivially so."""

from __future__ import annotations

import numpy as np

from vg_studio.data.base import Dataset

SHAPE_NAMES = ["disc", "ring", "square", "frame", "triangle", "plus", "cross", "h-bar", "v-bar", "diamond"]
SIZE = 28


def _mask(kind: int, yy, xx, cy, cx, r, stroke):
    dy, dx = yy - cy, xx - cx
    dist = np.hypot(dy, dx)
    cheb = np.maximum(np.abs(dy), np.abs(dx))
    manh = np.abs(dy) + np.abs(dx)
    if kind == 0:
        return dist <= r
    if kind == 1:
        return np.abs(dist - r) <= stroke / 2
    if kind == 2:
        return cheb <= r * 0.8
    if kind == 3:
        return np.abs(cheb - r * 0.8) <= stroke / 2
    if kind == 4:  # upward triangle: below the apex, inside two slanted edges
        return (dy <= r * 0.8) & (dy >= -r) & (np.abs(dx) <= (dy + r) * 0.6)
    if kind == 5:
        return ((np.abs(dx) <= stroke / 2) | (np.abs(dy) <= stroke / 2)) & (cheb <= r)
    if kind == 6:
        return ((np.abs(dx - dy) <= stroke * 0.7) | (np.abs(dx + dy) <= stroke * 0.7)) & (cheb <= r * 0.8)
    if kind == 7:
        return (np.abs(dy) <= stroke / 2) & (np.abs(dx) <= r)
    if kind == 8:
        return (np.abs(dx) <= stroke / 2) & (np.abs(dy) <= r)
    return manh <= r


def generate(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:SIZE, 0:SIZE].astype(np.float32)
    labels = np.arange(n) % 10
    rng.shuffle(labels)
    images = np.empty((n, SIZE, SIZE), dtype=np.float32)
    for i, kind in enumerate(labels):
        r = rng.uniform(5.0, 10.0)
        cy, cx = rng.uniform(r * 0.8 + 1, SIZE - r * 0.8 - 1, size=2)
        stroke = rng.uniform(1.5, 3.0)
        mask = _mask(int(kind), yy, xx, cy, cx, r, stroke)
        background = rng.uniform(0.0, 0.25)
        image = np.full((SIZE, SIZE), background, dtype=np.float32)
        image[mask] = rng.uniform(0.6, 1.0)
        image += rng.normal(0.0, 0.08, size=image.shape).astype(np.float32)
        images[i] = np.clip(image, 0.0, 1.0)
    return images[..., None], labels.astype(np.int32)


def shapes10(seed: int = 0, n: int = 10_000) -> Dataset:
    x, y = generate(n, seed)
    n_train, n_val = int(n * 0.7), int(n * 0.2)
    return Dataset("shapes10", x[:n_train], y[:n_train], x[n_train:n_train + n_val], y[n_train:n_train + n_val],
                   x[n_train + n_val:], y[n_train + n_val:], list(SHAPE_NAMES))
