"""The services and the REST API import each other in one direction only (no cycles, read from
the source with ``ast``), and importing the services loads neither the settings nor TLS."""

from __future__ import annotations

import ast
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

import thingport

ROOT = Path(thingport.__file__).parent
PACKAGES = ("thingport.services", "thingport.api")


def module_files() -> dict[str, Path]:
    """Every module of the checked packages, by dotted name (a package by its own name)."""
    found = {}
    for package in PACKAGES:
        for path in (ROOT.parent / package.replace(".", "/")).rglob("*.py"):
            parts = list(path.relative_to(ROOT.parent).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            found[".".join(parts)] = path
    return found


def imports_of(path: Path, modules: dict[str, Path]) -> Iterator[str]:
    """The checked modules ``path`` imports, TYPE_CHECKING blocks and function bodies included;
    ``from package import name`` counts as the submodule when ``name`` is one."""
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name in modules:
                    yield alias.name
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            for alias in node.names:
                submodule = f"{node.module}.{alias.name}"
                if submodule in modules:
                    yield submodule
                elif node.module in modules:
                    yield node.module


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan's algorithm)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for target in graph[node]:
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_the_services_and_the_api_have_no_import_cycle() -> None:
    modules = module_files()
    graph = {name: set(imports_of(path, modules)) - {name} for name, path in modules.items()}
    assert "thingport.services.channels" in graph["thingport.services.attributes"]
    assert cycles(graph) == []


def test_the_cycle_finder_finds_one() -> None:
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_no_api_module_imports_from_the_api_package_itself() -> None:
    modules = module_files()
    for name, path in modules.items():
        if name.startswith("thingport.api.") and name.count(".") >= 2:
            assert "thingport.api" not in set(imports_of(path, modules)), name


@pytest.mark.parametrize("loaded", ["thingport.settings", "thingport.tls", "cryptography"])
def test_importing_the_services_loads_no_settings_and_no_tls(loaded: str) -> None:
    code = f"import sys, thingport.services; print({loaded!r} in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            check=True)
    assert result.stdout.strip() == "False"
