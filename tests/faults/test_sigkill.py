"""SIGKILL at chosen points of a real `gharchive run` (ingest, normalize, load), then a rerun: the
result equals a clean run (statistics, status, every warehouse row) and nothing is left behind."""

from __future__ import annotations

import random
from collections.abc import Callable
from pathlib import Path

import pytest

from gharchive_pipeline import layout
from tests.conftest import DATA

from .harness import FIRST, LAST, CleanRun, assert_rerun_equals_clean, kill_when, run_cmd


def _exists(path: Callable[[Path], Path]) -> Callable[[Path], bool]:
    return lambda home: path(home).exists()


#: kill point -> (condition on the home that starts the clock, longest extra random delay in s)
KILL_POINTS: dict[str, tuple[Callable[[Path], bool], float]] = {
    # the raw bucket was just opened: the first hour is being downloaded
    "ingest": (_exists(lambda h: h / "raw" / ".gharchive-storage"), 0.3),
    # the first hour is stored: it is being normalized
    "normalize": (_exists(lambda h: h / "raw" / layout.raw_object(FIRST)), 0.8),
    # the last real hour is normalized: the load of the day runs next
    "load": (_exists(lambda h: h / "curated" / layout.curated_object(FIRST + 1)), 2.0),
}


@pytest.mark.parametrize(("point", "seed"), [("ingest", 1), ("normalize", 2), ("load", 3)])
def test_sigkill_then_rerun_equals_a_clean_run(
    point: str, seed: int, clean_run: CleanRun, tmp_path: Path
) -> None:
    home, log = tmp_path / "home", tmp_path / "run.log"
    condition, longest = KILL_POINTS[point]
    delay = random.Random(seed).uniform(0, longest)

    kill_when(run_cmd(home, DATA, FIRST, LAST), home, log, condition, delay, clean_run)
    assert_rerun_equals_clean(run_cmd(home, DATA, FIRST, LAST), home, log, clean_run)
