"""The local default day loader: rebuild one UTC day of the warehouse with DuckDB, memory bounded.

Why DuckDB and not local Spark: a day is one SQL statement here, with no JVM to start (~6 s) and no
per-job overhead, and DuckDB spills to `temp_directory` past `memory_limit` instead of dying
(docs/benchmark.md has the figures). Every call opens its own connection, so a failed day leaves
nothing behind that could break the next one.

The rebuild follows load/days.py: read the day's contributing hours, keep the rows created on the
day, keep one copy per DEDUP_KEY by DEDUP_ORDER, replace the partition. Deduplication never sorts
the wide rows: a first pass over the narrow ordering columns (key, source_hour, ingested_at,
pipeline_version, file and row number) finds the losing copies; only copies tied on all of those
(the same event twice in one file) are compared on every column. What is dropped (the losers and
the rows of other days) is then known by (file, row number), and kept_rows.py copies the rest into
the partition with pyarrow: 2.5x less CPU than DuckDB's COPY re-encoding every column.
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import duckdb
import numpy as np

from ..literal_paths import duckdb_files, local_file
from ..schema import DEDUP_KEY, duckdb_columns
from ..stats.sql import (
    DUCKDB,
    METRIC_NAMES,
    METRIC_TYPES,
    STATS_TABLES,
    daily_stats_sql,
    day_filter,
    hourly_stats_sql,
)
from .days import DEDUP_ORDER, Contributor, DayLoad, HourRows, dedup_order_sql
from .kept_rows import SourceFile, write_parts
from .local_warehouse import DAILY_STATS, EVENTS, HOURLY_STATS, PartitionWriter

#: Columns of DEDUP_ORDER compared in the narrow pass (the rest only break ties within one file).
_NARROW = 3
PART_FILE = "part-0.parquet"


@dataclass(frozen=True)
class DuckDBConfig:
    """Resources of one day rebuild. memory_limit bounds DuckDB's buffers (the process adds ~150 MiB
    of Python and Arrow); past it DuckDB spills to temp_directory."""

    memory_limit: str = "1GB"
    threads: int = max(os.cpu_count() or 1, 1)
    temp_directory: Path | None = None  # default: WAREHOUSE/.tmp-duckdb-<pid>, removed afterwards


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def connect(config: DuckDBConfig, temp_dir: Path) -> duckdb.DuckDBPyConnection:
    con = duckdb.connect(config={"allow_unsigned_extensions": False})
    con.execute("SET TimeZone = 'UTC'")
    con.execute(f"SET memory_limit = {_literal(config.memory_limit)}")
    con.execute(f"SET threads = {int(config.threads)}")
    con.execute(f"SET temp_directory = {_literal(local_file(temp_dir))}")
    con.execute("SET preserve_insertion_order = false")  # lets COPY stream without buffering order
    return con


@contextmanager
def _connection(writer: PartitionWriter, config: DuckDBConfig) -> Iterator[duckdb.DuckDBPyConnection]:
    """A fresh connection for one step (nothing shared with the next day), spilling under the
    warehouse; the default temp folder is named by pid, so a killed run's is removed by the next."""
    temp_dir = config.temp_directory or writer.warehouse / f".tmp-duckdb-{os.getpid()}"
    temp_dir.mkdir(parents=True, exist_ok=True)
    con = connect(config, temp_dir)
    try:
        yield con
    finally:
        con.close()
        if config.temp_directory is None:
            shutil.rmtree(temp_dir, ignore_errors=True)


def rebuild_day_duckdb(
    writer: PartitionWriter,
    day: date,
    contributors: Sequence[tuple[Contributor, Path]],
    *,
    config: DuckDBConfig | None = None,
) -> DayLoad:
    """Write the deduplicated rows of `day` from the contributing hour files into the staged
    events partition of `writer`, with the day's statistics, and return what each hour gave. The
    caller commits. The statistics come from the same kept rows (the contributing files less what
    is dropped) while the rows are copied: a second read of the written partition (stage_stats,
    what the other engines use) cost a third of the rebuild."""
    started = time.perf_counter()
    staging = writer.staging(EVENTS)
    # DuckDB's `filename` column is the absolute path of the file read (literal_paths)
    by_file = {local_file(path): c for c, path in contributors}
    with _connection(writer, config or DuckDBConfig()) as con:
        con.execute(
            "CREATE TEMP VIEW curated_rows AS SELECT * FROM read_parquet("
            f"{duckdb_files([p for _, p in contributors])}, filename = true, file_row_number = true,"
            f" hive_partitioning = false, union_by_name = true)"
        )
        present = {row[0] for row in con.execute("DESCRIBE curated_rows").fetchall()}
        con.execute(
            f"CREATE TEMP VIEW day_rows AS SELECT {_schema_columns(present)}, filename, file_row_number"
            f" FROM curated_rows WHERE {day_filter(DUCKDB, day)}"
        )
        con.execute(f"CREATE TEMP TABLE losers AS {_losers_sql()}")
        inputs = dict(con.execute("SELECT filename, count(*) FROM day_rows GROUP BY 1").fetchall())
        lost = dict(con.execute("SELECT filename, count(*) FROM losers GROUP BY 1").fetchall())
        dropped = dict(con.execute(_dropped_sql(day)).fetchall())
        sources = [
            SourceFile(path, np.array(sorted(dropped.get(local_file(path)) or ()), dtype=np.int64))
            for _, path in sorted(contributors, key=lambda cp: cp[0].hour)
        ]
        threads = (config or DuckDBConfig()).threads
        with ThreadPoolExecutor(1, thread_name_prefix="day-rows") as pool:
            copied = pool.submit(write_parts, sources, staging, threads)
            kept = "(SELECT * FROM day_rows ANTI JOIN losers USING (filename, file_row_number))"
            _write_stats(con, writer, day, kept)
            copied.result()
    per_hour = tuple(
        HourRows(c.hour, int(inputs.get(f, 0)), int(inputs.get(f, 0)) - int(lost.get(f, 0)))
        for f, c in sorted(by_file.items(), key=lambda kv: kv[1].hour)
    )
    return DayLoad(day, tuple(c for c, _ in contributors), per_hour, time.perf_counter() - started)


def stage_stats(writer: PartitionWriter, day: date, *, config: DuckDBConfig | None = None) -> None:
    """Compute the day's hourly_stats and daily_stats from its staged events partition (whatever
    engine wrote it) into staged partitions of `writer`, with the SQL of stats/sql.py."""
    events = writer.staged[EVENTS]
    with _connection(writer, config or DuckDBConfig()) as con:
        files = sorted(events.glob("*.parquet"))
        if files:
            source = f"read_parquet({duckdb_files(files)}, hive_partitioning = false)"
        else:
            source = f"(SELECT {_typed_nulls()} WHERE false)"
        _write_stats(con, writer, day, source)


def _write_stats(con: duckdb.DuckDBPyConnection, writer: PartitionWriter, day: date, source: str) -> None:
    """hourly_stats and daily_stats of `day` from the events in `source`, staged in `writer`."""
    for table, sql in ((HOURLY_STATS, hourly_stats_sql), (DAILY_STATS, daily_stats_sql)):
        target = writer.staging(table) / PART_FILE
        con.execute(
            f"COPY (SELECT {_typed_stats(STATS_TABLES[table][0])} FROM ({sql(DUCKDB, source, day)})"
            f" ORDER BY 1, 2) TO {_literal(local_file(target))} (FORMAT parquet, COMPRESSION zstd)"
        )


def _typed_stats(time_col: str) -> str:
    """The statistics columns with the types BigQuery's tables have (DuckDB's SUM gives HUGEINT,
    which parquet would store as a double)."""
    metrics = [
        f"CAST({m} AS {'DOUBLE' if METRIC_TYPES[m] == 'FLOAT64' else 'BIGINT'}) AS {m}" for m in METRIC_NAMES
    ]
    return ", ".join([time_col, "type", *metrics])


def _schema_columns(present: set[str]) -> str:
    """Every schema column, by name: files written before a column was added (union_by_name gives
    the columns any file has) read it as a typed null."""
    return ", ".join(
        name if name in present else f"CAST(NULL AS {kind}) AS {name}"
        for name, kind in duckdb_columns().items()
    )


def _typed_nulls() -> str:
    from ..schema import duckdb_columns

    return ", ".join(f"CAST(NULL AS {t}) AS {c}" for c, t in duckdb_columns().items())


def _dropped_sql(day: date) -> str:
    """Per file, the row numbers that are not kept: the losing copies and the rows of other days."""
    return f"""
        SELECT filename, list(file_row_number) FROM (
          SELECT filename, file_row_number FROM curated_rows WHERE NOT ({day_filter(DUCKDB, day)})
          UNION ALL
          SELECT filename, file_row_number FROM losers
        ) GROUP BY filename
    """


def _losers_sql() -> str:
    """(filename, file_row_number) of every copy that loses to another copy of its event."""
    key = ", ".join(DEDUP_KEY)
    narrow = ", ".join(f"{c} {'ASC' if asc else 'DESC'} NULLS LAST" for c, asc in DEDUP_ORDER[:_NARROW])
    narrow_cols = ", ".join(c for c, _ in DEDUP_ORDER[:_NARROW])
    # rank() keeps ties at 1: rank > 1 loses on the narrow columns alone.
    return f"""
        WITH ranked AS (
          SELECT {key}, {narrow_cols}, filename, file_row_number,
                 rank() OVER (PARTITION BY {key} ORDER BY {narrow}) AS r,
                 count(*) OVER (PARTITION BY {key}) AS copies
          FROM day_rows
        ),
        tied_keys AS (
          SELECT {key} FROM ranked WHERE r = 1 GROUP BY ALL HAVING count(*) > 1
        ),
        tied AS (
          SELECT filename, file_row_number,
                 row_number() OVER (PARTITION BY {key} ORDER BY {dedup_order_sql()},
                                    filename, file_row_number) AS n
          FROM day_rows SEMI JOIN tied_keys USING ({key})
        )
        SELECT filename, file_row_number FROM ranked WHERE copies > 1 AND r > 1
        UNION
        SELECT filename, file_row_number FROM tied WHERE n > 1
    """
