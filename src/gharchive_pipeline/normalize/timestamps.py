"""`created_at` in any GH Archive spelling -> microseconds since the epoch, UTC.

Events/backfill use `2015-01-01T00:00:00Z`; the Timeline era `2012-06-14T15:01:42-07:00` (US-Pacific
offsets, converted here to the true UTC instant); one 2012 hour uses `2012/03/11 12:00:00 -0700`.
A value without an offset is taken as UTC.

Range: a created_at outside what BigQuery's TIMESTAMP holds (0001-01-01..9999-12-31 UTC, after the
offset is applied: `9999-12-31T23:59:59-12:00` is year 10000) can never be loaded: its line is a
reject. So is an implausible one (`plausible_window`): before GitHub existed (2007-10), or more than
a day after the run (an event cannot be created after the file that holds it was written). The
upper bound is NOT tied to the file's hour: files are named by crawl time since 2025, by US-Pacific
wall clock in 2012-2014, and `--hour` labels dumps that span years; a late event is still an event.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from .fields import kind
from .pii import scrub_text

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_ONE_US = timedelta(microseconds=1)
_FALLBACK_FORMATS = ("%Y/%m/%d %H:%M:%S %z", "%Y/%m/%d %H:%M:%S")
_CACHE_LIMIT = 100_000
#: GitHub's development began in October 2007: no event can be older
GITHUB_BEGAN = datetime(2007, 10, 1, tzinfo=UTC)
#: how far past the run a created_at may be (clock skew); later ones are in the future
FUTURE_MARGIN = timedelta(days=1)


class TimestampError(ValueError):
    """A created_at value that is not a timestamp."""


def to_micros(moment: datetime) -> int:
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return (moment - _EPOCH) // _ONE_US


#: (first, last) microseconds BigQuery's TIMESTAMP holds: 0001-01-01T00:00:00Z .. 9999-12-31T23:59:59.999999Z
BIGQUERY_RANGE = (
    to_micros(datetime(1, 1, 1, tzinfo=UTC)),
    to_micros(datetime(9999, 12, 31, 23, 59, 59, 999_999, tzinfo=UTC)),
)


def plausible_window(now: datetime) -> tuple[int, int]:
    """The created_at range (microseconds) a row of a run started at `now` may have."""
    return to_micros(GITHUB_BEGAN), to_micros(now + FUTURE_MARGIN)


#: characters of a refused created_at quoted in a reason
EXCERPT = 40


def excerpt(value: object) -> str:
    """The start of a refused value for a reason, e-mails hashed BEFORE cutting: cut first, an
    address split by the cut (`alice.smith@exam`) would no longer look like one and stay in clear."""
    return scrub_text(str(value))[:EXCERPT]  # the whole value: a local part has no length limit


def describe_range(value: object, micros: int, window: tuple[int, int]) -> str:
    """Why a parsed created_at is refused (it lies outside `window`). Never the clock time of the
    run: a rerun's rejects are byte for byte those of the first run."""
    shown = excerpt(value)
    if not BIGQUERY_RANGE[0] <= micros <= BIGQUERY_RANGE[1]:
        return f"created_at {shown!r} is outside what BigQuery's TIMESTAMP holds (years 1 to 9999 in UTC)"
    if micros < window[0]:
        return f"created_at {shown!r} is before {_iso(window[0])}: older than GitHub"
    return f"created_at {shown!r} is in the future (more than a day after the run)"


def _iso(micros: int) -> str:
    return (_EPOCH + timedelta(microseconds=micros)).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_timestamp(value: object) -> int:
    if not isinstance(value, str):
        raise TimestampError(f"created_at is {kind(value)}, not a string")
    try:
        return to_micros(datetime.fromisoformat(value))
    except ValueError:
        pass
    for fmt in _FALLBACK_FORMATS:
        try:
            return to_micros(datetime.strptime(value, fmt))
        except ValueError:
            continue
    raise TimestampError(f"created_at {excerpt(value)!r} is not a timestamp")


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
