"""The day-partition model of the warehouse, engine-free: every loader (Spark, DuckDB) uses these.

The unit of writing is one UTC day D of `events` (partitioned on created_at). A rebuild of D reads
every contributing hour of D (layout.contributing_hours), keeps the rows created on D, keeps one
copy per DEDUP_KEY by DEDUP_ORDER and replaces the whole partition, so `events` is unique by
construction and its content is a pure function of the current curated files: load order, repeats
and re-normalized hours cannot change it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from .. import layout
from ..hours import Hour, day_range
from ..schema import COLUMN_NAMES, DEDUP_KEY

ONE_DAY = timedelta(days=1)

#: Which copy of an event (same DEDUP_KEY) survives: the earliest source hour (the file GH Archive
#: first published it in), then the newest normalization, then the newest pipeline; every other
#: column last, so the survivor is a pure function of the rows (never of file or partition order).
#: (column, ascending); nulls always sort last.
DEDUP_ORDER: tuple[tuple[str, bool], ...] = (
    ("source_hour", True),
    ("ingested_at", False),
    ("pipeline_version", False),
    *(
        (c, True)
        for c in COLUMN_NAMES
        if c not in (*DEDUP_KEY, "source_hour", "ingested_at", "pipeline_version")
    ),
)

#: How far from its file hour an event's created_at may lie, in days, when finding the days an hour
#: touches from its markers: late events (crawl-time files since 2025-05-24) land on earlier days,
#: Timeline-era offsets converted to UTC may land on the next one.
MARKER_DAYS_BEFORE = 1
MARKER_DAYS_AFTER = 1


def dedup_order_sql() -> str:
    """DEDUP_ORDER as an ORDER BY list, portable between DuckDB and BigQuery."""
    return ", ".join(f"{c} {'ASC' if asc else 'DESC'} NULLS LAST" for c, asc in DEDUP_ORDER)


def day_of(moment: datetime) -> date:
    """The UTC day (partition) a timestamp belongs to."""
    return moment.astimezone(UTC).date()


def day_bounds(day: date) -> tuple[datetime, datetime]:
    """[start, end) of UTC day `day`: the created_at range of its partition."""
    start = datetime(day.year, day.month, day.day, tzinfo=UTC)
    return start, start + ONE_DAY


def partition_suffix(day: date) -> str:
    """BigQuery's partition decorator for a DAY partition: `$20150101`."""
    return f"${day:%Y%m%d}"


def hour_day(hour: Hour) -> date:
    return hour.start.date()


def marker_prefixes(hour: Hour) -> list[str]:
    """The day-index prefixes to list to find the other days `hour` holds events of."""
    own = hour_day(hour)
    days = day_range(own - MARKER_DAYS_BEFORE * ONE_DAY, own + MARKER_DAYS_AFTER * ONE_DAY)
    return [layout.day_index_prefix(d) for d in days if d != own]


def days_of_hour(hour: Hour, marker_names: Iterable[str]) -> list[date]:
    """The days a rebuild for `hour` must cover: its own day plus every day a marker names it for.

    `marker_names`: object names listed under marker_prefixes(hour) (foreign ones are skipped).
    """
    days = {hour_day(hour)}
    for name in marker_names:
        marked = layout.listed_hour(name, layout.hour_of_day_index_object)
        if marked is not None and marked[1] == hour:
            days.add(marked[0])
    return sorted(days)


@dataclass(frozen=True)
class Contributor:
    """One curated hour read for a day rebuild, with the generation listed before reading it:
    the data read is at least that new, so a ledger that records it never claims too much."""

    hour: Hour
    generation: int


@dataclass(frozen=True)
class HourRows:
    """What one contributing hour gave to a day: its rows created on the day, and how many of
    them survived deduplication (the rest are copies kept from another hour or within the hour)."""

    hour: Hour
    input_rows: int
    rows: int


@dataclass(frozen=True)
class DayLoad:
    """The outcome of one day rebuild: the partition now holds exactly `rows` rows."""

    day: date
    contributors: tuple[Contributor, ...]
    per_hour: tuple[HourRows, ...]
    seconds: float = 0.0

    @property
    def rows(self) -> int:
        return sum(h.rows for h in self.per_hour)

    @property
    def input_rows(self) -> int:
        return sum(h.input_rows for h in self.per_hour)

    @property
    def duplicates(self) -> int:
        return self.input_rows - self.rows

    def hour_rows(self, hour: Hour) -> HourRows:
        return next((h for h in self.per_hour if h.hour == hour), HourRows(hour, 0, 0))


@dataclass(frozen=True)
class LoadRun:
    """A load run: the days it rebuilt, and what it could not find."""

    sink: str
    target: str
    batch_id: str
    days: tuple[DayLoad, ...]
    missing_hours: tuple[Hour, ...] = ()  # asked for by --hour, no curated file
    empty_days: tuple[date, ...] = ()  # no contributing hour at all: the partition was left alone
    seconds: float = 0.0

    @property
    def rows(self) -> int:
        return sum(d.rows for d in self.days)

    @property
    def duplicates(self) -> int:
        return sum(d.duplicates for d in self.days)

    @property
    def hours(self) -> tuple[Hour, ...]:
        """Every hour read, in time order."""
        return tuple(sorted({c.hour for d in self.days for c in d.contributors}))
