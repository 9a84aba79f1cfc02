"""The engine-free day-partition pieces: days an hour touches, bounds, dedup order, the day lock,
and the per-day statistics SQL (run on DuckDB here; BigQuery runs it in test_bigquery_sink)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import duckdb
import pytest

from gharchive_pipeline import layout
from gharchive_pipeline.hours import Hour
from gharchive_pipeline.load import day_lock, days
from gharchive_pipeline.schema import COLUMN_NAMES, DEDUP_KEY, duckdb_columns
from gharchive_pipeline.stats import sql
from gharchive_pipeline.stats.views import bigquery_views, stats_refresh_sql
from gharchive_pipeline.storage import open_storage

D1 = date(2015, 1, 1)


def test_days_of_an_hour_are_its_own_plus_the_days_its_markers_name() -> None:
    h = Hour.parse("2015-01-01T00")
    assert days.marker_prefixes(h) == ["days/date=2014-12-31/", "days/date=2015-01-02/"]
    names = [
        layout.day_index_object(date(2014, 12, 31), h),
        layout.day_index_object(date(2014, 12, 31), Hour.parse("2015-01-01T01")),  # another hour's
        "days/date=2014-12-31/junk",
    ]
    assert days.days_of_hour(h, names) == [date(2014, 12, 31), D1]
    assert days.days_of_hour(h, []) == [D1]


def test_day_bounds_range_and_decorator() -> None:
    assert days.day_bounds(D1) == (datetime(2015, 1, 1, tzinfo=UTC), datetime(2015, 1, 2, tzinfo=UTC))
    assert list(days.day_range(date(2014, 12, 31), D1)) == [date(2014, 12, 31), D1]
    with pytest.raises(ValueError):
        list(days.day_range(D1, date(2014, 12, 31)))
    assert days.partition_suffix(D1) == "$20150101"
    assert days.day_of(datetime(2015, 1, 1, 23, 59, tzinfo=UTC).astimezone(tz=None)) == D1


def test_dedup_order_is_todays_events_unique_rule_then_every_other_column() -> None:
    assert days.DEDUP_ORDER[:3] == (
        ("source_hour", True),
        ("ingested_at", False),
        ("pipeline_version", False),
    )
    ordered = {c for c, _ in days.DEDUP_ORDER}
    assert ordered == set(COLUMN_NAMES) - set(DEDUP_KEY)
    assert days.dedup_order_sql().startswith("source_hour ASC NULLS LAST, ingested_at DESC NULLS LAST")


def _events(con: duckdb.DuckDBPyConnection, rows: list[tuple[str, str, str, str, str]]) -> None:
    cols = ", ".join(f"CAST(NULL AS {t}) AS {c}" for c, t in duckdb_columns().items())
    con.execute(f"CREATE TABLE events AS SELECT {cols} WHERE false")
    for r in rows:
        con.execute(
            "INSERT INTO events (id, type, created_at, source_hour, ingested_at, pipeline_version) "
            "VALUES (?, 'PushEvent', ?, ?, ?, ?)",
            [r[0], r[1], r[2], r[3], r[4]],
        )


def test_dedup_sql_keeps_earliest_hour_then_newest_normalization() -> None:
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    _events(
        con,
        [
            ("a", "2015-01-01 00:30:00+00", "2015-01-01 01:00:00+00", "2026-01-01 00:00:00+00", "1.0"),
            ("a", "2015-01-01 00:30:00+00", "2015-01-01 00:00:00+00", "2026-01-01 00:00:00+00", "1.0"),
            ("a", "2015-01-01 00:30:00+00", "2015-01-01 00:00:00+00", "2026-01-02 00:00:00+00", "0.9"),
            ("a", "2015-01-01 07:00:00+00", "2015-01-01 07:00:00+00", "2026-01-01 00:00:00+00", "1.0"),
            ("b", "2014-12-31 23:59:00+00", "2015-01-01 00:00:00+00", "2026-01-01 00:00:00+00", "1.0"),
        ],
    )
    where = sql.day_filter(sql.DUCKDB, D1)
    assert where == (
        "created_at >= TIMESTAMPTZ '2015-01-01 00:00:00+00' AND "
        "created_at < TIMESTAMPTZ '2015-01-02 00:00:00+00'"
    )
    got = con.execute(
        f"SELECT id, created_at, source_hour, pipeline_version FROM ({sql.dedup_sql('events', where=where)}) "
        "ORDER BY created_at"
    ).fetchall()
    # one row per (id, created_at) of the day; the same id with another created_at is another event
    assert [(r[0], r[1].hour, r[2].hour, r[3]) for r in got] == [("a", 0, 0, "0.9"), ("a", 7, 7, "1.0")]


def test_stats_sql_per_day_and_whole_table_agree() -> None:
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    _events(
        con,
        [
            ("a", "2015-01-01 00:30:00+00", "2015-01-01 00:00:00+00", "2026-01-01 00:00:00+00", "1"),
            ("b", "2015-01-01 23:30:00+00", "2015-01-01 23:00:00+00", "2026-01-01 00:00:00+00", "1"),
            ("c", "2015-01-02 00:10:00+00", "2015-01-02 00:00:00+00", "2026-01-01 00:00:00+00", "1"),
        ],
    )
    for make in (sql.hourly_stats_sql, sql.daily_stats_sql):
        whole = con.execute(make(sql.DUCKDB, "events") + "\nORDER BY 1, 2").fetchall()
        by_day = [
            row
            for d in (D1, date(2015, 1, 2))
            for row in con.execute(make(sql.DUCKDB, "events", d) + "\nORDER BY 1, 2").fetchall()
        ]
        assert whole == by_day and len(whole) >= 2


def test_bigquery_objects() -> None:
    views = bigquery_views("proj.gh")
    assert list(views) == ["events_unique"]
    assert views["events_unique"] == f"SELECT {', '.join(COLUMN_NAMES)} FROM `proj.gh.events`"
    refresh = stats_refresh_sql("proj.gh", "hourly_stats", D1)
    assert "TIMESTAMP_TRUNC(created_at, HOUR) AS hour" in refresh and "FROM `proj.gh.events`" in refresh
    assert (
        "created_at >= TIMESTAMP '2015-01-01 00:00:00+00' AND created_at < TIMESTAMP '2015-01-02" in refresh
    )
    assert "DATE(created_at) AS day" in stats_refresh_sql("proj.gh", "daily_stats", D1)
    for table, (time_col, _) in sql.STATS_TABLES.items():
        cols = sql.stats_columns(table)
        assert [c["name"] for c in cols] == [time_col, "type", *sql.METRIC_NAMES]
        assert all(c["description"] for c in cols)


# ---- the day lock ------------------------------------------------------------------------------
T0 = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


def test_lock_is_exclusive_until_released(tmp_path: Path) -> None:
    store = open_storage(str(tmp_path / "curated"))
    a = day_lock.try_acquire(store, D1, "batch-a", now=T0)
    assert a is not None and store.stat(layout.lock_object(D1)) is not None
    assert day_lock.try_acquire(store, D1, "batch-b", now=T0 + timedelta(minutes=5)) is None
    assert day_lock.try_acquire(store, date(2015, 1, 2), "batch-b", now=T0) is not None  # other day
    day_lock.release(store, a)
    assert store.stat(layout.lock_object(D1)) is None
    assert day_lock.try_acquire(store, D1, "batch-b", now=T0) is not None


def test_stale_lock_is_broken_once_and_the_old_holder_does_not_release_the_new_one(tmp_path: Path) -> None:
    store = open_storage(str(tmp_path / "curated"))
    killed = day_lock.try_acquire(store, D1, "killed", now=T0)
    assert killed is not None
    later = T0 + day_lock.DEFAULT_LEASE + timedelta(seconds=1)
    new = day_lock.try_acquire(store, D1, "next", now=later)
    assert new is not None
    assert day_lock.try_acquire(store, D1, "third", now=later) is None  # the new lock is fresh
    day_lock.release(store, killed)  # the killed batch wakes up: not its lock any more
    info = store.stat(layout.lock_object(D1))
    assert info is not None and info.metadata["batch_id"] == "next"


def test_lock_of_a_killed_local_process_is_broken_at_once(tmp_path: Path) -> None:
    """kill -9 of a local run leaves its lock: the rerun must not wait for the lease."""
    import socket
    import subprocess
    import sys

    store = open_storage(str(tmp_path / "curated"))
    gone = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True
    )
    meta = {
        "batch_id": "killed",
        "acquired_at": T0.isoformat(),
        "holder": f"{socket.gethostname()}:{gone.stdout.strip()}",
    }
    store.put_bytes(layout.lock_object(D1), b"{}", metadata=meta, if_generation_match=0)
    assert day_lock.try_acquire(store, D1, "rerun", now=T0 + timedelta(seconds=1)) is not None
    # a live holder (this process, or another machine's) keeps its lock until the lease ends
    for live in (day_lock.holder(), "some-dataproc-driver:1"):
        store.delete(layout.lock_object(D1))
        meta = {**meta, "holder": live}
        store.put_bytes(layout.lock_object(D1), b"{}", metadata=meta, if_generation_match=0)
        assert day_lock.try_acquire(store, D1, "rerun", now=T0 + timedelta(seconds=1)) is None


def test_waiting_writer_gives_up_with_a_transient_error(tmp_path: Path) -> None:
    store = open_storage(str(tmp_path / "curated"))
    assert day_lock.try_acquire(store, D1, "holder", now=T0) is not None
    now = [T0]

    def sleep(s: float) -> None:
        now[0] += timedelta(seconds=s)

    wait = timedelta(seconds=10)
    with (
        pytest.raises(day_lock.DayLocked, match=r"batch holder holds .*locks/date=2015-01-01\.lock"),
        day_lock.day_lock(store, D1, "second", wait=wait, clock=lambda: now[0], sleep=sleep),
    ):
        pass
    assert now[0] >= T0 + timedelta(seconds=10)
    with day_lock.day_lock(store, date(2015, 1, 3), "second", clock=lambda: now[0], sleep=sleep):
        assert store.stat(layout.lock_object(date(2015, 1, 3))) is not None
    assert store.stat(layout.lock_object(date(2015, 1, 3))) is None


# ---- what a rebuild reads (job.contributors, job.days_for_hours) on a real local bucket -----------------
def test_contributors_are_the_days_hours_and_the_hours_its_markers_name(tmp_path: Path) -> None:
    from gharchive_pipeline.load.spark_days import contributors, days_for_hours

    store = open_storage(str(tmp_path / "curated"))
    h23, h00, h01 = Hour.parse("2014-12-31T23"), Hour.parse("2015-01-01T00"), Hour.parse("2015-01-01T01")
    gens = {h: store.put_bytes(layout.curated_object(h), b"x").generation for h in (h23, h00)}
    store.put_bytes(layout.rejects_object(h00), b"")  # not an hour of events
    store.put_bytes(layout.day_index_object(date(2014, 12, 31), h00), b"")  # late events of hour 00
    store.put_bytes(layout.day_index_object(date(2014, 12, 31), h01), b"")  # marker, hour file gone
    found = contributors(store, date(2014, 12, 31))
    assert [(c.hour, c.generation) for c in found] == [(h23, gens[h23]), (h00, gens[h00])]
    assert [c.hour for c in contributors(store, D1)] == [h00]
    assert contributors(store, date(2015, 1, 2)) == []

    # --hour: own day + marker days + the curated object's `days` metadata; hours without a file
    h05 = Hour.parse("2015-01-01T05")
    store.put_bytes(layout.curated_object(h05), b"x", metadata={"days": "2014-12-20,2014-12-31"})
    days, missing = days_for_hours(store, [h00, h05, h01])
    assert days == [date(2014, 12, 20), date(2014, 12, 31), D1] and missing == [h01]
