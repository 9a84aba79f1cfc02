"""The BigQuery sink: day partitions of `events` and the statistics tables.

The real path (load/query jobs into `table$YYYYMMDD` with WRITE_TRUNCATE) is checked by its job
options: bqemulator rejects partition decorators on loads and ignores them on query destinations.
Everything else runs against bqemulator (DuckDB-backed local BigQuery) with real
google-cloud-bigquery calls, in the sink's TRANSACTION mode. bqemulator pins duckdb 1.5.5, so it
runs from its own virtualenv (.bqvenv, `make bqemulator`).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest

from gharchive_pipeline.load import bigquery_sink as bq
from gharchive_pipeline.schema import CLUSTERING_FIELDS, COLUMN_NAMES, arrow_schema
from gharchive_pipeline.stats.sql import BIGQUERY, STATS_TABLES, stats_columns
from gharchive_pipeline.stats.views import bigquery_views, stats_refresh_sql

from ..support import standins, strict_bigquery
from ..support.strict_bigquery import StrictBigQuery, refusals
from ..support.warehouse import HOUR0, HOUR1, cached_rows, put_curated, reset, write_rows

PROJECT = "p"
DATASET = f"{PROJECT}.gharchive"
TABLE = f"{DATASET}.events"


# ---- pure: the table definition and the script --------------------------------------------------------
def test_events_table_definition() -> None:
    table = bq.events_table(TABLE)
    assert table.time_partitioning.type_ == "DAY" and table.time_partitioning.field == "created_at"
    assert table.clustering_fields == list(CLUSTERING_FIELDS)
    assert table.require_partition_filter is False
    assert [f.name for f in table.schema] == list(COLUMN_NAMES)
    assert {f.name for f in table.schema if f.mode == "REQUIRED"} >= {"id", "created_at", "source_hour"}


D0, D1, D2 = date(2014, 12, 31), date(2015, 1, 1), date(2015, 1, 2)


def test_stats_table_definitions() -> None:
    for name, (time_col, _) in STATS_TABLES.items():
        table = bq.stats_table(DATASET, name)
        assert table.table_id == name and table.time_partitioning.field == time_col
        assert table.time_partitioning.type_ == "DAY" and table.clustering_fields == ["type"]
        assert [f.name for f in table.schema] == [c["name"] for c in stats_columns(name)]


class RecordingClient:
    """Stands in for bigquery.Client where only the jobs' options matter: the real BigQuery path
    (partition decorators), which bqemulator cannot run (see docs/warehouse.md)."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, Any, str, Any]] = []

    def load_table_from_uri(self, uri: str, table: str, job_config: Any) -> Any:
        self.calls.append(("load", uri, table, job_config))
        return self

    def load_table_from_file(self, fh: Any, table: str, job_config: Any) -> Any:
        self.calls.append(("load", pq.read_table(fh), table, job_config))
        return self

    def query(self, sql: str, job_config: Any = None) -> Any:
        self.calls.append(("query", sql, str(job_config.destination) if job_config else "", job_config))
        return self

    def result(self) -> None:
        return None


def test_bigquery_path_is_one_truncating_load_job_per_day_partition() -> None:
    uri = bq.staging_uri("tmp-bucket", "gha-day-2015-01-01")
    assert uri == "gs://tmp-bucket/gharchive-staging/gha-day-2015-01-01"
    assert bq.staging_uri("gs://b/x/", "r") == "gs://b/x/gharchive-staging/r"
    client = RecordingClient()
    bq.replace_day(client, TABLE, f"{uri}/date=2015-01-01/*.parquet", D1)  # type: ignore[arg-type]
    [(kind, source, table, config)] = client.calls
    assert (kind, source, table) == ("load", f"{uri}/date=2015-01-01/*.parquet", f"{TABLE}$20150101")
    assert (config.source_format, config.write_disposition) == ("PARQUET", "WRITE_TRUNCATE")
    assert config.create_disposition == "CREATE_NEVER"


def test_bigquery_empty_day_is_a_load_and_statistics_are_truncating_query_jobs_per_partition() -> None:
    client = RecordingClient()
    bq.replace_day(client, TABLE, None, D1)  # type: ignore[arg-type]
    bq.refresh_stats(client, DATASET, D1)  # type: ignore[arg-type]
    empty, hourly, daily = client.calls
    # an empty day: a load of no rows whose REQUIRED columns are declared non-nullable (a query's
    # result columns are NULLABLE, which BigQuery refuses for a REQUIRED column of a partition)
    kind, rows, table, config = empty
    assert (kind, table, config.write_disposition) == ("load", f"{TABLE}$20150101", "WRITE_TRUNCATE")
    assert rows.num_rows == 0 and rows.schema.equals(arrow_schema())
    for (kind, query_sql, dest, config), name in ((hourly, "hourly_stats"), (daily, "daily_stats")):
        assert kind == "query" and dest.endswith(f"{name}$20150101")
        assert config.write_disposition == "WRITE_TRUNCATE" and config.create_disposition == "CREATE_NEVER"
        assert query_sql == stats_refresh_sql(DATASET, name, D1)
        assert (
            "created_at >= TIMESTAMP '2015-01-01 00:00:00+00' AND created_at < TIMESTAMP '2015-01-02"
            in query_sql
        )


def test_statistics_tables_have_no_required_column() -> None:
    """Query jobs write them: their result columns are NULLABLE, so a REQUIRED column would make
    every refresh fail (googleapis/java-bigquery#2107, #3166); the deployed schemas agree."""
    deployed = strict_bigquery.deployed_specs()
    for name in STATS_TABLES:
        assert {c["mode"] for c in stats_columns(name)} == {"NULLABLE"}, name
        assert {c.mode for c in deployed[name].columns} == {"NULLABLE"}, name
    assert {c.name for c in deployed["events"].columns if c.mode == "REQUIRED"} >= {"id", "created_at"}


def test_emulator_scripts_replace_one_day_in_one_transaction() -> None:
    script = bq.day_replacement_script(TABLE, f"{TABLE}_staging_x", D1).split("\n")
    assert script == [
        "BEGIN TRANSACTION;",
        f"DELETE FROM `{TABLE}` WHERE created_at >= TIMESTAMP '2015-01-01 00:00:00+00' "
        "AND created_at < TIMESTAMP '2015-01-02 00:00:00+00';",
        f"INSERT INTO `{TABLE}` ({', '.join(COLUMN_NAMES)}) SELECT {', '.join(COLUMN_NAMES)} "
        f"FROM `{TABLE}_staging_x`;",
        "COMMIT TRANSACTION;",
    ]
    assert "INSERT" not in bq.day_replacement_script(TABLE, None, D1)
    daily = bq.stats_replacement_script(DATASET, "daily_stats", D1)
    assert f"DELETE FROM `{DATASET}.daily_stats` WHERE day = DATE '2015-01-01';" in daily


# ---- against the emulator --------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def emulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    with strict_bigquery.emulator(PROJECT, tmp_path_factory.mktemp("bq") / "bqemulator.log") as c:
        c.create_dataset(DATASET, exists_ok=True)
        yield c


@pytest.fixture()
def client(emulator: Any) -> StrictBigQuery:
    """bqemulator behind BigQuery's rules (tests/support/strict_bigquery.py)."""
    return StrictBigQuery(emulator)


MODE = bq.PartitionWrite.TRANSACTION


def _rows(client: Any, sql_text: str) -> list[tuple[Any, ...]]:
    return [tuple(r.values()) for r in client.query(sql_text).result()]


def _day_ids(client: Any, day: date) -> list[str]:
    where = f"DATE(created_at) = DATE '{day}'"
    return sorted(r[0] for r in _rows(client, f"SELECT id FROM `{TABLE}` WHERE {where}"))


def _stats(client: Any, name: str) -> list[tuple[Any, ...]]:
    return _rows(client, f"SELECT * FROM `{DATASET}.{name}` ORDER BY 1, 2")


def _recomputed(client: Any, name: str) -> list[tuple[Any, ...]]:
    """The statistics as a GROUP BY over the whole `events` table (no day filter)."""
    _, make = STATS_TABLES[name]
    return _rows(client, make(BIGQUERY, f"`{TABLE}`") + "\nORDER BY 1, 2")


def _same(a: list[tuple[Any, ...]], b: list[tuple[Any, ...]]) -> None:
    assert [r[:-1] for r in a] == [r[:-1] for r in b]
    assert [r[-1] for r in a] == pytest.approx([r[-1] for r in b])


def _on_day(rows: list[dict[str, Any]], day: date) -> list[dict[str, Any]]:
    """Real rows moved to `day` (same times of day): a day partition's worth of data."""
    return [
        {**r, "created_at": r["created_at"].replace(year=day.year, month=day.month, day=day.day)}
        for r in rows
    ]


@pytest.mark.slow
def test_tables_created_with_partitioning_and_clustering(client: Any) -> None:
    bq.ensure_tables(client, TABLE)
    table = client.get_table(TABLE)
    assert table.time_partitioning.type_ == "DAY" and table.time_partitioning.field == "created_at"
    assert table.clustering_fields == list(CLUSTERING_FIELDS)
    for name, (time_col, _) in STATS_TABLES.items():
        stats = client.get_table(f"{DATASET}.{name}")
        assert stats.time_partitioning.field == time_col and stats.clustering_fields == ["type"]


@pytest.mark.slow
def test_partition_replace_leaves_other_days_and_stats_equal_a_recomputation(
    client: Any, tmp_path: Path
) -> None:
    bq.ensure_tables(client, TABLE)
    h0 = cached_rows("2015-01-01-0.json.gz", HOUR0)
    h1 = cached_rows("2015-01-01-1.json.gz", HOUR1)
    day1 = write_rows(h0[:2000], tmp_path / "d1" / "part-0.parquet")
    day2 = write_rows(_on_day(h1[:1500], D2), tmp_path / "d2" / "part-0.parquet")
    for day, source in ((D1, day1), (D2, day2)):
        bq.replace_day(client, TABLE, [source], day, MODE)
        bq.refresh_stats(client, DATASET, day, MODE)
    before_d2 = _day_ids(client, D2)
    stats_before = {name: _stats(client, name) for name in STATS_TABLES}
    assert len(before_d2) == 1500 and len(_day_ids(client, D1)) == 2000

    # day 1 rebuilt with other rows: day 2's partition and statistics are untouched
    changed = write_rows(h0[500:1200] + h1[:10], tmp_path / "d1b" / "part-0.parquet")
    bq.replace_day(client, TABLE, [changed], D1, MODE)
    bq.replace_day(client, TABLE, [changed], D1, MODE)  # twice: the same partition
    bq.refresh_stats(client, DATASET, D1, MODE)
    assert _day_ids(client, D1) == sorted(r["id"] for r in h0[500:1200] + h1[:10])
    assert _day_ids(client, D2) == before_d2
    for name, (time_col, _) in STATS_TABLES.items():
        stored = _stats(client, name)
        _same(stored, _recomputed(client, name))
        on_d2 = [r for r in stored if (r[0] if time_col == "day" else r[0].date()) == D2]
        assert on_d2 == [r for r in stats_before[name] if r in on_d2] and on_d2
    assert sum(r[2] for r in _stats(client, "daily_stats")) == 710 + 1500

    # an empty day (every row gone from its hours): partition and statistics emptied, others kept
    bq.replace_day(client, TABLE, None, D1, MODE)
    bq.refresh_stats(client, DATASET, D1, MODE)
    assert _day_ids(client, D1) == [] and _day_ids(client, D2) == before_d2
    for name in STATS_TABLES:
        _same(_stats(client, name), _recomputed(client, name))
    assert not [t.table_id for t in client.list_tables(DATASET) if "staging" in t.table_id]


@pytest.mark.slow
def test_spark_job_to_bigquery_equals_the_local_warehouse(client: Any, tmp_path: Path) -> None:
    """The whole cloud path but Dataproc: Spark rebuilds the days and stages parquet, the sink
    replaces the partitions and statistics with BigQuery's own jobs (checked and run by the strict
    layer); the same hours through the local sink give the same events and the same statistics (the
    stats SQL in both dialects)."""
    standins.import_module("pyspark", "pip install -e '.[spark]' (make setup)")
    import duckdb

    from gharchive_pipeline import layout
    from gharchive_pipeline.load.local_load import local_spark
    from gharchive_pipeline.load.local_warehouse import read_days_sql
    from gharchive_pipeline.load.spark_days import run_days
    from gharchive_pipeline.load.spark_local import SparkLocalSink
    from gharchive_pipeline.storage import open_storage

    bq.ensure_tables(client, TABLE)  # the test also runs alone (-k), before any other created them
    for name in ("events", *STATS_TABLES):  # a fresh dataset state for this test
        client.query(f"DELETE FROM `{DATASET}.{name}` WHERE TRUE").result()
    h0 = cached_rows("2015-01-01-0.json.gz", HOUR0)[:1500]
    h1 = cached_rows("2015-01-01-1.json.gz", HOUR1)[:1500]
    late = [{**r, "created_at": r["created_at"] - timedelta(hours=1)} for r in h0[:5]]  # on 2014-12-31
    home = reset(tmp_path / "home")
    put_curated(home / "curated", HOUR0, h0 + late)
    put_curated(home / "curated", HOUR1, h1 + [{**r, "source_hour": HOUR1.start} for r in h0[:7]] + h1[:4])
    curated = open_storage(str(home / "curated"))
    curated.put_bytes(layout.day_index_object(D0, HOUR0), b"")
    # the production path (load jobs into events$YYYYMMDD), run by the strict layer
    sink = bq.BigQuerySink(TABLE, str(tmp_path / "staging"), client=client)
    result = run_days(local_spark(), curated, [D0, D1], sink, batch_id="b1")
    assert [d.rows for d in result.days] == [5, 3000]
    assert refusals(client.jobs) == []
    loads = {j.destination.rsplit(".", 1)[-1] for j in client.jobs if j.kind == "load"}
    assert {"events$20141231", "events$20150101"} <= loads
    assert _rows(
        client, f"SELECT COUNT(*), COUNT(DISTINCT CONCAT(id, '@', CAST(created_at AS STRING))) FROM `{TABLE}`"
    ) == [(3005, 3005)]
    assert not list((tmp_path / "staging").glob("date=*/*.parquet"))
    for name, sql_text in bigquery_views(DATASET).items():
        from google.cloud import bigquery

        view = bigquery.Table(f"{DATASET}.{name}")
        view.view_query = sql_text
        client.delete_table(view, not_found_ok=True)
        client.create_table(view)
    assert _rows(client, f"SELECT COUNT(*) FROM `{DATASET}.events_unique`") == [(3005,)]

    run_days(local_spark(), curated, [D0, D1], SparkLocalSink(home / "warehouse"), batch_id="b2")
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    wh = home / "warehouse"
    for name in STATS_TABLES:
        local = con.execute(f"SELECT * FROM {read_days_sql(wh, name)} ORDER BY 1, 2").fetchall()
        cloud = _stats(client, name)
        assert len(cloud) == len(local) > 0
        for c_row, l_row in zip(cloud, local, strict=True):
            assert c_row[:-1] == tuple(l_row[:-1]) or (
                str(c_row[0]) == str(l_row[0]) and c_row[1:-1] == tuple(l_row[1:-1])
            )
            assert c_row[-1] == pytest.approx(l_row[-1])
        _same(cloud, _recomputed(client, name))


# ---- the production path, through the strict layer ------------------------------------------------------
def _fresh(client: StrictBigQuery) -> None:
    bq.ensure_tables(client, TABLE)
    for name in ("events", *STATS_TABLES):
        client.query(f"DELETE FROM `{DATASET}.{name}` WHERE TRUE").result()


@pytest.mark.slow
def test_load_job_path_runs_and_equals_a_recomputation(client: StrictBigQuery, tmp_path: Path) -> None:
    """What BigQuery runs (LOAD_JOB: loads and query jobs into `table$YYYYMMDD`), checked against
    the deployed schemas and executed by the strict layer: days replaced, statistics refreshed, an
    emptied day; no job refused. On the old code the empty day (a query into REQUIRED columns) and
    every statistics refresh (REQUIRED hour/day/type) were refused."""
    _fresh(client)
    for name in ("events", *STATS_TABLES):
        assert client.check_table(f"{DATASET}.{name}") == [], name
    h0 = cached_rows("2015-01-01-0.json.gz", HOUR0)
    h1 = cached_rows("2015-01-01-1.json.gz", HOUR1)
    files = {
        D1: write_rows(h0[:800], tmp_path / "d1" / "part-0.parquet"),
        D2: write_rows(_on_day(h1[:600], D2), tmp_path / "d2" / "part-0.parquet"),
    }
    for day, path in files.items():
        bq.replace_day(client, TABLE, f"file://{path.parent}/*.parquet", day)
        bq.refresh_stats(client, DATASET, day)
    assert refusals(client.jobs) == []
    assert len(_day_ids(client, D1)) == 800 and len(_day_ids(client, D2)) == 600
    bq.replace_day(client, TABLE, f"file://{files[D1]}", D1)  # again: replaced, not appended
    assert len(_day_ids(client, D1)) == 800
    for name in STATS_TABLES:
        _same(_stats(client, name), _recomputed(client, name))
    bq.replace_day(client, TABLE, None, D1)
    bq.refresh_stats(client, DATASET, D1)
    assert refusals(client.jobs) == []
    assert _day_ids(client, D1) == [] and len(_day_ids(client, D2)) == 600
    for name in STATS_TABLES:
        _same(_stats(client, name), _recomputed(client, name))
    kinds = {(j.kind, j.destination.rsplit(".", 1)[-1]) for j in client.jobs}
    assert {("load", "events$20150101"), ("query", "hourly_stats$20150102")} <= kinds


@pytest.mark.slow
def test_strict_layer_refuses_what_bigquery_refuses(client: StrictBigQuery, tmp_path: Path) -> None:
    from google.api_core.exceptions import BadRequest
    from google.cloud import bigquery

    _fresh(client)
    rows = cached_rows("2015-01-01-0.json.gz", HOUR0)[:50]
    good = write_rows(rows, tmp_path / "good.parquet")
    load = bq.load_config()

    # a query's result is NULLABLE: refused for REQUIRED columns of a partition (the old empty day)
    old_empty = f"SELECT {', '.join(COLUMN_NAMES)} FROM `{TABLE}` WHERE FALSE"
    with pytest.raises(BadRequest, match="Field id has changed mode from REQUIRED to NULLABLE"):
        client.query(old_empty, job_config=bq.truncate_query_config(f"{TABLE}$20150101")).result()
    # ... and for a statistics table deployed with REQUIRED columns (as they were)
    required = strict_bigquery.deployed_specs()
    hourly = required["hourly_stats"]
    required["hourly_stats"] = strict_bigquery.TableSpec(
        tuple(
            strict_bigquery.Column(c.name, c.type, "REQUIRED" if c.name in ("hour", "type") else c.mode)
            for c in hourly.columns
        ),
        hourly.partition_field,
    )
    old = StrictBigQuery(client.client, specs=required)
    with pytest.raises(BadRequest, match="Field hour has changed mode from REQUIRED to NULLABLE"):
        bq.refresh_stats(old, DATASET, D1)

    # rows outside the decorated day
    with pytest.raises(BadRequest, match=r"50 row\(s\) .* other partitions than 20150102"):
        client.load_table_from_uri(str(good), f"{TABLE}$20150102", job_config=load).result()
    # a decorator on a table that is not partitioned
    plain = f"{DATASET}.plain_{tmp_path.name[-6:]}"
    client.create_table(bigquery.Table(plain, schema=[bigquery.SchemaField("id", "STRING")]))
    ids = write_rows([], tmp_path / "empty.parquet")
    with pytest.raises(BadRequest, match="not partitioned"):
        client.load_table_from_uri(str(ids), f"{plain}$20150101", job_config=load).result()
    # a nullable file column for a REQUIRED one; a type that differs; a column the table lacks
    table = pq.read_table(good)
    at = table.schema.get_field_index("id")
    nullable = table.cast(table.schema.set(at, table.schema.field(at).with_nullable(True)))
    pq.write_table(nullable, tmp_path / "nullable.parquet")
    with pytest.raises(BadRequest, match="Field id has changed mode from REQUIRED to NULLABLE"):
        client.load_table_from_uri(
            str(tmp_path / "nullable.parquet"), f"{TABLE}$20150101", job_config=load
        ).result()
    retyped = table.set_column(
        table.schema.get_field_index("push_size"), "push_size", table.column("push_size").cast("string")
    )
    pq.write_table(retyped, tmp_path / "retyped.parquet")
    with pytest.raises(BadRequest, match="Field push_size has changed type from INT64 to STRING"):
        client.load_table_from_uri(
            str(tmp_path / "retyped.parquet"), f"{TABLE}$20150101", job_config=load
        ).result()
    extra = table.append_column("not_a_column", table.column("id"))
    pq.write_table(extra, tmp_path / "extra.parquet")
    with pytest.raises(BadRequest, match="no such field: not_a_column"):
        client.load_table_from_uri(
            str(tmp_path / "extra.parquet"), f"{TABLE}$20150101", job_config=load
        ).result()
    assert _day_ids(client, D1) == []  # nothing refused was written

    # schemas grow: a file without a NULLABLE column the table has loads (an older curated file)
    optional = next(c.name for c in required["events"].columns if c.mode == "NULLABLE")
    older = table.drop_columns([optional])
    pq.write_table(older, tmp_path / "older.parquet")
    client.load_table_from_uri(str(tmp_path / "older.parquet"), f"{TABLE}$20150101", job_config=load).result()
    assert len(_day_ids(client, D1)) == 50
