"""The BigQuery sink against bqemulator (DuckDB-backed local BigQuery) with real google-cloud-bigquery calls.

bqemulator pins duckdb 1.5.5, so it runs from its own virtualenv (.bqvenv, `make bqemulator`).
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from gharchive_pipeline.load import bigquery_sink as bq
from gharchive_pipeline.schema import CLUSTERING_FIELDS, COLUMN_NAMES
from gharchive_pipeline.stats.query import connect
from gharchive_pipeline.stats.views import bigquery_views
from tests.support.ports import free_port

from ..conftest import ROOT
from ..support import standins
from ..support.warehouse import HOUR0, HOUR1, cached_rows, put_curated, reset, write_rows

BQVENV = ROOT / ".bqvenv"
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


H0 = "TIMESTAMP '2015-01-01 00:00:00.000000+00'"
H1 = "TIMESTAMP '2015-01-01 01:00:00.000000+00'"


def test_first_load_of_hours_deletes_nothing_and_records_their_range() -> None:
    script = bq.replacement_script(TABLE, f"{TABLE}_staging_x", [HOUR1, HOUR0, HOUR1], bq.PreviousLoad())
    begin, guard, insert, forget, record, commit = script.strip().split("\n")
    assert (begin, commit) == ("BEGIN TRANSACTION;", "COMMIT TRANSACTION;")
    assert f"source_hour IN ({H0}, {H1})) = 0 AND" in guard and "ERROR(" in guard
    assert insert.startswith(f"INSERT INTO `{TABLE}` (id, type,")
    assert insert.endswith(f"FROM `{TABLE}_staging_x` WHERE source_hour IN ({H0}, {H1});")
    assert forget == f"DELETE FROM `{TABLE}_loads` WHERE source_hour IN ({H0}, {H1});"
    assert record.startswith(f"INSERT INTO `{TABLE}_loads` (source_hour, created_min, created_max,")
    assert f"DELETE FROM `{TABLE}` " not in script and "TRUNCATE" not in script


def test_reload_delete_is_bounded_by_the_previous_range_so_partitions_are_pruned() -> None:
    lo, hi = datetime(2014, 12, 31, 23, 58, 1, tzinfo=UTC), datetime(2015, 1, 1, 1, 59, 59, 5, tzinfo=UTC)
    last = datetime(2026, 11, 29, 12, 0, 0, 123456, tzinfo=UTC)
    previous = bq.PreviousLoad(2, lo, hi, last)
    script = bq.replacement_script(TABLE, f"{TABLE}_staging_x", [HOUR0, HOUR1], previous)
    _, guard, delete, *_ = script.strip().split("\n")
    assert "= 2 AND" in guard and "IS NOT DISTINCT FROM TIMESTAMP '2026-11-29 12:00:00.123456+00'" in guard
    assert delete == (
        f"DELETE FROM `{TABLE}` WHERE source_hour IN ({H0}, {H1}) AND created_at BETWEEN "
        "TIMESTAMP '2014-12-31 23:58:01.000000+00' AND TIMESTAMP '2015-01-01 01:59:59.000005+00';"
    )


class RecordingClient:
    """Stands in for bigquery.Client where only the call's options matter (gs:// loads)."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, Any, str, Any]] = []

    def load_table_from_uri(self, uri: str, table: str, job_config: Any) -> Any:
        self.calls.append(("uri", uri, table, job_config))
        return self

    def result(self) -> None:
        return None


def test_gcs_staging_is_one_parquet_load_job() -> None:
    """Dataproc path (cannot run here): one load job from the staging folder's parquet files."""
    uri = bq.staging_uri("tmp-bucket", "run1")
    assert uri == "gs://tmp-bucket/gharchive-staging/run1"
    assert bq.staging_uri("gs://b/x/", "r") == "gs://b/x/gharchive-staging/r"
    client = RecordingClient()
    bq._load_parquet(client, f"{uri}/*.parquet", f"{TABLE}_staging")  # type: ignore[arg-type]
    [(kind, source, table, config)] = client.calls
    assert (kind, source, table) == ("uri", f"{uri}/*.parquet", f"{TABLE}_staging")
    assert config.source_format == "PARQUET" and config.write_disposition == "WRITE_APPEND"


# ---- against the emulator --------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    exe = BQVENV / "bin" / "bqemulator"
    if not exe.exists():
        standins.missing("bqemulator", f"run `make bqemulator` (creates {BQVENV})")
    from google.api_core.client_options import ClientOptions
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import bigquery

    # DuckDB's spatial extension cannot be downloaded here: install it from its wheel (idempotent).
    install = (
        "import duckdb, duckdb_extension_spatial as s, pathlib; "
        "f = next(pathlib.Path(s.__file__).parent.glob('extensions/*/spatial.duckdb_extension')); "
        "duckdb.sql('INSTALL ' + repr(str(f)))"
    )
    subprocess.run([str(BQVENV / "bin" / "python"), "-c", install], check=True)
    rest, grpc = free_port(), free_port()
    log = (tmp_path_factory.mktemp("bq") / "bqemulator.log").open("w")
    proc = subprocess.Popen(
        [
            str(exe),
            "start",
            "--rest-port",
            str(rest),
            "--grpc-port",
            str(grpc),
            "--project",
            PROJECT,
            "--log-level",
            "warning",
        ],
        stdout=log,
        stderr=log,
    )
    try:
        c = bigquery.Client(
            project=PROJECT,
            credentials=AnonymousCredentials(),
            client_options=ClientOptions(api_endpoint=f"http://127.0.0.1:{rest}"),
        )
        for _ in range(120):
            try:
                list(c.list_datasets())
                break
            except Exception:
                if proc.poll() is not None:
                    pytest.fail(f"bqemulator exited with {proc.returncode}; see {log.name}")
                time.sleep(0.5)
        c.create_dataset(DATASET, exists_ok=True)
        yield c
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


def _counts(client: Any) -> dict[Any, int]:
    sql = f"SELECT source_hour, COUNT(*) AS n FROM `{TABLE}` GROUP BY source_hour"
    return {r["source_hour"]: r["n"] for r in client.query(sql).result()}


def _hour0_ids(client: Any) -> list[Any]:
    sql = f"SELECT id FROM `{TABLE}` WHERE source_hour = TIMESTAMP '2015-01-01 00:00:00+00'"
    return sorted(r["id"] for r in client.query(sql).result())


@pytest.mark.slow
def test_table_created_with_partitioning_and_clustering(client: Any) -> None:
    bq.ensure_events_table(client, TABLE)
    table = client.get_table(TABLE)
    assert table.time_partitioning.type_ == "DAY" and table.time_partitioning.field == "created_at"
    assert table.clustering_fields == list(CLUSTERING_FIELDS)


@pytest.mark.slow
def test_hour_reload_replaces_only_its_rows(client: Any, tmp_path: Path) -> None:
    h0 = cached_rows("2015-01-01-0.json.gz", HOUR0)
    h1 = cached_rows("2015-01-01-1.json.gz", HOUR1)
    f0 = write_rows(h0, tmp_path / "h0" / "part-0.parquet")
    f1 = write_rows(h1, tmp_path / "h1" / "part-0.parquet")
    bq.replace_hours(client, TABLE, [f0], [HOUR0])
    bq.replace_hours(client, TABLE, [f1], [HOUR1])
    bq.replace_hours(client, TABLE, [f1], [HOUR1])  # twice: no double counting
    assert _counts(client) == {HOUR0.start: 7702, HOUR1.start: 7427}
    before = _hour0_ids(client)

    changed = write_rows(h1[:100], tmp_path / "h1c" / "part-0.parquet")
    bq.replace_hours(client, TABLE, [changed], [HOUR1])
    assert _counts(client) == {HOUR0.start: 7702, HOUR1.start: 100}
    after = _hour0_ids(client)
    assert after == before
    assert not [t.table_id for t in client.list_tables(DATASET) if "staging" in t.table_id]

    # a replacement whose INSERT fails (staging table gone) rolls back its DELETE
    from google.api_core.exceptions import NotFound

    previous = bq.previous_load(client, TABLE, [HOUR0])
    with pytest.raises(NotFound):
        client.query(bq.replacement_script(TABLE, f"{DATASET}.no_such_staging", [HOUR0], previous)).result()
    assert _counts(client) == {HOUR0.start: 7702, HOUR1.start: 100}

    # each hour's last load is recorded with the created_at range of its rows
    from google.cloud import bigquery

    loads = {r["source_hour"]: r for r in client.query(f"SELECT * FROM `{TABLE}_loads`").result()}
    assert {h: r["events"] for h, r in loads.items()} == {HOUR0.start: 7702, HOUR1.start: 100}
    bounds = f"SELECT MIN(created_at) AS lo, MAX(created_at) AS hi FROM `{TABLE}` WHERE source_hour = @h"
    for hour, row in loads.items():
        config = bigquery.QueryJobConfig(
            query_parameters=[bigquery.ScalarQueryParameter("h", "TIMESTAMP", hour)]
        )
        [actual] = list(client.query(bounds, job_config=config).result())
        assert (row["created_min"], row["created_max"]) == (actual["lo"], actual["hi"])


@pytest.mark.slow
def test_a_stale_replacement_after_a_concurrent_load_fails_and_changes_nothing(
    client: Any, tmp_path: Path
) -> None:
    """Two jobs load hour 00: the one that read the loads table before the other committed must fail
    (its DELETE bounds may miss the other's rows), leaving the other's result intact."""
    h0 = cached_rows("2015-01-01-0.json.gz", HOUR0)
    first = write_rows(h0[:50], tmp_path / "a" / "part-0.parquet")
    bq.replace_hours(client, TABLE, [first], [HOUR0])
    stale = bq.previous_load(client, TABLE, [HOUR0])  # job B reads, then job A commits:
    second = write_rows(h0[:70], tmp_path / "b" / "part-0.parquet")
    bq.replace_hours(client, TABLE, [second], [HOUR0])
    assert _counts(client)[HOUR0.start] == 70
    from google.cloud import bigquery

    staging = f"{TABLE}_staging_stale"
    client.create_table(bigquery.Table(staging, schema=bq._schema(required=False)))
    try:
        bq._load_parquet(client, [first], staging)
        with pytest.raises(Exception, match="loaded by another job meanwhile"):
            client.query(bq.replacement_script(TABLE, staging, [HOUR0], stale)).result()
    finally:
        client.delete_table(staging, not_found_ok=True)
    assert _counts(client)[HOUR0.start] == 70


@pytest.mark.slow
def test_spark_job_to_bigquery_and_views_match_local_sql(client: Any, tmp_path: Path) -> None:
    """The whole cloud path but Dataproc: Spark dedupes and stages parquet, the sink loads and replaces;
    the Looker Studio views give the same figures as the local DuckDB warehouse for the same rows."""
    standins.import_module("pyspark", "pip install -e '.[spark]' (make setup)")
    from gharchive_pipeline.load.job import run_load
    from gharchive_pipeline.load.local_load import load_hours_local, local_spark

    h0 = cached_rows("2015-01-01-0.json.gz", HOUR0)[:3000]
    h1 = cached_rows("2015-01-01-1.json.gz", HOUR1)[:3000]
    home = reset(tmp_path / "home")
    put_curated(home / "curated", HOUR0, h0)
    put_curated(home / "curated", HOUR1, h1 + [{**r, "source_hour": HOUR1.start} for r in h0[:7]] + h1[:4])
    sink = bq.BigQuerySink(TABLE, str(tmp_path / "staging"), client=client)
    result = run_load(local_spark(), str(home / "curated"), [HOUR0, HOUR1], sink)
    assert [(h.rows, h.duplicates) for h in result.loaded] == [(3000, 0), (3007, 4)]
    assert _counts(client) == {HOUR0.start: 3000, HOUR1.start: 3007}
    assert not (tmp_path / "staging").exists()

    for name, sql in bigquery_views(DATASET).items():
        from google.cloud import bigquery

        view = bigquery.Table(f"{DATASET}.{name}")
        view.view_query = sql
        client.delete_table(view, not_found_ok=True)
        client.create_table(view)
    cloud = [
        tuple(r.values())
        for r in client.query(f"SELECT * FROM `{DATASET}.hourly_stats` ORDER BY hour, type").result()
    ]
    load_hours_local(home, [HOUR0, HOUR1])
    local = connect(home / "warehouse").execute("SELECT * FROM hourly_stats ORDER BY hour, type").fetchall()
    assert len(cloud) == len(local) > 0
    for c_row, l_row in zip(cloud, local, strict=True):
        assert c_row[1:-1] == l_row[1:-1] and c_row[0] == l_row[0]
        assert c_row[-1] == pytest.approx(l_row[-1])
    assert sum(r[2] for r in cloud) == 6000  # events: each once
