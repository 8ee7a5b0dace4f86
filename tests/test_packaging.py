"""Every Python package of the four code folders is listed in pyproject.toml (a wheel, as installed on
a Ray worker or by a user, ships only what is listed), and every listed one exists."""

from __future__ import annotations

import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_listed_packages_are_exactly_the_package_folders() -> None:
    conf = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    dirs = conf["package-dir"]
    found = set()
    for name, folder in dirs.items():
        base = ROOT / folder
        for init in base.rglob("__init__.py"):
            rel = init.parent.relative_to(base).parts
            pkg = ".".join((name, *rel))
            owner = max((n for n in dirs if pkg == n or pkg.startswith(n + ".")), key=len)
            if owner == name:
                found.add(pkg)
    assert set(conf["packages"]) == found, (
        sorted(found - set(conf["packages"])),
        sorted(set(conf["packages"]) - found),
    )
