"""BigQuery objects over `events` for Looker Studio: the `events_unique` view and the materialized
statistics tables, whose day partitions the load job refreshes (and Terraform creates)."""

from __future__ import annotations

from datetime import date

from .sql import BIGQUERY, STATS_TABLES, events_unique_sql

EVENTS_TABLE = "events"


def _q(dataset_ref: str, name: str) -> str:
    return f"`{dataset_ref.strip('`')}.{name}`"


def bigquery_views(dataset_ref: str) -> dict[str, str]:
    """View name -> SELECT SQL, for dataset `project.dataset` holding the `events` table.

    Order matters: later views read earlier ones (create them in this order).
    """
    return {"events_unique": events_unique_sql(_q(dataset_ref, EVENTS_TABLE))}


def stats_refresh_sql(dataset_ref: str, table: str, day: date) -> str:
    """The rows of statistics table `table` for UTC day `day`, computed from `events`: the query
    whose result replaces that day's partition (destination `table$YYYYMMDD`, WRITE_TRUNCATE)."""
    _, compute = STATS_TABLES[table]
    return compute(BIGQUERY, _q(dataset_ref, EVENTS_TABLE), day)
