"""One rule for a missing stand-in (Pub/Sub emulator, Chromium, bqemulator, fake-gcs-server, PySpark):
on a developer's machine the test is skipped with how to get it; in CI (`.ci/run` exports
GHARCHIVE_REQUIRE_STANDINS=1) it FAILS, so a broken install can never turn into a green run.
"""

from __future__ import annotations

import importlib
import os
from types import ModuleType
from typing import NoReturn

import pytest

ENV_REQUIRE = "GHARCHIVE_REQUIRE_STANDINS"


def required() -> bool:
    """Whether missing stand-ins fail (CI) rather than skip."""
    return os.environ.get(ENV_REQUIRE, "").strip().lower() in {"1", "true", "yes"}


def missing(what: str, hint: str) -> NoReturn:
    """Skip (or, in CI, fail) a test whose stand-in `what` is not installed; `hint` says how to get it."""
    message = f"{what} is not available: {hint}"
    if required():
        pytest.fail(f"{message} ({ENV_REQUIRE} is set: stand-ins are required)", pytrace=False)
    pytest.skip(message)


def require(available: object, what: str, hint: str) -> None:
    """`missing(what, hint)` unless `available` is truthy (a path, a module, True)."""
    if not available:
        missing(what, hint)


def import_module(name: str, hint: str) -> ModuleType:
    """`pytest.importorskip`, under the same rule."""
    try:
        return importlib.import_module(name)
    except ImportError:
        missing(f"Python module {name}", hint)
