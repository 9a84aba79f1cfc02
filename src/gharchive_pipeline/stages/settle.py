"""Is a UTC day settled? Every hour of it curated, or terminally refused (missing, corrupt, failed):
then one load can cover the whole day. The spark_trigger stage asks after each deferred hour; the
sweep (`gharchive load`) asks for days no trigger could close (a day whose last hour is a 404).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime

from .. import layout
from ..hours import Hour, hour_range
from ..ledger import read_history
from ..load.loader import OTHER_DAYS, HourVersion
from ..outcome import written_version
from ..storage.base import ObjectInfo, Storage


@dataclass(frozen=True)
class Settlement:
    """Where a UTC day stands: the curated hour versions it has, and the hours still to come."""

    day: date
    covers: tuple[HourVersion, ...]
    waiting: tuple[Hour, ...]
    other_days: tuple[date, ...] = ()

    @property
    def settled(self) -> bool:
        return not self.waiting and bool(self.covers)


def day_hours(day: date) -> list[Hour]:
    first = Hour.parse(f"{day.isoformat()}T00", now=None)
    return list(hour_range(first, first + 23))


def curated_hours(curated: Storage, day: date) -> dict[Hour, ObjectInfo]:
    """The curated hour objects of a UTC day, as listed now."""
    found: dict[Hour, ObjectInfo] = {}
    for info in curated.list(layout.curated_day_prefix(day)):
        hour = layout.listed_hour(info.name, layout.hour_of_curated_object)
        if hour is not None:
            found[hour] = info
    return found


def other_days(infos: Iterable[ObjectInfo]) -> tuple[date, ...]:
    """The other UTC days the hours' rows were created on (curated metadata written by normalize)."""
    days: set[date] = set()
    for info in infos:
        for text in filter(None, info.metadata.get(OTHER_DAYS, "").split(",")):
            try:
                days.add(date.fromisoformat(text))
            except ValueError:
                continue
    return tuple(sorted(days))


def settle_day(
    curated: Storage, raw: Storage, day: date, *, now: datetime | None = None, version: str | None = None
) -> Settlement:
    """Is every hour of `day` curated or terminally refused (missing, corrupt, failed)? With
    `version` (a re-processing toward it), an hour curated by another version whose raw object is
    there waits too: its renormalize request is on its way."""
    found = curated_hours(curated, day)
    waiting: list[Hour] = []
    for hour in day_hours(day):
        if hour in found:
            info = found[hour]
            if (
                version is not None
                and written_version(info.metadata) != version
                and raw.stat(layout.raw_object(hour)) is not None
            ):
                waiting.append(hour)
            continue
        if now is not None and hour.end > now:
            waiting.append(hour)
            continue
        if not read_history(raw, hour).refused:  # missing, corrupt or failed: never gets a curated object
            waiting.append(hour)
    covers = tuple(sorted(HourVersion(h, info.generation) for h, info in found.items()))
    others = tuple(d for d in other_days(found.values()) if d != day)
    return Settlement(day, covers, tuple(waiting), others)
