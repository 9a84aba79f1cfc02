"""Curated object finalized -> get that hour loaded (the core of the spark_trigger function).

The stage decides WHAT to load; a `Loader` (load/loader.py) from the context decides HOW:
in the cloud a Dataproc submitter (load/dataproc.py) submits a batch with a deterministic id and
does not wait; locally `DeferToRunner` only records the hour, and the runner loads by day.

Two flows:
- hourly (the default): every new curated hour version is one request for that hour, so it is
  loaded within minutes; a redelivered event maps to the same batch id (ALREADY_EXISTS = success).
- deferred (backfills: the curated object carries `load=deferred`, copied from the raw object and
  the ingest message): the hour is recorded `deferred` and nothing is submitted for it alone. Once
  its UTC day is settled (every hour curated or terminally missing/corrupt/failed) ONE day request
  covers every curated hour version of the day. Its id derives from that set, so concurrent triggers
  that see the same settled day ask for the same batch. Each trigger's curated object is written
  before it checks, so when the last two hours land at once at least one sees both; a day whose
  last hour is a 404 (no curated object, no trigger) is left to the sweep (`gharchive load`).
  A re-processed hour (`gharchive renormalize`: its curated object carries `renormalize`) also waits
  for every other hour of its day still curated by another version, so the day loads once, when the
  last of them is normalized again, instead of once per hour.

The deployment's `hourly_load` (settings.HourlyLoad) picks the flow of hours that carry no mode (the
scheduler's): "hour" loads them hourly, "day" defers them like a backfill, so one batch per settled
day loads them. An hour sent with `load=hour` (a one-hour backfill, `gharchive smoke`) is always
loaded on its own.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from .. import layout
from ..cloud_events import StorageObjectEvent
from ..context import Context
from ..errors import ConfigError, PermanentError
from ..hours import Hour
from ..ledger import BATCH_ID, CURATED_GENERATION, DAY, HourHistory, LedgerEntry, read_history
from ..load.loader import (
    DEFERRED,
    LOAD_MODE,
    HourVersion,
    Loader,
    LoadRequest,
    LoadResult,
)
from ..outcome import DAYS, RENORMALIZE, LoadOutcome, Stage, written_version
from ..settings import HourlyLoad
from ..storage.base import Storage
from . import StageOutcome, record, screen_object
from .settle import settle_day

STAGE = Stage.LOAD


# ---- the stage ------------------------------------------------------------------------------------
def handle_curated_finalized(obj: StorageObjectEvent, ctx: Context) -> StageOutcome:
    """Load (or defer) the hour a curated object holds; other objects (rejects, foreign files) are ignored."""
    screened = screen_object(
        obj,
        STAGE,
        bucket=ctx.settings.curated_bucket,
        hour_of=layout.hour_of_curated_object,
        name_of=layout.curated_object,
        what="curated",
    )
    if isinstance(screened, StageOutcome):
        return screened  # a foreign bucket, a name that is no real hour: ignored, logged once
    hour = screened
    curated, raw = ctx.curated, ctx.ledgers
    base: dict[str, Any] = {CURATED_GENERATION: obj.generation}

    current = curated.stat(obj.name)
    if current is None or current.generation != obj.generation:
        now_gen = current.generation if current else "deleted"
        return record(
            StageOutcome(STAGE, LoadOutcome.SUPERSEDED, hour, obj.uri, {**base, "curated_now": now_gen})
        )
    loader = ctx.loader
    # A loader that loads in this process (tests) would load again; a batch loader's redelivery
    # maps to the same batch id instead.
    if (
        getattr(loader, "in_process", False)
        and raw is not None
        and read_history(raw, hour).load_asked(obj.generation)
    ):
        return record(StageOutcome(STAGE, LoadOutcome.ALREADY_DONE, hour, obj.uri, base))

    version = HourVersion(hour, obj.generation)
    mode = current.metadata.get(LOAD_MODE, "")
    if mode == DEFERRED or (not mode and ctx.settings.hourly_load is HourlyLoad.DAY):
        if raw is None:
            raise ConfigError(f"no raw bucket (ledgers) configured: cannot defer hour {hour.key}")
        return _defer(obj, version, curated, raw, loader, now=ctx.now(), current_metadata=current.metadata)

    started = time.perf_counter()
    try:
        result = loader.load(LoadRequest(curated.url, (version,)))
    except Exception as exc:
        failed = record(
            StageOutcome(STAGE, LoadOutcome.FAILED, hour, obj.uri, {**base, "error": _error(exc)}), raw
        )
        if isinstance(exc, PermanentError):
            return failed  # can never succeed: recorded once, acknowledged
        raise  # Eventarc (and the local bus) redeliver
    details = {**base, **_result_details(result)}
    if result.outcome is LoadOutcome.LOADED:
        details["seconds"] = round(time.perf_counter() - started, 3)
    return record(StageOutcome(STAGE, result.outcome, hour, obj.uri, details), raw)


def _defer(
    obj: StorageObjectEvent,
    version: HourVersion,
    curated: Storage,
    raw: Storage,
    loader: Loader,
    *,
    now: datetime | None,
    current_metadata: Mapping[str, str],
) -> StageOutcome:
    """Record the hour deferred (write), then check its day (read): see the module docstring."""
    hour = version.hour
    base: dict[str, Any] = {CURATED_GENERATION: version.generation, DAY: hour.date}
    deferred = StageOutcome(STAGE, LoadOutcome.DEFERRED, hour, obj.uri, base)
    if not read_history(raw, hour).load_seen(version.generation):  # a redelivery adds nothing
        record(deferred, raw)
    day = hour.start.date()
    marked = bool(current_metadata.get(RENORMALIZE))
    settlement = settle_day(
        curated, raw, day, now=now, version=written_version(current_metadata) if marked else None
    )
    if not settlement.settled:
        return deferred  # its day's last hour (or the sweep) submits the day
    request = LoadRequest(curated.url, settlement.covers, days=(day, *settlement.other_days))
    try:
        result = loader.load(request)
    except Exception as exc:
        failed = record(
            StageOutcome(STAGE, LoadOutcome.FAILED, hour, obj.uri, {**base, "error": _error(exc)}), raw
        )
        if isinstance(exc, PermanentError):
            return failed  # can never succeed: recorded once, acknowledged
        raise
    details = {**base, **_result_details(result), "hours": len(settlement.covers)}
    outcome = StageOutcome(STAGE, result.outcome, hour, obj.uri, details)
    if result.outcome is LoadOutcome.DEFERRED:
        return record(outcome)  # the local runner loads the day: log only
    record_submission(raw, obj.uri, request, result, first=hour)  # logs this hour's line too
    return outcome


def record_submission(
    raw: Storage, uri: str, request: LoadRequest, result: LoadResult, *, first: Hour | None = None
) -> None:
    """Say in every covered hour's ledger which batch will load it. Only the caller that created the
    batch writes all of them; a caller that found it existing writes only `first` (its own hour)."""
    if result.outcome is LoadOutcome.DEFERRED:
        return
    for v in request.covers:
        if result.outcome is not LoadOutcome.SUBMITTED and v.hour != first:
            continue
        details = {CURATED_GENERATION: v.generation, **_result_details(result)}
        if request.by_day:
            details[DAYS] = _days_text(request)
        record(StageOutcome(STAGE, result.outcome, v.hour, uri, details), raw)


# ---- ledger helpers -------------------------------------------------------------------------------
def loaded_generation(entries: Iterable[LedgerEntry]) -> dict[int, str]:
    """curated generation -> the batch that loaded it (the job's `loaded` entries)."""
    return HourHistory.of(entries).loaded_generations()


# ---- small helpers --------------------------------------------------------------------------------
def _days_text(request: LoadRequest) -> str:
    if request.day_range is not None:
        return f"{request.day_range[0].isoformat()}..{request.day_range[1].isoformat()}"
    return ",".join(d.isoformat() for d in request.days)


def _result_details(result: LoadResult) -> dict[str, Any]:
    details = dict(result.details)
    if result.batch_id:
        details[BATCH_ID] = result.batch_id
    return details


def _error(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"
