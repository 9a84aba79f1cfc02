"""BigQuery views over `events` for Looker Studio (and the Terraform view definitions)."""

from __future__ import annotations

from .sql import BIGQUERY, daily_stats_sql, events_unique_sql, hourly_stats_sql

EVENTS_TABLE = "events"


def bigquery_views(dataset_ref: str) -> dict[str, str]:
    """View name -> SELECT SQL, for dataset `project.dataset` holding the `events` table.

    Order matters: later views read earlier ones (create them in this order).
    """
    ref = dataset_ref.strip("`")

    def q(name: str) -> str:
        return f"`{ref}.{name}`"

    return {
        "events_unique": events_unique_sql(q(EVENTS_TABLE)),
        "hourly_stats": hourly_stats_sql(BIGQUERY, q("events_unique")),
        "daily_stats": daily_stats_sql(BIGQUERY, q("events_unique")),
    }
