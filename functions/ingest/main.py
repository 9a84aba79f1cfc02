"""Cloud Function `ingest` (Pub/Sub CloudEvent): a thin adapter over gharchive_pipeline.entrypoints.ingest.

Messages: empty (Cloud Scheduler, hourly) -> the latest complete hour; `{"hour": "2015-01-01T15"}`
-> that hour; `{"start": ..., "end": ...}` -> one message per hour published to GHARCHIVE_TOPIC.
Raising (TransientIngestError) makes Pub/Sub redeliver; permanent outcomes return normally.
"""

from __future__ import annotations

import functions_framework
from cloudevents.http import CloudEvent

from gharchive_pipeline import entrypoints
from gharchive_pipeline.logs import configure_json_logging
from gharchive_pipeline.settings import (
    ENV_MAX_RANGE_HOURS,
    ENV_PUBLICATION_LAG_MINUTES,
    ENV_RAW_BUCKET,
    ENV_SOURCE,
    ENV_TOPIC,
    Settings,
)

#: The settings.py variables this function reads (Terraform must set them; tests check).
ENV_VARS: tuple[str, ...] = (
    ENV_RAW_BUCKET,
    ENV_SOURCE,
    ENV_TOPIC,
    ENV_MAX_RANGE_HOURS,
    ENV_PUBLICATION_LAG_MINUTES,
)


configure_json_logging()  # every log record one JSON line: Cloud Logging reads it as jsonPayload


@functions_framework.cloud_event
def ingest(event: CloudEvent) -> None:
    entrypoints.ingest(event, Settings.from_env())
