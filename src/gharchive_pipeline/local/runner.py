"""`gharchive run`: the whole chain for a range of hours on one machine, through the local bus.

Hours go through the chain in parallel, one worker process each up to `workers` (default: the core
count): publish the hour's message (-> ingest -> raw finalize -> normalize -> curated finalize ->
load stage, which locally only records the hour `deferred`), then replay the finalize event of the
hour's raw object. A replay is a no-op for work already done (the stages are idempotent) and
finishes what an interrupted run left behind. The normalizer streams (~400 MiB per hour at most),
so the workers stay well under 2 GiB together.

The loads are coalesced by UTC day: once every hour of the run that can hold rows of a day is
through the chain (the day's hours and the next day's, which can hold late events), the runner
rebuilds that day once (load/local_load.py: DuckDB by default, or local PySpark), in this process,
while the workers go on with later hours. A day whose partitions were built from exactly the current
curated files is left alone, so running a range twice changes nothing. A failed day is recorded in
its hours' ledgers and reported; the days after it still load (no state is shared between days).
"""

from __future__ import annotations

import multiprocessing
import os
import shutil
import tempfile
from collections.abc import Generator, Iterator, Mapping
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from contextlib import closing, contextmanager, suppress
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from .. import layout
from ..context import LOCAL_TOPIC, Progress, local_context
from ..hours import Hour, hour_range
from ..layout import Home
from ..load.duckdb_days import DuckDBConfig
from ..load.loader import DEFERRED
from ..load.local_load import DEFAULT_ENGINE, DayResult, Engine, LocalDayLoader
from ..load.local_warehouse import RUN_TMP_PREFIX, clean_leftovers
from ..load.spark_days import days_for_hours
from ..logs import log_event, log_file
from ..outcome import LoadOutcome, Severity, Stage
from ..storage.base import Storage
from . import stopping
from .bus import Delivery, Handler, LocalBus
from .status import HourStatus, collect_status, hour_status

#: Hours of the next day may hold events of this one (late events; see load/days.py).
_SETTLE_AFTER = timedelta(days=1)


@dataclass(frozen=True)
class DayFailure:
    day: date
    error: str


@dataclass
class RunReport:
    hours: list[Hour]
    rows: list[HourStatus] = field(default_factory=list)
    failures: list[Delivery] = field(default_factory=list)
    days: list[DayResult] = field(default_factory=list)
    day_failures: list[DayFailure] = field(default_factory=list)
    log_file: Path | None = None

    @property
    def ok(self) -> bool:
        """No delivery or day load failed for good (missing hours are an outcome, not a failure)."""
        return not self.failures and not self.day_failures


#: Memory the default run stays within, what one chain worker takes at most (the
#: streaming normalizer, shared libraries included; measured ~520 MiB on 50k-event hours) and what
#: the CLI takes while it rebuilds a day alongside them (DuckDB, 32k-row groups: ~550 MiB).
MEMORY_BUDGET_MIB = 2048
WORKER_MIB = 560
LOADER_MIB = 600


def default_workers() -> int:
    """One worker per core, as many as fit next to a day rebuild in MEMORY_BUDGET_MIB (--workers
    overrides it where memory allows more)."""
    fit = (MEMORY_BUDGET_MIB - LOADER_MIB) // WORKER_MIB
    return max(1, min(os.cpu_count() or 1, fit))


def run_hours(
    start: Hour,
    end: Hour,
    *,
    home: Path,
    source: str,
    progress: Progress | None = None,
    handlers: Mapping[str, Handler] | None = None,
    engine: Engine = DEFAULT_ENGINE,
    workers: int | None = None,
    duckdb: DuckDBConfig | None = None,
) -> RunReport:
    """Run the chain for every hour from start to end (both included), then load the days they
    touch; logs go to HOME/logs. `handlers` (tests) replace the functions and run in-process."""
    where = Home(home)
    ctx = local_context(where, source=source, progress=progress)
    raw, curated = ctx.raw, ctx.curated
    where.warehouse_dir.mkdir(parents=True, exist_ok=True)
    clean_leftovers(where.warehouse_dir)
    hours = list(hour_range(start, end))
    report = RunReport(hours)
    loader = LocalDayLoader(home, engine=engine, duckdb=duckdb or DuckDBConfig(), raw=raw)
    workers = min(workers or default_workers(), len(hours))
    with _log_file(where) as log_path, _process_tempdir(where):
        report.log_file = log_path
        days = _DayQueue(hours)
        chained = closing(_chain_hours(where, source, hours, workers, handlers, log_path))
        with chained as finished:  # a stop or an error in a callback ends the workers at once
            for hour, failures in finished:
                report.failures += failures
                touched, _ = days_for_hours(curated, [hour])
                days.done(hour, touched)
                ctx.progress.hour_done(hour_status(raw, curated, hour))
                for day in days.settled():
                    _load_day(loader, day, report, ctx.progress)
        for day in days.settled(final=True):
            _load_day(loader, day, report, ctx.progress)
    report.rows = collect_status(raw, curated, hours)
    return report


class _DayQueue:
    """Days touched so far, and which of them can load: every run hour up to the next day is done."""

    def __init__(self, hours: list[Hour]) -> None:
        self.pending_hours = set(hours)
        self.touched: set[date] = set()

    def done(self, hour: Hour, days: list[date]) -> None:
        self.pending_hours.discard(hour)
        self.touched.update(days)

    def settled(self, *, final: bool = False) -> list[date]:
        """Days ready to load now. Once no hour is pending, days wait for `final`: the worker
        processes are gone by then, so the last loads do not share memory with idle workers."""
        first_pending = min(self.pending_hours, default=None)
        if first_pending is None and not final:
            return []
        ready = sorted(
            d for d in self.touched if first_pending is None or first_pending.start.date() > d + _SETTLE_AFTER
        )
        self.touched.difference_update(ready)
        return ready


def _load_day(
    loader: LocalDayLoader,
    day: date,
    report: RunReport,
    progress: Progress,
) -> None:
    """Rebuild one day; a failure is recorded and reported, and the run goes on with the next day."""
    result: DayResult | DayFailure
    try:
        result = loader.rebuild(day)
    except Exception as exc:
        stopping.check()  # a stop the engine turned into its own error is a stop, not a failed day
        result = DayFailure(day, f"{type(exc).__name__}: {exc}")
        report.day_failures.append(result)
        log_event(
            Stage.LOAD,
            None,
            LoadOutcome.FAILED,
            message=f"load day {day}: failed",
            severity=Severity.ERROR,
            day=day.isoformat(),
            error=result.error,
        )
    else:
        report.days.append(result)
        outcome = "rebuilt" if result.load is not None else "current"
        log_event(
            Stage.LOAD,
            None,
            outcome,
            message=f"load day {day}: {outcome}",
            day=day.isoformat(),
            hours=len(result.contributors),
            engine=str(result.engine),
            seconds=round(result.seconds, 3),
            rows=result.load.rows if result.load else None,
            duplicates=result.load.duplicates if result.load else None,
        )
    progress.day_done(result)


# ---- the chain of one hour, in a worker process (or in this one) ----------------------------------
def _chain_hours(
    where: Home,
    source: str,
    hours: list[Hour],
    workers: int,
    handlers: Mapping[str, Handler] | None,
    log_path: Path,
    *,
    renormalize: bool = False,
) -> Generator[tuple[Hour, list[Delivery]]]:
    """(hour, failed deliveries) for every hour, in the order they finish; `renormalize`: each
    hour's message asks for it to be normalized again (local/renormalize.py)."""
    if handlers is not None or workers <= 1:
        bus = _bus(where, source, handlers)
        for hour in hours:
            yield hour, _chain_hour(bus, bus.ctx.raw, hour, renormalize=renormalize)
        return
    # spawn: the parent may run threads (rich's progress bar), which fork would copy mid-flight
    context = multiprocessing.get_context("spawn")
    pool: ProcessPoolExecutor | None = None
    try:
        with stopping.deferred():  # the workers start with the stop signals blocked (stopping.py)
            init = stopping.worker_init
            pool = ProcessPoolExecutor(max_workers=workers, mp_context=context, initializer=init)
            futures: dict[Future[list[Delivery]], Hour] = {
                pool.submit(_chain_hour_in_worker, where.root, source, hour, log_path, renormalize): hour
                for hour in hours
            }
        pending = list(futures)
        while pending:
            finished, _ = wait(pending, return_when=FIRST_COMPLETED)
            for future in sorted(finished, key=lambda f: futures[f]):
                pending.remove(future)
                hour = futures[future]
                try:
                    failures = future.result()
                except Exception as exc:  # the worker died (killed, out of memory): the hour failed
                    failures = [
                        Delivery("runner", "-", hour.key, hour, 1, 0.0, f"{type(exc).__name__}: {exc}")
                    ]
                yield hour, failures
    except BaseException:
        if pool is not None:
            _stop(pool, now=stopping.stopping_now())
        raise
    if pool is not None:
        pool.shutdown(wait=True)


def _stop(pool: ProcessPoolExecutor, *, now: bool) -> None:
    """The run ends early. On SIGINT/SIGTERM (`now`): end the workers at once. Otherwise (an error
    in the caller, or `--follow`'s first signal, which finishes the current hours): let the hours
    in flight finish, drop the ones not started; a stop signal meanwhile ends them at once."""
    if now:
        _stop_now(pool)
        return
    try:
        pool.shutdown(wait=True, cancel_futures=True)
    except BaseException:
        _stop_now(pool)
        raise


def _stop_now(pool: ProcessPoolExecutor) -> None:
    """Drop the hours not started and end the workers at once (every stage is safe to kill; a
    rerun finishes their hours from the ledgers), then wait for the pool's own threads, so that no
    process outlives the command."""
    # no public way to end the workers before Python 3.14 (terminate_workers)
    processes = list((getattr(pool, "_processes", None) or {}).values())
    for process in processes:
        with suppress(Exception):
            process.kill()
    pool.shutdown(wait=True, cancel_futures=True)


def _bus(where: Home, source: str, handlers: Mapping[str, Handler] | None) -> LocalBus:
    """The home's local chain (its loads deferred to this runner, which loads by day)."""
    return LocalBus(local_context(where, source=source), handlers=handlers)


def _chain_hour_in_worker(
    home: Path, source: str, hour: Hour, log_path: Path, renormalize: bool = False
) -> list[Delivery]:
    where = Home(home)
    with log_file(log_path), _process_tempdir(where):
        bus = _bus(where, source, None)
        return _chain_hour(bus, bus.ctx.raw, hour, renormalize=renormalize)


@contextmanager
def _process_tempdir(where: Home) -> Iterator[Path]:
    """This process's temp files (the stages' downloads and parquet before upload) go under the
    home in a folder named by pid, not to $TMPDIR: what a killed run leaves there, the next run's
    clean_leftovers removes."""
    path = where.warehouse_dir / f"{RUN_TMP_PREFIX}{os.getpid()}"
    path.mkdir(parents=True, exist_ok=True)
    saved = tempfile.tempdir
    tempfile.tempdir = str(path)
    try:
        yield path
    finally:
        tempfile.tempdir = saved
        shutil.rmtree(path, ignore_errors=True)


def _chain_hour(bus: LocalBus, raw: Storage, hour: Hour, *, renormalize: bool = False) -> list[Delivery]:
    """Publish the hour, deliver until quiet, then replay its raw object's finalize event (which
    resumes a normalize an interrupted run left undone; the curated object's own finalize is not
    replayed: the runner loads days itself)."""
    if renormalize:  # stored again in place, loaded by day (stages/ingest.py)
        bus.publish_hours(LOCAL_TOPIC, [hour], load=DEFERRED, renormalize=True)
    else:
        bus.publish_hours(LOCAL_TOPIC, [hour])
    failures = [d for d in bus.drain() if not d.ok]
    info = raw.stat(layout.raw_object(hour))
    if info is not None:
        bus.announce("raw", info)
        failures += [d for d in bus.drain() if not d.ok]
    return failures


@contextmanager
def _log_file(home: Home) -> Iterator[Path]:
    """One JSON-lines log per run (every stage's outcome for every hour), not the console."""
    home.logs_dir.mkdir(parents=True, exist_ok=True)
    path = home.logs_dir / f"run-{datetime.now(UTC):%Y%m%dT%H%M%S%f}.jsonl"
    path.touch()
    with log_file(path):
        yield path
