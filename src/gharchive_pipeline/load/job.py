"""One load run: read the curated hours, dedupe within each hour, hand the rows to a sink.

Sinks replace whole source hours, so a run is idempotent: running it again, for the same or an
overlapping range, leaves the same table.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from ..hours import Hour
from . import spark_job

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

log = logging.getLogger(__name__)


class LoadError(RuntimeError):
    """A load that cannot be done as asked (names the hours and where they were read from)."""


class Sink(Protocol):
    #: "local" or "bigquery"
    name: str
    #: where rows go, for messages: a directory or project.dataset.table
    target: str

    def replace_hours(self, unique: DataFrame, hours: Sequence[Hour]) -> None:
        """Make the rows of exactly `hours` equal `unique` (which carries spark_job.HOUR_COL)."""
        ...


@dataclass(frozen=True)
class HourLoad:
    hour: Hour
    rows: int  # rows now in the table for this source_hour
    duplicates: int  # copies dropped within the hour


@dataclass(frozen=True)
class LoadResult:
    sink: str
    target: str
    loaded: tuple[HourLoad, ...]
    missing: tuple[Hour, ...]  # no curated file: the table was left as it was for these hours
    seconds: float
    rows: int  # rows now in the table for the loaded hours
    duplicates: int  # copies dropped within hours


def run_load(spark: SparkSession, curated_base: str, hours: Sequence[Hour], sink: Sink) -> LoadResult:
    """Load `hours` from the curated bucket/dir `curated_base` into `sink`."""
    started = time.perf_counter()
    wanted = sorted(set(hours))
    paths = {h: spark_job.curated_path(curated_base, h) for h in wanted}
    present = set(spark_job.existing(spark, list(paths.values())))
    found = [h for h in wanted if paths[h] in present]
    missing = tuple(h for h in wanted if paths[h] not in present)
    for h in missing:
        log.warning("hour %s: no curated file at %s; not loaded", h.key, paths[h])
    counts: dict[str, spark_job.HourCounts] = {}
    if found:
        ranked = spark_job.rank_duplicates(spark_job.read_curated(spark, [paths[h] for h in found]))
        ranked = ranked.persist()
        try:
            counts = spark_job.count_hours(ranked)
            foreign = {k: c.foreign_rows for k, c in counts.items() if c.foreign_rows}
            if foreign:
                raise LoadError(
                    f"curated files under {curated_base} hold rows of another source_hour "
                    f"(hour: rows) {foreign}; refusing to load them"
                )
            sink.replace_hours(spark_job.unique_rows(ranked), found)
        finally:
            ranked.unpersist()
    loaded = []
    for h in found:
        c = counts.get(h.key, spark_job.HourCounts(h.key, 0, 0, 0))
        loaded.append(HourLoad(h, c.rows, c.duplicates))
        log.info(
            "hour %s: loaded %d rows (%d duplicates dropped) into %s",
            h.key,
            c.rows,
            c.duplicates,
            sink.target,
        )
    return LoadResult(
        sink.name,
        sink.target,
        tuple(loaded),
        missing,
        time.perf_counter() - started,
        rows=sum(h.rows for h in loaded),
        duplicates=sum(h.duplicates for h in loaded),
    )
