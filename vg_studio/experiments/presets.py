"""The reproductions' experiments as GUI presets: `python -m vg_studio.experiments.presets [DIR]` writes one spec
JSON per cell family into resources/presets/ (or DIR)."""

from __future__ import annotations

import sys
from pathlib import Path

from vg_studio.experiments import seed000, seed003

PRESET_DIR = Path(__file__).resolve().parents[2] / "resources" / "presets"


def all_presets() -> dict:
    return {**seed003.presets(), **seed000.presets()}


def write_presets(directory: Path = PRESET_DIR) -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, spec in all_presets().items():
        path = directory / f"{name}.json"
        spec.save(path)
        paths.append(path)
    return paths


if __name__ == "__main__":
    for written in write_presets(Path(sys.argv[1]) if len(sys.argv) > 1 else PRESET_DIR):
        print(written)
