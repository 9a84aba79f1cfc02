"""CI fails on a missing stand-in instead of skipping: .ci/run sets the switch, standins.py obeys it."""

from __future__ import annotations

import re

import pytest

from tests.conftest import ROOT
from tests.support import standins


def test_ci_requires_the_standins() -> None:
    script = (ROOT / ".ci" / "run").read_text()
    assert re.search(rf"^export {standins.ENV_REQUIRE}=1$", script, re.MULTILINE)
    assert script.index(standins.ENV_REQUIRE) < script.index("make test")


def test_a_missing_standin_skips_on_a_laptop(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(standins.ENV_REQUIRE, raising=False)
    with pytest.raises(pytest.skip.Exception, match="bqemulator is not available: make bqemulator"):
        standins.missing("bqemulator", "make bqemulator")
    with pytest.raises(pytest.skip.Exception, match="no_such_module_here"):
        standins.import_module("no_such_module_here", "pip install it")
    standins.require("/usr/bin/chromium", "Chromium", "apt-get install chromium")  # present: no-op


def test_a_missing_standin_fails_in_ci(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(standins.ENV_REQUIRE, "1")
    with pytest.raises(pytest.fail.Exception, match="GHARCHIVE_REQUIRE_STANDINS is set"):
        standins.require(None, "Chromium", "apt-get install chromium")
    with pytest.raises(pytest.fail.Exception):
        standins.import_module("no_such_module_here", "pip install it")


#: Words that name a stand-in; a skip mentioning one must go through standins.py.
STANDIN_WORDS = ("pyspark", "gcloud", "pubsub", "chromium", "bqemulator", "fake_gcs")


def test_no_test_skips_a_missing_standin_on_its_own() -> None:
    offenders = []
    for path in sorted((ROOT / "tests").rglob("*.py")):
        if path.name in {"standins.py", "test_standins.py"}:
            continue
        for number, line in enumerate(path.read_text().splitlines(), 1):
            skips = any(s in line for s in ("pytest.skip(", "importorskip(", "mark.skipif("))
            if skips and any(word in line.lower() for word in STANDIN_WORDS):
                offenders.append(f"{path.relative_to(ROOT)}:{number}: {line.strip()}")
    assert not offenders, "use tests/support/standins.py (fails in CI):\n" + "\n".join(offenders)
