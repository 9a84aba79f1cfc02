"""When the runner loads a day: once every hour of the run that can hold its rows is through the chain
(its own hours and the next day's, which can hold late events), and the last days after the pool."""

from __future__ import annotations

from datetime import date

from gharchive_pipeline.hours import Hour, hour_range
from gharchive_pipeline.local.runner import _DayQueue

D1, D2, D3 = date(2015, 1, 1), date(2015, 1, 2), date(2015, 1, 3)


def test_a_day_waits_for_the_next_days_hours_then_loads_once() -> None:
    hours = list(hour_range(Hour.parse("2015-01-01T00"), Hour.parse("2015-01-03T05")))
    queue = _DayQueue(hours)
    ready: list[date] = []
    for hour in hours[:48]:  # all hours of D1 and D2
        queue.done(hour, [hour.start.date()])
        ready += queue.settled()
    assert ready == [D1]  # D2 waits for D3's hours
    late = Hour.parse("2015-01-03T00")
    queue.done(late, [D3, D2])  # D3's first hour holds late events of D2 (a marker)
    assert queue.settled() == []  # the rest of the run is still pending
    for hour in hours[49:]:
        queue.done(hour, [hour.start.date()])
        assert queue.settled() == []  # nothing pending: the last days wait for the pool to close
    assert queue.settled(final=True) == [D2, D3]
    assert queue.settled(final=True) == []  # each day once


def test_hours_finishing_out_of_order() -> None:
    hours = list(hour_range(Hour.parse("2015-01-01T22"), Hour.parse("2015-01-03T01")))
    queue = _DayQueue(hours)
    for hour in reversed(hours[1:]):
        queue.done(hour, [hour.start.date()])
        assert queue.settled() == []  # 2015-01-01T22 is still pending: no day before D3 is settled
    queue.done(hours[0], [D1])
    assert queue.settled() == []
    assert queue.settled(final=True) == [D1, D2, D3]
