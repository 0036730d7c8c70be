"""`vg-studio --install-desktop-entry`: a launcher and icon for the current user (freedesktop.org layout).

Files go under $XDG_DATA_HOME (default ~/.local/share): applications/vg-studio.desktop and
icons/hicolor/scalable/apps/vg-studio.svg. The entry starts whatever launched this command — the bundle's
executable, the pip-installed `vg-studio` script, or `python -m vg_studio.cli` — so it works for every install.
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

from vg_studio.safeio import atomic_write_bytes, atomic_write_text

APP_ID = "vg-studio"
from vg_studio.resources import RESOURCES  # noqa: E402  (spec: a checkout, the bundle or an installed wheel)
FALLBACK_ICON = "applications-science"  # a theme icon, used where resources/ was not installed


class DesktopEntryError(OSError):
    """The launcher or icon could not be written; the message names the file."""


def data_home() -> Path:
    value = os.environ.get("XDG_DATA_HOME", "")
    # the spec says a relative XDG_DATA_HOME is invalid and must be ignored
    return Path(value) if value and os.path.isabs(value) else Path.home() / ".local" / "share"


def launcher_command() -> list[str]:
    """The command that starts this installation of VG Studio."""
    if getattr(sys, "frozen", False):
        return [sys.executable]
    script = shutil.which("vg-studio")
    if script:
        return [os.path.abspath(script)]
    return [sys.executable, "-m", "vg_studio.cli"]


def quote_exec_arg(arg: str) -> str:
    """Quote one Exec argument as the Desktop Entry spec asks (reserved characters → double quotes)."""
    arg = arg.replace("%", "%%")
    if not any(c in arg for c in " \t\n\"'\\><~|&;$*?#()`"):
        return arg
    escaped = "".join("\\" + c if c in '"`$\\' else c for c in arg)
    return f'"{escaped}"'


def desktop_entry_text(command: list[str], icon: str) -> str:
    template = (RESOURCES / f"{APP_ID}.desktop").read_text(encoding="utf-8") if (
        RESOURCES / f"{APP_ID}.desktop").is_file() else _DEFAULT_ENTRY
    exec_line = " ".join(quote_exec_arg(a) for a in command) + " gui %f"
    lines = []
    for line in template.splitlines():
        if line.startswith("Exec="):
            line = f"Exec={exec_line}"
        elif line.startswith("Icon="):
            line = f"Icon={icon}"
        lines.append(line)
    return "\n".join(lines) + "\n"


def install_desktop_entry(home: str | os.PathLike | None = None) -> str:
    """Install the launcher and icon; returns a message naming both paths."""
    base = Path(home) if home is not None else data_home()
    entry_path = base / "applications" / f"{APP_ID}.desktop"
    icon_source = RESOURCES / f"{APP_ID}.svg"
    icon_path = base / "icons" / "hicolor" / "scalable" / "apps" / f"{APP_ID}.svg"
    icon = FALLBACK_ICON
    if icon_source.is_file():
        _write(icon_path, lambda: atomic_write_bytes(icon_path, icon_source.read_bytes()))
        icon = APP_ID
    _write(entry_path, lambda: atomic_write_text(entry_path, desktop_entry_text(launcher_command(), icon)))
    written = [str(entry_path)] + ([str(icon_path)] if icon == APP_ID else [])
    return "installed " + " and ".join(written)


def _write(path: Path, write) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        write()
    except OSError as exc:
        raise DesktopEntryError(f"{path}: cannot write ({exc.strerror or exc})") from None


_DEFAULT_ENTRY = """[Desktop Entry]
Type=Application
Name=VG Studio
Comment=See, diagnose and fix vanishing and exploding gradients in deep networks
Exec=vg-studio gui %f
Icon=vg-studio
Terminal=false
Categories=Education;Science;
"""
