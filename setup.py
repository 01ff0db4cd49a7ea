"""Build hook: put the web UI's third-party browser files into the package.

The metadata lives in pyproject.toml; this file only registers ``build_py`` so that
``pip install -e .``, ``pip install .`` and ``python -m build`` all run it. When
``src/thingport/web/static/vendor/uplot/`` is absent, it installs the versions pinned in
``package.json`` / ``package-lock.json`` with ``npm ci`` in a temporary directory and copies the
files the UI loads (and their licence) into that folder, which git ignores. Node.js is needed
only here, to build; never to run thingport.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py
from setuptools.command.sdist import sdist
from setuptools.errors import SetupError

ROOT = Path(__file__).resolve().parent
VENDOR = ROOT / "src" / "thingport" / "web" / "static" / "vendor"
NPM_FILES = ("package.json", "package-lock.json", ".npmrc")

#: npm package -> (files copied from it, relative to its folder; the folder under vendor/).
VENDORED: dict[str, tuple[tuple[str, ...], str]] = {
    "uplot": (("dist/uPlot.iife.min.js", "dist/uPlot.min.css", "LICENSE"), "uplot"),
}


def vendor_missing() -> list[str]:
    """The vendored packages whose folder is absent or incomplete."""
    missing = []
    for package, (files, folder) in VENDORED.items():
        target = VENDOR / folder
        if not all((target / Path(name).name).is_file() for name in files):
            missing.append(package)
    return missing


def npm_install(workdir: Path) -> Path:
    """``npm ci`` of the pinned dependencies in ``workdir``; its node_modules folder."""
    npm = shutil.which("npm")
    if npm is None:
        raise SetupError(
            "thingport's web UI needs its pinned browser libraries (uPlot) from the npm "
            "registry, and npm was not found. Install Node.js and npm (Debian: apt-get install "
            f"npm) and build again, or put the files into {VENDOR}/ yourself."
        )
    for name in NPM_FILES:
        if (ROOT / name).is_file():
            shutil.copy2(ROOT / name, workdir / name)
    # --ignore-scripts: no package runs code on this machine; we only copy files out.
    command = [npm, "ci", "--omit=dev", "--ignore-scripts", "--no-audit", "--no-fund"]
    result = subprocess.run(command, cwd=workdir, capture_output=True, text=True)
    if result.returncode != 0:
        raise SetupError(
            f"`{' '.join(command[1:])}` failed (exit {result.returncode}) while fetching the "
            f"web UI's browser libraries:\n{result.stdout}{result.stderr}"
        )
    return workdir / "node_modules"


def build_vendor() -> None:
    """Fill the vendor folder from npm when any vendored package is missing."""
    missing = vendor_missing()
    if not missing:
        return
    print(f"thingport: fetching {', '.join(missing)} with npm for the web UI")
    with tempfile.TemporaryDirectory(prefix="thingport-npm-") as tmp:
        modules = npm_install(Path(tmp))
        for package in missing:
            files, folder = VENDORED[package]
            target = VENDOR / folder
            target.mkdir(parents=True, exist_ok=True)
            for name in files:
                source = modules / package / name
                if not source.is_file():
                    raise SetupError(f"npm package {package} has no {name}")
                shutil.copy2(source, target / Path(name).name)


class BuildPyWithVendor(build_py):
    """``build_py`` that first makes sure the vendored browser files exist, so that they are
    package data of the wheel (and present in the source tree for editable installs)."""

    def run(self) -> None:
        build_vendor()
        super().run()


class SdistWithVendor(sdist):
    """``sdist`` that carries the vendored files too, so that installing from it needs no
    npm."""

    def run(self) -> None:
        build_vendor()
        super().run()


setup(cmdclass={"build_py": BuildPyWithVendor, "sdist": SdistWithVendor})
