"""The BigQuery sink: replace one UTC day partition of `events`, then that day of the statistics tables.

BigQuery (mode LOAD_JOB, the real path): Spark writes the day's deduplicated rows as parquet under
the temp bucket; ONE load job with WRITE_TRUNCATE into `events$YYYYMMDD` replaces the partition
atomically (readers see the old day or the new one) and costs nothing: load jobs are free, no DML
quota or mutating-statement queue is involved, and concurrent DML on the table cannot abort it.
An empty day is the same load job with a parquet file of no rows. Then one query job per statistics
table, over `events` filtered to the day (partition-pruned), with destination `<table>$YYYYMMDD` and
WRITE_TRUNCATE: query results are NULLABLE and a job writing a partition keeps the table's schema, so
every column of a statistics table is NULLABLE (stats/sql.py); `events` keeps its REQUIRED columns
because only load jobs of files that declare them non-nullable write it.

bqemulator (mode TRANSACTION): it rejects partition decorators on load jobs and silently ignores
them on query destinations, so the same replacement is done as a staging-table load plus one
transaction per day (DELETE the day's rows, INSERT the new ones). Same end state, DML cost; only
for emulators (docs/warehouse.md lists what the emulator cannot show).
"""

from __future__ import annotations

import io
import logging
import uuid
from collections.abc import Sequence
from datetime import date
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..schema import CLUSTERING_FIELDS, COLUMN_NAMES, PARTITION_FIELD, arrow_schema, bigquery_schema
from ..stats.sql import BIGQUERY, STATS_TABLES, day_filter, stats_columns
from ..stats.views import stats_refresh_sql
from .days import partition_suffix
from .spark_frames import delete_path, parquet_files

if TYPE_CHECKING:
    from google.cloud import bigquery
    from pyspark.sql import DataFrame

log = logging.getLogger(__name__)


class PartitionWrite(StrEnum):
    """How a day partition is replaced."""

    LOAD_JOB = "load_job"  # BigQuery: load/query jobs into table$YYYYMMDD with WRITE_TRUNCATE
    TRANSACTION = "transaction"  # emulators: staging table + DELETE/INSERT of the day in one transaction


def _fields(columns: Sequence[dict[str, str]]) -> list[bigquery.SchemaField]:
    from google.cloud import bigquery

    return [
        bigquery.SchemaField(c["name"], c["type"], mode=c["mode"], description=c["description"])
        for c in columns
    ]


def events_table(table_id: str) -> bigquery.Table:
    """The `events` table definition: DAY partitions on created_at, clustered by CLUSTERING_FIELDS."""
    from google.cloud import bigquery

    table = bigquery.Table(table_id, schema=_fields(bigquery_schema()))
    table.time_partitioning = bigquery.TimePartitioning(
        type_=bigquery.TimePartitioningType.DAY, field=PARTITION_FIELD
    )
    table.require_partition_filter = False
    table.clustering_fields = list(CLUSTERING_FIELDS)
    table.description = "GH Archive events, one row per (id, created_at); day partitions rebuilt by each load"
    return table


def dataset_of(table_id: str) -> str:
    """`project.dataset` of `project.dataset.table`."""
    return table_id.rsplit(".", 1)[0]


def stats_table(dataset_ref: str, name: str) -> bigquery.Table:
    """A statistics table: DAY partitions on its time column (hour or day), clustered by type."""
    from google.cloud import bigquery

    time_col = STATS_TABLES[name][0]
    table = bigquery.Table(f"{dataset_ref}.{name}", schema=_fields(stats_columns(name)))
    table.time_partitioning = bigquery.TimePartitioning(
        type_=bigquery.TimePartitioningType.DAY, field=time_col
    )
    table.clustering_fields = ["type"]
    table.description = (
        f"Statistics per {time_col} and event type from events; refreshed per day by each load"
    )
    return table


def ensure_tables(client: bigquery.Client, table_id: str) -> None:
    """Create `events` and the statistics tables if missing (Terraform normally has)."""
    client.create_table(events_table(table_id), exists_ok=True)
    for name in STATS_TABLES:
        client.create_table(stats_table(dataset_of(table_id), name), exists_ok=True)


def load_config(*, truncate: bool = True) -> bigquery.LoadJobConfig:
    from google.cloud import bigquery

    return bigquery.LoadJobConfig(
        source_format=bigquery.SourceFormat.PARQUET,
        write_disposition=bigquery.WriteDisposition.WRITE_TRUNCATE
        if truncate
        else bigquery.WriteDisposition.WRITE_APPEND,
        create_disposition=bigquery.CreateDisposition.CREATE_NEVER,
    )


def truncate_query_config(destination: str) -> bigquery.QueryJobConfig:
    """A query job whose result replaces `destination` (a `table$YYYYMMDD` partition)."""
    from google.cloud import bigquery

    return bigquery.QueryJobConfig(
        destination=destination,
        write_disposition=bigquery.WriteDisposition.WRITE_TRUNCATE,
        create_disposition=bigquery.CreateDisposition.CREATE_NEVER,
        use_legacy_sql=False,
    )


def _load_parquet(client: bigquery.Client, source: str | Sequence[Path], destination: str) -> None:
    """gs:// URI pattern -> one load job replacing `destination`. Local files (tests, emulators) ->
    one job per file, the first truncating: not atomic, which only emulator runs accept."""
    if isinstance(source, str):
        client.load_table_from_uri(source, destination, job_config=load_config()).result()
        return
    for i, path in enumerate(source):
        with open(path, "rb") as fh:
            client.load_table_from_file(fh, destination, job_config=load_config(truncate=i == 0)).result()


def day_replacement_script(table_id: str, staging_id: str | None, day: date) -> str:
    """TRANSACTION mode: the day's rows of `table_id` become the staging table's (or none)."""
    cols = ", ".join(COLUMN_NAMES)
    script = f"BEGIN TRANSACTION;\nDELETE FROM `{table_id}` WHERE {day_filter(BIGQUERY, day)};\n"
    if staging_id is not None:
        script += f"INSERT INTO `{table_id}` ({cols}) SELECT {cols} FROM `{staging_id}`;\n"
    return script + "COMMIT TRANSACTION;"


def stats_replacement_script(dataset_ref: str, name: str, day: date) -> str:
    """TRANSACTION mode: partition `day` of statistics table `name`, recomputed from `events`."""
    time_col = STATS_TABLES[name][0]
    cols = ", ".join(c["name"] for c in stats_columns(name))
    where = day_filter(BIGQUERY, day, time_col) if time_col == "hour" else f"{time_col} = DATE '{day}'"
    return (
        f"BEGIN TRANSACTION;\nDELETE FROM `{dataset_ref}.{name}` WHERE {where};\n"
        f"INSERT INTO `{dataset_ref}.{name}` ({cols})\n{stats_refresh_sql(dataset_ref, name, day)};\n"
        "COMMIT TRANSACTION;"
    )


def empty_parquet() -> bytes:
    """A parquet file of no rows with the events schema, REQUIRED columns non-nullable: what a
    WRITE_TRUNCATE load into `events$YYYYMMDD` needs to empty the day. (A query job cannot do it:
    its result columns are NULLABLE, and a job writing a partition keeps the table's REQUIRED modes,
    so BigQuery refuses it with "Field id has changed mode from REQUIRED to NULLABLE".)"""
    import pyarrow.parquet as pq

    buf = io.BytesIO()
    pq.write_table(arrow_schema().empty_table(), buf)
    return buf.getvalue()


def replace_day(
    client: bigquery.Client,
    table_id: str,
    source: str | Sequence[Path] | None,
    day: date,
    mode: PartitionWrite = PartitionWrite.LOAD_JOB,
) -> None:
    """Make partition `day` of `table_id` exactly the parquet rows in `source` (None: no rows)."""
    if mode is PartitionWrite.LOAD_JOB:
        partition = f"{table_id}{partition_suffix(day)}"
        if source is None:  # an empty day: a load of no rows, atomic and free like any other
            client.load_table_from_file(
                io.BytesIO(empty_parquet()), partition, job_config=load_config()
            ).result()
        else:
            _load_parquet(client, source, partition)
        return
    if source is None:
        client.query(day_replacement_script(table_id, None, day)).result()
        return
    from google.cloud import bigquery

    staging_id = f"{table_id}_staging_{day:%Y%m%d}_{uuid.uuid4().hex[:8]}"
    client.create_table(bigquery.Table(staging_id, schema=_fields(bigquery_schema())))
    try:
        _load_parquet(client, source, staging_id)
        client.query(day_replacement_script(table_id, staging_id, day)).result()
    finally:
        client.delete_table(staging_id, not_found_ok=True)


def refresh_stats(
    client: bigquery.Client, dataset_ref: str, day: date, mode: PartitionWrite = PartitionWrite.LOAD_JOB
) -> None:
    """Recompute partition `day` of every statistics table from `events`."""
    for name in STATS_TABLES:
        if mode is PartitionWrite.LOAD_JOB:
            config = truncate_query_config(f"{dataset_ref}.{name}{partition_suffix(day)}")
            client.query(stats_refresh_sql(dataset_ref, name, day), job_config=config).result()
        else:
            client.query(stats_replacement_script(dataset_ref, name, day)).result()


def _local_parquet_files(directory: str) -> list[Path]:
    return sorted(Path(directory).glob("*.parquet"))


def staging_uri(temp_bucket: str, run_id: str) -> str:
    """Where a run's parquet waits for the load job: under the temp bucket (gs:// optional)."""
    base = temp_bucket if "://" in temp_bucket or temp_bucket.startswith("/") else f"gs://{temp_bucket}"
    return f"{base.rstrip('/')}/gharchive-staging/{run_id}"


class BigQuerySink:
    name = "bigquery"

    def __init__(
        self,
        table_id: str,
        staging_uri: str,
        client: Any = None,
        mode: PartitionWrite = PartitionWrite.LOAD_JOB,
    ) -> None:
        """`staging_uri`: a gs:// folder (Dataproc) or a local directory (tests) for the parquet."""
        self.table_id = table_id
        self.target = table_id
        self.staging_uri = staging_uri.rstrip("/")
        self.mode = mode
        self._client = client
        self._ensured = False

    def _bq(self) -> bigquery.Client:
        if self._client is None:
            from google.cloud import bigquery

            self._client = bigquery.Client(project=self.table_id.split(".")[0])
        if not self._ensured:
            ensure_tables(self._client, self.table_id)
            self._ensured = True
        return self._client

    def replace_day(self, rows: DataFrame, day: date) -> None:
        folder = f"{self.staging_uri}/date={day.isoformat()}"
        spark = rows.sparkSession
        rows.write.mode("overwrite").parquet(folder)  # the one pass over the day's rows
        try:
            files = parquet_files(spark, folder)
            source: str | list[Path] | None = None
            if files:
                source = f"{folder}/*.parquet" if folder.startswith("gs://") else _local_parquet_files(folder)
            replace_day(self._bq(), self.table_id, source, day, self.mode)
        finally:
            delete_path(spark, folder)
        log.info("replaced partition %s of %s (%s)", day, self.table_id, self.mode)

    def refresh_stats(self, day: date) -> None:
        refresh_stats(self._bq(), dataset_of(self.table_id), day, self.mode)
