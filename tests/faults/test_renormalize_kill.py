"""SIGKILL at chosen points of a real `gharchive renormalize`, then a rerun: every hour ends at this
pipeline version, the result equals a clean run (statistics, status, every warehouse row) and
nothing is left behind.

The hours are made "older" by rewriting their curated objects' recorded version (the object
metadata), since the runs here are subprocesses that no patch reaches; the rows are the same.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable
from pathlib import Path

import pytest

from gharchive_pipeline import PIPELINE_VERSION, layout
from gharchive_pipeline.storage import open_storage
from tests.conftest import DATA

from .harness import (
    FIRST,
    LAST,
    CleanRun,
    assert_rerun_equals_clean,
    gharchive_exe,
    gharchive_json,
    kill_when,
    run,
    run_cmd,
)

OLDER = "0.0.1"
REAL = [FIRST, FIRST + 1]  # FIRST + 2 is missing at the source


def renormalize_cmd(home: Path) -> list[str]:
    return [*gharchive_exe(), "renormalize", FIRST.key, LAST.key, "--home", str(home)]


def make_older(home: Path) -> None:
    curated = open_storage(str(home / "curated"))
    for hour in REAL:
        name = layout.curated_object(hour)
        info = curated.stat(name)
        assert info is not None
        curated.put_file(
            name, Path(curated.url) / name, metadata={**info.metadata, "pipeline_version": OLDER}
        )


def _raw_marked(home: Path) -> bool:
    info = open_storage(str(home / "raw")).stat(layout.raw_object(FIRST))
    return info is not None and info.metadata.get("renormalize") == PIPELINE_VERSION


def _curated_current(hour_index: int) -> Callable[[Path], bool]:
    def check(home: Path) -> bool:
        meta = (
            home
            / "curated"
            / ".gharchive-storage"
            / "meta"
            / (layout.curated_object(REAL[hour_index]) + ".json")
        )
        try:
            return json.loads(meta.read_text())["metadata"].get("pipeline_version") == PIPELINE_VERSION
        except (OSError, ValueError, KeyError):
            return False

    return check


#: kill point -> (condition on the home that starts the clock, longest extra random delay in s)
KILL_POINTS: dict[str, tuple[Callable[[Path], bool], float]] = {
    # the first raw object was stored again: its normalize runs (or is about to)
    "rewrite": (_raw_marked, 0.3),
    # the last hour is normalized again: the day's rebuild runs next
    "load": (_curated_current(1), 1.0),
}


@pytest.mark.parametrize(("point", "seed"), [("rewrite", 1), ("load", 2)])
def test_sigkill_during_renormalize_then_rerun_equals_a_clean_run(
    point: str, seed: int, clean_run: CleanRun, tmp_path: Path
) -> None:
    home, log = tmp_path / "home", tmp_path / "run.log"
    assert run(run_cmd(home, DATA, FIRST, LAST), log) == 0, log.read_text()[-3000:]
    make_older(home)
    condition, longest = KILL_POINTS[point]
    delay = random.Random(seed).uniform(0, longest)

    kill_when(renormalize_cmd(home), home, log, condition, delay, clean_run)
    assert_rerun_equals_clean(renormalize_cmd(home), home, log, clean_run)
    rows = {r["hour"]: r for r in gharchive_json("status", "--home", str(home), "--json")}
    assert all(rows[h.key]["version"] == PIPELINE_VERSION for h in REAL), rows
