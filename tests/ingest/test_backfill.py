"""`gharchive ingest` and `gharchive backfill --home`: local runs over the bundled real hours."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from gharchive_pipeline.cli import cli
from gharchive_pipeline.hours import Hour
from gharchive_pipeline.ledger import read_ledger
from gharchive_pipeline.storage import open_storage
from tests.conftest import DATA
from tests.support.gharchive_server import Fault, GHArchiveServer


def run(*args: str) -> object:
    return CliRunner().invoke(cli, list(args))


def test_backfill_home_counts_every_outcome_and_is_idempotent(tmp_path: Path) -> None:
    home = tmp_path / "home"
    result = run("backfill", "2015-01-01T00", "2015-01-01T05", "--source", str(DATA), "--home", str(home))
    assert result.exit_code == 0, result.output  # type: ignore[attr-defined]
    out = result.stdout  # type: ignore[attr-defined]
    assert "6 hour(s)" in out and "stored" in out and "missing" in out
    assert sorted(p.name for p in (home / "raw/hours/2015/01/01").iterdir()) == [
        "2015-01-01-0.json.gz",
        "2015-01-01-1.json.gz",
        "2015-01-01-3.json.gz",
        "2015-01-01-5.json.gz",
    ]
    logs = [json.loads(x) for x in result.stderr.splitlines() if x.startswith("{")]  # type: ignore[attr-defined]
    assert sorted((x["hour"], x["outcome"]) for x in logs) == [
        ("2015-01-01T00", "stored"),
        ("2015-01-01T01", "stored"),
        ("2015-01-01T02", "missing"),
        ("2015-01-01T03", "stored"),
        ("2015-01-01T04", "missing"),
        ("2015-01-01T05", "stored"),
    ]
    again = run("backfill", "2015-01-01T00", "2015-01-01T05", "--source", str(DATA), "--home", str(home))
    assert again.exit_code == 0 and "already_present" in again.stdout  # type: ignore[attr-defined]
    raw = open_storage(str(home / "raw"))
    assert [e.outcome for e in read_ledger(raw, Hour.parse("2015-01-01T00"))] == ["stored", "already_present"]


def test_backfill_exits_nonzero_when_hours_must_be_retried(tmp_path: Path) -> None:
    with GHArchiveServer(DATA) as server:
        server.script("2015-01-01-1.json.gz", *[Fault.status(503)] * 10)
        result = run(
            "backfill", "2015-01-01T00", "2015-01-01T01", "--source", server.url, "--home", str(tmp_path),
            "--retries", "3", "--retry-delay", "0.001",
        )  # fmt: skip
        assert server.hits("2015-01-01-1.json.gz") == 3
    assert result.exit_code == 1  # type: ignore[attr-defined]
    assert "transient" in result.stdout and "retried later" in result.stderr  # type: ignore[attr-defined]


def test_ingest_one_hour(tmp_path: Path) -> None:
    result = run("ingest", "2014-02-15-0", "--source", str(DATA), "--home", str(tmp_path))
    assert result.exit_code == 0  # type: ignore[attr-defined]
    assert "2014-02-15T00: stored -> " in result.stdout  # type: ignore[attr-defined]
    assert (tmp_path / "raw/hours/2014/02/15/2014-02-15-0.json.gz").is_file()
    again = run("ingest", "2014-02-15T00", "--source", str(DATA), "--raw", str(tmp_path / "raw"))
    assert again.exit_code == 0 and "already_present" in again.stdout  # type: ignore[attr-defined]
    missing = run("ingest", "2016-10-21T18", "--source", str(DATA), "--home", str(tmp_path))
    assert missing.exit_code == 1 and "missing" in missing.stdout  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["ingest", "2015-13-01T00"], "month"),
        (["ingest", "2015-01-01T24"], "hour 24"),
        (["ingest", "2010-01-01T00"], "2011-02-12"),
        (["backfill", "2015-01-02T00", "2015-01-01T00"], "before START"),
    ],
)
def test_bad_hours_are_usage_errors(args: list[str], says: str) -> None:
    result = run(*args)
    assert result.exit_code == 2 and says in result.output  # type: ignore[attr-defined]
