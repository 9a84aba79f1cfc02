"""`gharchive run --follow` (local/follow.py): real hours published over simulated time by a local
server, through outages (500s, then connection refused), a late hour, a never-published hour and a
restart; the real local chain (ingest, normalize, load) runs every hour. The clock is fake so a day
of following takes seconds: its sleep advances time, and the server reads the same clock."""

from __future__ import annotations

import gc
import gzip
import os
import signal
import threading
import time
import tracemalloc
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner

from gharchive_pipeline.cli import cli
from gharchive_pipeline.hours import Hour
from gharchive_pipeline.layout import Home
from gharchive_pipeline.ledger import LedgerEntry, read_ledger
from gharchive_pipeline.local import stopping
from gharchive_pipeline.local.follow import (
    ConsoleLines,
    Follower,
    FollowEvent,
    LocalChain,
    Progress,
    _runs,
    progress,
    stop_on_signals,
)
from gharchive_pipeline.local.status import HourStatus, hour_status
from tests.conftest import COMPLETE_HOURS, DATA
from tests.support.publishing_server import FakeClock, PublishingServer

H0 = Hour.parse("2015-01-01T00")
H1, H2, H3 = H0 + 1, H0 + 2, H0 + 3


def at(hour: Hour, minutes: int) -> datetime:
    return hour.start + timedelta(minutes=minutes)


def status(home: Path, hour: Hour) -> HourStatus:
    raw, curated = Home(home).buckets()
    return hour_status(raw, curated, hour)


def ingest_and_normalize(home: Path, hour: Hour) -> list[LedgerEntry]:
    return [e for e in read_ledger(Home(home).buckets()[0], hour) if e.stage in ("ingest", "normalize")]


# ---- pure pieces ----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("raw", "normalized", "loaded", "expected"),
    [
        ("stored", "normalized", "loaded", Progress.DONE),
        ("stored", "rejected", "loaded", Progress.DONE),
        ("missing", "-", "-", Progress.MISSING),
        ("corrupt", "-", "-", Progress.BAD),
        ("stored", "failed", "-", Progress.BAD),
        ("stored", "pending", "-", Progress.OPEN),
        ("stored", "normalized", "failed", Progress.OPEN),
        ("not_yet_published", "-", "-", Progress.OPEN),
        ("transient", "-", "-", Progress.OPEN),
        ("-", "-", "-", Progress.OPEN),
    ],
)
def test_progress_of_a_status_row(raw: str, normalized: str, loaded: str, expected: Progress) -> None:
    assert progress(HourStatus(H0, raw, None, None, normalized, loaded)) is expected


def test_contiguous_runs() -> None:
    assert list(_runs([H3, H0, H1, H0 + 5])) == [(H0, H1), (H3, H3), (H0 + 5, H0 + 5)]
    assert list(_runs([])) == []


def test_cli_help_explains_follow() -> None:
    out = CliRunner().invoke(cli, ["run", "--help"]).output
    assert "--follow" in out and "A restart resumes from the ledgers in HOME" in " ".join(out.split())


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_first_signal_asks_to_stop_the_second_abandons(signum: signal.Signals) -> None:
    stop = threading.Event()
    # as a shell's foreground command: a SIGINT the test runner inherited ignored (started by a
    # script with `&`) stays ignored by the follower, as nohup asks (tests/faults/test_stop_signals.py)
    inherited = signal.signal(
        signum, signal.default_int_handler if signum == signal.SIGINT else signal.SIG_DFL
    )
    before = signal.getsignal(signum)
    try:
        with stop_on_signals(stop):
            os.kill(os.getpid(), signum)
            assert stop.wait(5)
            with pytest.raises(stopping.Stopped) as raised:
                os.kill(os.getpid(), signum)
                time.sleep(5)  # the handler raises in the main thread long before this ends
            assert raised.value.exit_status == 128 + signum
            os.kill(os.getpid(), signum)  # a third one, while unwinding: ignored
            time.sleep(0.1)
    finally:
        stopping.reset()
        after = signal.getsignal(signum)
        signal.signal(signum, inherited)
    assert after is before


def test_a_stop_interrupts_the_wait_for_the_next_hour(tmp_path: Path) -> None:
    """The real sleep is the stop event's wait: a stop during a long wait ends the run at once."""
    stop = threading.Event()
    now = datetime.now(UTC)
    follower = Follower(LocalChain(tmp_path, str(tmp_path)), Hour.containing(now), stop=stop)
    threading.Timer(0.2, stop.set).start()
    started = time.monotonic()
    assert follower.run().stopped
    assert time.monotonic() - started < 10


# ---- the follow loop on the real chain --------------------------------------------------------------
@pytest.mark.slow
def test_follow_through_outages_late_and_missing_hours_and_a_restart(tmp_path: Path) -> None:
    home = tmp_path / "home"
    clock = FakeClock(at(H0, 0))
    files = {h: DATA / h.file_name for h in (H0, H1, H3)}
    with PublishingServer(clock, files) as server:
        server.publish_at(H2, None)  # never published: `missing` once the not-yet window is over
        server.publish_at(H3, at(H3, 60 + 150))  # published 2.5 h late (after the 30 min lag)
        server.outage(at(H1, 75), at(H1, 125), refuse=False)  # 500s when H1 is first due (02:30)
        server.outage(at(H1, 125), at(H1, 180), refuse=True)  # then connection refused
        chain = LocalChain(home, server.url, sleep=clock.sleep)

        # first run: stops (as on SIGTERM) once H0 is done
        stop = threading.Event()
        events: list[FollowEvent] = []

        def first_events(event: FollowEvent) -> None:
            events.append(event)
            if event.hour == H0 and event.what == "done":
                stop.set()

        first = Follower(chain, H0, H3, clock=clock, sleep=clock.sleep, stop=stop, on_event=first_events)
        summary = first.run()
        assert summary.stopped and summary.done == 1
        assert status(home, H0).complete and status(home, H1).raw == "-"
        ledger_h0 = ingest_and_normalize(home, H0)

        # restart: resumes from the ledgers, never fetches H0 again
        later: list[tuple[datetime, FollowEvent]] = []
        second = Follower(
            chain, H0, H3, clock=clock, sleep=clock.sleep, on_event=lambda e: later.append((clock(), e))
        )
        summary = second.run()

    assert not summary.stopped
    assert (summary.done, summary.missing, summary.bad, summary.given_up) == (3, 1, 0, 0)  # H0 counted again
    assert server.hits[H0.file_name] == 1
    # not fetched or normalized again (its day is rebuilt with the next hours: new load entries)
    assert ingest_and_normalize(home, H0) == ledger_h0

    what = [(e.hour, e.what) for _, e in later]
    assert (None, "source_down") in what  # both outages were backed off, then H1 went through
    done_at = {e.hour: t for t, e in later if e.what in ("done", "missing")}
    assert done_at[H1] >= at(H1, 180)
    assert (H3, "late") in what and done_at[H3] < done_at[H2]  # the late hour did not wait for H2
    assert done_at[H2] >= H2.end + timedelta(hours=24)  # 404s only become `missing` after the window

    for hour in (H0, H1, H3):
        row = status(home, hour)
        assert row.complete and row.events == COMPLETE_HOURS[hour.file_name], row
    assert status(home, H2).raw == "missing"


def pipeline_objects() -> Counter[str]:
    """Live instances of the pipeline's own classes (results, deliveries, events, ledger entries...)."""
    gc.collect()
    return Counter(
        type(o).__qualname__
        for o in gc.get_objects()
        if str(getattr(type(o), "__module__", "")).startswith("gharchive_pipeline")
    )


@pytest.mark.slow
def test_follow_memory_does_not_grow_over_many_hours(tmp_path: Path) -> None:
    """Simulated hours (a tiny real hour each: the first 10 lines of 2018-01-01-0) through the real
    chain: between hour 4 and hour 12 no more of the pipeline's objects are alive (a list keeping one
    result, delivery or event per hour would show at once) and the traced Python heap stays put,
    give or take a generous margin for caches and allocator noise."""
    tiny = gzip.compress((DATA / "partial" / "2018-01-01-0.json").read_bytes())
    start = Hour.parse("2018-01-01T00")
    hours, marks = 12, (4, 12)
    clock = FakeClock(start.start)
    heap: dict[int, int] = {}
    objects: dict[int, Counter[str]] = {}
    with PublishingServer(clock, {start + i: tiny for i in range(hours)}) as server:
        chain = LocalChain(tmp_path / "home", server.url, sleep=clock.sleep)
        done = 0

        def measure(event: FollowEvent) -> None:
            nonlocal done
            if event.what == "done":
                done += 1
                if done in marks:
                    objects[done] = pipeline_objects()
                    heap[done] = tracemalloc.get_traced_memory()[0]

        tracemalloc.start()
        try:
            summary = Follower(
                chain, start, start + (hours - 1), clock=clock, sleep=clock.sleep, on_event=measure
            ).run()
        finally:
            tracemalloc.stop()
    assert summary.done == hours
    more = objects[12] - objects[4]
    growth = heap[12] - heap[4]
    print(f"traced heap after hours 4, 12: {heap} bytes (+{growth}); objects gained: {dict(more)}")
    # one object kept per hour would be 8 more; a few are allowed for whatever is in flight
    grown = {name: n for name, n in more.items() if n > 3}
    assert not grown, f"pipeline objects accumulate over hours: {grown}"
    assert growth < 4 * 1024 * 1024


def test_runs_of_missing_hours_are_one_console_line_each() -> None:
    lines: list[str] = []
    show = ConsoleLines(lines.append, clock=lambda: datetime(2026, 1, 1, tzinfo=UTC))
    for hour, what in [(H0, "done"), (H0 + 1, "missing"), (H0 + 2, "missing"), (H0 + 3, "missing")]:
        show(FollowEvent(hour, what))
    show(FollowEvent(H0 + 5, "missing"))  # not next to the run before: a run of its own
    show(FollowEvent(H0 + 4, "done"))  # an earlier hour's verdict: the run goes on
    show(FollowEvent(H0 + 6, "missing"))
    show(FollowEvent(None, "waiting", "until later"))
    show(FollowEvent(H0 + 9, "missing"))
    show.flush()
    assert [line.split(" ", 1)[1] for line in lines] == [
        "2015-01-01T00 done",
        "2015-01-01T01..2015-01-01T03 missing: 3 hours",
        "2015-01-01T04 done",
        "2015-01-01T05..2015-01-01T06 missing: 2 hours",
        "- waiting: until later",
        "2015-01-01T09 missing",
    ]


@pytest.mark.slow
def test_follow_over_a_sparse_folder_summarizes_the_missing_hours(tmp_path: Path) -> None:
    """A folder holding one real hour of two days: one line for the 47 missing hours (not 47), and
    every one of them recorded `missing` in its ledger."""
    first = Hour.parse("2011-02-15T00")
    last = first + 47
    source, home = tmp_path / "source", tmp_path / "home"
    source.mkdir()
    (source / first.file_name).write_bytes((DATA / first.file_name).read_bytes())
    result = CliRunner().invoke(
        cli, ["run", first.key, last.key, "--follow", "--source", str(source), "--home", str(home)]
    )
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()  # the console lines (stderr may carry JSON logs of other tests' setup)
    missing = [line for line in lines if " missing" in line and not line.startswith("follow:")]
    assert [line.split(" ", 1)[1] for line in missing] == [
        f"{(first + 1).key}..{last.key} missing: 47 hours"
    ], result.output
    assert f"{first.key} done" in result.stdout
    assert "follow: 1 hours loaded, 47 missing" in result.stdout
    raw, curated = Home(home).buckets()
    assert [hour_status(raw, curated, first + i).raw for i in range(1, 48)] == ["missing"] * 47
