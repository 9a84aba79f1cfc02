"""Curated parquet -> the `events` table (local parquet warehouse or BigQuery), one UTC day partition
at a time.

The contract every engine keeps (load/days.py): a day partition is rebuilt from all the curated hours
that contribute to it, deduplicated on (id, created_at), and replaced whole; so `events` is unique by
construction and never depends on load order (see docs/warehouse.md).
"""

from .days import DayLoad, LoadRun

#: What other packages may import: these names and these modules.
__all__ = [
    "DayLoad",
    "LoadRun",
    "bigquery_sink",
    "dataproc",
    "day_lock",
    "days",
    "duckdb_days",
    "loader",
    "local_load",
    "local_warehouse",
    "spark_days",
    "spark_frames",
    "spark_local",
]
