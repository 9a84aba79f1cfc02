"""What the load stage asks and who answers: the contract between the spark_trigger stage (and the
sweep) and whatever loads curated hours into the warehouse.

A `LoadRequest` names curated hour versions (an hour at one curated generation), by hour or by whole
UTC days; a `Loader` gets it loaded or queued and says how in a `LoadResult`. The loaders: a Dataproc
submitter in the cloud (dataproc.py), and two local ones here: `DeferToRunner` (the local runner loads
settled days itself) and `LoadDaysNow` (`gharchive load` at home: rebuild each day now).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import Any, Protocol

from ..hours import Hour, day_range
from ..outcome import LoadOutcome

#: Object metadata key (raw and curated) and message field saying how the hour is loaded.
LOAD_MODE = "load"
DEFERRED = "deferred"
#: The mode of an hour to be loaded on its own whatever the deployment's hourly_load says.
HOURLY = "hour"
#: Curated metadata key: the other UTC days (comma-separated) the hour's rows were created on.
OTHER_DAYS = "days"


@dataclass(frozen=True, order=True)
class HourVersion:
    """One curated hour as it is now: a load covers hour versions, not hours."""

    hour: Hour
    generation: int


@dataclass(frozen=True)
class LoadRequest:
    """Load these curated hour versions: by hour (`days` empty: the job rebuilds the days each hour
    touches) or by whole UTC days (`days`, or the inclusive range `day_range`)."""

    curated_url: str
    covers: tuple[HourVersion, ...]
    days: tuple[date, ...] = ()
    day_range: tuple[date, date] | None = None
    #: The sweep asks again for work whose batch failed (a new id with an attempt suffix).
    retry_failed: bool = False

    @property
    def by_day(self) -> bool:
        return bool(self.days) or self.day_range is not None


@dataclass(frozen=True)
class LoadResult:
    """What the loader did: SUBMITTED / ALREADY_EXISTS (cloud), DEFERRED (local), LOADED (in process)."""

    outcome: LoadOutcome
    batch_id: str = ""
    details: Mapping[str, Any] = field(default_factory=dict)


class Loader(Protocol):
    """Gets a `LoadRequest` loaded (or queued). Raise for a transient fault: the event is redelivered."""

    def load(self, request: LoadRequest) -> LoadResult: ...


class DeferToRunner:
    """The local loader: records the hour as deferred; the local runner loads settled days itself."""

    def load(self, request: LoadRequest) -> LoadResult:
        return LoadResult(LoadOutcome.DEFERRED, details={"reason": "the local runner loads by day"})


class DayRebuilder(Protocol):
    """Anything that rebuilds one UTC day partition now (load/local_load.py's LocalDayLoader)."""

    def rebuild(self, day: date) -> Any: ...


class LoadDaysNow:
    """A `Loader` over a `DayRebuilder`: rebuilds each day of a request in this process (the local
    sweep). The rebuilder records `loaded` in the ledgers itself, as the cloud job does."""

    def __init__(self, days: DayRebuilder) -> None:
        self.rebuilder = days

    def load(self, request: LoadRequest) -> LoadResult:
        wanted = list(request.days)
        if request.day_range is not None:
            wanted += day_range(*request.day_range)
        if not request.by_day:
            wanted += [v.hour.start.date() for v in request.covers]
        rebuilt = sorted(set(wanted))
        for day in rebuilt:
            self.rebuilder.rebuild(day)
        return LoadResult(LoadOutcome.LOADED, details={"days": ",".join(d.isoformat() for d in rebuilt)})
