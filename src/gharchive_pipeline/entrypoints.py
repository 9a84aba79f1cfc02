"""The bodies of the three Cloud Functions, one handler each: a CloudEvent and a `Context` in.

`functions/*/main.py` pass `Settings.from_env()`, which becomes the instance's `cloud_context` (one
per settings value, so buckets and clients are opened once per instance); the local bus passes the
`local_context` of its home. Nothing here reads the environment or the source tree, so an installed
wheel runs the local chain exactly as the cloud runs the functions.
"""

from __future__ import annotations

import functools

from cloudevents.http import CloudEvent

from .context import Context, cloud_context
from .settings import Settings
from .stages import StageOutcome, storage_event
from .stages.ingest import MessageResult, handle_cloud_event
from .stages.load import handle_curated_finalized
from .stages.normalize import handle_raw_finalized
from .stages.outcome import Stage

__all__ = ["FUNCTIONS", "ingest", "normalize", "spark_trigger"]

#: The Cloud Functions by entry-point name: functions/<name>/main.py calls the handler <name> here.
FUNCTIONS: tuple[str, ...] = ("ingest", "normalize", "spark_trigger")


def ingest(event: CloudEvent, ctx: Context | Settings) -> MessageResult:
    """Hour message (Pub/Sub) -> the hour in the raw bucket, or one message per hour of a range."""
    return handle_cloud_event(event.get_data(), _context(ctx))


def normalize(event: CloudEvent, ctx: Context | Settings) -> StageOutcome:
    """Raw object finalized -> curated parquet for its hour."""
    obj = storage_event(event, Stage.NORMALIZE)
    if isinstance(obj, StageOutcome):
        return obj  # an event that can never succeed: logged once, acknowledged
    return handle_raw_finalized(obj, _context(ctx))


def spark_trigger(event: CloudEvent, ctx: Context | Settings) -> StageOutcome:
    """Curated object finalized -> the hour's load, by the context's loader (a Dataproc submitter
    in the cloud; locally, the runner's)."""
    obj = storage_event(event, Stage.LOAD)
    if isinstance(obj, StageOutcome):
        return obj  # an event that can never succeed: logged once, acknowledged
    return handle_curated_finalized(obj, _context(ctx))


def _context(ctx: Context | Settings) -> Context:
    return ctx if isinstance(ctx, Context) else _function_context(ctx)


@functools.cache
def _function_context(settings: Settings) -> Context:
    """A Cloud Function instance's context: built once per settings value, serving many events."""
    return cloud_context(settings)
