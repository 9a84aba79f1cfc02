"""The bodies of the three Cloud Functions, one handler each: a CloudEvent and a `Context` in.

`functions/*/main.py` pass `Settings.from_env()`, which becomes the instance's `cloud_context` (one
per settings value, so buckets and clients are opened once per instance); the local bus passes the
`local_context` of its home. Nothing here reads the environment or the source tree, so an installed
wheel runs the local chain exactly as the cloud runs the functions.

Errors (errors.py) are mapped to the delivery's fate here, once for all three functions: a
TransientError (and any unexpected exception: a bug a redeploy may fix) propagates, so
Eventarc/Pub/Sub (or the local bus) redeliver; a PermanentError is recorded as the stage's
outcome, logged once, and the event acknowledged (2xx): redelivering it could never succeed.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar

from cloudevents.http import CloudEvent

from .context import Context, cloud_context
from .errors import PermanentError
from .outcome import IngestOutcome, LoadOutcome, NormalizeOutcome, Outcome, Stage
from .settings import Settings
from .stages import StageOutcome, record, storage_event
from .stages.ingest import MessageResult, handle_cloud_event
from .stages.normalize import handle_raw_finalized
from .stages.spark_trigger import handle_curated_finalized

__all__ = ["FUNCTIONS", "acknowledge_permanent", "ingest", "normalize", "spark_trigger"]

#: The Cloud Functions by entry-point name: functions/<name>/main.py calls the handler <name> here.
FUNCTIONS: tuple[str, ...] = ("ingest", "normalize", "spark_trigger")

#: What a stage records for an event that failed permanently.
_PERMANENT: dict[Stage, Outcome] = {
    Stage.INGEST: IngestOutcome.MALFORMED,
    Stage.NORMALIZE: NormalizeOutcome.FAILED,
    Stage.LOAD: LoadOutcome.FAILED,
}

R = TypeVar("R")


def acknowledge_permanent(event: CloudEvent, stage: Stage, handle: Callable[[], R]) -> R | StageOutcome:
    """Run one delivery: a PermanentError becomes the stage's recorded outcome (acknowledged);
    everything else propagates (redelivered)."""
    try:
        return handle()
    except PermanentError as exc:
        what = f"{event.get('source', '?')} {event.get('subject', '')}".strip()
        reason = f"{type(exc).__name__}: {exc}"
        message = f"{stage.value}: event {event.get('id', '?')} can never succeed (acknowledged): {reason}"
        details: dict[str, Any] = {"reason": reason, "event_id": str(event.get("id", ""))}
        return record(StageOutcome(stage, _PERMANENT[stage], None, what, details, message=message))


def ingest(event: CloudEvent, ctx: Context | Settings) -> MessageResult:
    """Hour message (Pub/Sub) -> the hour in the raw bucket, or one message per hour of a range."""
    result = acknowledge_permanent(
        event, Stage.INGEST, lambda: handle_cloud_event(event.get_data(), _context(ctx))
    )
    if isinstance(result, StageOutcome):
        return MessageResult(None, rejected=str(result.details["reason"]))
    return result


def normalize(event: CloudEvent, ctx: Context | Settings) -> StageOutcome:
    """Raw object finalized -> curated parquet for its hour."""
    obj = storage_event(event, Stage.NORMALIZE)
    if isinstance(obj, StageOutcome):
        return obj  # an event that can never succeed: logged once, acknowledged
    return acknowledge_permanent(event, Stage.NORMALIZE, lambda: handle_raw_finalized(obj, _context(ctx)))


def spark_trigger(event: CloudEvent, ctx: Context | Settings) -> StageOutcome:
    """Curated object finalized -> the hour's load, by the context's loader (a Dataproc submitter
    in the cloud; locally, the runner's)."""
    obj = storage_event(event, Stage.LOAD)
    if isinstance(obj, StageOutcome):
        return obj  # an event that can never succeed: logged once, acknowledged
    return acknowledge_permanent(event, Stage.LOAD, lambda: handle_curated_finalized(obj, _context(ctx)))


def _context(ctx: Context | Settings) -> Context:
    return ctx if isinstance(ctx, Context) else _function_context(ctx)


@functools.cache
def _function_context(settings: Settings) -> Context:
    """A Cloud Function instance's context: built once per settings value, serving many events."""
    return cloud_context(settings)
