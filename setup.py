"""Packages of the wheel: vg_studio's own (found) plus the top-level resources/ folder — presets, themes, the icon
and the desktop entry — shipped inside the package as vg_studio.assets (found by vg_studio.resources). Everything
else is in pyproject.toml; pyproject cannot list found packages and a mapped folder together."""

from setuptools import find_packages, setup

setup(packages=find_packages(include=["vg_studio", "vg_studio.*"]) + ["vg_studio.assets"],
      package_dir={"vg_studio.assets": "resources"})
