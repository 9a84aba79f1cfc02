"""The bodies of the three Cloud Functions, one handler each: a CloudEvent and a Settings value in.

`functions/*/main.py` read `Settings.from_env()` and call these; the local bus calls the very same
handlers with Settings it builds for a home directory. Nothing here reads the environment or the
source tree, so an installed wheel runs the local chain exactly as the cloud runs the functions.
Dependencies (buckets, publisher, loader) are passed in where the pipeline is assembled; what is
left out is built from the settings, as a function instance in the cloud does.
"""

from __future__ import annotations

import functools

from cloudevents.http import CloudEvent

from .publish import Publisher
from .settings import Settings
from .stages import StageOutcome, storage_event
from .stages.dataproc import DataprocSubmitter
from .stages.ingest import MessageResult, handle_cloud_event
from .stages.load import Loader, handle_curated_finalized
from .stages.normalize import handle_raw_finalized
from .stages.outcome import Stage
from .storage.base import Storage

#: The Cloud Functions by entry-point name: functions/<name>/main.py calls the handler <name> here.
FUNCTIONS: tuple[str, ...] = ("ingest", "normalize", "spark_trigger")


def ingest(
    event: CloudEvent,
    settings: Settings,
    *,
    raw: Storage | None = None,
    publisher: Publisher | None = None,
) -> MessageResult:
    """Hour message (Pub/Sub) -> the hour in the raw bucket, or one message per hour of a range."""
    return handle_cloud_event(event.get_data(), settings, raw=raw, publisher=publisher)


def normalize(
    event: CloudEvent,
    settings: Settings,
    *,
    raw: Storage | None = None,
    curated: Storage | None = None,
) -> StageOutcome:
    """Raw object finalized -> curated parquet for its hour."""
    obj = storage_event(event, Stage.NORMALIZE)
    if isinstance(obj, StageOutcome):
        return obj  # an event that can never succeed: logged once, acknowledged
    return handle_raw_finalized(obj, settings, raw=raw, curated=curated)


def spark_trigger(
    event: CloudEvent,
    settings: Settings,
    *,
    raw: Storage | None = None,
    curated: Storage | None = None,
    loader: Loader | None = None,
) -> StageOutcome:
    """Curated object finalized -> the hour's load, by `loader`: the local assembly passes its own;
    without one (the Cloud Function) it is a Dataproc submitter built from the settings."""
    obj = storage_event(event, Stage.LOAD)
    if isinstance(obj, StageOutcome):
        return obj  # an event that can never succeed: logged once, acknowledged
    return handle_curated_finalized(
        obj,
        settings,
        curated=curated,
        raw=raw,
        loader=loader if loader is not None else dataproc_submitter(settings),
    )


@functools.cache
def dataproc_submitter(settings: Settings) -> DataprocSubmitter:
    """One submitter (and Dataproc client) per settings per instance: instances serve many events.
    Missing Dataproc settings raise DataprocConfigError naming them (the event is retried until fixed)."""
    return DataprocSubmitter(settings)
