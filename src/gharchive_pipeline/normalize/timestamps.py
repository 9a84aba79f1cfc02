"""`created_at` in any GH Archive spelling -> microseconds since the epoch, UTC.

Events/backfill use `2015-01-01T00:00:00Z`; the Timeline era `2012-06-14T15:01:42-07:00` (US-Pacific
offsets, converted here to the true UTC instant); one 2012 hour uses `2012/03/11 12:00:00 -0700`.
A value without an offset is taken as UTC.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from .pii import scrub_text

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_ONE_US = timedelta(microseconds=1)
_FALLBACK_FORMATS = ("%Y/%m/%d %H:%M:%S %z", "%Y/%m/%d %H:%M:%S")
_CACHE_LIMIT = 100_000


class TimestampError(ValueError):
    """A created_at value that is not a timestamp."""


def to_micros(moment: datetime) -> int:
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return (moment - _EPOCH) // _ONE_US


def parse_timestamp(value: object) -> int:
    if not isinstance(value, str):
        raise TimestampError(f"created_at is {type(value).__name__}, not a string")
    try:
        return to_micros(datetime.fromisoformat(value))
    except ValueError:
        pass
    for fmt in _FALLBACK_FORMATS:
        try:
            return to_micros(datetime.strptime(value, fmt))
        except ValueError:
            continue
    raise TimestampError(f"created_at {scrub_text(value[:40])!r} is not a timestamp")


class TimestampParser:
    """`parse_timestamp` with a per-run cache: an hour has at most a few thousand distinct seconds."""

    def __init__(self) -> None:
        self.cache: dict[str, int] = {}

    def __call__(self, value: object) -> int:
        if isinstance(value, str):
            cached = self.cache.get(value)
            if cached is not None:
                return cached
        micros = parse_timestamp(value)
        if isinstance(value, str):
            if len(self.cache) >= _CACHE_LIMIT:
                self.cache.clear()
            self.cache[value] = micros
        return micros
