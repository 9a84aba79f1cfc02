"""`gharchive renormalize --home`: normalize again the hours an older pipeline version curated, then
rebuild each UTC day they touch once.

The local chain takes the cloud's path, on the runner's worker processes and bus (local/runner.py):
for every stale hour (raw object present, curated object written by another version) the bus
delivers the ingest message `{"hour", "load": "deferred", "renormalize": true}`; ingest stores the
raw object again in place (same bytes, a new generation, marked with this version), whose finalize
event has normalize replace the curated hour, and the load stage only records it deferred. Then each
day the range's hours touch is rebuilt (a day already built from exactly its current curated
versions is left alone), as `gharchive run` does.

Idempotent and resumable: an hour already at this version is not asked again, so a second run
changes nothing; a run killed between an hour's rewrite and its normalize is finished by replaying
the raw object's finalize event (normalize does the work only for a raw generation it has not
curated); a run killed before its day loads finds the day stale next time and rebuilds it.
"""

from __future__ import annotations

from collections.abc import Iterable
from contextlib import closing
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from ..context import Progress, local_context
from ..hours import DEFAULT_BASE_URL, Hour, hour_range
from ..layout import Home
from ..ledger import read_history
from ..load.duckdb_days import DuckDBConfig
from ..load.local_load import DEFAULT_ENGINE, Engine, LocalDayLoader
from ..load.local_warehouse import clean_leftovers
from ..load.spark_days import days_for_hours
from ..outcome import (
    LEGACY_VERSION,
    PIPELINE_VERSION_KEY,
    NormalizeOutcome,
    Stage,
    pipeline_version,
    written_version,
)
from ..storage.base import Storage
from .runner import RunReport, _chain_hours, _load_day, _log_file, _process_tempdir, default_workers
from .status import collect_status, hour_status, snapshot


@dataclass(frozen=True)
class Plan:
    """What a renormalize of a range has to do: the hours to normalize again, and why not the rest."""

    version: str
    stale: list[Hour]  # curated by another version, or refused by another version's normalizer
    current: list[Hour]  # curated (or refused) by this version already
    absent: list[Hour]  # no raw object, or never normalized (nothing a re-processing can replace)


def plan(raw: Storage, curated: Storage, hours: Iterable[Hour]) -> Plan:
    """Sort the hours by the version that curated them (a listing per day, not a stat per hour); an
    hour whose raw object the normalizer refused (its ledger says which version) counts too."""
    wanted = sorted(set(hours))
    snap = snapshot(raw, curated, sorted({h.start.date() for h in wanted}))
    version = pipeline_version()
    stale: list[Hour] = []
    current: list[Hour] = []
    absent: list[Hour] = []
    for hour in wanted:
        cur = (snap.curated or {}).get(hour)
        if hour not in snap.raw:
            absent.append(hour)
        elif cur is None:
            refused = _refused_by(raw, hour)
            (absent if refused is None else current if refused == version else stale).append(hour)
        elif written_version(cur.metadata) == version:
            current.append(hour)
        else:
            stale.append(hour)
    return Plan(version, stale, current, absent)


def _refused_by(raw: Storage, hour: Hour) -> str | None:
    """The version whose normalizer last refused the hour (failed), None if it did not."""
    entry = read_history(raw, hour).latest(Stage.NORMALIZE)
    if entry is None or entry.outcome is not NormalizeOutcome.FAILED:
        return None
    return str(entry.details.get(PIPELINE_VERSION_KEY) or LEGACY_VERSION)


def renormalize_hours(
    start: Hour,
    end: Hour,
    *,
    home: Path,
    progress: Progress | None = None,
    engine: Engine = DEFAULT_ENGINE,
    duckdb: DuckDBConfig | None = None,
    workers: int | None = None,
) -> tuple[Plan, RunReport]:
    """Normalize the stale hours of START..END again (in parallel worker processes, as `gharchive
    run` does; one worker: in this process), then rebuild the days of the range's hours; logs go
    to HOME/logs as a run's do."""
    where = Home(home)
    ctx = local_context(where, progress=progress)
    raw, curated = ctx.raw, ctx.curated
    where.warehouse_dir.mkdir(parents=True, exist_ok=True)
    clean_leftovers(where.warehouse_dir)
    hours = list(hour_range(start, end))
    todo = plan(raw, curated, hours)
    report = RunReport(todo.stale)
    with _log_file(where) as log_path, _process_tempdir(where):
        report.log_file = log_path
        count = min(workers or default_workers(), max(1, len(todo.stale)))
        chained = closing(
            _chain_hours(where, DEFAULT_BASE_URL, todo.stale, count, None, log_path, renormalize=True)
        )
        with chained as finished:
            for hour, failures in finished:
                report.failures += failures
                ctx.progress.hour_done(hour_status(raw, curated, hour))
        days, _ = days_for_hours(curated, [h for h in hours if h not in todo.absent])
        loader = LocalDayLoader(home, engine=engine, duckdb=duckdb or DuckDBConfig(), raw=raw)
        for day in days:
            _load_day(loader, day, report, ctx.progress)
    report.rows = collect_status(raw, curated, hours)
    return todo, report


def rebuilt_days(report: RunReport) -> list[date]:
    """The days this run rebuilt (not those already current)."""
    return [d.day for d in report.days if d.load is not None]
