"""SIGKILL at chosen points of a real `gharchive run` (ingest, normalize, load), then a rerun: the
result equals a clean run (statistics, status, every warehouse row) and nothing is left behind."""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from gharchive_pipeline import layout
from tests.conftest import DATA

from .harness import FIRST, LAST, CleanRun, kill_tree, leftovers, outcome, run, run_cmd, stages_reached, start


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

    proc = start(run_cmd(home, DATA, FIRST, LAST), log)
    deadline = time.monotonic() + 3 * clean_run.seconds + 30
    while not condition(home) and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.005)
    time.sleep(delay)
    finished_before_kill = proc.poll() is not None
    kill_tree(proc)
    print(f"kill at {point} + {delay:.2f}s (finished first: {finished_before_kill}): {stages_reached(home)}")
    print(f"left by the killed run: {leftovers(home)}")

    rc = run(run_cmd(home, DATA, FIRST, LAST), log)
    assert rc == 0, log.read_text()[-3000:]
    assert outcome(home).differences(clean_run.outcome) == []
    assert leftovers(home) == []
