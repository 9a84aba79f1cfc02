"""One load run: rebuild whole UTC day partitions of `events` from their contributing hours.

For each day, in turn (so memory holds one day, never a range): take the day's lock in the curated
bucket, list the contributing hours AFTER taking it (so the last writer sees the newest hours),
read them, keep the rows created on the day, deduplicate, let the sink replace the partition and
refresh the day's statistics, record the load in each contributing hour's ledger, release the
lock. Every step is a pure function of the curated files listed, so a rerun after a crash, a
repeated batch or batches in any order leave the same partition (docs/warehouse.md).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Protocol, runtime_checkable

from .. import layout
from ..errors import PermanentError
from ..hours import Hour
from ..ledger import BATCH_ID, CURATED_GENERATION, DAY, SECONDS, LedgerEntry, append_entry
from ..outcome import LoadOutcome, Stage
from ..storage.base import Storage
from . import spark_frames
from .day_lock import DEFAULT_LEASE, DEFAULT_WAIT, day_lock
from .days import Contributor, DayLoad, HourRows, LoadRun, days_of_hour, marker_prefixes

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

log = logging.getLogger(__name__)

#: Curated object metadata naming the other UTC days an hour's rows were created on (written by the
#: normalize stage next to the day-index markers; comma-separated ISO dates).
OTHER_DAYS_METADATA = "days"


class LoadError(PermanentError, RuntimeError):
    """A load that cannot be done as asked (names the day, hours and where they were read from)."""


class Target(Protocol):
    #: "local" or "bigquery"
    name: str
    #: where rows go, for messages: a directory or project.dataset.table
    target: str


class DaySink(Target, Protocol):
    def replace_day(self, rows: DataFrame, day: date) -> None:
        """Make partition `day` of `events` exactly `rows` (all created on `day`; may be empty)."""
        ...

    def refresh_stats(self, day: date) -> None:
        """Recompute the statistics tables' partition `day` from `events`."""
        ...


@runtime_checkable
class RecordsSources(Protocol):
    """A sink that stores which curated hour versions a partition was built from (the local
    warehouse's manifest); told before replace_day."""

    def sources(self, day: date, found: Sequence[Contributor]) -> None: ...


def contributors(curated: Storage, day: date) -> list[Contributor]:
    """The curated hours whose rows may belong to `day`, each with the generation listed now."""
    own: dict[Hour, int] = {}
    for info in curated.list(layout.curated_day_prefix(day)):
        hour = layout.listed_hour(info.name, layout.hour_of_curated_object)
        if hour is not None:
            own[hour] = info.generation
    names = [info.name for info in curated.list(layout.day_index_prefix(day))]
    found = [Contributor(h, g) for h, g in own.items()]
    for hour in layout.contributing_hours(names):
        if hour in own:
            continue
        marked = curated.stat(layout.curated_object(hour))
        if marked is None:  # a marker whose hour file is gone: nothing of it to read
            log.warning("day %s: marker names hour %s, which has no curated file", day, hour.key)
            continue
        found.append(Contributor(hour, marked.generation))
    return sorted(found, key=lambda c: c.hour)


def days_for_hours(curated: Storage, hours: Iterable[Hour]) -> tuple[list[date], list[Hour]]:
    """The days to rebuild for `hours` (each hour's own day, the days its markers or its curated
    metadata name), and the hours that have no curated file (still rebuilt: their day may have others)."""
    wanted: set[date] = set()
    missing: list[Hour] = []
    for hour in sorted(set(hours)):
        info = curated.stat(layout.curated_object(hour))
        if info is None:
            missing.append(hour)
        named = info.metadata.get(OTHER_DAYS_METADATA, "") if info else ""
        markers = [i.name for prefix in marker_prefixes(hour) for i in curated.list(prefix)]
        wanted.update(days_of_hour(hour, markers))
        wanted.update(date.fromisoformat(d) for d in named.split(",") if d)
    return sorted(wanted), missing


def rebuild_day(
    spark: SparkSession, curated_base: str, day: date, found: Sequence[Contributor], sink: DaySink
) -> DayLoad:
    """Read `found`, keep the rows of `day`, deduplicate, replace the partition, refresh statistics."""
    started = time.perf_counter()
    if isinstance(sink, RecordsSources):
        sink.sources(day, found)
    paths = [spark_frames.curated_path(curated_base, c.hour) for c in found]
    rows = spark_frames.in_day(spark_frames.read_curated(spark, paths), day)
    counts = spark_frames.count_hours(rows)
    foreign = {k: c.foreign_rows for k, c in counts.items() if c.foreign_rows}
    if foreign:
        raise LoadError(
            f"day {day}: curated files under {curated_base} hold rows of another source_hour "
            f"(hour: rows) {foreign}; refusing to load them"
        )
    nulls = {k: c.null_required for k, c in counts.items() if c.null_required}
    if nulls:
        raise LoadError(
            f"day {day}: curated files under {curated_base} hold rows with nulls in required "
            f"columns (hour: rows) {nulls}; refusing to load them"
        )
    sink.replace_day(spark_frames.unique_rows(spark_frames.rank_copies(rows)), day)
    sink.refresh_stats(day)
    per_hour = tuple(
        HourRows(c.hour, counts[c.hour.key].input_rows, counts[c.hour.key].rows)
        if c.hour.key in counts
        else HourRows(c.hour, 0, 0)
        for c in found
    )
    return DayLoad(day, tuple(found), per_hour, time.perf_counter() - started)


def record_day(raw: Storage, load: DayLoad, batch_id: str, sink: Target) -> None:
    """One `load`/`loaded` ledger entry per contributing hour: which batch rebuilt which day from
    which curated generation, and what the hour gave to it."""
    now = datetime.now(UTC)
    for c in load.contributors:
        got = load.hour_rows(c.hour)
        details = {
            BATCH_ID: batch_id,
            DAY: load.day.isoformat(),
            CURATED_GENERATION: c.generation,
            "input_rows": got.input_rows,
            "rows": got.rows,
            "day_rows": load.rows,
            SECONDS: round(load.seconds, 3),
            "sink": sink.name,
            "target": sink.target,
        }
        append_entry(raw, c.hour, LedgerEntry(Stage.LOAD, LoadOutcome.LOADED, now, details))


def run_days(
    spark: SparkSession,
    curated: Storage,
    days: Sequence[date],
    sink: DaySink,
    *,
    batch_id: str,
    raw: Storage | None = None,
    missing_hours: Sequence[Hour] = (),
    lock_wait: timedelta = DEFAULT_WAIT,
    lock_lease: timedelta = DEFAULT_LEASE,
    deadline: datetime | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> LoadRun:
    """Rebuild each of `days` (see module docstring); a day without contributing hours is left as it is.

    Raises day_lock.DayLocked when another batch holds a day past `lock_wait` (transient: days
    before it are done, and a rerun redoes nothing wrong). `deadline`: when the batch's TTL ends,
    written into each day lock (day_lock.batch_ttl).
    """
    started = time.perf_counter()
    loads: list[DayLoad] = []
    empty: list[date] = []
    for day in sorted(set(days)):
        with day_lock(
            curated, day, batch_id, wait=lock_wait, lease=lock_lease, expires=deadline, sleep=sleep
        ):
            load = _load_day(spark, curated, day, sink, batch_id=batch_id, raw=raw)
        if load is None:
            empty.append(day)
        else:
            loads.append(load)
    if raw is not None:
        _record_missing(raw, missing_hours, batch_id)
    return LoadRun(
        sink.name,
        sink.target,
        batch_id,
        tuple(loads),
        tuple(missing_hours),
        tuple(empty),
        time.perf_counter() - started,
    )


def _load_day(
    spark: SparkSession, curated: Storage, day: date, sink: DaySink, *, batch_id: str, raw: Storage | None
) -> DayLoad | None:
    """Rebuild one day (its lock held) and say so in its hours' ledgers; None: no hour contributes."""
    found = contributors(curated, day)
    if not found:
        log.warning("day %s: no curated hour contributes to it; partition left as it is", day)
        return None
    load = rebuild_day(spark, curated.url, day, found, sink)
    if raw is not None:
        record_day(raw, load, batch_id, sink)
    log.info(
        "day %s: %d rows from %d hours (%d copies dropped) into %s in %.1fs [batch %s]",
        day,
        load.rows,
        len(load.contributors),
        load.duplicates,
        sink.target,
        load.seconds,
        batch_id,
    )
    return load


def _record_missing(raw: Storage, hours: Sequence[Hour], batch_id: str) -> None:
    """Hours asked for by name that have no curated file: `missing` in their ledgers."""
    for hour in hours:
        details = {BATCH_ID: batch_id, "error": "no curated file to load"}
        append_entry(raw, hour, LedgerEntry(Stage.LOAD, LoadOutcome.MISSING, datetime.now(UTC), details))
