"""Ingest: get one GH Archive hour into the raw bucket, or record why it is not there.

`ingest_hour` is the core every entry point calls (the Cloud Function, `gharchive ingest`,
`gharchive backfill --home`, the local event chain). `handle_message` holds the Pub/Sub message
logic of the ingest function: empty -> the latest complete hour, `{"hour"}` -> that hour,
`{"start", "end"}` -> fan out one message per hour; `{"hour", "renormalize": true}` -> store the
hour's raw object again in place (same bytes, a new generation), so that its finalize event has the
normalize stage make the hour anew with this pipeline version (`gharchive renormalize`). Every
outcome is logged as one JSON line and appended to the hour's ledger. Only retryable outcomes raise
(TransientIngestError), so Pub/Sub redelivers those and acknowledges everything permanent.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import requests

from .. import locked_temp
from ..cloud_events import EventError, parse_json, pubsub_envelope
from ..context import Context
from ..download import Fetched, FetchKind, fetch_hour
from ..errors import MalformedInput, TransientError
from ..hours import Hour, HourError, hour_range, latest_complete_hour
from ..layout import quarantine_object, raw_object
from ..load.loader import DEFERRED, HOURLY, LOAD_MODE
from ..outcome import RENORMALIZE, IngestOutcome, Stage, pipeline_version
from ..publish import PublishError
from ..settings import ENV_TOPIC
from ..storage.base import ObjectInfo, PreconditionFailed, Storage, StorageError, object_url
from . import StageOutcome, record

STAGE = Stage.INGEST
#: A 404 for an hour that ended less than this long ago means "not published yet", not "missing".
DEFAULT_NOT_YET_WINDOW = timedelta(hours=24)


#: Outcomes that a later attempt may change (Pub/Sub should redeliver).
RETRYABLE: frozenset[IngestOutcome] = frozenset({IngestOutcome.NOT_YET_PUBLISHED, IngestOutcome.TRANSIENT})


@dataclass(frozen=True)
class IngestResult:
    """What happened to one hour: also the ledger entry's details and the log line's fields."""

    hour: Hour
    outcome: IngestOutcome
    bytes: int = 0
    generation: int = 0
    attempts: int = 0
    seconds: float = 0.0
    detail: str = ""
    object: str = ""  # raw (or quarantine) object name holding the bytes, if any
    sha256: str = ""
    source: str = ""

    @property
    def retryable(self) -> bool:
        return self.outcome in RETRYABLE

    def details(self) -> dict[str, Any]:
        d: dict[str, Any] = {
            "bytes": self.bytes,
            "generation": self.generation,
            "attempts": self.attempts,
            "seconds": round(self.seconds, 3),
            "detail": self.detail,
            "object": self.object,
            "sha256": self.sha256,
            "source": self.source,
        }
        return {k: v for k, v in d.items() if v not in ("", None)}


class MalformedMessage(MalformedInput):
    """A message that can never succeed: logged once and acknowledged."""


class TransientIngestError(TransientError, RuntimeError):
    """Raised so Pub/Sub redelivers: the hour may succeed later (5xx, not yet published...)."""

    def __init__(self, message: str, outcomes: tuple[IngestResult, ...] = ()) -> None:
        super().__init__(message)
        self.outcomes = outcomes


# ---- one hour -------------------------------------------------------------------------------------
def _held(hour: Hour, outcome: IngestOutcome, info: ObjectInfo, sha256: str, **common: Any) -> IngestResult:
    """The outcome for an hour whose bytes the raw bucket holds as `info` (raw or quarantine)."""
    return IngestResult(
        hour,
        outcome,
        bytes=info.size,
        generation=info.generation,
        object=info.name,
        sha256=sha256,
        **common,
    )


def _from_fetch(
    hour: Hour, fetched: Fetched, raw: Storage, now: datetime, window: timedelta, load: str = ""
) -> IngestResult:
    common: dict[str, Any] = {"attempts": fetched.attempts, "source": fetched.url, "detail": fetched.detail}
    check = fetched.check
    if fetched.kind is FetchKind.OK and check is not None and fetched.path is not None:
        name = raw_object(hour)
        metadata = {
            "sha256": check.sha256,
            "source": fetched.url,
            "uncompressed_bytes": str(check.uncompressed),
        }
        if load:  # a message's `load` (deferred, hour), carried on to the curated object by normalize
            metadata[LOAD_MODE] = load
        try:
            info = raw.put_file(name, fetched.path, metadata=metadata, if_generation_match=0)
        except PreconditionFailed:
            # a concurrent duplicate delivery stored it first: the raw file is immutable, keep theirs
            theirs = raw.stat(name) or ObjectInfo(name, check.size, 0)
            return _held(
                hour,
                IngestOutcome.ALREADY_PRESENT,
                theirs,
                theirs.metadata.get("sha256", ""),
                **{**common, "detail": "stored concurrently by another delivery"},
            )
        return _held(hour, IngestOutcome.STORED, info, check.sha256, **common)
    if fetched.kind is FetchKind.NOT_FOUND:
        recent = now - hour.end < window
        outcome = IngestOutcome.NOT_YET_PUBLISHED if recent else IngestOutcome.MISSING
        return IngestResult(hour, outcome, **common)
    if fetched.kind is FetchKind.CORRUPT and check is not None and fetched.path is not None:
        name = quarantine_object(hour)
        metadata = {"sha256": check.sha256, "source": fetched.url, "error": (check.error or "")[:500]}
        info = raw.put_file(name, fetched.path, metadata=metadata)
        return _held(hour, IngestOutcome.CORRUPT, info, check.sha256, **common)
    return IngestResult(hour, IngestOutcome.TRANSIENT, **common)


def _record(raw: Storage, result: IngestResult, *, now: datetime | None = None) -> None:
    """Log the hour's outcome and append it to the hour's ledger (in the raw bucket)."""
    where = object_url(raw.url, result.object) if result.object else raw.url
    record(StageOutcome(STAGE, result.outcome, result.hour, where, result.details()), raw, at=now)


def ingest_hour(
    hour: Hour,
    ctx: Context,
    *,
    not_yet_window: timedelta = DEFAULT_NOT_YET_WINDOW,
    session: requests.Session | None = None,
    load: str = "",
    renormalize: bool = False,
) -> IngestResult:
    """Store `hour` from the context's source (base URL or directory) into its raw bucket, log it
    and ledger it. `load="deferred"` (backfills) is stored on the raw object: its load waits for a
    day batch. `renormalize`: an hour already stored is rewritten in place (see `_rewrite`).

    Idempotent: an hour already in the raw bucket is not downloaded again (`already_present`).
    Source problems never raise (they are outcomes); StorageError does (the bucket is unusable).
    """
    raw, source, now = ctx.raw, ctx.settings.source, ctx.now()
    started = time.monotonic()
    existing: ObjectInfo | None = raw.stat(raw_object(hour))
    if existing is not None and renormalize:
        result = _rewrite(hour, existing, raw, load)
    elif existing is not None:
        result = _held(hour, IngestOutcome.ALREADY_PRESENT, existing, existing.metadata.get("sha256", ""))
    elif hour.end > now:
        result = IngestResult(
            hour,
            IngestOutcome.NOT_YET_PUBLISHED,
            detail=f"hour {hour.key} has not ended yet (now {now.isoformat()})",
        )
    else:
        with locked_temp.temp_dir(hour.file_stem) as tmp:
            fetched = fetch_hour(
                hour,
                source,
                Path(tmp) / hour.file_name,
                policy=ctx.download,
                sleep=ctx.clock.sleep,
                session=session,
            )
            result = _from_fetch(hour, fetched, raw, now, not_yet_window, load)
    result = replace(result, seconds=time.monotonic() - started)
    _record(raw, result, now=now)
    return result


def ingest_hours(
    first: Hour, last: Hour, ctx: Context, *, after_hour: Callable[[IngestResult], None] | None = None
) -> Counter[IngestOutcome]:
    """Ingest every hour of first..last, one after the other (`gharchive backfill` without a topic);
    how many hours ended in each outcome. A StorageError (the bucket is unusable) names the hour."""
    counts: Counter[IngestOutcome] = Counter()
    for hour in hour_range(first, last):
        try:
            result = ingest_hour(hour, ctx)
        except StorageError as exc:
            raise StorageError(f"{hour.key}: {exc}") from exc
        counts[result.outcome] += 1
        if after_hour is not None:
            after_hour(result)
    return counts


def _rewrite(hour: Hour, existing: ObjectInfo, raw: Storage, load: str) -> IngestResult:
    """Store the raw object again with the same bytes (server-side) and metadata naming this
    pipeline version: its new generation's finalize event makes normalize replace the curated hour.
    One rewrite per version: a redelivered request, or a second renormalize, finds the mark and
    leaves the object alone. A concurrent change wins (its generation is normalized anyway)."""
    version = pipeline_version()
    sha256 = existing.metadata.get("sha256", "")
    if existing.metadata.get(RENORMALIZE) == version:
        detail = f"already stored again for pipeline version {version}"
        return _held(hour, IngestOutcome.ALREADY_PRESENT, existing, sha256, detail=detail)
    metadata = {**existing.metadata, RENORMALIZE: version}
    if load:
        metadata[LOAD_MODE] = load
    try:
        info = raw.rewrite(existing.name, metadata=metadata, if_generation_match=existing.generation)
    except PreconditionFailed:
        theirs = raw.stat(existing.name) or existing
        detail = "changed concurrently: its new generation is normalized anyway"
        return _held(hour, IngestOutcome.ALREADY_PRESENT, theirs, sha256, detail=detail)
    detail = f"stored again to be normalized by pipeline version {version}"
    return _held(hour, IngestOutcome.REWRITTEN, info, sha256, detail=detail)


# ---- messages -------------------------------------------------------------------------------------
@dataclass(frozen=True)
class IngestRequest:
    """A parsed message: `scheduled` (latest complete hour), one `hour`, or a `range` to fan out."""

    kind: str
    start: Hour
    end: Hour
    load: str = (
        ""  # "deferred": a backfill, loaded by day batches; "hour": on its own (stages/spark_trigger.py)
    )
    renormalize: bool = False  # store the hour's raw object again, to be normalized anew

    @property
    def hours(self) -> list[Hour]:
        return list(hour_range(self.start, self.end))


@dataclass(frozen=True)
class MessageResult:
    request: IngestRequest | None  # None when the message was rejected
    outcomes: tuple[IngestResult, ...] = ()
    published: int = 0
    rejected: str = ""  # why, when the message was malformed


def parse_message(data: bytes, *, now: datetime, lag: timedelta, max_range_hours: int) -> IngestRequest:
    """The request a message body asks for, or MalformedMessage saying exactly what is wrong."""
    try:
        text = data.decode("utf-8").strip()
    except UnicodeDecodeError:
        raise MalformedMessage("message is not UTF-8 text") from None
    if not text:
        latest = latest_complete_hour(now, lag)
        return IngestRequest("scheduled", latest, latest)
    try:
        doc = parse_json(text, "message")
    except EventError as exc:
        raise MalformedMessage(f"{exc}: {text[:100]!r}") from None
    if not isinstance(doc, dict):
        raise MalformedMessage(f"message must be a JSON object, got {type(doc).__name__}")
    load = doc.pop(LOAD_MODE, "")
    if load not in ("", DEFERRED, HOURLY) or (load and not doc):
        raise MalformedMessage(
            f'"{LOAD_MODE}" must be "{DEFERRED}" or "{HOURLY}" next to "hour" or "start"/"end"'
        )
    renormalize = doc.pop(RENORMALIZE, False)
    if renormalize is not False and (renormalize is not True or set(doc) != {"hour"}):
        raise MalformedMessage(f'"{RENORMALIZE}" must be true next to "hour" (one message per hour)')
    keys = set(doc)
    if not keys:
        latest = latest_complete_hour(now, lag)
        return IngestRequest("scheduled", latest, latest)
    if keys not in ({"hour"}, {"start", "end"}):
        raise MalformedMessage(
            f'unexpected fields {sorted(keys)}: expected {{}} , {{"hour"}} or {{"start", "end"}}'
        )
    bad = [k for k in sorted(keys) if not isinstance(doc[k], str)]
    if bad:
        raise MalformedMessage(f'field(s) {bad} must be strings like "2015-01-01T15"')
    try:
        if keys == {"hour"}:
            hour = Hour.parse(doc["hour"], now=now)
            return IngestRequest("hour", hour, hour, load, renormalize)
        start, end = Hour.parse(doc["start"], now=now), Hour.parse(doc["end"], now=now)
    except HourError as exc:
        raise MalformedMessage(str(exc)) from None
    if end < start:
        raise MalformedMessage(f"range end {end.key} is before its start {start.key}")
    count = start.hours_until(end) + 1
    if count > max_range_hours:
        raise MalformedMessage(
            f"range {start.key}..{end.key} has {count} hours, over the maximum of {max_range_hours} "
            "(split it, or use `gharchive backfill --topic`)"
        )
    return IngestRequest("range", start, end, load)


def pubsub_payload(event_data: Any) -> bytes:
    """The message body of a Pub/Sub CloudEvent (`data.message.data`, base64); b"" if it has none."""
    try:
        return pubsub_envelope(event_data)[1]
    except EventError as exc:
        raise MalformedMessage(str(exc)) from None


def handle_message(data: bytes, ctx: Context) -> MessageResult:
    """Act on one ingest message (see module docstring); raises TransientIngestError to be retried."""
    settings = ctx.settings
    try:
        request = parse_message(
            data,
            now=ctx.now(),
            lag=timedelta(minutes=settings.publication_lag_minutes),
            max_range_hours=settings.max_range_hours,
        )
    except MalformedMessage as exc:
        return _reject(
            None,
            str(exc),
            message=f"ingest message rejected (acknowledged, not retried): {exc}",
            data=data[:200].decode("utf-8", "replace"),
        )

    if request.kind == "range":
        return _fan_out(request, ctx)

    raw = ctx.raw
    try:
        result = ingest_hour(request.start, ctx, load=request.load, renormalize=request.renormalize)
    except StorageError as exc:
        message = f"ingest {request.start}: {exc}"
        record(StageOutcome(STAGE, IngestOutcome.TRANSIENT, request.start, raw.url, message=message))
        raise TransientIngestError(f"hour {request.start.key}: {exc}") from exc
    if result.retryable:
        raise TransientIngestError(
            f"hour {result.hour.key} is {result.outcome.value}: {result.detail} (will be retried)", (result,)
        )
    return MessageResult(request, (result,))


def _reject(request: IngestRequest | None, reason: str, *, message: str = "", **fields: Any) -> MessageResult:
    """Log a message that can never succeed (it is acknowledged, not retried) and say why."""
    details = {"reason": reason, **fields}
    record(StageOutcome(STAGE, IngestOutcome.MALFORMED, None, details=details, message=message or reason))
    return MessageResult(request, rejected=reason)


def _fan_out(request: IngestRequest, ctx: Context) -> MessageResult:
    hours, settings = request.hours, ctx.settings
    if not settings.topic:
        span = f"{request.start.key}..{request.end.key}"
        return _reject(request, f"{ENV_TOPIC} is not set: cannot fan out {span}")
    try:
        published = ctx.publisher.publish_hours(settings.topic, hours, load=request.load)
    except PublishError as exc:
        record(StageOutcome(STAGE, IngestOutcome.TRANSIENT, None, message=str(exc)))
        raise TransientIngestError(str(exc)) from exc
    details = {
        "start": request.start.key,
        "end": request.end.key,
        "hours": published,
        "topic": settings.topic,
    }
    message = f"ingest: published {published} hour messages to {settings.topic}"
    record(StageOutcome(STAGE, IngestOutcome.FANNED_OUT, None, details=details, message=message))
    return MessageResult(request, published=published)


def handle_cloud_event(event_data: Any, ctx: Context) -> MessageResult:
    """The ingest function's body: unwrap the Pub/Sub CloudEvent and handle its message."""
    try:
        payload = pubsub_payload(event_data)
    except MalformedMessage as exc:
        return _reject(None, str(exc), message=f"ingest event rejected (acknowledged, not retried): {exc}")
    return handle_message(payload, ctx)
