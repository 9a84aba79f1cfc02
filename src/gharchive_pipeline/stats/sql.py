"""The statistics SQL, written once for DuckDB (local warehouse) and BigQuery (tables refreshed per day).

Only time bucketing and timestamp literals differ between the two dialects; everything else is
portable SQL. `events` is unique by construction (each day partition is rebuilt deduplicated, see
load/days.py), so statistics read it directly; `events_unique` stays as a trivial view for dashboards.
Statistics are materialized per UTC day: `hourly_stats_sql(..., day=D)` is exactly what replaces
partition D of the `hourly_stats` table, and the same function without a day is the whole table.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

from ..load.days import day_bounds, dedup_order_sql
from ..schema import COLUMN_NAMES, DEDUP_KEY


@dataclass(frozen=True)
class Dialect:
    name: str
    hour: str  # expression template over {c}: the hour a timestamp falls in
    day: str  # expression template over {c}: the UTC date of a timestamp
    timestamp: str  # literal template over {t} (`2015-01-01 00:00:00+00`): a UTC instant


DUCKDB = Dialect(
    "duckdb", hour="date_trunc('hour', {c})", day="CAST({c} AS DATE)", timestamp="TIMESTAMPTZ '{t}'"
)
BIGQUERY = Dialect(
    "bigquery", hour="TIMESTAMP_TRUNC({c}, HOUR)", day="DATE({c})", timestamp="TIMESTAMP '{t}'"
)

_PUSH = "type = 'PushEvent'"
#: a pull request merged: the PullRequestEvent closing it says so (pr_merged, every era but 2011's)
_MERGED = "type = 'PullRequestEvent' AND action = 'closed' AND pr_merged"
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
    ("merged_prs", f"SUM(CASE WHEN {_MERGED} THEN 1 ELSE 0 END)"),
    ("merged_pr_additions", f"COALESCE(SUM(CASE WHEN {_MERGED} THEN pr_additions END), 0)"),
    ("merged_pr_deletions", f"COALESCE(SUM(CASE WHEN {_MERGED} THEN pr_deletions END), 0)"),
    ("merged_pr_changed_files", f"COALESCE(SUM(CASE WHEN {_MERGED} THEN pr_changed_files END), 0)"),
)
METRIC_NAMES: tuple[str, ...] = tuple(name for name, _ in METRICS)


#: BigQuery column types of the statistics tables (DuckDB infers its own).
METRIC_TYPES: dict[str, str] = {
    name: "FLOAT64" if name == "bot_actor_share" else "INT64" for name in METRIC_NAMES
}
METRIC_DESCRIPTIONS: dict[str, str] = {
    "events": "events (each once)",
    "actors": "distinct actor logins",
    "repos": "distinct repository names",
    "pushes": "PushEvents",
    "commits": "sum of push_size over pushes whose size is known",
    "distinct_commits": "sum of push_distinct_size over pushes whose size is known",
    "pushes_unknown_size": "PushEvents without a size (slim, since late 2025): never 0 commits",
    "bot_events": "events by actors flagged is_bot",
    "bot_actors": "distinct actors flagged is_bot",
    "bot_actor_share": "bot_actors / actors",
    "merged_prs": "pull requests merged (PullRequestEvent closed with merged true)",
    "merged_pr_additions": "lines added by the merged pull requests",
    "merged_pr_deletions": "lines deleted by the merged pull requests",
    "merged_pr_changed_files": "files changed by the merged pull requests",
}


def events_unique_sql(events: str) -> str:
    """One row per DEDUP_KEY. `events` is unique by construction, so this is the table itself; the
    view keeps its name for dashboards and queries written against it."""
    return f"SELECT {', '.join(COLUMN_NAMES)} FROM {events}"


def dedup_sql(source: str, *, where: str = "") -> str:
    """The rows of `source` (optionally filtered), one per DEDUP_KEY, chosen by days.DEDUP_ORDER:
    what a day rebuild writes, for SQL engines (Spark uses the same order as a window)."""
    cols = ", ".join(COLUMN_NAMES)
    key = ", ".join(DEDUP_KEY)
    return (
        f"SELECT {cols} FROM (\n"
        f"  SELECT {cols},\n"
        f"    ROW_NUMBER() OVER (PARTITION BY {key} ORDER BY {dedup_order_sql()}) AS _copy\n"
        f"  FROM {source}" + (f"\n  WHERE {where}" if where else "") + "\n"
        ") WHERE _copy = 1"
    )


def day_filter(dialect: Dialect, day: date, column: str = "created_at") -> str:
    """`column` within UTC day `day`, as a range of literals: what partition pruning needs."""
    start, end = (dialect.timestamp.format(t=f"{t:%Y-%m-%d %H:%M:%S}+00") for t in day_bounds(day))
    return f"{column} >= {start} AND {column} < {end}"


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


def hourly_stats_sql(dialect: Dialect, source: str, day: date | None = None) -> str:
    """Per event hour (created_at, UTC) and type; with `day`, only that day's rows (one partition)."""
    hour = dialect.hour.format(c="created_at")
    where = day_filter(dialect, day) if day else ""
    return aggregate_sql(source, [("hour", hour), ("type", "type")], where=where)


def daily_stats_sql(dialect: Dialect, source: str, day: date | None = None) -> str:
    """Per UTC day and type, from the events themselves (distinct counts do not add up over hours)."""
    bucket = dialect.day.format(c="created_at")
    where = day_filter(dialect, day) if day else ""
    return aggregate_sql(source, [("day", bucket), ("type", "type")], where=where)


#: Statistics table -> (its time column, the partition column too; the SQL that computes it).
STATS_TABLES = {"hourly_stats": ("hour", hourly_stats_sql), "daily_stats": ("day", daily_stats_sql)}


def stats_columns(table: str) -> list[dict[str, str]]:
    """BigQuery schema of a statistics table (name, type, mode, description), derived from METRICS.

    Every column is NULLABLE, the time and type columns too: a query job writes these tables, its
    result columns are NULLABLE whatever the query, and a job writing `table$YYYYMMDD` keeps the
    table's schema, so a REQUIRED column is refused ("Field hour has changed mode from REQUIRED to
    NULLABLE": googleapis/java-bigquery#2107, #3166)."""
    time_col = STATS_TABLES[table][0]
    head = [
        {
            "name": time_col,
            "type": "TIMESTAMP" if time_col == "hour" else "DATE",
            "mode": "NULLABLE",
            "description": "event hour (created_at truncated, UTC)"
            if time_col == "hour"
            else "event day (created_at, UTC)",
        },
        {"name": "type", "type": "STRING", "mode": "NULLABLE", "description": "event type"},
    ]
    return head + [
        {"name": n, "type": METRIC_TYPES[n], "mode": "NULLABLE", "description": METRIC_DESCRIPTIONS[n]}
        for n in METRIC_NAMES
    ]


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
