"""The Presets menu's content: the bundled experiments, with titles a reader understands, grouped where they are
meant to be trained one after the other and compared. Qt-free (the window builds the menu from it)."""

from __future__ import annotations

from pathlib import Path

from vg_studio.resources import PRESET_GROUPS, RESOURCES
from vg_studio.spec import ExperimentSpec, SpecError

PRESET_TITLES = {
    "teach-deep-sigmoid": "Deep sigmoid network (the gradient vanishes)",
    "teach-deep-relu": "Deep ReLU network (the gradient flows)",
    "teach-deep-sigmoid-aux": "Deep sigmoid network with auxiliary heads",
    "teach-deep-sigmoid-sdagd": "Deep sigmoid network trained with SDAGD",
    "teach-dnn": "Small sigmoid network",
    "teach-dnn-attention": "Small sigmoid network with attention",
    "teach-rnn-simple": "SimpleRNN", "teach-rnn-lstm": "LSTM", "teach-rnn-gru": "GRU",
    "sdagd-hl5-sigmoid-sgd": "5 sigmoid layers, SGD", "sdagd-hl5-sigmoid-sdagd": "5 sigmoid layers, SDAGD",
    "sdagd-hl5-relu-sgd": "5 ReLU layers, SGD", "sdagd-hl5-relu-sdagd": "5 ReLU layers, SDAGD",
    "attention-plain": "Without attention", "attention-every-layer": "With attention",
}


def preset_paths() -> list[Path]:
    return sorted((RESOURCES / "presets").glob("*.json"))


def preset_title(path: Path) -> str:
    return PRESET_TITLES.get(path.stem) or path.stem.replace("-", " ").replace("_", " ").capitalize()


def preset_group(path: Path) -> str | None:
    """The submenu of presets meant to be trained one after the other and compared (None: the menu itself)."""
    return next((title for prefix, title in PRESET_GROUPS.items() if path.stem.startswith(prefix)), None) or None


def preset_description(path: Path) -> str:
    """The preset's own description (the spec's `description`), "" when it has none or does not load."""
    try:
        return str(getattr(ExperimentSpec.load(path), "description", "") or "")
    except (SpecError, OSError):
        return ""


def menu_text(text: str) -> str:
    """Text for a menu or button label: a literal "&" doubled (a single one marks the next letter as the
    mnemonic, so "Tan & Lim" would show as "Tan _Lim")."""
    return text.replace("&", "&&")


def fill_presets_menu(menu, make_action, load) -> None:
    """Fill `menu` (a QMenu) with one action per preset, a submenu per group. `make_action(text, slot, shortcut,
    tip)` makes an action; `load(path)` opens a preset."""
    groups = {}
    for path in preset_paths():
        group = preset_group(path)
        if group is not None and group not in groups:
            groups[group] = menu.addMenu(menu_text(group))
            groups[group].setToolTipsVisible(True)
        target = groups[group] if group is not None else menu
        title, description = preset_title(path), preset_description(path)
        action = make_action(menu_text(title), lambda p=path: load(p), None, description or title)
        action.setToolTip(description or title)  # shown on hover, and in the status bar
        target.addAction(action)
