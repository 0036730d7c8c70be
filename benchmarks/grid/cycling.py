"""Run makers for the labelled sets that cycle through data sets and seeds: the k-th run of a set trains on the
k-th data set (cycling) with seed first + k % seeds, unless it names its own."""

from __future__ import annotations

from grid.models import ModelConfig
from grid.spec_sets import Config


def spec_runs(first: int, seeds: int, data: tuple):
    """A maker of spec runs: (label, k, depth, width, activation, initializer, optimizer, lr, **options)."""
    def make(label, k, depth, width, activation, initializer, optimizer, lr, **kw) -> Config:
        kw.setdefault("seed", first + k % seeds)
        return Config(label, data[k % len(data)], depth, width, activation, initializer, optimizer, lr, **kw)
    return make


def model_runs(first: int, seeds: int, data: tuple, *, kinds=(), spread: int = 0, defaults: dict | None = None):
    """A maker of users' models: (label, k, arch, depth, width, activation, optimizer, lr, **options). With `kinds`
    (architecture names, or tuples that start with one) the i-th kind's runs start i data sets later and spread·i seeds
    later, so that every kind meets every data set and several seeds; `defaults` are options a run may override."""
    archs = [kind[0] if isinstance(kind, tuple) else kind for kind in kinds]

    def make(label, k, arch, depth, width, activation, optimizer, lr, **kw) -> ModelConfig:
        shift = archs.index(arch) if archs else 0
        kw.setdefault("seed", first + (k + spread * shift) % seeds)
        dataset = kw.pop("dataset", data[(k + shift) % len(data)])
        return ModelConfig(label, dataset, arch, depth, width, activation, optimizer, lr, **{**(defaults or {}), **kw})
    return make
