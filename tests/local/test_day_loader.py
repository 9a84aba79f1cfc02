"""The local day loader (load/local_load.py + load/duckdb_days.py) on curated files of real hours.

Curated files are made by the real normalizer from the bundled GH Archive hours; duplicates and late
events are added the way GH Archive has them (an event repeated in the next hour's file; an hour file
of day D+1 holding events created on D, announced by a day-index marker).
"""

from __future__ import annotations

import os
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import duckdb
import pyarrow.parquet as pq
import pytest

from gharchive_pipeline import layout
from gharchive_pipeline.hours import Hour
from gharchive_pipeline.ledger import read_ledger
from gharchive_pipeline.load.local_load import Engine, LocalDayLoader
from gharchive_pipeline.load.local_warehouse import (
    DAILY_STATS,
    EVENTS,
    HOURLY_STATS,
    clean_leftovers,
    day_dir,
    loaded_days,
)
from gharchive_pipeline.stats.query import connect
from gharchive_pipeline.stats.sql import DUCKDB, daily_stats_sql, hourly_stats_sql
from gharchive_pipeline.storage import open_storage

from ..support import standins
from ..support.warehouse import HOUR0, HOUR1, cached_rows, put_curated, reset

DAY = date(2015, 1, 1)
NEXT = Hour.parse("2015-01-02T00")  # an hour of the next day, holding late events of DAY
FILES = {HOUR0: "2015-01-01-0.json.gz", HOUR1: "2015-01-01-1.json.gz"}


def rows_of(hour: Hour) -> list[dict[str, Any]]:
    return cached_rows(FILES[hour], hour)


def late_rows(late: int) -> list[dict[str, Any]]:
    """Hour 01's events re-published in NEXT's file: the first `late` keep a created_at on DAY
    (23:xx), the rest are stamped into NEXT; fresh ids so they do not collide with hour 01."""
    out = []
    for i, r in enumerate(rows_of(HOUR1)[:300]):
        created = r["created_at"] + timedelta(hours=22) if i < late else r["created_at"] + timedelta(hours=23)
        out.append({**r, "id": f"late-{i}", "created_at": created, "source_hour": NEXT.start})
    return out


def keys(home: Path, day: date) -> list[tuple[str, Any]]:
    table = pq.read_table(
        day_dir(home / "warehouse", EVENTS, day) / "part-0.parquet", columns=["id", "created_at"]
    )
    return list(zip(table.column("id").to_pylist(), table.column("created_at").to_pylist(), strict=True))


@pytest.fixture
def home(tmp_path: Path) -> Path:
    home = reset(tmp_path / "home")
    h0, h1 = rows_of(HOUR0), rows_of(HOUR1)
    put_curated(home / "curated", HOUR0, h0 + h0[-10:])  # 10 within-hour duplicates
    spill = [{**r, "source_hour": HOUR1.start} for r in h0[:25]]  # hour 0's events again in hour 1
    put_curated(home / "curated", HOUR1, h1 + spill)
    return home


def test_day_is_deduplicated_across_hours_keeping_the_earliest_copy(home: Path) -> None:
    result = LocalDayLoader(home).rebuild(DAY)
    assert result.load is not None
    expected = len(rows_of(HOUR0)) + len(rows_of(HOUR1))
    assert result.load.rows == expected and result.load.duplicates == 35
    assert result.load.hour_rows(HOUR0).rows == len(rows_of(HOUR0))
    assert result.load.hour_rows(HOUR1).rows == len(rows_of(HOUR1))  # its 25 repeats lost to hour 0
    got = keys(home, DAY)
    assert len(got) == len(set(got)) == expected
    spilled = {r["id"] for r in rows_of(HOUR0)[:25]}
    table = pq.read_table(day_dir(home / "warehouse", EVENTS, DAY) / "part-0.parquet")
    ids, hours = table.column("id").to_pylist(), table.column("source_hour").to_pylist()
    hour_of = dict(zip(ids, hours, strict=True))
    assert {hour_of[i] for i in spilled} == {HOUR0.start}


def test_late_events_across_midnight_come_in_through_markers(home: Path) -> None:
    curated = open_storage(str(home / "curated"))
    put_curated(home / "curated", NEXT, late_rows(40))
    loader = LocalDayLoader(home)
    without_marker = loader.rebuild(DAY)
    assert without_marker.load is not None and without_marker.load.rows == 15_129

    curated.put_bytes(layout.day_index_object(DAY, NEXT), b"", metadata={"hour": NEXT.key})
    with_marker = loader.rebuild(DAY)  # the new contributor makes the day stale: rebuilt
    assert with_marker.load is not None
    assert with_marker.load.rows == 15_129 + 40 and with_marker.load.hour_rows(NEXT).rows == 40
    next_day = loader.rebuild(NEXT.start.date())
    assert next_day.load is not None and next_day.load.rows == 260  # the late 40 stay on DAY only
    assert loaded_days(home / "warehouse") == [DAY, NEXT.start.date()]


def test_rerun_changes_nothing_and_ledgers_say_loaded(home: Path) -> None:
    raw = open_storage(str(home / "raw"))
    loader = LocalDayLoader(home, raw=raw)
    first = loader.rebuild(DAY)
    files = {p: p.stat().st_mtime_ns for p in (home / "warehouse").rglob("*") if p.is_file()}
    again = loader.rebuild(DAY)
    assert first.rebuilt and not again.rebuilt
    assert {p: p.stat().st_mtime_ns for p in (home / "warehouse").rglob("*") if p.is_file()} == files
    for hour in (HOUR0, HOUR1):
        loads = [e for e in read_ledger(raw, hour) if e.stage == "load"]
        assert [e.outcome for e in loads] == ["loaded"]
        assert loads[0].details["day"] == DAY.isoformat()
    forced = loader.rebuild(DAY, force=True)
    assert forced.load is not None and first.load is not None and forced.load.rows == first.load.rows
    assert sorted(keys(home, DAY)) == sorted(keys(home, DAY))


def test_renormalized_hour_makes_the_day_stale(home: Path) -> None:
    loader = LocalDayLoader(home)
    loader.rebuild(DAY)
    put_curated(home / "curated", HOUR1, rows_of(HOUR1)[:100])  # a new version of hour 01
    result = loader.rebuild(DAY)
    assert result.load is not None and result.load.rows == len(rows_of(HOUR0)) + 100


def test_leftovers_are_never_read_and_the_next_run_removes_them(home: Path) -> None:
    LocalDayLoader(home).rebuild(DAY)
    events = home / "warehouse" / EVENTS
    part = day_dir(home / "warehouse", EVENTS, DAY) / "part-0.parquet"
    dead = events / ".staging-999999999-abc"  # a killed writer's (no such pid)
    live = events / ".staging-1-abc"  # pid 1 is alive: a concurrent writer's, kept
    trash = events / ".trash-date=2015-01-01-999999999-abc"
    temp = home / "warehouse" / ".tmp-run-999999999"  # a killed run's temp files (downloads, parquet)
    for leftover in (dead, live, trash, temp):
        leftover.mkdir()
        (leftover / "part-0.parquet").write_bytes(part.read_bytes())
    con = connect(home / "warehouse")
    assert con.execute("SELECT count(*) FROM events").fetchone() == (15_129,)

    removed = clean_leftovers(home / "warehouse")
    assert sorted(removed) == sorted([dead, trash, temp])
    assert live.exists() and not dead.exists() and not trash.exists() and not temp.exists()


def test_a_failed_day_keeps_its_old_partitions_and_does_not_poison_the_next(home: Path) -> None:
    raw = open_storage(str(home / "raw"))
    loader = LocalDayLoader(home, raw=raw)
    loader.rebuild(DAY)
    before = keys(home, DAY)
    broken = home / "curated" / layout.curated_object(HOUR1)
    broken.write_bytes(b"PAR1 this is not parquet")  # a new, unreadable version of hour 01
    with pytest.raises(duckdb.Error):
        loader.rebuild(DAY)
    assert keys(home, DAY) == before
    assert [e.outcome for e in read_ledger(raw, HOUR1) if e.stage == "load"][-1] == "failed"
    assert not [p for p in (home / "warehouse" / EVENTS).iterdir() if p.name.startswith(".")]

    put_curated(home / "curated", NEXT, late_rows(0))
    nxt = loader.rebuild(NEXT.start.date())  # the same loader goes on
    assert nxt.load is not None and nxt.load.rows == 300


def test_statistics_tables_equal_a_recomputation_from_events(home: Path) -> None:
    put_curated(home / "curated", NEXT, late_rows(40))
    open_storage(str(home / "curated")).put_bytes(layout.day_index_object(DAY, NEXT), b"")
    loader = LocalDayLoader(home)
    for day in (DAY, NEXT.start.date()):
        loader.rebuild(day)
    con = connect(home / "warehouse")
    for table, sql in ((HOURLY_STATS, hourly_stats_sql), (DAILY_STATS, daily_stats_sql)):
        stored = con.execute(f"SELECT * FROM {table} ORDER BY 1, 2").fetchall()
        fresh = con.execute(f"SELECT * FROM ({sql(DUCKDB, 'events')}) ORDER BY 1, 2").fetchall()
        assert stored == fresh and stored


@pytest.mark.slow
def test_spark_engine_writes_the_same_day(home: Path, tmp_path: Path) -> None:
    standins.import_module("pyspark", "pip install -e '.[spark]' (make setup)")
    put_curated(home / "curated", NEXT, late_rows(40))
    open_storage(str(home / "curated")).put_bytes(layout.day_index_object(DAY, NEXT), b"")
    LocalDayLoader(home).rebuild(DAY)
    other = tmp_path / "spark"
    os.rename(home / "warehouse", other)
    result = LocalDayLoader(home, engine=Engine.SPARK).rebuild(DAY)
    assert result.load is not None and result.load.rows == 15_129 + 40

    def table(warehouse: Path, name: str) -> list[tuple[Any, ...]]:
        glob = f"{warehouse}/{name}/date=*/*.parquet"
        query = f"SELECT * FROM read_parquet('{glob}', hive_partitioning = false) ORDER BY ALL"
        return duckdb.connect().execute(query).fetchall()

    for name in (EVENTS, HOURLY_STATS, DAILY_STATS):
        assert table(home / "warehouse", name) == table(other, name), name


def test_cli_engine_choices_follow_the_loader() -> None:
    """run_cmd spells them out so `gharchive --help` imports neither DuckDB nor Spark."""
    from gharchive_pipeline.cli import run_cmd
    from gharchive_pipeline.load.duckdb_days import DuckDBConfig
    from gharchive_pipeline.load.local_load import DEFAULT_ENGINE

    assert tuple(e.value for e in Engine) == run_cmd.ENGINES
    assert DEFAULT_ENGINE.value == run_cmd.DEFAULT_ENGINE
    assert DuckDBConfig().memory_limit == run_cmd.DEFAULT_MEMORY_LIMIT


def test_a_run_killed_after_the_swap_gets_its_ledgers_on_the_next_run(home: Path) -> None:
    """The partitions are current but no ledger says so (killed between swap and ledger writes)."""
    LocalDayLoader(home).rebuild(DAY)  # no raw storage: like a run killed before recording
    raw = open_storage(str(home / "raw"))
    again = LocalDayLoader(home, raw=raw).rebuild(DAY)
    assert not again.rebuilt
    for hour in (HOUR0, HOUR1):
        [entry] = [e for e in read_ledger(raw, hour) if e.stage == "load"]
        assert entry.outcome == "loaded" and entry.details["day"] == DAY.isoformat()
    LocalDayLoader(home, raw=raw).rebuild(DAY)
    assert len([e for e in read_ledger(raw, HOUR0) if e.stage == "load"]) == 1  # said once
