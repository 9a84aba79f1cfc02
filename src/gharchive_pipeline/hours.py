"""GH Archive hours: parsing, naming and arithmetic.

An hour is the unit of everything in the pipeline (one file, one ledger entry, one curated object,
one load), so it is a value type with one canonical spelling (`2015-01-01T15`) and the unpadded
GH Archive file name (`2015-01-01-15.json.gz`, `2015-01-01-1.json.gz`).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from urllib.parse import urlsplit, urlunsplit

from .errors import UserError

ONE_HOUR = timedelta(hours=1)
#: The first hour GH Archive has.
FIRST_HOUR_START = datetime(2011, 2, 12, 0, tzinfo=UTC)
#: How long after an hour ends GH Archive is expected to have published it.
DEFAULT_PUBLICATION_LAG = timedelta(minutes=30)
DEFAULT_BASE_URL = "https://data.gharchive.org"

_COMPACT = re.compile(r"^(\d{4})-(\d{2})-(\d{2})[T\- _](\d{1,2})(?:\.json(?:\.gz)?)?$")
_ISO = re.compile(r"^(\d{4})-(\d{2})-(\d{2})[T ](\d{2}):(\d{2})(?::(\d{2})(?:\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?$")


class HourError(UserError, ValueError):
    """A string or time that is not a valid GH Archive hour."""


#: How much of a bad hour string a message quotes (the string may come from a message body).
_SHOWN_CHARS = 40


def _shown(text: str) -> str:
    """`text` quoted for a message, cut to _SHOWN_CHARS: a 300 KB string is not a 300 KB line."""
    if len(text) <= _SHOWN_CHARS:
        return repr(text)
    return repr(text[:_SHOWN_CHARS]) + f"… ({len(text):,} chars)"


@dataclass(frozen=True, order=True)
class Hour:
    """One GH Archive hour, identified by its UTC start."""

    start: datetime

    def __post_init__(self) -> None:
        s = self.start
        if s.tzinfo is None or s.utcoffset() is None:
            raise HourError(f"hour start must be timezone-aware (UTC), got {s!r}")
        if s.tzinfo is not UTC:  # any aware time is accepted and kept in UTC
            s = s.astimezone(UTC)
            object.__setattr__(self, "start", s)
        if (s.minute, s.second, s.microsecond) != (0, 0, 0):
            raise HourError(f"hour start must be on the hour, got {s.isoformat()}")

    # ---- construction -------------------------------------------------------------------------
    @classmethod
    def parse(cls, text: str, *, now: datetime | None = None) -> Hour:
        """Parse `2015-01-01T15`, `2015-01-01-15`, `2015-01-01-1.json.gz` or ISO 8601 with an offset.

        Rejects impossible dates, hours past 23, times not on the hour, hours before GH Archive
        began (2011-02-12T00) and hours that have not started yet (relative to `now`).
        """
        raw = text.strip()
        m = _COMPACT.match(raw)
        try:
            if m:
                y, mo, d, h = (int(g) for g in m.groups())
                if h > 23:
                    raise HourError(f"bad hour {_shown(text)}: hour {h} is not in 0..23")
                start = datetime(y, mo, d, h, tzinfo=UTC)
            else:
                mi = _ISO.match(raw)
                if not mi:
                    raise HourError(
                        f"bad hour {_shown(text)}: expected YYYY-MM-DDTHH (e.g. 2015-01-01T15), "
                        "YYYY-MM-DD-H or ISO 8601 such as 2015-01-01T15:00:00Z"
                    )
                h = int(mi.group(4))
                if h > 23:
                    raise HourError(f"bad hour {_shown(text)}: hour {h} is not in 0..23")
                # The pattern admits the forms; fromisoformat reads them (and refuses bad offsets).
                moment = datetime.fromisoformat(raw)
                if moment.tzinfo is None:
                    moment = moment.replace(tzinfo=UTC)
                start = moment.astimezone(UTC).replace(microsecond=0)  # a fraction was always dropped
                if (start.minute, start.second) != (0, 0):
                    raise HourError(f"bad hour {_shown(text)}: not on the hour (minutes/seconds must be 0)")
        except ValueError as exc:
            if isinstance(exc, HourError):
                raise
            if "offset" in str(exc):  # datetime's words quote its own timedelta reprs
                raise HourError(
                    f"bad hour {_shown(text)}: its UTC offset is not one (from -23:59 to +23:59)"
                ) from None
            raise HourError(f"bad hour {_shown(text)}: {exc}") from None
        return cls.checked(start, now=now, text=text)

    @classmethod
    def checked(cls, start: datetime, *, now: datetime | None = None, text: str | None = None) -> Hour:
        """An hour that exists in GH Archive's range: not before 2011-02-12T00, not in the future."""
        hour = cls(start)
        label = _shown(text if text is not None else hour.key)
        if hour.start < FIRST_HOUR_START:
            raise HourError(f"bad hour {label}: GH Archive starts at 2011-02-12T00")
        current = floor_hour(now or datetime.now(UTC))
        if hour.start > current.start:
            raise HourError(f"bad hour {label}: it is in the future (now {current.key})")
        return hour

    @classmethod
    def containing(cls, moment: datetime) -> Hour:
        """The hour that contains `moment` (naive datetimes are taken as UTC)."""
        return floor_hour(moment)

    # ---- naming ---------------------------------------------------------------------------------
    @property
    def key(self) -> str:
        """Canonical spelling, also used in messages and ledgers: `2015-01-01T15`."""
        return self.start.strftime("%Y-%m-%dT%H")

    @property
    def file_stem(self) -> str:
        """GH Archive's unpadded stem: `2015-01-01-1`."""
        s = self.start
        return f"{s:%Y-%m-%d}-{s.hour}"

    @property
    def file_name(self) -> str:
        return f"{self.file_stem}.json.gz"

    @property
    def date(self) -> str:
        return self.start.strftime("%Y-%m-%d")

    @property
    def end(self) -> datetime:
        return self.start + ONE_HOUR

    def url(self, base: str = DEFAULT_BASE_URL) -> str:
        """The hour's file under `base`; a query string (an access token) stays at the end."""
        parts = urlsplit(base)
        return urlunsplit(parts._replace(path=f"{parts.path.rstrip('/')}/{self.file_name}"))

    # ---- arithmetic -----------------------------------------------------------------------------
    def __add__(self, hours: int) -> Hour:
        return Hour(self.start + hours * ONE_HOUR)

    def __sub__(self, hours: int) -> Hour:
        return Hour(self.start - hours * ONE_HOUR)

    def next(self) -> Hour:
        return self + 1

    def prev(self) -> Hour:
        return self - 1

    def hours_until(self, other: Hour) -> int:
        """Number of hours from self to other (negative if other is earlier)."""
        return int((other.start - self.start) / ONE_HOUR)

    def __str__(self) -> str:
        return self.key


def floor_hour(moment: datetime) -> Hour:
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    moment = moment.astimezone(UTC)
    return Hour(moment.replace(minute=0, second=0, microsecond=0))


def day_range(first: date, last: date) -> Iterator[date]:
    """Every UTC day from `first` to `last`, both included (the unit of a warehouse load)."""
    if last < first:
        raise ValueError(f"day range ends before it starts: {first} .. {last}")
    day = first
    while day <= last:
        yield day
        day += timedelta(days=1)


def hour_range(start: Hour, end: Hour) -> Iterator[Hour]:
    """Every hour from start to end, both included."""
    if end < start:
        raise HourError(f"range end {end.key} is before its start {start.key}")
    current = start
    while current <= end:
        yield current
        current = current.next()


def latest_complete_hour(now: datetime | None = None, lag: timedelta = DEFAULT_PUBLICATION_LAG) -> Hour:
    """The newest hour that has ended at least `lag` before `now` (what the hourly scheduler asks for)."""
    moment = now or datetime.now(UTC)
    return floor_hour(moment - lag) - 1
