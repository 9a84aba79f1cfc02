"""The Spark day rebuild on real hours with real local PySpark, into the local warehouse layout.

Each day partition is rebuilt from all its contributing hours, so these tests prove: one row per
(id, created_at) whatever the duplicates (within an hour, across hours, both servings of
2015-01-01-1, late events across midnight, one id with two created_at); any load order, repeats
and a re-normalized hour end with exactly what one clean load of the current files gives; the
day's statistics equal a recomputation from its events; the CLI, the ledger and the lock.
"""

from __future__ import annotations

import importlib.util
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import pyarrow.parquet as pq
import pytest

from gharchive_pipeline import layout
from gharchive_pipeline.hours import Hour
from gharchive_pipeline.ledger import read_ledger
from gharchive_pipeline.load import day_lock
from gharchive_pipeline.load.days import LoadRun
from gharchive_pipeline.load.local_warehouse import (
    DAILY_STATS,
    EVENTS,
    HOURLY_STATS,
    loaded_days,
    read_days_sql,
)
from gharchive_pipeline.load.spark_days import LoadError, run_days
from gharchive_pipeline.load.spark_frames import session_conf
from gharchive_pipeline.load.spark_local import SparkLocalSink
from gharchive_pipeline.schema import FIELDS
from gharchive_pipeline.stats import sql
from gharchive_pipeline.storage import open_storage

from ..conftest import DATA, ROOT
from ..support import standins
from ..support.warehouse import HOUR0, HOUR1, cached_rows, curated_rows, put_curated, reset

standins.import_module("pyspark", "pip install -e '.[spark]' (make setup)")
pytestmark = pytest.mark.slow

HOUR2 = Hour.parse("2015-01-01T02")
D0, D1 = date(2014, 12, 31), date(2015, 1, 1)
LATE = 3  # events of hour 00 created before midnight (as in crawl-time files)


@pytest.fixture(scope="module")
def spark() -> Any:
    from gharchive_pipeline.load.local_load import local_spark

    return local_spark()


@pytest.fixture(scope="module")
def files() -> dict[Hour, list[dict[str, Any]]]:
    """Curated rows of real hours: 00 (with copies of 3 of its events re-normalized later, and 3 late
    events created on 2014-12-31), 01 (the original, pre-obfuscation serving) and 02 (the re-issued
    serving of hour 01 again, as a crawl-time file would hold it, plus an event reusing an id of
    hour 00 with another created_at: GitHub reset its ids in 2025)."""
    h0 = cached_rows("2015-01-01-0.json.gz", HOUR0)
    newer = [
        {**r, "ingested_at": r["ingested_at"] + timedelta(seconds=1), "payload": '{"newer": true}'}
        for r in h0[:3]
    ]
    late = [
        {**r, "id": f"late-{i}", "created_at": datetime(2014, 12, 31, 23, 59, 50 + i, tzinfo=UTC)}
        for i, r in enumerate(h0[10 : 10 + LATE])
    ]
    original = curated_rows(DATA / "variant-preobfuscation" / "2015-01-01-1.json.gz", HOUR1)
    reissue = [{**r, "source_hour": HOUR2.start} for r in cached_rows("2015-01-01-1.json.gz", HOUR1)]
    reused = {**h0[20], "created_at": datetime(2015, 1, 1, 2, 30, tzinfo=UTC), "source_hour": HOUR2.start}
    return {HOUR0: h0 + newer + late, HOUR1: original, HOUR2: [*reissue, reused]}


@pytest.fixture(scope="module")
def small(files: dict[Hour, list[dict[str, Any]]]) -> dict[Hour, list[dict[str, Any]]]:
    """The same cases with fewer rows: hour 00's first 1,500 (its copies and late events kept), and
    the first 1,500 events of hour 01 in both files."""
    return {
        HOUR0: files[HOUR0][:1500] + files[HOUR0][-3 - LATE :],
        HOUR1: files[HOUR1][:1500],
        HOUR2: files[HOUR2][:1500] + files[HOUR2][-1:],
    }


def home_with(tmp: Path, files: dict[Hour, list[dict[str, Any]]]) -> Path:
    home = reset(tmp)
    for hour, rows in files.items():
        put_curated(home / "curated", hour, rows)
        if any(r["created_at"].date() == D0 for r in rows):
            open_storage(str(home / "curated")).put_bytes(layout.day_index_object(D0, hour), b"")
    return home


def rebuild(spark: Any, home: Path, days: list[date], **kw: Any) -> LoadRun:
    return run_days(
        spark,
        open_storage(str(home / "curated")),
        days,
        SparkLocalSink(home / "warehouse"),
        batch_id=kw.pop("batch_id", "test-batch"),
        **kw,
    )


def query(warehouse: Path, table: str, sql_text: str) -> list[tuple[Any, ...]]:
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    files = read_days_sql(warehouse, table)
    con.execute(f"CREATE VIEW {table} AS SELECT * FROM {files}")
    return con.execute(sql_text).fetchall()


def snapshot(warehouse: Path) -> dict[str, Any]:
    """Every row of every table, in a stable order."""
    return {
        t: query(warehouse, t, f"SELECT * FROM {t} ORDER BY ALL") for t in (EVENTS, HOURLY_STATS, DAILY_STATS)
    }


def test_day_rebuild_keeps_one_row_per_event(
    spark: Any, files: dict[Hour, list[dict[str, Any]]], tmp_path: Path
) -> None:
    home = home_with(tmp_path / "home", files)
    result = rebuild(spark, home, [D0, D1])
    wh = home / "warehouse"
    assert loaded_days(wh) == [D0, D1]
    day0, day1 = result.days
    assert [c.hour for c in day0.contributors] == [HOUR0]  # through its marker only
    assert [c.hour for c in day1.contributors] == [HOUR0, HOUR1, HOUR2]
    assert day0.rows == LATE
    assert day1.rows == 7702 + 7427 + 1  # hour 00, hour 01 once (two servings, two files), the reused id
    # what each hour gave to the day, and what survived of it
    assert (day1.hour_rows(HOUR0).input_rows, day1.hour_rows(HOUR0).rows) == (7702 + 3, 7702)
    assert (day1.hour_rows(HOUR1).input_rows, day1.hour_rows(HOUR1).rows) == (7427, 7427)
    assert (day1.hour_rows(HOUR2).input_rows, day1.hour_rows(HOUR2).rows) == (7427 + 1, 1)
    assert result.rows == day0.rows + day1.rows and result.duplicates == 3 + 7427

    # REQUIRED columns are required in the parquet too (what a BigQuery load job into `events` needs)
    part = next((wh / EVENTS / "date=2015-01-01").glob("*.parquet"))
    assert {f.name for f in pq.read_schema(part) if not f.nullable} == {f.name for f in FIELDS if f.required}

    unique = "SELECT count(*), count(DISTINCT (id, created_at)) FROM events"
    assert query(wh, EVENTS, unique) == [(7702 + 7427 + 1 + LATE, 7702 + 7427 + 1 + LATE)]
    # across hours the earliest source hour wins; within an hour the newest normalization
    by_hour = "SELECT source_hour, count(*) FROM events GROUP BY 1 ORDER BY 1"
    assert query(wh, EVENTS, by_hour) == [(HOUR0.start, 7702 + LATE), (HOUR1.start, 7427), (HOUR2.start, 1)]
    first = files[HOUR0][0]["id"]
    assert query(wh, EVENTS, f"SELECT payload FROM events WHERE id = '{first}'") == [('{"newer": true}',)]
    reused = files[HOUR0][20]["id"]
    assert len(query(wh, EVENTS, f"SELECT created_at FROM events WHERE id = '{reused}'")) == 2
    # each day's statistics equal a recomputation from its events
    for table, (_, make) in sql.STATS_TABLES.items():
        recomputed = query(wh, EVENTS, make(sql.DUCKDB, "events") + "\nORDER BY 1, 2")
        stored = query(wh, table, f"SELECT * FROM {table} ORDER BY 1, 2")
        assert [r[:-1] for r in stored] == [r[:-1] for r in recomputed] and len(stored) > 0
        assert [r[-1] for r in stored] == pytest.approx([r[-1] for r in recomputed])


def test_any_order_twice_and_renormalized_equal_one_clean_load(
    spark: Any, small: dict[Hour, list[dict[str, Any]]], tmp_path: Path
) -> None:
    files = small
    h0_new = [{**r, "actor_login": "changed"} for r in files[HOUR0][100:]]  # re-normalized: fewer, changed
    final = {**files, HOUR0: h0_new}
    clean = home_with(tmp_path / "clean", final)
    rebuild(spark, clean, [D0, D1])
    expected = snapshot(clean / "warehouse")

    inc = home_with(tmp_path / "inc", {HOUR2: files[HOUR2]})
    rebuild(spark, inc, [D1])  # only hour 02 so far: the hour-01 events are its copies
    assert len(query(inc / "warehouse", EVENTS, "SELECT id FROM events")) == 1501
    put_curated(inc / "curated", HOUR1, files[HOUR1])
    put_curated(inc / "curated", HOUR0, files[HOUR0])
    open_storage(str(inc / "curated")).put_bytes(layout.day_index_object(D0, HOUR0), b"")
    rebuild(spark, inc, [D1, D0])
    rebuild(spark, inc, [D0, D1])  # twice
    assert snapshot(inc / "warehouse") != expected
    put_curated(inc / "curated", HOUR0, h0_new)  # hour 00 re-normalized: its rows are replaced
    rebuild(spark, inc, [D1, D0])
    assert snapshot(inc / "warehouse") == expected


def test_refuses_rows_of_another_hour_and_leaves_the_partition(
    spark: Any, files: dict[Hour, list[dict[str, Any]]], tmp_path: Path
) -> None:
    home = home_with(tmp_path / "home", {HOUR1: files[HOUR1][:20]})
    rebuild(spark, home, [D1])
    put_curated(home / "curated", HOUR1, files[HOUR0][:10])  # rows claiming source_hour 00
    with pytest.raises(LoadError, match=r"another source_hour.*2015-01-01T01"):
        rebuild(spark, home, [D1])
    assert query(home / "warehouse", EVENTS, "SELECT count(*) FROM events") == [(20,)]
    assert open_storage(str(home / "curated")).stat(layout.lock_object(D1)) is None  # released


def _script() -> Any:
    spec = importlib.util.spec_from_file_location("load_events", ROOT / "spark" / "load_events.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_script_arguments() -> None:
    script = _script()
    args = script.parse_args(
        [
            *("--start-day", "2015-01-01", "--end-day", "2015-01-03", "--day", "2015-01-02"),
            *("--day", "2014-12-31", "--hour", "2015-01-05T23", "--curated", "gs://c"),
            *("--table", "p.d.events", "--temp-bucket", "t", "--batch-id", "gha-day-2015-01-01-x"),
        ]
    )
    assert [str(d) for d in args.days] == ["2014-12-31", "2015-01-01", "2015-01-02", "2015-01-03"]
    assert [h.key for h in args.hours] == ["2015-01-05T23"]
    sink = script.make_sink(args)
    assert sink.name == "bigquery" and sink.staging_uri == "gs://t/gharchive-staging/gha-day-2015-01-01-x"
    assert script.parse_args(
        ["--day", "2015-01-01", "--curated", "c", "--sink", "local", "--warehouse", "w"]
    ).batch_id
    for bad in (
        ["--curated", "c", "--sink", "local", "--day", "2015-01-01"],  # no --warehouse
        ["--curated", "c", "--table", "p.d.e", "--day", "2015-01-01"],  # no --temp-bucket
        ["--curated", "c", "--sink", "local", "--warehouse", "w"],  # nothing to rebuild
        ["--curated", "c", "--sink", "local", "--warehouse", "w", "--day", "2015-02-30"],
        ["--curated", "c", "--sink", "local", "--warehouse", "w", "--start-day", "2015-01-01"],
        ["--curated", "c", "--sink", "local", "--warehouse", "w", "--hour", "2015-01-01T24"],
    ):
        with pytest.raises(SystemExit) as exc:
            script.parse_args(bad)
        assert exc.value.code == 2


def test_session_settings_the_job_relies_on() -> None:
    conf = session_conf(local=True)
    assert conf["spark.sql.session.timeZone"] == "UTC"
    assert conf["spark.sql.parquet.outputTimestampType"] == "TIMESTAMP_MICROS"
    assert int(conf["spark.sql.shuffle.partitions"]) <= 8
    assert session_conf(local=False)["spark.sql.session.timeZone"] == "UTC"


def test_script_by_day_and_by_hour_with_ledger_and_lock(
    spark: Any, files: dict[Hour, list[dict[str, Any]]], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    home = home_with(
        tmp_path / "home", {HOUR0: files[HOUR0][:40] + files[HOUR0][-LATE:], HOUR1: files[HOUR1][:60]}
    )
    script = _script()
    common = ["--curated", str(home / "curated"), "--raw", str(home / "raw"), "--sink", "local"]
    common += ["--warehouse", str(home / "warehouse"), "--master", "local[2]"]

    assert script.main(["--day", "2015-01-01", "--batch-id", "b-day", *common]) == 0
    assert "batch b-day: rebuilt 1 days from 2 hours, 100 rows" in capsys.readouterr().out
    assert loaded_days(home / "warehouse") == [D1]

    # --hour: the hour's own day and the day its marker names; hour 02 has no file (exit 3)
    argv = ["--hour", "2015-01-01T00", "--hour", "2015-01-01T02", "--batch-id", "b-hour", *common]
    assert script.main(argv) == script.EXIT_MISSING
    out = capsys.readouterr()
    assert "rebuilt 2 days from 2 hours, 103 rows" in out.out and "2015-01-01T02" in out.err
    assert loaded_days(home / "warehouse") == [D0, D1]

    raw = open_storage(str(home / "raw"))
    loads = [(e.outcome, e.details["batch_id"], e.details["day"]) for e in read_ledger(raw, HOUR0)]
    assert loads == [
        ("loaded", "b-day", "2015-01-01"),
        ("loaded", "b-hour", "2014-12-31"),
        ("loaded", "b-hour", "2015-01-01"),
    ]
    [*_, last] = read_ledger(raw, HOUR0)
    info = open_storage(str(home / "curated")).stat(layout.curated_object(HOUR0))
    assert info is not None and last.details["curated_generation"] == info.generation
    assert (last.details["input_rows"], last.details["rows"]) == (40, 40)
    assert [e.outcome for e in read_ledger(raw, HOUR2)] == ["missing"]

    # another batch holds the day: a second writer gives up cleanly (transient exit status)
    held = day_lock.try_acquire(open_storage(str(home / "curated")), D1, "other", now=datetime.now(UTC))
    assert held is not None
    assert script.main(["--day", "2015-01-01", "--lock-wait", "0", *common]) == script.EXIT_LOCKED
    assert "batch other holds" in capsys.readouterr().err


def test_kill_9_during_a_rebuild_then_rerun_equals_a_clean_run(
    spark: Any, small: dict[Hour, list[dict[str, Any]]], tmp_path: Path
) -> None:
    """The job killed (-9, driver and JVM) while it holds the second day's lock: the rerun breaks the
    dead process's lock at once and ends exactly where one clean run ends."""
    import os
    import signal
    import subprocess
    import sys
    import time

    tiny = {hour: rows[:200] + rows[-LATE:] for hour, rows in small.items()}
    clean = home_with(tmp_path / "clean", tiny)
    rebuild(spark, clean, [D0, D1])
    expected = snapshot(clean / "warehouse")

    home = home_with(tmp_path / "home", tiny)
    args = [
        "--day",
        "2014-12-31",
        "--day",
        "2015-01-01",
        "--curated",
        str(home / "curated"),
        "--sink",
        "local",
    ]
    args += ["--warehouse", str(home / "warehouse"), "--raw", str(home / "raw")]
    job = [sys.executable, str(ROOT / "spark" / "load_events.py"), *args, "--master", "local[1]"]
    proc = subprocess.Popen(job, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    lock = home / "curated" / layout.lock_object(D1)
    try:
        deadline = time.monotonic() + 240
        while not lock.exists() and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.02)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)  # our own process group: the driver and its JVM
        proc.wait()
    assert lock.exists(), "the job ended before it could be killed mid-day"

    assert _script().main([*args, "--master", "local[2]", "--lock-wait", "0"]) == 0
    assert snapshot(home / "warehouse") == expected
    assert not lock.exists()
