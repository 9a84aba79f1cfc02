"""Local statistics: DuckDB over the warehouse's day-partitioned parquet, with the same SQL as BigQuery.

`events` is unique by construction (each day partition is rebuilt deduplicated), so every figure
reads it directly, without a window. The materialized `hourly_stats` and `daily_stats` tables (per
hour or day AND type, refreshed with each day) serve the figures they hold: the report's charts by
type over time. Other groupings (by hour or day over all types, by type over a window, by repo or
actor) need distinct counts those tables cannot add up, and read `events`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb

from ..hours import Hour
from ..load.local_warehouse import DAILY_STATS, EVENTS, HOURLY_STATS, read_days_sql
from ..schema import duckdb_columns
from .sql import DUCKDB, METRIC_NAMES, METRIC_TYPES, STATS_TABLES, aggregate_sql, events_unique_sql, grouping


@dataclass(frozen=True)
class StatsTable:
    columns: tuple[str, ...]
    rows: tuple[tuple[Any, ...], ...]

    def records(self) -> list[dict[str, Any]]:
        return [dict(zip(self.columns, r, strict=True)) for r in self.rows]


def _stats_columns(table: str) -> dict[str, str]:
    time_col = STATS_TABLES[table][0]
    metrics = {m: "DOUBLE" if METRIC_TYPES[m] == "FLOAT64" else "BIGINT" for m in METRIC_NAMES}
    return {time_col: "TIMESTAMPTZ" if time_col == "hour" else "DATE", "type": "VARCHAR", **metrics}


def _view(con: duckdb.DuckDBPyConnection, name: str, cols: dict[str, str], source: str | None) -> None:
    """View `name` with exactly `cols` over `source` (None: an empty table of those columns).
    Partitions written before a column was added read it as null (read_days_sql unions by name)."""
    if source is None:
        select = ", ".join(f"CAST(NULL AS {t}) AS {c}" for c, t in cols.items())
        con.execute(f"CREATE VIEW {name} AS SELECT {select} WHERE false")
    else:
        present = {row[0] for row in con.execute(f"DESCRIBE SELECT * FROM {source}").fetchall()}
        select = ", ".join(f"CAST({c if c in present else 'NULL'} AS {t}) AS {c}" for c, t in cols.items())
        con.execute(f"CREATE VIEW {name} AS SELECT {select} FROM {source}")


def connect(warehouse: Path) -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB with views events, events_unique, hourly_stats, daily_stats.

    In-memory, so readers never lock anything: the data stays in the parquet files, read only from
    `date=*/` partitions (never a staging or trash directory a writer left).
    """
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    for table, cols in (
        (EVENTS, duckdb_columns()),
        (HOURLY_STATS, _stats_columns(HOURLY_STATS)),
        (DAILY_STATS, _stats_columns(DAILY_STATS)),
    ):
        _view(con, table, cols, read_days_sql(warehouse, table))
    con.execute(f"CREATE VIEW events_unique AS {events_unique_sql('events')}")
    return con


def window(start: Hour | None, end: Hour | None) -> tuple[str, list[Any]]:
    """WHERE clause and parameters for event hours start..end (both included)."""
    clauses, params = [], []
    if start is not None:
        clauses.append("created_at >= ?")
        params.append(start.start)
    if end is not None:
        clauses.append("created_at < ?")
        params.append(end.end)
    return " AND ".join(clauses), params


def run(con: duckdb.DuckDBPyConnection, sql: str, params: list[Any] | None = None) -> StatsTable:
    cur = con.execute(sql, params or [])
    return StatsTable(tuple(d[0] for d in cur.description), tuple(tuple(r) for r in cur.fetchall()))


def stats(
    warehouse: Path,
    *,
    start: Hour | None = None,
    end: Hour | None = None,
    by: str = "hour",
    limit: int | None = None,
    con: duckdb.DuckDBPyConnection | None = None,
) -> StatsTable:
    """Figures per hour/day/type/repo/actor for event hours start..end (created_at, UTC)."""
    group, order = grouping(DUCKDB, by)
    where, params = window(start, end)
    if limit is None and by in ("repo", "actor"):
        limit = 20
    sql = aggregate_sql("events_unique", group, where=where, order=order, limit=limit)
    return run(con or connect(warehouse), sql, params)


def over_time_by_type(
    con: duckdb.DuckDBPyConnection, bucket: str, start: Hour | None, end: Hour | None
) -> StatsTable:
    """Rows of the hourly_stats (bucket "hour") or daily_stats ("day") view in the window."""
    view = {"hour": "hourly_stats", "day": "daily_stats"}[bucket]
    where, params = window(start, end)
    if bucket == "day":
        params = [p.date() for p in params]
    where = where.replace("created_at", bucket)
    sql = f"SELECT * FROM {view}" + (f" WHERE {where}" if where else "") + f" ORDER BY {bucket}, type"
    return run(con, sql, params)
