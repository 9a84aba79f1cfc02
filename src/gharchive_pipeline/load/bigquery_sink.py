"""The BigQuery sink: Spark writes the deduped hours as parquet to a staging location, then the driver
(google-cloud-bigquery) loads them into a staging table and, in one script, deletes the target hours'
rows from `events` and inserts the staging rows.

Why not the spark-bigquery connector: its overwrite modes replace whole tables or whole `created_at`
partitions, while a source hour's events spread over partitions and a partition holds many source
hours. A parquet load job is free, and the DELETE+INSERT touches exactly the rows of the hours loaded.

Why the `<events>_loads` table: `source_hour` is not the partition column, so `DELETE ... WHERE
source_hour = h` alone would scan that column of the whole table on every hourly load (tens of GB
once the archive is in). Each load records, per source hour, the created_at range of the rows it
inserted; the next load of that hour bounds its DELETE by that range, written into the script as
literals, so BigQuery prunes to the few partitions the hour's rows are in. An hour without a loads
row has no rows (both tables change in the same transaction). A guard in the transaction fails the
script, and so the batch (retried), when another job loaded the same hours after the range was read.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..hours import Hour
from ..schema import CLUSTERING_FIELDS, COLUMN_NAMES, PARTITION_FIELD, bigquery_schema
from .spark_job import HOUR_COL, delete_path

if TYPE_CHECKING:
    from google.cloud import bigquery
    from pyspark.sql import DataFrame

log = logging.getLogger(__name__)


def _schema(*, required: bool) -> list[bigquery.SchemaField]:
    from google.cloud import bigquery

    return [
        bigquery.SchemaField(
            f["name"], f["type"], mode=f["mode"] if required else "NULLABLE", description=f["description"]
        )
        for f in bigquery_schema()
    ]


def events_table(table_id: str) -> bigquery.Table:
    """The `events` table definition: DAY partitions on created_at, clustered by CLUSTERING_FIELDS."""
    from google.cloud import bigquery

    table = bigquery.Table(table_id, schema=_schema(required=True))
    table.time_partitioning = bigquery.TimePartitioning(
        type_=bigquery.TimePartitioningType.DAY, field=PARTITION_FIELD
    )
    table.require_partition_filter = False
    table.clustering_fields = list(CLUSTERING_FIELDS)
    table.description = "GH Archive events, one row per (source_hour, id, created_at); see events_unique"
    return table


def ensure_events_table(client: bigquery.Client, table_id: str) -> bigquery.Table:
    return client.create_table(events_table(table_id), exists_ok=True)


def _timestamp(hour: Hour) -> str:
    return _literal(hour.start)


def _literal(moment: datetime | None) -> str:
    if moment is None:
        return "CAST(NULL AS TIMESTAMP)"
    return f"TIMESTAMP '{moment.astimezone(UTC):%Y-%m-%d %H:%M:%S.%f}+00'"


def loads_table_id(table_id: str) -> str:
    """Per source hour: the created_at range, count and time of the last load (see module doc)."""
    return f"{table_id}_loads"


def loads_table(table_id: str) -> bigquery.Table:
    from google.cloud import bigquery

    table = bigquery.Table(
        loads_table_id(table_id),
        schema=[
            bigquery.SchemaField("source_hour", "TIMESTAMP", mode="REQUIRED"),
            bigquery.SchemaField("created_min", "TIMESTAMP", description="earliest created_at loaded"),
            bigquery.SchemaField("created_max", "TIMESTAMP", description="latest created_at loaded"),
            bigquery.SchemaField("events", "INT64"),
            bigquery.SchemaField("loaded_at", "TIMESTAMP", mode="REQUIRED"),
        ],
    )
    table.description = "Last load of each source hour into events: bounds the next reload's DELETE"
    return table


@dataclass(frozen=True)
class PreviousLoad:
    """What `<events>_loads` says about the hours about to be replaced."""

    hours: int = 0  # how many of them were loaded before
    created_min: datetime | None = None
    created_max: datetime | None = None
    last_loaded_at: datetime | None = None


def previous_load(client: bigquery.Client, table_id: str, hours: Sequence[Hour]) -> PreviousLoad:
    in_list = ", ".join(_timestamp(h) for h in sorted(set(hours)))
    sql = (
        "SELECT COUNT(*) AS hours, MIN(created_min) AS created_min, MAX(created_max) AS created_max, "
        f"MAX(loaded_at) AS last_loaded_at FROM `{loads_table_id(table_id)}` WHERE source_hour IN ({in_list})"
    )
    [row] = list(client.query(sql).result())
    return PreviousLoad(row["hours"], row["created_min"], row["created_max"], row["last_loaded_at"])


def replacement_script(table_id: str, staging_id: str, hours: Sequence[Hour], previous: PreviousLoad) -> str:
    """DELETE the hours' rows and INSERT the staging rows in one transaction: readers never see an
    hour half replaced, and a failed INSERT leaves the old rows.

    Hours and bounds are written as literals (typed values, never user text): constant filters are
    what BigQuery prunes partitions by, and the script needs no array parameters.
    """
    cols = ", ".join(COLUMN_NAMES)
    loads = loads_table_id(table_id)
    in_list = ", ".join(_timestamp(h) for h in sorted(set(hours)))
    of_hours = f"FROM `{loads}` WHERE source_hour IN ({in_list})"
    guard = (
        f"SELECT IF((SELECT COUNT(*) {of_hours}) = {previous.hours} AND "
        f"(SELECT MAX(loaded_at) {of_hours}) IS NOT DISTINCT FROM {_literal(previous.last_loaded_at)}, "
        "1, ERROR('these source hours were loaded by another job meanwhile; retry the load'));\n"
    )
    delete = ""
    if previous.hours:  # else nothing of these hours is in the table
        delete = (
            f"DELETE FROM `{table_id}` WHERE source_hour IN ({in_list}) AND created_at BETWEEN "
            f"{_literal(previous.created_min)} AND {_literal(previous.created_max)};\n"
        )
    return (
        "BEGIN TRANSACTION;\n"
        + guard
        + delete
        + f"INSERT INTO `{table_id}` ({cols}) SELECT {cols} FROM `{staging_id}` "
        f"WHERE source_hour IN ({in_list});\n"
        f"DELETE {of_hours};\n"
        f"INSERT INTO `{loads}` (source_hour, created_min, created_max, events, loaded_at) "
        "SELECT source_hour, MIN(created_at), MAX(created_at), COUNT(*), CURRENT_TIMESTAMP() "
        f"FROM `{staging_id}` WHERE source_hour IN ({in_list}) GROUP BY source_hour;\n"
        "COMMIT TRANSACTION;"
    )


def _load_parquet(client: bigquery.Client, source: str | Sequence[Path], staging_id: str) -> None:
    """gs:// URI pattern -> one load job from GCS; local files (tests, emulators) -> one job per file."""
    from google.cloud import bigquery

    config = bigquery.LoadJobConfig(
        source_format=bigquery.SourceFormat.PARQUET,
        write_disposition=bigquery.WriteDisposition.WRITE_APPEND,
    )
    if isinstance(source, str):
        client.load_table_from_uri(source, staging_id, job_config=config).result()
        return
    for path in source:
        with open(path, "rb") as fh:
            client.load_table_from_file(fh, staging_id, job_config=config).result()


def replace_hours(
    client: bigquery.Client, table_id: str, source: str | Sequence[Path], hours: Sequence[Hour]
) -> None:
    """Make `table_id`'s rows of `hours` exactly the parquet rows in `source`."""
    from google.cloud import bigquery

    if not hours:
        return
    ensure_events_table(client, table_id)
    client.create_table(loads_table(table_id), exists_ok=True)
    staging_id = f"{table_id}_staging_{uuid.uuid4().hex[:12]}"
    staging = bigquery.Table(staging_id, schema=_schema(required=False))
    client.create_table(staging)
    try:
        _load_parquet(client, source, staging_id)
        previous = previous_load(client, table_id, hours)
        client.query(replacement_script(table_id, staging_id, hours, previous)).result()
        log.info("replaced source hours %s..%s in %s", min(hours).key, max(hours).key, table_id)
    finally:
        client.delete_table(staging_id, not_found_ok=True)


def _local_parquet_files(directory: str) -> list[Path]:
    return sorted(Path(directory).glob("*.parquet"))


def staging_uri(temp_bucket: str, run_id: str) -> str:
    """Where a run's parquet waits for the load job: under the temp bucket (gs:// optional)."""
    base = temp_bucket if "://" in temp_bucket or temp_bucket.startswith("/") else f"gs://{temp_bucket}"
    return f"{base.rstrip('/')}/gharchive-staging/{run_id}"


class BigQuerySink:
    name = "bigquery"

    def __init__(self, table_id: str, staging_uri: str, client: Any = None) -> None:
        """`staging_uri`: a gs:// folder (Dataproc) or a local directory (tests) for the parquet."""
        self.table_id = table_id
        self.target = table_id
        self.staging_uri = staging_uri.rstrip("/")
        self._client = client

    def _bq(self) -> bigquery.Client:
        if self._client is None:
            from google.cloud import bigquery

            self._client = bigquery.Client(project=self.table_id.split(".")[0])
        return self._client

    def replace_hours(self, unique: DataFrame, hours: Sequence[Hour]) -> None:
        unique.drop(HOUR_COL).write.mode("overwrite").parquet(self.staging_uri)
        source: str | list[Path] = (
            f"{self.staging_uri}/*.parquet"
            if self.staging_uri.startswith("gs://")
            else _local_parquet_files(self.staging_uri)
        )
        try:
            replace_hours(self._bq(), self.table_id, source, hours)
        finally:
            delete_path(unique.sparkSession, self.staging_uri)
