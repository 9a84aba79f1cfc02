"""The BigQuery sink against bqemulator (DuckDB-backed local BigQuery) with real google-cloud-bigquery calls.

bqemulator pins duckdb 1.5.5, so it runs from its own virtualenv (.bqvenv, `make bqemulator`).
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from gharchive_pipeline.load import bigquery_sink as bq
from gharchive_pipeline.schema import CLUSTERING_FIELDS, COLUMN_NAMES
from gharchive_pipeline.stats.query import connect
from gharchive_pipeline.stats.views import bigquery_views
from tests.support.ports import free_port

from .conftest import ROOT
from .test_warehouse_support import HOUR0, HOUR1, cached_rows, put_curated, reset, write_rows

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


def test_replacement_script_touches_only_the_hours() -> None:
    script = bq.replacement_script(TABLE, f"{TABLE}_staging_x", [HOUR1, HOUR0, HOUR1])
    begin, delete, insert, commit = script.strip().split("\n")
    assert (begin, commit) == ("BEGIN TRANSACTION;", "COMMIT TRANSACTION;")
    assert delete == (
        f"DELETE FROM `{TABLE}` WHERE source_hour IN "
        "(TIMESTAMP '2015-01-01 00:00:00+00', TIMESTAMP '2015-01-01 01:00:00+00');"
    )
    assert insert.startswith(f"INSERT INTO `{TABLE}` (id, type,")
    assert insert.endswith(f"FROM `{TABLE}_staging_x`;")
    assert "created_at >=" not in script and "TRUNCATE" not in script


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
        pytest.skip(f"bqemulator not installed: run `make bqemulator` (creates {BQVENV})")
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

    with pytest.raises(NotFound):
        client.query(bq.replacement_script(TABLE, f"{DATASET}.no_such_staging", [HOUR0])).result()
    assert _counts(client) == {HOUR0.start: 7702, HOUR1.start: 100}


@pytest.mark.slow
def test_spark_job_to_bigquery_and_views_match_local_sql(client: Any, tmp_path: Path) -> None:
    """The whole cloud path but Dataproc: Spark dedupes and stages parquet, the sink loads and replaces;
    the Looker Studio views give the same figures as the local DuckDB warehouse for the same rows."""
    pytest.importorskip("pyspark")
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
