"""Where VG Studio's own files are — presets, themes, the icon, the desktop entry — in every way it is run
(Qt-free, so the CLI, the app and the tests share it).

The repository keeps them in the top-level resources/ folder; a wheel ships that folder inside the package as
vg_studio/assets (pyproject's package-dir mapping). A checkout, an editable install and the PyInstaller bundle
find it beside the package, an installed wheel inside it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

_PACKAGE = Path(__file__).resolve().parent


def _find() -> Path:
    for candidate in (_PACKAGE / "assets", _PACKAGE.parent / "resources"):
        if (candidate / "presets").is_dir():
            return candidate
    return _PACKAGE / "assets"  # nothing installed: callers fall back (a theme default, no presets)


RESOURCES = _find()
PRESETS = RESOURCES / "presets"
THEMES = RESOURCES / "themes"
ICON = RESOURCES / "vg-studio.svg"
DESKTOP_ENTRY = RESOURCES / "vg-studio.desktop"

# Presets menu groups by file name (vg_studio.experiments.presets writes the files).
PRESET_GROUPS = {
    "teach-rnn-": "SimpleRNN vs LSTM vs GRU on the adding problem",
    "teach-": "",  # the teaching examples sit at the top of the menu
    "sdagd-": "Reproductions: Tan & Lim (2019), SDAGD",
    "attention-": "Reproductions: Wu, attention mechanism",
}


@dataclass(frozen=True)
class Preset:
    path: Path
    title: str  # the spec's name, written for people: "Deep sigmoid, plain SGD"
    description: str  # what it demonstrates (a tooltip or status tip)
    group: str  # a submenu title, "" for the top level


def preset_paths() -> list[Path]:
    return sorted(PRESETS.glob("*.json"))


def presets() -> list[Preset]:
    """The presets in menu order (teaching examples first). Reads only name and description: cheap, no spec
    validation (opening one validates it)."""
    found = []
    for path in preset_paths():
        try:
            document = json.loads(path.read_text(encoding="utf-8"))
            title, description = str(document.get("name") or path.stem), str(document.get("description") or "")
        except (OSError, ValueError, AttributeError):
            continue  # a broken preset file is not offered
        group = next((g for prefix, g in PRESET_GROUPS.items() if path.stem.startswith(prefix)), "")
        found.append(Preset(path, title, description, group))
    order = [""] + [group for group in PRESET_GROUPS.values() if group]
    return sorted(found, key=lambda p: (order.index(p.group) if p.group in order else len(order), p.path.stem))
