"""The statistics SQL, written once for DuckDB (local warehouse) and BigQuery (views).

Only time bucketing differs between the two dialects; everything else is portable SQL. Every figure
is computed from `events_unique` (one row per DEDUP_KEY), never from the raw `events` table.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from ..schema import COLUMN_NAMES, DEDUP_KEY


@dataclass(frozen=True)
class Dialect:
    name: str
    hour: str  # expression template over {c}: the hour a timestamp falls in
    day: str  # expression template over {c}: the UTC date of a timestamp


DUCKDB = Dialect("duckdb", hour="date_trunc('hour', {c})", day="CAST({c} AS DATE)")
BIGQUERY = Dialect("bigquery", hour="TIMESTAMP_TRUNC({c}, HOUR)", day="DATE({c})")

_PUSH = "type = 'PushEvent'"
#: (column, aggregate): the figures every statistic reports, in this order.
#: commits count pushes whose size is known (push_size); 2025+ slim PushEvents have no size and are
#: counted in pushes_unknown_size instead of as zero commits.
METRICS: tuple[tuple[str, str], ...] = (
    ("events", "COUNT(*)"),
    ("actors", "COUNT(DISTINCT actor_login)"),
    ("repos", "COUNT(DISTINCT repo_name)"),
    ("pushes", f"SUM(CASE WHEN {_PUSH} THEN 1 ELSE 0 END)"),
    ("commits", f"COALESCE(SUM(CASE WHEN {_PUSH} THEN push_size END), 0)"),
    ("distinct_commits", f"COALESCE(SUM(CASE WHEN {_PUSH} THEN push_distinct_size END), 0)"),
    ("pushes_unknown_size", f"SUM(CASE WHEN {_PUSH} AND push_size IS NULL THEN 1 ELSE 0 END)"),
    ("bot_events", "SUM(CASE WHEN is_bot THEN 1 ELSE 0 END)"),
    ("bot_actors", "COUNT(DISTINCT CASE WHEN is_bot THEN actor_login END)"),
    (
        "bot_actor_share",
        "COUNT(DISTINCT CASE WHEN is_bot THEN actor_login END) / NULLIF(COUNT(DISTINCT actor_login), 0)",
    ),
)
METRIC_NAMES: tuple[str, ...] = tuple(name for name, _ in METRICS)


def events_unique_sql(events: str) -> str:
    """One row per DEDUP_KEY: the copy from the earliest source_hour (then the newest normalization).

    The table holds every loaded hour's copy, so this choice depends only on which hours are
    loaded and their current content: never on load order.
    """
    cols = ", ".join(COLUMN_NAMES)
    key = ", ".join(DEDUP_KEY)
    return (
        f"SELECT {cols} FROM (\n"
        f"  SELECT {cols},\n"
        f"    ROW_NUMBER() OVER (PARTITION BY {key} ORDER BY source_hour ASC, ingested_at DESC,"
        f" pipeline_version DESC) AS _copy\n"
        f"  FROM {events}\n"
        f") WHERE _copy = 1"
    )


def aggregate_sql(
    source: str,
    group: Sequence[tuple[str, str]],
    *,
    where: str = "",
    order: str = "",
    limit: int | None = None,
) -> str:
    """SELECT <group columns>, <METRICS> FROM source [WHERE] GROUP BY ... [ORDER BY] [LIMIT]."""
    select = [f"{expr} AS {alias}" for alias, expr in group]
    select += [f"{expr} AS {alias}" for alias, expr in METRICS]
    sql = f"SELECT {', '.join(select)}\nFROM {source}"
    if where:
        sql += f"\nWHERE {where}"
    if group:
        sql += "\nGROUP BY " + ", ".join(str(i + 1) for i in range(len(group)))
    if order:
        sql += f"\nORDER BY {order}"
    if limit is not None:
        sql += f"\nLIMIT {int(limit)}"
    return sql


def hourly_stats_sql(dialect: Dialect, events_unique: str) -> str:
    """Per event hour (created_at, UTC) and type."""
    hour = dialect.hour.format(c="created_at")
    return aggregate_sql(events_unique, [("hour", hour), ("type", "type")])


def daily_stats_sql(dialect: Dialect, events_unique: str) -> str:
    """Per UTC day and type, from the events themselves (distinct counts do not add up over hours)."""
    day = dialect.day.format(c="created_at")
    return aggregate_sql(events_unique, [("day", day), ("type", "type")])


#: `--by` choices: group columns and ordering, given a dialect.
BY_CHOICES: tuple[str, ...] = ("hour", "day", "type", "repo", "actor", "none")


def grouping(dialect: Dialect, by: str) -> tuple[list[tuple[str, str]], str]:
    """Group columns and ORDER BY for `gharchive stats --by`."""
    if by == "hour":
        return [("hour", dialect.hour.format(c="created_at"))], "1"
    if by == "day":
        return [("day", dialect.day.format(c="created_at"))], "1"
    if by == "type":
        return [("type", "type")], "events DESC, 1"
    if by == "repo":
        return [("repo", "repo_name")], "events DESC, 1"
    if by == "actor":
        return [("actor", "actor_login")], "events DESC, 1"
    if by == "none":
        return [], ""
    raise ValueError(f"unknown grouping {by!r} (choose from {', '.join(BY_CHOICES)})")
