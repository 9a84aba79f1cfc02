"""Hours: parsing, naming and arithmetic across every calendar boundary (examples + properties)."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gharchive_pipeline.hours import (
    FIRST_HOUR_START,
    Hour,
    HourError,
    floor_hour,
    hour_range,
    latest_complete_hour,
)

NOW = datetime(2026, 11, 29, 12, 5, tzinfo=UTC)
LAST = floor_hour(NOW)


def h(text: str) -> Hour:
    return Hour.parse(text, now=NOW)


# ---- parsing ----------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "text",
    [
        "2015-01-01T15",
        "2015-01-01-15",
        "2015-01-01 15",
        "2015-01-01-15.json.gz",
        "2015-01-01T15:00:00Z",
        "2015-01-01T15:00Z",
        "2015-01-01T15:00:00+00:00",
        "2015-01-01T16:00:00+01:00",
        "2015-01-01T07:00:00-08:00",
        "2015-01-01T15:00:00.000Z",
        "  2015-01-01T15 ",
        "2015-01-01_15",
        "2015-01-01-15.json",
        "2015-01-01T15:00",
        "2015-01-01 15:00",
        "2015-01-01 15:00:00Z",
        "2015-01-01T15:00:00",  # no offset: UTC
        "2015-01-01T15:00:00.5Z",  # a fraction of a second is dropped, as it always was
        "2015-01-01T15:00:00.123456789Z",
        "2015-01-01T16:00+0100",
        "2015-01-01T15:00-0000",
        "2015-01-02T00:00:00+09:00",
    ],
)
def test_parse_accepts_every_spelling(text: str) -> None:
    """Every form `Hour.parse` accepts, pinned (whatever parses them): one hour, spelled every way."""
    assert h(text) == Hour(datetime(2015, 1, 1, 15, tzinfo=UTC))


#: Forms other ISO 8601 parsers take that `Hour.parse` refuses (pinned: no form is added silently).
@pytest.mark.parametrize(
    "text",
    [
        "20150101T15",
        "20150101T1500Z",
        "2015-01-01T1500",
        "2015-01-01T15:00:00+01",
        "2015-01-01T15:00:00,000Z",
        "2015-W01-4T15",
        "2015-001T15",
        "2015-01-01t15",
        "2015-01-01T15:00:00 Z",
        "2015-01-01T15:00:00+01:00:00",
        "2015-01-01T5:00Z",
    ],
)
def test_parse_refuses_other_iso_forms(text: str) -> None:
    with pytest.raises(HourError, match="bad hour"):
        h(text)


def test_unpadded_single_digit_hours() -> None:
    one = h("2015-01-01-1")
    assert one == h("2015-01-01T01")
    assert one.file_name == "2015-01-01-1.json.gz"
    assert one.key == "2015-01-01T01"
    assert one.url() == "https://data.gharchive.org/2015-01-01-1.json.gz"
    assert one.url("http://127.0.0.1:1/") == "http://127.0.0.1:1/2015-01-01-1.json.gz"
    assert one.url("https://h/base/?token=t") == "https://h/base/2015-01-01-1.json.gz?token=t"


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("2015-13-01T00", "month"),
        ("2015-01-01T24", "hour 24"),
        ("2015-02-29T00", "day"),
        ("2015-01-32T00", "day"),
        ("2011-02-11T23", "2011-02-12"),
        ("2010-01-01T00", "2011-02-12"),
        ("2026-11-29T13", "future"),
        ("2030-01-01T00", "future"),
        ("2015-01-01T15:30:00Z", "on the hour"),
        ("2015-01-01T15:00:00+05:30", "on the hour"),
        ("yesterday", "expected"),
        ("", "expected"),
        ("2015-1-1T1", "expected"),
        ("2015-01-01T00:00:00+99:60", "UTC offset is not one"),
        ("2015-01-01T00:00:00-24:00", "UTC offset is not one"),
    ],
)
def test_parse_rejects_bad_hours_clearly(text: str, says: str) -> None:
    with pytest.raises(HourError, match=r"bad hour") as err:
        h(text)
    assert says in str(err.value)


def test_a_huge_hour_string_is_quoted_short() -> None:
    """A 300 KB hour (from a message body or the command line) makes a short message, not a 300 KB
    line on the console, in a log or in a ledger reason."""
    text = "2015-01-01T00" + "9" * 300_000
    with pytest.raises(HourError) as err:
        h(text)
    assert len(str(err.value)) < 300
    assert "300,013 chars" in str(err.value)


def test_first_and_current_hours_are_valid() -> None:
    assert h("2011-02-12T00").start == FIRST_HOUR_START
    assert h("2026-11-29T12") == LAST  # the hour in progress exists (it is not in the future)


def test_hour_value_rules() -> None:
    with pytest.raises(HourError):
        Hour(datetime(2015, 1, 1, 15))  # naive
    with pytest.raises(HourError):
        Hour(datetime(2015, 1, 1, 15, 1, tzinfo=UTC))
    other_tz = datetime(2015, 1, 1, 16, tzinfo=UTC).astimezone(
        __import__("zoneinfo").ZoneInfo("Europe/Paris")
    )
    assert Hour(other_tz) == h("2015-01-01T16")
    assert Hour.containing(datetime(2015, 1, 1, 15, 59, 59)) == h("2015-01-01T15")


# ---- boundaries --------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("before", "after"),
    [
        ("2015-01-01T22", "2015-01-01T23"),
        ("2015-01-01T23", "2015-01-02T00"),  # day
        ("2015-01-31T23", "2015-02-01T00"),  # month
        ("2014-12-31T23", "2015-01-01T00"),  # year
        ("2016-02-28T23", "2016-02-29T00"),  # leap day
        ("2016-02-29T23", "2016-03-01T00"),
        ("2015-02-28T23", "2015-03-01T00"),  # no leap day
        ("2020-02-28T23", "2020-02-29T00"),
    ],
)
def test_next_and_prev_cross_boundaries(before: str, after: str) -> None:
    assert h(before).next() == h(after)
    assert h(after).prev() == h(before)
    assert h(before) + 1 == h(after)
    assert h(after) - 1 == h(before)


def test_latest_complete_hour_at_boundaries() -> None:
    # the seed's bug: "previous hour" at midnight of a new year
    assert latest_complete_hour(datetime(2016, 1, 1, 0, 45, tzinfo=UTC)).key == "2015-12-31T23"
    assert latest_complete_hour(datetime(2016, 1, 1, 0, 15, tzinfo=UTC)).key == "2015-12-31T22"
    assert latest_complete_hour(datetime(2016, 3, 1, 0, 30, tzinfo=UTC)).key == "2016-02-29T23"
    assert latest_complete_hour(datetime(2016, 3, 1, 0, 5, tzinfo=UTC), timedelta(0)).key == "2016-02-29T23"
    assert (
        latest_complete_hour(datetime(2016, 3, 1, 2, 0, tzinfo=UTC), timedelta(hours=2)).key
        == "2016-02-29T23"
    )


def test_hour_range_inclusive_and_ordered() -> None:
    hours = list(hour_range(h("2015-12-31T22"), h("2016-01-01T01")))
    assert [x.key for x in hours] == ["2015-12-31T22", "2015-12-31T23", "2016-01-01T00", "2016-01-01T01"]
    assert list(hour_range(h("2015-01-01T00"), h("2015-01-01T00"))) == [h("2015-01-01T00")]
    with pytest.raises(HourError, match="before its start"):
        list(hour_range(h("2015-01-02T00"), h("2015-01-01T00")))
    assert len(list(hour_range(h("2016-01-01T00"), h("2016-12-31T23")))) == 366 * 24


# ---- properties --------------------------------------------------------------------------------------
TOTAL_HOURS = Hour(FIRST_HOUR_START).hours_until(LAST)
hours_st = st.integers(min_value=0, max_value=TOTAL_HOURS).map(lambda n: Hour(FIRST_HOUR_START) + n)


@given(hours_st)
def test_every_spelling_round_trips(hour: Hour) -> None:
    assert h(hour.key) == hour
    assert h(hour.file_stem) == hour
    assert h(hour.file_name) == hour
    assert h(hour.start.isoformat()) == hour
    assert h(hour.start.strftime("%Y-%m-%dT%H:%M:%SZ")) == hour
    assert hour.file_name == f"{hour.start:%Y-%m-%d}-{hour.start.hour}.json.gz"


@given(hours_st, st.integers(min_value=-50_000, max_value=50_000))
def test_arithmetic_is_consistent(hour: Hour, n: int) -> None:
    moved = hour + n
    assert moved - n == hour
    assert hour.hours_until(moved) == n
    assert moved.start - hour.start == timedelta(hours=n)
    assert (moved > hour) == (n > 0)


@given(hours_st)
def test_next_crosses_calendar_boundaries_correctly(hour: Hour) -> None:
    nxt = hour.next()
    assert nxt.prev() == hour
    assert nxt.end - hour.end == timedelta(hours=1)
    if hour.start.hour == 23:
        assert nxt.start.hour == 0
        assert nxt.start.date() == hour.start.date() + timedelta(days=1)
        assert (nxt.start.day == 1) == (nxt.start.month != hour.start.month)
        assert (nxt.start.month == 1 and nxt.start.day == 1) == (nxt.start.year != hour.start.year)
    else:
        assert nxt.start.date() == hour.start.date()
        assert nxt.start.hour == hour.start.hour + 1


@given(hours_st, st.integers(min_value=0, max_value=400))
def test_ranges_are_contiguous(start: Hour, length: int) -> None:
    end = start + length
    hours = list(hour_range(start, end))
    assert len(hours) == length + 1
    assert hours[0] == start and hours[-1] == end
    assert all(b.prev() == a for a, b in itertools.pairwise(hours))
    assert len({x.file_name for x in hours}) == len(hours)


@given(
    st.datetimes(min_value=datetime(2011, 3, 1), max_value=datetime(2030, 1, 1), timezones=st.just(UTC)),
    st.integers(min_value=0, max_value=6 * 60),
)
def test_latest_complete_hour_is_the_newest_published(now: datetime, lag_minutes: int) -> None:
    lag = timedelta(minutes=lag_minutes)
    latest = latest_complete_hour(now, lag)
    assert latest.end + lag <= now  # it has ended and had `lag` to be published
    assert latest.next().end + lag > now  # the next one has not


def test_parse_rejects_out_of_range_properties() -> None:
    with pytest.raises(HourError):
        Hour.checked(FIRST_HOUR_START - timedelta(hours=1), now=NOW)
    with pytest.raises(HourError):
        Hour.checked(LAST.start + timedelta(hours=1), now=NOW)
