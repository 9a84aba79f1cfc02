"""The Spark load job on real hours with real local PySpark, into the local parquet warehouse.

Users query `events_unique` and the stats; these tests prove that loading hours in any order, twice,
or again after a curated file changed leaves exactly what one clean load of the current files leaves.
"""

from __future__ import annotations

import importlib.util
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("pyspark")

from gharchive_pipeline.hours import Hour
from gharchive_pipeline.ledger import read_ledger
from gharchive_pipeline.load import LoadError
from gharchive_pipeline.load.local_load import load_hour_local, load_hours_local, local_spark
from gharchive_pipeline.load.local_warehouse import hour_dir, loaded_hours
from gharchive_pipeline.load.spark_job import session_conf
from gharchive_pipeline.stats.query import connect
from gharchive_pipeline.storage import open_storage

from ..conftest import ROOT
from ..support.warehouse import HOUR0, HOUR1, cached_rows, put_curated, reset

pytestmark = pytest.mark.slow

HOUR2 = Hour.parse("2015-01-01T02")  # no curated file: the "missing hour"


@pytest.fixture(scope="module")
def spark() -> Any:
    return local_spark()


@pytest.fixture(scope="module")
def rows() -> dict[str, list[dict[str, Any]]]:
    """Curated rows of real hours 0 and 1, hour 1 with GH Archive-style duplicates added:
    5 events of hour 0 again (cross-hour) and 3 of its own events twice (within the hour; one copy
    with a newer ingested_at, which must win)."""
    h0 = cached_rows("2015-01-01-0.json.gz", HOUR0)
    h1 = cached_rows("2015-01-01-1.json.gz", HOUR1)
    cross = [{**r, "source_hour": HOUR1.start} for r in h0[:5]]
    newer = [
        {**r, "ingested_at": r["ingested_at"] + timedelta(seconds=1), "payload": '{"newer": true}'}
        for r in h1[:3]
    ]
    return {"h0": h0, "h1": h1 + cross + newer}


def snapshot(warehouse: Path) -> dict[str, Any]:
    """The table, what users see (every events_unique row) and the hourly/daily stats."""
    con = connect(warehouse)
    return {
        "events": con.execute("SELECT * FROM events ORDER BY source_hour, id, created_at").fetchall(),
        "unique": con.execute("SELECT * FROM events_unique ORDER BY id, created_at").fetchall(),
        "hourly": con.execute("SELECT * FROM hourly_stats ORDER BY hour, type").fetchall(),
        "daily": con.execute("SELECT * FROM daily_stats ORDER BY day, type").fetchall(),
    }


def home_with(tmp: Path, files: dict[Hour, list[dict[str, Any]]]) -> Path:
    home = reset(tmp)
    for hour, rs in files.items():
        put_curated(home / "curated", hour, rs)
    return home


def test_dedup_counts_and_survivor(spark: Any, rows: dict[str, list[dict[str, Any]]], tmp_path: Path) -> None:
    home = home_with(tmp_path / "home", {HOUR0: rows["h0"], HOUR1: rows["h1"]})
    result = load_hours_local(home, [HOUR0, HOUR1, HOUR2])
    by_hour = {h.hour: h for h in result.loaded}
    assert result.missing == (HOUR2,)
    assert by_hour[HOUR0].rows == 7702 and by_hour[HOUR0].duplicates == 0
    assert by_hour[HOUR1].rows == 7427 + 5 and by_hour[HOUR1].duplicates == 3
    con = connect(home / "warehouse")
    assert con.execute("SELECT count(*) FROM events").fetchone() == (7702 + 7432,)
    # each event once: the raw files hold 7702 + 7427 distinct events
    assert con.execute("SELECT count(*), count(DISTINCT (id, created_at)) FROM events_unique").fetchone() == (
        15129,
        15129,
    )
    # cross-hour copies: the earliest source hour's copy is the one users see
    first = rows["h0"][0]
    assert con.execute("SELECT source_hour FROM events_unique WHERE id = ?", [first["id"]]).fetchone() == (
        HOUR0.start,
    )
    # within-hour copies: the newest normalization wins, deterministically
    dup = rows["h1"][0]
    payloads = con.execute("SELECT payload FROM events WHERE id = ?", [dup["id"]]).fetchall()
    assert payloads == [('{"newer": true}',)]
    assert loaded_hours(home / "warehouse") == [HOUR0, HOUR1]


def test_any_order_twice_and_changed_equal_one_clean_load(
    spark: Any, rows: dict[str, list[dict[str, Any]]], tmp_path: Path
) -> None:
    h0, h1 = rows["h0"], rows["h1"]
    moved = h0[0]  # an event of hour 0 that hour 1 also holds
    h0_changed = h0[1:200] + [{**r, "actor_login": "changed"} for r in h0[200:]]

    clean = home_with(tmp_path / "clean", {HOUR0: h0_changed, HOUR1: h1})
    load_hours_local(clean, [HOUR0, HOUR1])
    expected = snapshot(clean / "warehouse")
    assert any(r[0] == moved["id"] and r[-4] == HOUR1.start for r in expected["unique"])

    # hour 1 first, then hour 0 (old content) twice, then hour 0 after its curated file changed:
    # the hour-1 copy of `moved`, hidden while hour 0 held it, must come back.
    inc = home_with(tmp_path / "incremental", {HOUR0: h0, HOUR1: h1})
    load_hour_local(inc, HOUR1)
    load_hour_local(inc, HOUR0)
    load_hours_local(inc, [HOUR1, HOUR0])
    assert snapshot(inc / "warehouse") != expected
    put_curated(inc / "curated", HOUR0, h0_changed)
    load_hour_local(inc, HOUR0)
    assert snapshot(inc / "warehouse") == expected


def test_empty_hour_replaces_its_rows(
    spark: Any, rows: dict[str, list[dict[str, Any]]], tmp_path: Path
) -> None:
    home = home_with(tmp_path / "home", {HOUR0: rows["h0"][:50]})
    load_hour_local(home, HOUR0)
    assert hour_dir(home / "warehouse", HOUR0).is_dir()
    put_curated(home / "curated", HOUR0, [])
    result = load_hour_local(home, HOUR0)
    assert result.rows == 0
    assert connect(home / "warehouse").execute("SELECT count(*) FROM events").fetchone() == (0,)


def test_refuses_rows_of_another_hour_and_leaves_table(
    spark: Any, rows: dict[str, list[dict[str, Any]]], tmp_path: Path
) -> None:
    home = home_with(tmp_path / "home", {HOUR1: rows["h1"][:20]})
    load_hour_local(home, HOUR1)
    put_curated(home / "curated", HOUR1, rows["h0"][:10])  # rows claiming source_hour 00
    with pytest.raises(LoadError, match=r"2015-01-01T01.*another source_hour|another source_hour"):
        load_hour_local(home, HOUR1)
    assert connect(home / "warehouse").execute("SELECT count(*) FROM events").fetchone() == (20,)


def test_missing_hour_is_an_error_for_the_chain(spark: Any, tmp_path: Path) -> None:
    home = reset(tmp_path / "home")
    with pytest.raises(LoadError, match="2015-01-01T02"):
        load_hour_local(home, HOUR2)


def test_ledger_entries_when_given_raw_storage(
    spark: Any, rows: dict[str, list[dict[str, Any]]], tmp_path: Path
) -> None:
    home = home_with(tmp_path / "home", {HOUR0: rows["h0"][:30]})
    raw = open_storage(str(home / "raw"))
    load_hour_local(home, HOUR0, raw=raw)
    with pytest.raises(LoadError):
        load_hour_local(home, HOUR2, raw=raw)
    [entry] = read_ledger(raw, HOUR0)
    assert (entry.stage, entry.outcome, entry.details["rows"]) == ("load", "loaded", 30)
    assert entry.details["seconds"] >= 0
    assert [(e.stage, e.outcome) for e in read_ledger(raw, HOUR2)] == [("load", "missing")]


def _load_events_script() -> Any:
    spec = importlib.util.spec_from_file_location("load_events", ROOT / "spark" / "load_events.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_session_settings_the_job_relies_on() -> None:
    conf = session_conf(local=True)
    assert conf["spark.sql.session.timeZone"] == "UTC"
    assert conf["spark.sql.parquet.outputTimestampType"] == "TIMESTAMP_MICROS"
    assert int(conf["spark.sql.shuffle.partitions"]) <= 4
    assert session_conf(local=False)["spark.sql.session.timeZone"] == "UTC"


def test_script_arguments() -> None:
    script = _load_events_script()
    args = script.parse_args(
        [
            "--start",
            "2015-01-01T22",
            "--end",
            "2015-01-02T01",
            "--hour",
            "2015-01-01T23",
            "--curated",
            "gs://c",
            "--table",
            "p.d.events",
            "--temp-bucket",
            "t",
        ]
    )
    assert [h.key for h in args.hours] == ["2015-01-01T22", "2015-01-01T23", "2015-01-02T00", "2015-01-02T01"]
    sink = script.make_sink(args)
    assert sink.name == "bigquery" and sink.staging_uri.startswith("gs://t/gharchive-staging/")
    for bad in (
        ["--curated", "c", "--sink", "local", "--hour", "2015-01-01T00"],  # no --warehouse
        ["--curated", "c", "--table", "p.d.e", "--hour", "2015-01-01T00"],  # no --temp-bucket
        ["--curated", "c", "--sink", "local", "--warehouse", "w"],  # no hours
        ["--curated", "c", "--sink", "local", "--warehouse", "w", "--hour", "2015-01-01T24"],
    ):
        with pytest.raises(SystemExit) as exc:
            script.parse_args(bad)
        assert exc.value.code == 2


def test_script_loads_locally_and_flags_missing_hours(
    spark: Any, rows: dict[str, list[dict[str, Any]]], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    home = home_with(tmp_path / "home", {HOUR0: rows["h0"][:40], HOUR1: rows["h1"][:60]})
    script = _load_events_script()
    argv = [
        "--start",
        "2015-01-01T00",
        "--end",
        "2015-01-01T02",
        "--curated",
        str(home / "curated"),
        "--sink",
        "local",
        "--warehouse",
        str(home / "warehouse"),
        "--master",
        "local[2]",
    ]
    assert script.main(argv) == script.EXIT_MISSING
    out = capsys.readouterr()
    assert "loaded 2 hours, 100 rows" in out.out and "2015-01-01T02" in out.err
    assert loaded_hours(home / "warehouse") == [HOUR0, HOUR1]
