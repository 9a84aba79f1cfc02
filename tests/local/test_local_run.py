"""`gharchive run` end to end on one machine: real hours from a local GH Archive (one missing, one
truncated) through the local bus, the real function handlers, the normalizer (worker processes) and
the day loader (DuckDB by default, local PySpark with --engine spark)."""

from __future__ import annotations

import gzip
import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

from gharchive_pipeline import layout
from gharchive_pipeline.cli import cli
from gharchive_pipeline.hours import Hour
from gharchive_pipeline.ledger import read_ledger
from gharchive_pipeline.storage import open_storage
from tests.conftest import COMPLETE_HOURS, DATA
from tests.support import standins
from tests.support.gharchive_server import GHArchiveServer

pytestmark = pytest.mark.slow

START, END = Hour.parse("2015-01-01T00"), Hour.parse("2015-01-01T03")
GOOD = [START, START + 1]
MISSING = START + 2  # not in data/gharchive: the server answers 404
TRUNCATED = START + 3


@pytest.fixture(scope="module")
def server() -> Iterator[GHArchiveServer]:
    with GHArchiveServer(DATA) as srv:
        whole = (DATA / TRUNCATED.file_name).read_bytes()
        srv.add_file(TRUNCATED.file_name, whole[: len(whole) // 3])  # served "fine", gzip cut short
        yield srv


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("home")


def run(home: Path, source: str) -> Any:
    result = CliRunner().invoke(cli, ["run", START.key, END.key, "--source", source, "--home", str(home)])
    assert result.exit_code == 0, result.output + repr(result.exception)
    return result


def status(home: Path) -> dict[str, dict[str, Any]]:
    result = CliRunner().invoke(cli, ["status", "--home", str(home), START.key, END.key, "--json"])
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in result.output.splitlines()]
    return {row["hour"]: row for row in rows}


def source_ids(hour: Hour) -> list[str]:
    with gzip.open(DATA / hour.file_name, "rb") as fh:
        return [str(json.loads(line)["id"]) for line in fh]


def snapshot(home: Path) -> dict[str, Any]:
    """Everything a rerun must leave alone: curated and warehouse files with their generations/mtimes."""
    curated = open_storage(str(home / "curated"))
    files = {
        str(p.relative_to(home)): p.stat().st_mtime_ns for p in (home / "warehouse").rglob("*") if p.is_file()
    }
    return {"curated": {o.name: o.generation for o in curated.list()}, "warehouse": files}


def test_run_chain_end_to_end_then_again(server: GHArchiveServer, home: Path) -> None:
    standins.import_module("pyspark", "pip install -e '.[spark]' (make setup)")
    out = run(home, server.url).output
    assert "2015-01-01T02" in out and "missing" in out  # the final table

    rows = status(home)
    assert list(rows) == [h.key for h in (START, START + 1, START + 2, START + 3)]
    for hour in GOOD:
        row = rows[hour.key]
        assert (row["raw"], row["normalized"], row["loaded"]) == ("stored", "normalized", "loaded"), row
        assert row["events"] == COMPLETE_HOURS[hour.file_name] and row["rejects"] == 0
        assert row["normalize_seconds"] is not None and row["load_seconds"] is not None
    assert (rows[MISSING.key]["raw"], rows[MISSING.key]["normalized"], rows[MISSING.key]["loaded"]) == (
        "missing",
        "-",
        "-",
    )
    assert rows[TRUNCATED.key]["raw"] == "corrupt" and rows[TRUNCATED.key]["events"] is None

    # every event of the good hours is in the curated output exactly once
    curated = open_storage(str(home / "curated"))
    for hour in GOOD:
        table = pq.read_table(io.BytesIO(curated.read_bytes(layout.curated_object(hour))))
        ids = table.column("id").to_pylist()
        assert sorted(ids) == sorted(source_ids(hour))
        assert len(set(ids)) == len(ids)
    assert curated.stat(layout.curated_object(MISSING)) is None
    assert curated.stat(layout.curated_object(TRUNCATED)) is None
    raw = open_storage(str(home / "raw"))
    for hour in GOOD:
        loads = [e for e in read_ledger(raw, hour) if e.stage == "load"]
        # the load stage defers the hour to the runner, which loads its day once, despite the replays
        assert [e.outcome for e in loads] == ["deferred", "loaded"]
        assert loads[1].details["rows"] == COMPLETE_HOURS[hour.file_name]
        assert loads[1].details["day"] == "2015-01-01"

    # the run left a JSON-lines log saying what happened to every hour
    logs = list((home / "logs").glob("run-*.jsonl"))
    assert len(logs) == 1
    logged = {
        (r.get("stage"), r.get("hour"), r.get("outcome"))
        for r in map(json.loads, logs[0].read_text().splitlines())
    }
    assert ("ingest", MISSING.key, "missing") in logged and ("ingest", TRUNCATED.key, "corrupt") in logged

    # again: nothing downloaded for stored hours, nothing rewritten, same status; what a killed
    # writer left in the warehouse (a staging folder naming a dead pid) is removed
    before, before_rows = snapshot(home), rows
    leftover = home / "warehouse" / "events" / ".staging-999999999-0123456789"
    leftover.mkdir()
    (leftover / "part-0.parquet").write_bytes(b"half-written")
    server.reset_counts()
    run(home, server.url)
    assert all(server.hits(h.file_name) == 0 for h in GOOD)
    assert not leftover.exists()
    assert snapshot(home) == before
    after_rows = status(home)
    for key in ("raw", "events", "rejects", "normalized", "loaded"):
        assert {h: r[key] for h, r in after_rows.items()} == {h: r[key] for h, r in before_rows.items()}


def test_run_rejects_bad_arguments(tmp_path: Path) -> None:
    runner = CliRunner()
    bad_hour = runner.invoke(cli, ["run", "2015-13-01T00", "--home", str(tmp_path)])
    assert bad_hour.exit_code == 2 and "2015-13-01T00" in bad_hour.output
    backwards = runner.invoke(cli, ["run", "2015-01-01T05", "2015-01-01T01", "--home", str(tmp_path)])
    assert backwards.exit_code == 2 and "before" in backwards.output
    nowhere = runner.invoke(cli, ["run", "2015-01-01T05", "--source", str(tmp_path / "nope")])
    assert nowhere.exit_code == 2 and "nope" in nowhere.output
    no_home = runner.invoke(cli, ["status", "--home", str(tmp_path / "nothing")])
    assert no_home.exit_code == 1 and "no home" in no_home.output
