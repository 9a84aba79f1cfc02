"""Shared fixtures of the fault suite: one clean run of real hours, the reference every faulted run
must end equal to."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from gharchive_pipeline.hours import Hour
from tests.conftest import DATA

from .harness import Outcome, outcome, run, run_cmd

#: Real hours 00 and 01 (data/gharchive), and 02, which is not there: a recorded `missing` hour.
FIRST, LAST = Hour.parse("2015-01-01T00"), Hour.parse("2015-01-01T02")


@dataclass(frozen=True)
class CleanRun:
    home: Path
    outcome: Outcome
    seconds: float


@pytest.fixture(scope="session")
def clean_run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CleanRun]:
    home = tmp_path_factory.mktemp("clean") / "home"
    started = time.monotonic()
    rc = run(run_cmd(home, DATA, FIRST, LAST), home.parent / "run.log")
    seconds = time.monotonic() - started
    assert rc == 0, (home.parent / "run.log").read_text()[-3000:]
    yield CleanRun(home, outcome(home), seconds)
