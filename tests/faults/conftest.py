"""The fault suite's shared fixture: one clean run of real hours, the reference every faulted run
must end equal to (see harness.py)."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from tests.conftest import DATA

from .harness import FIRST, LAST, CleanRun, outcome, run, run_cmd


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Every test here is in the fault suite, and end to end (so `make test-fast` leaves it out)."""
    here = Path(__file__).parent
    for item in items:
        if here in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.fault)
            item.add_marker(pytest.mark.slow)


@pytest.fixture(scope="session")
def clean_run(tmp_path_factory: pytest.TempPathFactory) -> CleanRun:
    home = tmp_path_factory.mktemp("clean") / "home"
    started = time.monotonic()
    rc = run(run_cmd(home, DATA, FIRST, LAST), home.parent / "run.log")
    seconds = time.monotonic() - started
    assert rc == 0, (home.parent / "run.log").read_text()[-3000:]
    return CleanRun(home, outcome(home), seconds)
