"""The load sweep (`gharchive load`): find curated hours not loaded at their current generation and ask
for one load per day (or per month) that covers them.

It closes the gaps the event-driven flow leaves by design: a backfilled day whose last hour was a 404
(no curated object, so no trigger saw the day settled), a batch that FAILED (its deterministic id is
taken: the loader submits the next attempt id), a load asked for while an hour was re-normalized.
"What is loaded" comes from the ledgers: the load job records `loaded` with the curated generation it
read. Hours whose batch is still pending or running are left alone, and by default so are days not
settled yet (an hour still to be ingested or normalized: its trigger will submit the day), so a sweep
during a backfill neither repeats nor pre-empts the triggers' work.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from enum import StrEnum

from ..hours import Hour, day_range
from ..ledger import HourHistory, read_history
from ..load.loader import HourVersion, Loader, LoadRequest, LoadResult
from ..storage.base import Storage
from .settle import curated_hours, other_days, settle_day
from .spark_trigger import record_submission

#: BigQuery's limit that a day rebuild spends: "Number of partition modifications per
#: column-partitioned table per day: 30,000" (https://cloud.google.com/bigquery/quotas#partitioned_tables;
#: for partitioned tables it replaces the 1,500 table modifications a day of a standard table,
#: https://cloud.google.com/bigquery/docs/optimize-load-jobs). Each rebuilt day modifies one partition
#: of `events`, of `hourly_stats` and of `daily_stats` (one load or query job each, failed ones count).
PARTITION_MODIFICATIONS_PER_DAY = 30_000
#: Left to the hourly flow (24 batches a day, up to HOUR_BATCH_DAYS days each) and to retries.
HOURLY_FLOW_RESERVE = 2_000
#: Day partitions one sweep asks for at most: the whole archive (~5,800 days) fits in one run; what a
#: plan holds beyond it is deferred to the next day's run.
SWEEP_BUDGET = PARTITION_MODIFICATIONS_PER_DAY - HOURLY_FLOW_RESERVE

#: Batch states meaning "this batch may still load its hours": the sweep waits for it.
LIVE_STATES = frozenset({"PENDING", "RUNNING", "CANCELLING", "STATE_UNSPECIFIED"})
#: Looks a batch id up (None: no such batch); the cloud passes DataprocSubmitter.state.
BatchStates = Callable[[str], str | None]


class Per(StrEnum):
    DAY = "day"
    MONTH = "month"


@dataclass(frozen=True)
class DayWork:
    """A day with curated hours not loaded at their current generation."""

    day: date
    covers: tuple[HourVersion, ...]  # every curated hour version of the day (a rebuild reads them all)
    pending: tuple[Hour, ...]  # not loaded at their current generation, and no live batch for them
    running: tuple[str, ...] = ()  # live batches found for other pending hours of the day
    other_days: tuple[date, ...] = ()  # days the hours' rows also fall on (curated metadata)
    waiting: tuple[Hour, ...] = ()  # hours of the day neither curated nor terminally refused yet

    @property
    def settled(self) -> bool:
        return not self.waiting


@dataclass(frozen=True)
class Swept:
    """One request the sweep made and what the loader answered."""

    request: LoadRequest
    result: LoadResult
    pending: int  # hours it was made for


@dataclass(frozen=True)
class SweepReport:
    swept: list[Swept]
    waiting: list[DayWork]  # days with work left alone because they are not settled
    deferred: list[LoadRequest] = field(default_factory=list)  # over the day's partition budget


def partitions(request: LoadRequest) -> int:
    """Day partitions (of each table) a request's batch rewrites: what it spends of the budget."""
    days = set(request.days)
    if request.day_range is not None:
        days.update(day_range(*request.day_range))
    return len(days)


def _live_batch(history: HourHistory, generation: int, states: BatchStates | None) -> str:
    """The newest batch asked for this generation that is still pending or running ('' if none)."""
    if states is None:
        return ""
    for batch in reversed(history.asked_batches(generation)):
        if (states(batch) or "") in LIVE_STATES:
            return batch
    return ""


def find_work(
    raw: Storage,
    curated: Storage,
    first: date,
    last: date,
    *,
    states: BatchStates | None = None,
    now: datetime | None = None,
) -> list[DayWork]:
    """Days from `first` to `last` (included) with curated hours that still need a load."""
    work: list[DayWork] = []
    for day in day_range(first, last):
        found = curated_hours(curated, day)
        pending: list[Hour] = []
        running: set[str] = set()
        for hour, info in sorted(found.items()):
            history = read_history(raw, hour)
            if history.loaded(info.generation):  # only the job's `loaded` counts: a batch may fail
                continue
            live = _live_batch(history, info.generation, states)
            if live:
                running.add(live)
            else:
                pending.append(hour)
        if pending:
            covers = tuple(sorted(HourVersion(h, i.generation) for h, i in found.items()))
            others = tuple(d for d in other_days(found.values()) if d != day)
            waiting = settle_day(curated, raw, day, now=now).waiting
            work.append(DayWork(day, covers, tuple(pending), tuple(sorted(running)), others, waiting))
    return work


def plan(work: Iterable[DayWork], curated_url: str, per: Per = Per.DAY) -> list[tuple[LoadRequest, int]]:
    """One request per day (`--day D` + the other days its hours touch), or per calendar month
    (`--start-day/--end-day` over the month's days with work); with how many hours each is for."""
    items = list(work)
    if per is Per.DAY:
        return [
            (
                LoadRequest(curated_url, w.covers, days=(w.day, *w.other_days), retry_failed=True),
                len(w.pending),
            )
            for w in items
        ]
    months: dict[tuple[int, int], list[DayWork]] = {}
    for w in items:
        months.setdefault((w.day.year, w.day.month), []).append(w)
    requests: list[tuple[LoadRequest, int]] = []
    for group in months.values():
        first, last = group[0].day, group[-1].day
        covers = tuple(sorted({v for w in group for v in w.covers}))
        outside = tuple(sorted({d for w in group for d in w.other_days if not first <= d <= last}))
        request = LoadRequest(curated_url, covers, days=outside, day_range=(first, last), retry_failed=True)
        requests.append((request, sum(len(w.pending) for w in group)))
    return requests


def sweep(
    raw: Storage,
    curated: Storage,
    first: date,
    last: date,
    loader: Loader,
    *,
    per: Per = Per.DAY,
    states: BatchStates | None = None,
    unsettled: bool = False,
    now: datetime | None = None,
    budget: int = SWEEP_BUDGET,
) -> SweepReport:
    """Find the work (on settled days, or every day with `unsettled`), ask the loader for it and say
    in each covered hour's ledger which batch loads it. Requests are asked for in day order until
    their partitions would exceed `budget` (BigQuery's daily partition-modification limit less a
    reserve); the rest is deferred: the same sweep run a day later takes it up."""
    work = find_work(raw, curated, first, last, states=states, now=now or datetime.now(UTC))
    ready = [w for w in work if w.settled or unsettled]
    done: list[Swept] = []
    deferred: list[LoadRequest] = []
    spent = 0
    for request, pending in plan(ready, curated.url, per):
        cost = partitions(request)
        if deferred or spent + cost > budget:
            deferred.append(request)
            continue
        spent += cost
        result = loader.load(request)
        record_submission(raw, curated.url, request, result)
        done.append(Swept(request, result, pending))
    return SweepReport(done, [w for w in work if w not in ready], deferred)
