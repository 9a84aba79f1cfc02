"""The shape of the code, checked: import layers (arrows only downward) and each package's public
surface (what other packages may import is what its `__all__` lists). docs/architecture.md draws
the same picture; a new module or package gets its place here and there."""

from __future__ import annotations

import ast
import importlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import ROOT

SRC = ROOT / "src" / "gharchive_pipeline"
PACKAGE = "gharchive_pipeline"

#: Top to bottom; a unit (a top-level module or a package) imports only from its own layer or below.
LAYERS: list[set[str]] = [
    {"console", "cli"},  # the program's entry point and the command line: parse, call, print
    {"local"},  # the embedded pipeline: local bus, runner, --follow, status
    {"entrypoints"},  # the three Cloud Functions' bodies
    {"stages"},  # one event -> one step of the chain (ingest, normalize, load trigger, sweep)
    {"context"},  # the dependencies, built once: cloud_context(settings), local_context(home)
    # the parts: normalizer, downloader, publisher, ledger, events, warehouse loads, statistics
    {"normalize", "download", "publish", "ledger", "cloud_events", "load", "stats"},
    # values and plumbing every layer may use
    {
        "__init__",
        "errors",
        "outcome",
        "hours",
        "layout",
        "schema",
        "row_groups",
        "settings",
        "storage",
        "logs",
        "locked_temp",
        "literal_paths",
    },
]

#: Known upward imports, each to be removed by a move (empty when the map is as documented).
PENDING: set[tuple[str, str]] = set()

#: Code outside the package that imports it as any other package would.
OUTSIDE = [ROOT / "functions", ROOT / "spark", ROOT / "tools"]


@dataclass(frozen=True)
class Import:
    source: Path  # the importing file
    importer: str  # its module, e.g. gharchive_pipeline.cli.run_cmd ("" outside the package)
    target: str  # the imported module, e.g. gharchive_pipeline.stages.spark_trigger
    names: tuple[str, ...]  # from-imported names (may be submodules)

    @property
    def where(self) -> str:
        return str(self.source.relative_to(ROOT))


def _module_of(path: Path) -> tuple[str, str]:
    """(module, package it resolves relative imports in) of a file under src/."""
    parts = list(path.relative_to(SRC.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
        return ".".join(parts), ".".join(parts)
    return ".".join(parts), ".".join(parts[:-1])


def imports() -> Iterator[Import]:
    """Every import of the package, lazy and TYPE_CHECKING ones included, in src/ and OUTSIDE."""
    files = [(p, *_module_of(p)) for p in SRC.rglob("*.py")]
    files += [(p, "", "") for folder in OUTSIDE for p in folder.rglob("*.py")]
    for path, module, package in files:
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                for alias in node.names:
                    if alias.name.split(".")[0] == PACKAGE:
                        yield Import(path, module, alias.name, ())
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    base = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                    target = ".".join([*base, *([node.module] if node.module else [])])
                else:
                    target = node.module or ""
                if target.split(".")[0] == PACKAGE:
                    yield Import(path, module, target, tuple(a.name for a in node.names))


def unit(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def layer(name: str) -> int:
    for i, units in enumerate(LAYERS):
        if name in units:
            return i
    raise AssertionError(f"{name!r} is in no layer: give it one in LAYERS and docs/architecture.md")


def packages() -> list[str]:
    return sorted(p.name for p in SRC.iterdir() if p.is_dir() and any(p.glob("*.py")))


def test_every_module_and_package_has_a_layer() -> None:
    units = {p.stem for p in SRC.glob("*.py")} | set(packages())
    for name in sorted(units):
        layer(name)


def test_imports_go_only_downward() -> None:
    upward = set()
    for imp in imports():
        if not imp.importer:
            continue
        src, dst = unit(imp.importer), unit(imp.target)
        names = [dst] if dst != "__init__" else [n for n in imp.names if n in set().union(*LAYERS)] or [dst]
        for name in names:
            if src != name and layer(name) < layer(src):
                upward.add((src, name, imp.where))
    unexpected = sorted(u for u in upward if (u[0], u[1]) not in PENDING)
    assert not unexpected, "imports from a layer above (see LAYERS):\n" + "\n".join(map(str, unexpected))
    stale = sorted(p for p in PENDING if p not in {(u[0], u[1]) for u in upward})
    assert not stale, f"PENDING lists imports that are gone (remove them): {stale}"


@pytest.mark.parametrize("name", packages())
def test_every_package_says_what_it_exports(name: str) -> None:
    """Each package lists in `__all__` what other packages may import (names and submodules), and
    nothing public in its namespace is left out of it (as httpx pins its own surface)."""
    assert (SRC / name / "__init__.py").is_file(), f"{name}/ has no __init__.py"
    package = importlib.import_module(f"{PACKAGE}.{name}")
    exported = getattr(package, "__all__", None)
    assert exported is not None, f"{name}/__init__.py has no __all__"
    assert len(set(exported)) == len(exported)
    folder = SRC / name
    modules = {p.stem for p in folder.glob("*.py")} | {p.name for p in folder.iterdir() if p.is_dir()}
    for item in exported:
        assert hasattr(package, item) or item in modules, f"{name}.__all__ names {item!r}: no such thing"
    defined = {
        k
        for k, v in vars(package).items()
        if not k.startswith("_") and getattr(v, "__module__", None) == package.__name__
    }
    missing = sorted(defined - set(exported))
    assert not missing, f"{name}: defined here, public, not in __all__: {missing}"


def test_other_packages_import_only_what_a_package_exports() -> None:
    """`from gharchive_pipeline.P import x` and `gharchive_pipeline.P.m` from outside P: x or m is
    in P.__all__; a `_private` module or name is never imported from outside its package."""
    wrong = []
    for imp in imports():
        parts = imp.target.split(".")
        if len(parts) < 2 or parts[1] not in packages():
            continue
        if imp.importer and unit(imp.importer) == parts[1]:
            continue  # inside the package: anything goes
        exported = set(importlib.import_module(f"{PACKAGE}.{parts[1]}").__all__)
        wanted = [parts[2]] if len(parts) > 2 else list(imp.names)
        wrong += [(imp.where, imp.target, n) for n in wanted if n not in exported or n.startswith("_")]
    assert not wrong, "not in the package's __all__ (export it, or do not import it):\n" + "\n".join(
        map(str, sorted(set(wrong)))
    )
