"""`gharchive run --follow`: the local stand-in for Cloud Scheduler, hour after hour, for days.

From START on, each hour is taken once GH Archive should have published it (the latest complete
hour by the publication lag), then the loop sleeps until the next one is due. It keeps going:
- an hour that is late (404 while recent) is asked again later, with a growing delay, without
  holding back the hours after it; after the not-yet window it is recorded `missing`;
- a source that is down (connection refused, 5xx after the download's own retries) stops the pass
  and the loop backs off (tenacity, exponential with jitter) until it answers again;
- a restart picks up where the last run stopped: the position is derived from the ledgers in HOME
  (an hour is settled when it is stored+normalized+loaded, missing, or a recorded bad hour), never
  from a state file that could disagree with them;
- its state is a cursor plus the few hours still open (late or failing), so memory does not grow
  over days; per-hour results are reported through a callback and forgotten;
- a first SIGINT/SIGTERM finishes the current hour and stops; a second abandons it at once (every
  stage is safe to kill, and a rerun completes it); either way the exit status is non-zero (128 +
  the signal), as for any stopped command.

The clock, the sleep and the chain (ingest, the rest of the chain, the hour's state) are passed in,
so tests drive days of hours with a fast clock against a local server.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from pathlib import Path
from typing import Protocol

from tenacity import Retrying, retry_if_exception_type, wait_exponential, wait_random

from ..context import local_context
from ..hours import DEFAULT_PUBLICATION_LAG, Hour, hour_range, latest_complete_hour
from ..layout import Home
from .status import HourStatus

log = logging.getLogger(__name__)

Clock = Callable[[], datetime]
Sleep = Callable[[float], None]


class Progress(StrEnum):
    """Where an hour stands for the follower (derived from its ledger and objects)."""

    DONE = "done"  # stored, normalized and loaded
    MISSING = "missing"  # GH Archive does not have it (recorded after the not-yet window)
    BAD = "bad"  # a recorded bad hour: corrupt gzip (quarantined) or refused by the normalizer
    OPEN = "open"  # anything else: still to do


#: Ingest outcomes meaning "the source did not answer usefully now": back off, try the pass again.
SOURCE_DOWN = frozenset({"transient"})
#: Ingest outcomes meaning "not there yet": ask for this hour again later, go on with the others.
LATE = frozenset({"not_yet_published"})
#: Ingest outcomes after which the rest of the chain has work to do.
HELD = frozenset({"stored", "already_present"})


def progress(status: HourStatus) -> Progress:
    """The follower's view of an hour's status row (pure)."""
    if status.complete:
        return Progress.DONE
    if status.raw == "missing":
        return Progress.MISSING
    if status.raw == "corrupt" or status.normalized == "failed":
        return Progress.BAD
    return Progress.OPEN


class Chain(Protocol):
    """What the follower drives: the local chain of one home (see LocalChain)."""

    def progress(self, hour: Hour) -> Progress: ...

    def ingest(self, hour: Hour, now: datetime) -> str:
        """Ingest `hour` as of `now`; the ingest outcome word (stored, not_yet_published, ...)."""
        ...

    def process(self, first: Hour, last: Hour, after_hour: Callable[[], None]) -> None:
        """Run the whole chain for first..last; `after_hour` is called after each hour."""
        ...


@dataclass(frozen=True)
class LocalChain:
    """The real local chain of HOME (its `local_context`): ingest stage, then `gharchive run`'s
    runner, status from ledgers."""

    home: Path
    source: str
    sleep: Sleep = time.sleep  # the download's retry delays

    def progress(self, hour: Hour) -> Progress:
        from .status import hour_status

        ctx = local_context(self.home, source=self.source)
        return progress(hour_status(ctx.raw, ctx.curated, hour))

    def ingest(self, hour: Hour, now: datetime) -> str:
        # The follower's clock decides "not yet published" vs "missing" (the runner's ingest uses
        # the wall clock); the runner then finds the hour already present.
        from ..stages.ingest import ingest_hour

        ctx = local_context(self.home, source=self.source, clock=_At(now, self.sleep))
        return str(ingest_hour(hour, ctx).outcome)

    def process(self, first: Hour, last: Hour, after_hour: Callable[[], None]) -> None:
        from .runner import run_hours

        run_hours(first, last, home=self.home, source=self.source, progress=_EachHour(after_hour))


@dataclass(frozen=True)
class _EachHour:
    """The runner's progress as the follower wants it: a call after each hour (it checks for a stop)."""

    after_hour: Callable[[], None]

    def hour_done(self, status: object) -> None:
        self.after_hour()

    def day_done(self, result: object) -> None:
        pass


@dataclass(frozen=True)
class _At:
    """The follower's `now` for one ingest, and its sleep for the download's retry delays."""

    at: datetime
    wait: Sleep

    def now(self) -> datetime:
        return self.at

    def sleep(self, seconds: float) -> None:
        self.wait(seconds)


@dataclass(frozen=True)
class FollowSettings:
    lag: timedelta = DEFAULT_PUBLICATION_LAG  # an hour is asked for this long after it ends
    late_delay: timedelta = timedelta(minutes=5)  # first re-ask of a late hour; doubles each time
    late_max_delay: timedelta = timedelta(hours=1)
    outage_initial: timedelta = timedelta(seconds=30)  # back-off while the source is down
    outage_max: timedelta = timedelta(minutes=15)
    max_failures: int = 3  # chain failures of one hour before it is left for the next start
    batch_hours: int = 24  # hours taken per pass while catching up (the runner parallelizes them)
    max_sleep: timedelta = timedelta(hours=1)  # never sleep longer: the clock is read again


@dataclass(frozen=True)
class FollowEvent:
    """What the follower tells its caller (the CLI prints it; nothing keeps it)."""

    hour: Hour | None
    what: str  # done / missing / bad / late / failed / given_up / source_down / waiting / stopping
    detail: str = ""


@dataclass
class FollowSummary:
    """Counters only: a run of days must not keep a list per hour."""

    done: int = 0
    missing: int = 0
    bad: int = 0
    given_up: int = 0
    stopped: bool = False


class Stopped(Exception):
    """A stop was requested (SIGINT/SIGTERM): leave between hours."""


class SourceDown(Exception):
    """The source did not answer usefully for an hour: back off and try the pass again."""


@dataclass
class _Open:
    """An hour being retried: how often, and when next."""

    tries: int
    due: datetime
    failures: int = 0


class Follower:
    """The follow loop (see module docstring). `run()` returns when END is settled or on stop."""

    def __init__(
        self,
        chain: Chain,
        start: Hour,
        end: Hour | None = None,
        *,
        clock: Clock = lambda: datetime.now(UTC),
        sleep: Sleep | None = None,
        stop: threading.Event | None = None,
        settings: FollowSettings = FollowSettings(),
        on_event: Callable[[FollowEvent], None] | None = None,
    ) -> None:
        self.chain = chain
        self.start, self.end = start, end
        self.clock = clock
        self.stop = stop or threading.Event()
        self.sleep: Sleep = sleep if sleep is not None else self._interruptible_sleep
        self.settings = settings
        self.on_event = on_event or (lambda _e: None)
        self.cursor = start  # every hour before it is settled or open (in self.open)
        self.open: dict[Hour, _Open] = {}
        self.summary = FollowSummary()

    # ---- the loop ---------------------------------------------------------------------------------
    def run(self) -> FollowSummary:
        s = self.settings
        retrying = Retrying(
            retry=retry_if_exception_type(SourceDown),
            wait=wait_exponential(
                multiplier=s.outage_initial.total_seconds(), max=s.outage_max.total_seconds()
            )
            + wait_random(0, s.outage_initial.total_seconds() / 2),
            stop=lambda _state: self.stop.is_set(),
            sleep=self.sleep,
            before_sleep=lambda state: self._emit(
                None, "source_down", f"{state.outcome.exception() if state.outcome else ''}; backing off"
            ),
            reraise=True,
        )
        try:
            while not self.finished:
                self._check_stop()
                try:
                    retrying(self._pass)
                except SourceDown:  # only when stopping during an outage
                    self._check_stop()
                    raise
                self._wait()
        except Stopped:
            self.summary.stopped = True
            self._emit(None, "stopping", "stopped on request; a rerun completes what was left")
        return self.summary

    @property
    def finished(self) -> bool:
        return self.end is not None and self.cursor > self.end and not self.open

    def _pass(self) -> None:
        """Take every hour that is due now: first the open ones, then new ones up to the target."""
        now = self.clock()
        due = sorted(h for h, o in self.open.items() if o.due <= now)
        target = self._target(now)
        fresh: list[Hour] = []
        if target is not None and self.cursor <= target:
            last = min(target, self.cursor + (self.settings.batch_hours - 1))
            fresh = list(hour_range(self.cursor, last))
        ready: list[Hour] = []
        try:
            for hour in [*due, *fresh]:
                self._check_stop()
                self._take(hour, now, ready)
                if hour >= self.cursor:
                    self.cursor = hour + 1
        except SourceDown:
            self._process(ready)  # what was fetched before the outage goes on; a stop leaves it open
            raise
        self._process(ready)

    def _take(self, hour: Hour, now: datetime, ready: list[Hour]) -> None:
        """Ingest one hour (unless already settled) and sort it: ready, late, settled, or source down."""
        state = self.chain.progress(hour)
        if state is not Progress.OPEN:
            self._settle(hour, state)
            return
        outcome = self.chain.ingest(hour, now)
        if outcome in HELD:
            ready.append(hour)
        elif outcome in LATE:
            entry = self.open.get(hour) or _Open(0, now)
            self.open[hour] = self._later(entry, now)
            self._emit(
                hour, "late", f"not published yet; asking again at {self.open[hour].due:%Y-%m-%dT%H:%M}"
            )
        elif outcome in SOURCE_DOWN:
            # this hour and the ones after it wait for the source (the cursor stays on it)
            raise SourceDown(f"hour {hour.key}: source {outcome}")
        else:  # missing, corrupt: a recorded outcome (anything else unforeseen counts as a bad hour)
            state = self.chain.progress(hour)
            self._settle(hour, Progress.BAD if state is Progress.OPEN else state)

    def _process(self, ready: list[Hour]) -> None:
        """The rest of the chain for the ingested hours, in contiguous runs, then their verdicts."""
        for first, last in _runs(ready):
            self.chain.process(first, last, self._check_stop)
            for hour in hour_range(first, last):
                self._verdict(hour)

    def _verdict(self, hour: Hour) -> None:
        state = self.chain.progress(hour)
        if state is not Progress.OPEN:
            self._settle(hour, state)
            return
        now = self.clock()
        entry = self.open.get(hour) or _Open(0, now)
        entry.failures += 1
        if entry.failures >= self.settings.max_failures:
            self.open.pop(hour, None)
            self.summary.given_up += 1
            self._emit(
                hour, "given_up", "the chain failed on it repeatedly (see status); retried at next start"
            )
            return
        self.open[hour] = self._later(entry, now)
        self._emit(hour, "failed", f"retrying at {self.open[hour].due:%Y-%m-%dT%H:%M}")

    def _settle(self, hour: Hour, state: Progress) -> None:
        self.open.pop(hour, None)
        if state is Progress.DONE:
            self.summary.done += 1
        elif state is Progress.MISSING:
            self.summary.missing += 1
        else:
            self.summary.bad += 1
        self._emit(hour, state.value)

    def _later(self, entry: _Open, now: datetime) -> _Open:
        s = self.settings
        delay = min(s.late_max_delay, s.late_delay * 2**entry.tries)
        return _Open(entry.tries + 1, now + delay, entry.failures)

    def _target(self, now: datetime) -> Hour | None:
        """The newest hour GH Archive should have published by `now` (capped at END)."""
        latest = latest_complete_hour(now, self.settings.lag)
        if self.end is not None and self.end < latest:
            latest = self.end
        return latest if latest >= self.start else None

    def _wait(self) -> None:
        """Sleep until the next hour is due or an open hour is to be asked again."""
        self._check_stop()
        now = self.clock()
        wakes = [o.due for o in self.open.values()]
        if self.end is None or self.cursor <= self.end:
            target = self._target(now)
            if target is not None and self.cursor <= target:
                return  # catching up: no sleep
            wakes.append(self.cursor.end + self.settings.lag)  # when the cursor's hour is due
        if not wakes:
            return
        wake = min(wakes)
        seconds = min((wake - now).total_seconds(), self.settings.max_sleep.total_seconds())
        if seconds > 0:
            self._emit(None, "waiting", f"until {wake:%Y-%m-%dT%H:%M} UTC")
            self.sleep(seconds)

    # ---- stopping ---------------------------------------------------------------------------------
    def _check_stop(self) -> None:
        if self.stop.is_set():
            raise Stopped

    def _interruptible_sleep(self, seconds: float) -> None:
        self.stop.wait(seconds)

    def _emit(self, hour: Hour | None, what: str, detail: str = "") -> None:
        event = FollowEvent(hour, what, detail)
        log.info("follow %s %s %s", hour.key if hour else "-", what, detail)
        self.on_event(event)


def _runs(hours: list[Hour]) -> Iterator[tuple[Hour, Hour]]:
    """Contiguous runs of sorted distinct hours as (first, last)."""
    ordered = sorted(set(hours))
    i = 0
    while i < len(ordered):
        j = i
        while j + 1 < len(ordered) and ordered[j + 1] == ordered[j] + 1:
            j += 1
        yield ordered[i], ordered[j]
        i = j + 1


@contextmanager
def stop_on_signals(stop: threading.Event) -> Iterator[None]:
    """First SIGINT/SIGTERM: set `stop` (finish the current hour). Second: `stopping.Stopped` (abandon)."""
    from . import stopping

    with stopping.graceful(stop):
        yield


class ConsoleLines:
    """The follower's events as console lines (`<time> <hour> <what>: <detail>`), with each run of
    consecutive missing hours as one line (`<first>..<last> missing: N hours`): following from 2015
    over a sparse folder would otherwise print thousands. A run ends at a line about a later hour
    or about no hour (waiting, source down); a verdict on an earlier hour, which comes after the
    chain ran on it, is printed without ending it. Every hour is still in its ledger and in the
    JSON log; only the run's ends are held."""

    def __init__(self, echo: Callable[[str], None], clock: Clock = lambda: datetime.now(UTC)) -> None:
        self.echo = echo
        self.clock = clock
        self.missing: tuple[Hour, Hour] | None = None  # the run being gathered: first, last

    def __call__(self, event: FollowEvent) -> None:
        if event.what == Progress.MISSING.value and event.hour is not None:
            if self.missing is not None and event.hour == self.missing[1] + 1:
                self.missing = (self.missing[0], event.hour)
                return
            self.flush()
            self.missing = (event.hour, event.hour)
            return
        if event.hour is None or self.missing is None or event.hour > self.missing[1]:
            self.flush()  # an earlier hour's verdict (its chain ran after the run was gathered) does not
        hour = event.hour.key if event.hour else "-"
        self._line(f"{hour} {event.what}" + (f": {event.detail}" if event.detail else ""))

    def flush(self) -> None:
        """Print the run of missing hours gathered so far (before any other line, and at the end)."""
        if self.missing is None:
            return
        first, last = self.missing
        self.missing = None
        if first == last:
            self._line(f"{first.key} missing")
        else:
            self._line(f"{first.key}..{last.key} missing: {first.hours_until(last) + 1} hours")

    def _line(self, text: str) -> None:
        self.echo(f"{self.clock():%Y-%m-%dT%H:%M:%S} {text}")


def follow_command(
    start: Hour, end: Hour | None, *, home: Path, source: str, echo: Callable[[str], None]
) -> int:
    """`gharchive run --follow`: follow with the wall clock until END (or a signal); the exit status."""
    stop = threading.Event()
    show = ConsoleLines(echo)

    from ..logs import log_file

    follower = Follower(LocalChain(home, source), start, end, stop=stop, on_event=show)
    logs = Home(home).logs_dir
    logs.mkdir(parents=True, exist_ok=True)
    # the follower's own ingest lines; each pass of the chain also writes its run-*.jsonl
    with log_file(logs / f"follow-{datetime.now(UTC):%Y%m%dT%H%M%S}.jsonl"), stop_on_signals(stop):
        try:
            summary = follower.run()
        finally:
            show.flush()
    echo(
        f"follow: {summary.done} hours loaded, {summary.missing} missing, {summary.bad} bad hours, "
        f"{summary.given_up} left for a rerun" + (" (stopped)" if summary.stopped else "")
    )
    from . import stopping

    signum = stopping.requested()
    if summary.stopped and signum is not None:
        raise stopping.Stopped(signum)  # the CLI's one line and exit status, as for any stop
    return 1 if summary.given_up else 0
