"""The BigQuery sink: Spark writes the deduped hours as parquet to a staging location, then the driver
(google-cloud-bigquery) loads them into a staging table and, in one script, deletes the target hours'
rows from `events` and inserts the staging rows.

Why not the spark-bigquery connector: its overwrite modes replace whole tables or whole `created_at`
partitions, while a source hour's events spread over partitions and a partition holds many source
hours. A parquet load job is free, and the DELETE+INSERT touches exactly the rows of the hours loaded.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Sequence
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
    return f"TIMESTAMP '{hour.start:%Y-%m-%d %H:%M:%S}+00'"


def replacement_script(table_id: str, staging_id: str, hours: Sequence[Hour]) -> str:
    """DELETE the hours' rows and INSERT the staging rows in one transaction: readers never see an
    hour half replaced, and a failed INSERT leaves the old rows.

    Hours are written as literals (they are typed Hour values, never user text) so the script needs
    no array parameters.
    """
    cols = ", ".join(COLUMN_NAMES)
    in_list = ", ".join(_timestamp(h) for h in sorted(set(hours)))
    return (
        "BEGIN TRANSACTION;\n"
        f"DELETE FROM `{table_id}` WHERE source_hour IN ({in_list});\n"
        f"INSERT INTO `{table_id}` ({cols}) SELECT {cols} FROM `{staging_id}`;\n"
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
    staging_id = f"{table_id}_staging_{uuid.uuid4().hex[:12]}"
    staging = bigquery.Table(staging_id, schema=_schema(required=False))
    client.create_table(staging)
    try:
        _load_parquet(client, source, staging_id)
        client.query(replacement_script(table_id, staging_id, hours)).result()
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
