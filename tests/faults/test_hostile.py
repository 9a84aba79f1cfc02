"""Hostile hour files among good ones (a line with an overflowing integer, a corrupt gzip, a truncated
file, a zero-byte file): each gets a clear outcome in `gharchive status`, the good hours are loaded
in full, and one `gharchive run` goes through all of them."""

from __future__ import annotations

import gzip
import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from gharchive_pipeline.hours import Hour
from tests.conftest import COMPLETE_HOURS, DATA

from .harness import gharchive_json, run, run_cmd

H = Hour.parse("2015-01-01T00")
GOOD = {H: "2015-01-01-0.json.gz", H + 5: "2015-01-01-5.json.gz"}
OVERFLOW = H + 1  # real 2015-01-01-1 with two lines carrying integers past int64
CORRUPT, TRUNCATED, EMPTY = H + 2, H + 3, H + 4


def _overflowing(src: Path) -> tuple[bytes, int]:
    """The real hour with actor.id = 2**63 on one line and payload.size = 10**30 on a PushEvent."""
    lines = gzip.decompress(src.read_bytes()).splitlines()
    first: dict[str, Any] = json.loads(lines[0])
    first["actor"]["id"] = 2**63
    lines[0] = json.dumps(first).encode()
    push = next(i for i, line in enumerate(lines) if b'"PushEvent"' in line and i > 0)
    doc = json.loads(lines[push])
    doc["payload"]["size"] = 10**30
    lines[push] = json.dumps(doc).encode()
    return gzip.compress(b"\n".join(lines) + b"\n"), len(lines)


@pytest.fixture(scope="module")
def hostile_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    tmp = tmp_path_factory.mktemp("hostile")
    source = tmp / "source"
    source.mkdir()
    for hour, name in GOOD.items():
        shutil.copy(DATA / name, source / hour.file_name)
    data, _ = _overflowing(DATA / "2015-01-01-1.json.gz")
    (source / OVERFLOW.file_name).write_bytes(data)
    whole = bytearray((DATA / "2015-01-01-3.json.gz").read_bytes())
    middle = len(whole) // 2
    whole[middle : middle + 64] = bytes(b ^ 0xFF for b in whole[middle : middle + 64])
    (source / CORRUPT.file_name).write_bytes(bytes(whole))
    (source / TRUNCATED.file_name).write_bytes((DATA / "2015-01-01-3.json.gz").read_bytes()[:500_000])
    (source / EMPTY.file_name).write_bytes(b"")
    home = tmp / "home"
    rc = run(run_cmd(home, source, H, H + 5), tmp / "run.log")
    # bad hours are recorded outcomes, not failures of the run
    assert rc == 0, (tmp / "run.log").read_text()[-3000:]
    return home


def _status(home: Path) -> dict[str, dict[str, Any]]:
    return {r["hour"]: r for r in gharchive_json("status", "--home", str(home), "--json")}


def test_good_hours_are_loaded_in_full(hostile_home: Path) -> None:
    rows = _status(hostile_home)
    for hour, name in GOOD.items():
        row = rows[hour.key]
        assert (row["raw"], row["normalized"], row["loaded"]) == ("stored", "normalized", "loaded"), row
        assert row["events"] == COMPLETE_HOURS[name]


def test_overflowing_integers_are_rejected_lines_not_a_failed_hour(hostile_home: Path) -> None:
    row = _status(hostile_home)[OVERFLOW.key]
    assert (row["raw"], row["normalized"], row["loaded"]) == ("stored", "rejected", "loaded"), row
    assert (row["events"], row["rejects"]) == (COMPLETE_HOURS["2015-01-01-1.json.gz"] - 2, 2)


@pytest.mark.parametrize("hour", [CORRUPT, TRUNCATED, EMPTY], ids=["corrupt", "truncated", "zero-byte"])
def test_damaged_files_are_a_recorded_outcome(hostile_home: Path, hour: Hour) -> None:
    row = _status(hostile_home)[hour.key]
    assert row["raw"] == "corrupt" and row["normalized"] == "-" and row["loaded"] == "-", row
    assert row["note"], "the status says why"


def test_statistics_hold_exactly_the_good_events(hostile_home: Path) -> None:
    by_hour = gharchive_json("stats", "--home", str(hostile_home), "--format", "json", "--by", "type")
    total = sum(int(r["events"]) for r in by_hour)
    expected = sum(COMPLETE_HOURS[n] for n in GOOD.values()) + COMPLETE_HOURS["2015-01-01-1.json.gz"] - 2
    assert total == expected
