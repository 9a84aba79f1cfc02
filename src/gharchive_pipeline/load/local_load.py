"""The local chain's "Dataproc": rebuild day partitions of HOME/warehouse, with DuckDB or PySpark.

`LocalDayLoader.rebuild(day)` is what the local runner calls once every hour of a day is settled:
under the day's lock (load/day_lock.py, as a Dataproc batch takes it) it lists the contributing
hours, skips the day when its partitions were built from exactly those curated versions, else
rebuilds events with the chosen engine, computes the day's statistics from the new partition and
swaps all three in (load/local_warehouse.py).

Engines: DuckDB (default: no JVM start-up, memory bounded, spills; see docs/benchmark.md) and local
PySpark (`--engine spark`, the cloud job's code path, for parity). One SparkSession per process
(local[2], quiet logs); a Spark load that fails stops the session, so the next day starts a fresh
one instead of failing on a dead JVM.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tenacity import retry, retry_if_exception, stop_after_attempt, wait_fixed

from .. import layout
from ..hours import Hour
from ..layout import Home
from ..ledger import BATCH_ID, CURATED_GENERATION, DAY, LedgerEntry, append_entry, read_history
from ..logs import log_event
from ..outcome import LoadOutcome, Stage, severity
from ..storage import Storage
from ..storage.base import open_storage
from .day_lock import day_lock
from .days import Contributor, DayLoad
from .duckdb_days import DuckDBConfig, rebuild_day_duckdb, stage_stats
from .local_warehouse import EVENTS, PartitionWriter, is_current, manifest
from .spark_days import contributors, rebuild_day, record_day
from .spark_frames import build_session

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

log = logging.getLogger(__name__)
_lock = threading.Lock()
#: One load at a time per process: local[2] gains nothing from concurrent jobs, and two loads of the
#: same hour must not interleave their directory swaps.
_load_lock = threading.Lock()
_session: SparkSession | None = None


def local_spark() -> SparkSession:
    """The process-wide local SparkSession, started on first use."""
    global _session
    with _lock:
        if _session is None:
            _session = _start_session()
        return _session


def _gateway_failed_to_start(exc: BaseException) -> bool:
    # Seen on a busy host: the JVM child dies before it reports its port (a transient start failure).
    return "JAVA_GATEWAY_EXITED" in str(exc)


@retry(
    retry=retry_if_exception(_gateway_failed_to_start),
    stop=stop_after_attempt(3),
    wait=wait_fixed(1),
    reraise=True,
)
def _start_session() -> SparkSession:
    return build_session("gharchive-local-load", master="local[2]")


def drop_spark() -> None:
    """Stop the process-wide session (after a failed load: its JVM may be dead or out of memory)."""
    global _session
    with _lock:
        session, _session = _session, None
    if session is not None:
        try:
            session.stop()
        except Exception as exc:  # a dead JVM cannot be stopped cleanly; it is gone either way
            log.warning("stopping the failed Spark session: %s", exc)


class Engine(StrEnum):
    DUCKDB = "duckdb"
    SPARK = "spark"


DEFAULT_ENGINE = Engine.DUCKDB


@dataclass(frozen=True)
class DayResult:
    """One day handed to the loader: rebuilt (`load`), or already current (`load` is None)."""

    day: date
    contributors: tuple[Contributor, ...]
    load: DayLoad | None = None
    engine: Engine = DEFAULT_ENGINE
    seconds: float = 0.0

    @property
    def rebuilt(self) -> bool:
        return self.load is not None


@dataclass
class LocalDayLoader:
    """Rebuilds day partitions of HOME/warehouse from HOME/curated (see module docstring); with
    `raw`, says in each contributing hour's ledger that it is loaded (or that its day failed)."""

    home: Path
    engine: Engine = DEFAULT_ENGINE
    duckdb: DuckDBConfig = field(default_factory=DuckDBConfig)
    raw: Storage | None = None
    name: str = "local"

    def __post_init__(self) -> None:
        where = Home(self.home)
        self.curated = open_storage(str(where.curated_dir))
        self.warehouse = where.warehouse_dir
        self.target = str(self.warehouse)

    def contributors(self, day: date) -> list[tuple[Contributor, Path]]:
        """The curated hour versions that may hold rows of `day` (load/spark_days.py), with their files."""
        root = Path(self.curated.url)
        return [(c, root / layout.curated_object(c.hour)) for c in contributors(self.curated, day)]

    def rebuild(self, day: date, *, force: bool = False) -> DayResult:
        """Make the three partitions of `day` current; a day already built from the current curated
        versions is left alone (unless `force`). Raises on failure, leaving the old partitions."""
        started = time.perf_counter()
        batch_id = f"local-{self.engine}-{os.getpid()}-{day.isoformat()}"
        found: list[tuple[Contributor, Path]] = []
        try:
            with day_lock(self.curated, day, batch_id):
                found = self.contributors(day)
                contributors_ = tuple(c for c, _ in found)
                inputs = manifest(day, {c.hour: c.generation for c in contributors_})
                if not force and is_current(self.warehouse, day, inputs):
                    self._repair_ledgers(day, contributors_, batch_id)
                    return DayResult(day, contributors_, None, self.engine, time.perf_counter() - started)
                load = self._write(day, found, inputs)
        except Exception as exc:
            for c, _ in found:
                _record(self.raw, c.hour, LoadOutcome.FAILED, {DAY: day.isoformat(), "error": _error(exc)})
            raise
        if self.raw is not None:
            record_day(
                self.raw, load, batch_id, _StagedDaySink(PartitionWriter(self.warehouse, day), self.duckdb)
            )
        for c in load.contributors:  # the run's log says what happened to every hour
            got = load.hour_rows(c.hour)
            details: dict[str, Any] = {
                DAY: day.isoformat(),
                BATCH_ID: batch_id,
                CURATED_GENERATION: c.generation,
            }
            log_event(
                Stage.LOAD, c.hour, LoadOutcome.LOADED, input_rows=got.input_rows, rows=got.rows, **details
            )
        return DayResult(day, contributors_, load, self.engine, time.perf_counter() - started)

    def _write(
        self, day: date, found: Sequence[tuple[Contributor, Path]], inputs: dict[str, object]
    ) -> DayLoad:
        writer = PartitionWriter(self.warehouse, day)
        try:
            if not found:  # no hour holds rows of the day (any more): empty partitions
                load = DayLoad(day, (), ())
                writer.staging(EVENTS)
                stage_stats(writer, day, config=self.duckdb)
            elif self.engine is Engine.SPARK:
                load = _rebuild_day_spark(writer, self.curated.url, day, found, self.duckdb)
            else:
                load = rebuild_day_duckdb(writer, day, found, config=self.duckdb)
            writer.commit(inputs)
        finally:
            writer.abort()
        return load

    def _repair_ledgers(self, day: date, found: Sequence[Contributor], batch_id: str) -> None:
        """A run killed between a day's swap and its ledger entries: say what the partition holds."""
        if self.raw is None:
            return
        for c in found:
            if read_history(self.raw, c.hour).loaded(c.generation, day=day.isoformat()) is None:
                details = {BATCH_ID: batch_id, DAY: day.isoformat(), CURATED_GENERATION: c.generation}
                _record(
                    self.raw, c.hour, LoadOutcome.LOADED, {**details, "note": "partition already current"}
                )


class _StagedDaySink:
    """spark_days.DaySink over a PartitionWriter: the Spark job's rows and statistics are staged, and the
    loader commits all three partitions together."""

    name = "local"

    def __init__(self, writer: PartitionWriter, config: DuckDBConfig) -> None:
        self.writer = writer
        self.config = config
        self.target = str(writer.warehouse)

    def replace_day(self, rows: DataFrame, day: date) -> None:
        staging = self.writer.staging(EVENTS)
        rows.write.mode("overwrite").option("compression", "zstd").parquet(str(staging))

    def refresh_stats(self, day: date) -> None:
        stage_stats(self.writer, day, config=self.config)


def _rebuild_day_spark(
    writer: PartitionWriter,
    curated_url: str,
    day: date,
    found: Sequence[tuple[Contributor, Path]],
    config: DuckDBConfig,
) -> DayLoad:
    """The day with local PySpark through load/spark_days.py's rebuild_day: the cloud job's code path."""
    try:
        spark = local_spark()
        return rebuild_day(
            spark,
            curated_url,
            day,
            [c for c, _ in found],
            _StagedDaySink(writer, config),
        )
    except Exception:
        drop_spark()
        raise


def _record(storage: Storage | None, hour: Hour, outcome: LoadOutcome, details: dict[str, Any]) -> None:
    log_event(Stage.LOAD, hour, outcome, severity=str(severity(outcome)), **details)
    if storage is None:
        return
    entry = LedgerEntry(Stage.LOAD, outcome, datetime.now(UTC), dict(details))
    append_entry(storage, hour, entry)


def _error(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"
