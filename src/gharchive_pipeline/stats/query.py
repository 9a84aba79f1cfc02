"""Local statistics: DuckDB over the warehouse's parquet dataset, with the same SQL as BigQuery."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb

from ..hours import Hour
from ..load.local_warehouse import loaded_hours, parquet_glob
from ..schema import duckdb_columns
from .sql import DUCKDB, aggregate_sql, daily_stats_sql, events_unique_sql, grouping, hourly_stats_sql


@dataclass(frozen=True)
class StatsTable:
    columns: tuple[str, ...]
    rows: tuple[tuple[Any, ...], ...]

    def records(self) -> list[dict[str, Any]]:
        return [dict(zip(self.columns, r, strict=True)) for r in self.rows]


def _sql_string(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def connect(warehouse: Path) -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB with views events, events_unique, hourly_stats, daily_stats.

    In-memory, so readers never lock anything: the data stays in the parquet dataset.
    """
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    cols = duckdb_columns()
    if loaded_hours(warehouse):
        select = ", ".join(f"CAST({c} AS {t}) AS {c}" for c, t in cols.items())
        source = f"read_parquet({_sql_string(parquet_glob(warehouse))}, hive_partitioning = false)"
        con.execute(f"CREATE VIEW events AS SELECT {select} FROM {source}")
    else:
        select = ", ".join(f"CAST(NULL AS {t}) AS {c}" for c, t in cols.items())
        con.execute(f"CREATE VIEW events AS SELECT {select} WHERE false")
    con.execute(f"CREATE VIEW events_unique AS {events_unique_sql('events')}")
    con.execute(f"CREATE VIEW hourly_stats AS {hourly_stats_sql(DUCKDB, 'events_unique')}")
    con.execute(f"CREATE VIEW daily_stats AS {daily_stats_sql(DUCKDB, 'events_unique')}")
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
