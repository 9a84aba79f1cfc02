"""Deterministic object names: everything the pipeline stores is named from the hour alone.

Local home:      HOME/raw, HOME/curated (the two buckets), HOME/warehouse, HOME/logs  (`Home`)
Raw bucket:      hours/2015/01/01/2015-01-01-15.json.gz   (the GH Archive file, unchanged)
                 quarantine/2015/01/01/2015-01-01-15.json.gz   (corrupt downloads, kept for inspection)
                 ledger/2015/01/01/2015-01-01T15.json      (what happened to the hour, every stage)
Curated bucket:  events/date=2015-01-01/hour=15/events.parquet   (hive-style partitions)
                 rejects/date=2015-01-01/hour=15/rejects.ndjson  (lines the normalizer refused)
                 days/date=2014-12-31/from=2015-01-01T00          (empty marker: hour 2015-01-01T00
                   holds events created on 2014-12-31, so rebuilding that day must read it too)
                 locks/date=2015-01-01.lock                       (one writer per `events` day partition)

A day partition of `events` is rebuilt from `contributing hours`: every curated hour under
events/date=D/ plus every hour named by a marker under days/date=D/ (late events; since 2025-05-24
hour files are by crawl time). Markers are written before the hour's parquet, whose finalize event
triggers the load, so a loader never misses one.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import TypeVar

from .hours import Hour
from .storage.base import Storage, open_storage

RAW_PREFIX = "hours/"
QUARANTINE_PREFIX = "quarantine/"
LEDGER_PREFIX = "ledger/"
#: Unreadable ledger objects kept aside by whoever appends next (ledger.quarantine_name).
LEDGER_QUARANTINE_PREFIX = f"{QUARANTINE_PREFIX}{LEDGER_PREFIX}"
CURATED_PREFIX = "events/"
REJECTS_PREFIX = "rejects/"
DAY_INDEX_PREFIX = "days/"
LOCKS_PREFIX = "locks/"

_RAW_RE = re.compile(r"^hours/\d{4}/\d{2}/\d{2}/(\d{4}-\d{2}-\d{2}-\d{1,2})\.json\.gz$")
_CURATED_RE = re.compile(r"^events/date=(\d{4}-\d{2}-\d{2})/hour=(\d{2})/events\.parquet$")
_DAY_INDEX_RE = re.compile(r"^days/date=(\d{4}-\d{2}-\d{2})/from=(\d{4}-\d{2}-\d{2}T\d{2})$")


def _dated(hour: Hour) -> str:
    return hour.start.strftime("%Y/%m/%d")


def _hive(hour: Hour) -> str:
    return f"date={hour.date}/hour={hour.start:%H}"


def raw_object(hour: Hour) -> str:
    return f"{RAW_PREFIX}{_dated(hour)}/{hour.file_name}"


def quarantine_object(hour: Hour) -> str:
    return f"{QUARANTINE_PREFIX}{_dated(hour)}/{hour.file_name}"


def ledger_object(hour: Hour) -> str:
    return f"{LEDGER_PREFIX}{_dated(hour)}/{hour.key}.json"


def curated_object(hour: Hour) -> str:
    return f"{CURATED_PREFIX}{_hive(hour)}/events.parquet"


def rejects_object(hour: Hour) -> str:
    return f"{REJECTS_PREFIX}{_hive(hour)}/rejects.ndjson"


def hour_of_raw_object(name: str) -> Hour | None:
    """The hour a raw object holds, or None for anything else (ledger, quarantine, foreign files)."""
    m = _RAW_RE.match(name)
    return Hour.parse(m.group(1)) if m else None


def hour_of_curated_object(name: str) -> Hour | None:
    m = _CURATED_RE.match(name)
    return Hour.parse(f"{m.group(1)}T{m.group(2)}") if m else None


def curated_day_prefix(day: date) -> str:
    """Where the curated hours of UTC day `day` are (list it to find them)."""
    return f"{CURATED_PREFIX}date={day.isoformat()}/"


def day_index_prefix(day: date) -> str:
    return f"{DAY_INDEX_PREFIX}date={day.isoformat()}/"


def day_index_object(day: date, hour: Hour) -> str:
    """Marker: curated `hour` (of another day) holds events created on `day`."""
    return f"{day_index_prefix(day)}from={hour.key}"


def lock_object(day: date) -> str:
    return f"{LOCKS_PREFIX}date={day.isoformat()}.lock"


def hour_of_day_index_object(name: str) -> tuple[date, Hour] | None:
    """(day, hour) a day-index marker names, or None for anything else."""
    m = _DAY_INDEX_RE.match(name)
    return (date.fromisoformat(m.group(1)), Hour.parse(m.group(2))) if m else None


def contributing_hours(names: Iterable[str]) -> list[Hour]:
    """The hours whose rows may belong to a day, from the names listed under
    `curated_day_prefix(day)` and `day_index_prefix(day)` (foreign names are skipped: listed_hour)."""
    hours: set[Hour] = set()
    for name in names:
        if name.startswith(CURATED_PREFIX):
            hour = listed_hour(name, hour_of_curated_object)
        else:
            marked = listed_hour(name, hour_of_day_index_object)
            hour = marked[1] if marked is not None else None
        if hour is not None:
            hours.add(hour)
    return sorted(hours)


# ---- names found by listing -------------------------------------------------------------------------
log = logging.getLogger(__name__)
_FOREIGN_REMEMBERED = 10_000
_foreign: set[str] = set()
T = TypeVar("T")


def listed_hour(name: str, parse: Callable[[str], T | None]) -> T | None:
    """`parse(name)` for an object found by listing one of our prefixes, or None for a foreign one.

    Anyone can put objects into a bucket: a name that is not ours (`days/date=2015-01-01/junk`), or
    is of our shape but names no real hour (`from=2015-01-01T99`, `date=2015-02-30`, a future
    hour), is skipped with one warning per process, never fatal: one stray object must not block
    its day's load forever.
    """
    try:
        parsed = parse(name)
    except ValueError as exc:  # HourError, or a date that does not exist
        _skip(name, str(exc))
        return None
    if parsed is None:
        _skip(name, "not a name of the pipeline's layout")
    return parsed


def _skip(name: str, why: str) -> None:
    if name in _foreign:
        return
    if len(_foreign) >= _FOREIGN_REMEMBERED:  # bounded: a bucket full of strays warns again, later
        _foreign.clear()
    _foreign.add(name)
    log.warning("skipping %s: %s (a foreign object; the pipeline ignores it)", name, why)


@dataclass(frozen=True)
class Home:
    """The local stand-in for the cloud: DIR/raw, DIR/curated (buckets), DIR/warehouse, DIR/logs."""

    root: Path
    raw_dir: Path = field(init=False)  # the raw bucket
    curated_dir: Path = field(init=False)  # the curated bucket
    warehouse_dir: Path = field(init=False)  # the local warehouse (parquet partitions)
    logs_dir: Path = field(init=False)  # one JSON-lines log per run

    def __post_init__(self) -> None:
        for folder in ("raw", "curated", "warehouse", "logs"):
            object.__setattr__(self, f"{folder}_dir", self.root / folder)

    def buckets(self) -> tuple[Storage, Storage]:
        return open_storage(str(self.raw_dir)), open_storage(str(self.curated_dir))
