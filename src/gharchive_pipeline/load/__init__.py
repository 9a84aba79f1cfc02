"""Curated parquet -> the `events` table (local parquet warehouse or BigQuery), one source hour at a time.

The contract every sink keeps: the table holds each loaded hour's rows (duplicates removed within the
hour), and loading an hour replaces exactly the rows whose `source_hour` is that hour. Cross-hour
duplicates are resolved by the `events_unique` view (see docs/warehouse.md), so the result never
depends on load order.
"""

from .job import HourLoad, LoadError, LoadResult

__all__ = ["HourLoad", "LoadError", "LoadResult"]
