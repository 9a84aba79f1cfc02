"""Homes whose names hold glob characters, beside homes those characters would match.

DuckDB's read_parquet and Spark's readers expand `*`, `?`, `[...]` (Spark also `{a,b}`) in every
path, lists included, and DuckDB expands a leading `~`: a home `h/p[1]` next to `h/p1` read and
reported `p1`'s rows (its ledger saying `rows: 0`), and alone made `stats` and `report` crash. Each
case runs the installed `gharchive` on real hours (data/gharchive) and must see its own rows only.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from gharchive_pipeline import layout
from gharchive_pipeline.hours import Hour
from gharchive_pipeline.ledger import read_ledger
from gharchive_pipeline.outcome import LoadOutcome, Stage
from gharchive_pipeline.storage import open_storage
from tests.conftest import DATA

from .harness import gharchive_exe

H0, H1 = Hour.parse("2015-01-01T00"), Hour.parse("2015-01-01T01")
#: Events of the real hour 2015-01-01T01 (data/gharchive), all created on 2015-01-01.
H1_EVENTS = 7427


def gharchive(*args: str, cwd: Path | None = None, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*gharchive_exe(), *args], capture_output=True, text=True, cwd=cwd, timeout=timeout, check=False
    )


def ok(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-3000:]
    assert "Traceback" not in result.stderr, result.stderr[-3000:]
    return result.stdout


@pytest.fixture(scope="module")
def sibling(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A home with hours 00 and 01 loaded: what a glob in a neighbour's name would match."""
    home = tmp_path_factory.mktemp("sibling") / "home"
    ok(gharchive("run", H0.key, H1.key, "--source", str(DATA), "--home", str(home)))
    return home


def neighbourhood(tmp: Path, sibling: Path, names: tuple[str, ...]) -> None:
    for name in names:
        shutil.copytree(sibling, tmp / name, symlinks=True)


def load_rows(home: Path, hour: Hour) -> int:
    """The `rows` the hour's last `loaded` ledger entry says it gave to its day."""
    raw = open_storage(str(home / "raw"))
    loaded = [e for e in read_ledger(raw, hour) if e.stage == Stage.LOAD and e.outcome == LoadOutcome.LOADED]
    assert loaded, f"{hour.key} never loaded in {home}"
    return int(loaded[-1].details["rows"])


def stats_by_hour(home: Path, cwd: Path | None = None) -> dict[str, int]:
    out = ok(gharchive("stats", "--home", str(home), "--by", "hour", "--format", "json", cwd=cwd))
    rows = json.loads(out)
    return {str(r["hour"])[:13]: int(r["events"]) for r in rows}


# home name -> sibling names it would match as a pattern (DuckDB: `*`, `?`, `[...]`)
CASES = {
    "p[1]": ("p1",),
    "p*": ("p1", "pq"),
    "p?": ("p1",),
    "{a,b}": ("a", "b", "{a,b}x"),
    "q[1]": (),  # nothing to match: the old code crashed with a traceback
    "r[[]": ("r[",),
}


@pytest.mark.parametrize("name", list(CASES))
def test_home_with_glob_characters_sees_only_its_own_rows(name: str, sibling: Path, tmp_path: Path) -> None:
    neighbourhood(tmp_path, sibling, CASES[name])
    home = tmp_path / name
    ok(gharchive("run", H1.key, H1.key, "--source", str(DATA), "--home", str(home)))

    assert load_rows(home, H1) == H1_EVENTS  # the rows of its own hour file, not 0
    assert stats_by_hour(home) == {"2015-01-01T01": H1_EVENTS}  # never the sibling's hour 00
    report = tmp_path / "report.html"
    ok(gharchive("report", "--home", str(home), "-o", str(report)))
    assert f"{H1_EVENTS:,}" in report.read_text(encoding="utf-8")
    assert f"{7702 + H1_EVENTS:,}" not in report.read_text(encoding="utf-8")


def test_relative_home_starting_with_a_tilde_is_that_folder(sibling: Path, tmp_path: Path) -> None:
    """DuckDB reads `~x/...` as the user's home directory + `x/...`."""
    home = Path("~x")
    ok(gharchive("run", H1.key, H1.key, "--source", str(DATA), "--home", str(home), cwd=tmp_path))
    assert load_rows(tmp_path / home, H1) == H1_EVENTS
    assert stats_by_hour(home, cwd=tmp_path) == {"2015-01-01T01": H1_EVENTS}


def test_spark_engine_reads_its_own_hour_files(sibling: Path, tmp_path: Path) -> None:
    """Spark (Hadoop's glob) also expands `{a,b}`: beside `a`, whose hour 01 (here cut to 100 rows)
    it would read instead."""
    neighbourhood(tmp_path, sibling, ("a",))
    other = tmp_path / "a" / "curated" / layout.curated_object(H1)
    pq.write_table(pq.read_table(other).slice(0, 100), other)
    home = tmp_path / "{a,b}"
    args = ("run", H1.key, H1.key, "--source", str(DATA), "--home", str(home), "--engine", "spark")
    ok(gharchive(*args, timeout=600))
    assert load_rows(home, H1) == H1_EVENTS
    assert stats_by_hour(home) == {"2015-01-01T01": H1_EVENTS}
