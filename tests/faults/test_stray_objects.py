"""Objects nobody of ours wrote, in the folders the loader lists: skipped with a warning, never fatal.

A day-index marker with an impossible hour (`days/date=2015-01-01/from=2015-01-01T99`) made that
day's load fail on every try: the functions ignore foreign objects, but the loader's listings (day
markers, curated hours, the local bus's watched folders) parsed every name they found. Each stray
here sits beside real hours (data/gharchive) in a home the installed `gharchive` runs on.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from gharchive_pipeline import layout
from gharchive_pipeline.hours import Hour
from gharchive_pipeline.ledger import read_ledger
from gharchive_pipeline.outcome import LoadOutcome, Stage
from gharchive_pipeline.storage import open_storage
from tests.conftest import DATA

from .harness import gharchive_exe

H0, H1 = Hour.parse("2015-01-01T00"), Hour.parse("2015-01-01T01")
EVENTS = {H0.key: 7702, H1.key: 7427}  # the real hours' events, all created on 2015-01-01

STRAY_MARKERS = (
    "days/date=2015-01-01/from=2015-01-01T99",  # impossible hour
    "days/date=2015-01-01/from=2015-02-30T00",  # impossible day
    "days/date=2015-01-01/from=2099-01-01T00",  # not yet an archive hour
    "days/date=2015-01-01/from=yesterday",  # not our shape at all
    "days/date=2015-01-02/from=2015-01-01T77",  # another day's index, read for hour 01's days
    "days/date=2014-12-31/from=2015-01-01T01x",
)
STRAY_CURATED = ("events/date=2015-01-01/hour=99/events.parquet", "events/date=2015-01-01/notes.txt")
STRAY_RAW = ("hours/2015/01/01/2015-01-01-99.json.gz", "hours/2015/01/01/2015-01-01-0.json.gz.bak")


def gharchive(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*gharchive_exe(), *args], capture_output=True, text=True, timeout=300, check=False)


def loaded_rows(home: Path, hour: Hour) -> int:
    raw = open_storage(str(home / "raw"))
    loaded = [e for e in read_ledger(raw, hour) if e.stage == Stage.LOAD and e.outcome == LoadOutcome.LOADED]
    assert loaded, [e.outcome for e in read_ledger(raw, hour)]
    return int(loaded[-1].details["rows"])


@pytest.fixture
def home(tmp_path: Path) -> Path:
    """A home where hour 00 is loaded, then strays put into its buckets by hand."""
    home = tmp_path / "home"
    first = gharchive("run", H0.key, H0.key, "--source", str(DATA), "--home", str(home))
    assert first.returncode == 0, first.stderr[-3000:]
    curated, raw = home / "curated", home / "raw"
    real_parquet = curated / layout.curated_object(H0)
    for name in STRAY_MARKERS:
        (curated / name).parent.mkdir(parents=True, exist_ok=True)
        (curated / name).write_bytes(b"")
    for name in STRAY_CURATED:
        (curated / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(real_parquet, curated / name)
    for name in STRAY_RAW:
        shutil.copyfile(DATA / H0.file_name, raw / name)
    # a day lock left by hand or by another tool: times without a zone (ours always carry one)
    naive = {"batch_id": "by-hand", "acquired_at": "2015-01-01T00:00:00", "expires_at": "2015-01-01T02:00:00"}
    open_storage(str(curated)).put_bytes(layout.lock_object(H0.start.date()), b"{}", metadata=naive)
    return home


def test_strays_never_block_a_day_load(home: Path) -> None:
    result = gharchive("run", H0.key, H1.key, "--source", str(DATA), "--home", str(home))
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-3000:]
    assert "Traceback" not in result.stderr
    assert loaded_rows(home, H1) == EVENTS[H1.key]

    stats = gharchive("stats", "--home", str(home), "--by", "hour", "--format", "json")
    assert stats.returncode == 0, stats.stderr[-2000:]
    assert {r["hour"][:13]: r["events"] for r in json.loads(stats.stdout)} == EVENTS  # no stray's rows

    # each stray the loader met is named in one warning, not one per listing
    for name in ("from=2015-01-01T99", "hour=99/events.parquet"):
        assert result.stderr.count(name) == 1, result.stderr[-3000:]


def test_a_forced_day_reload_skips_them_too(home: Path) -> None:
    """`gharchive load DAY`: the sweep's path (it lists the day's curated hours to settle it)."""
    result = gharchive("load", "2015-01-01", "--home", str(home), "--unsettled")
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-3000:]
    assert "Traceback" not in result.stderr
    assert loaded_rows(home, H0) == EVENTS[H0.key]
