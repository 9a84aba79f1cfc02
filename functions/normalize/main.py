"""Cloud Function `normalize`: raw object finalized -> curated parquet for that hour.

A thin adapter over gharchive_pipeline.entrypoints.normalize (the local bus calls the same handler).
Foreign objects (ledger, quarantine, other prefixes) are ignored with a log line.
"""

from __future__ import annotations

import functions_framework
from cloudevents.http import CloudEvent

from gharchive_pipeline import entrypoints
from gharchive_pipeline.logs import configure_json_logging
from gharchive_pipeline.settings import ENV_CURATED_BUCKET, ENV_RAW_BUCKET, Settings

#: The settings.py variables this function reads (Terraform must set them): it acts only on objects
#: of its raw bucket and writes only to its curated one.
ENV_VARS: tuple[str, ...] = (ENV_RAW_BUCKET, ENV_CURATED_BUCKET)


configure_json_logging()  # every log record one JSON line: Cloud Logging reads it as jsonPayload


@functions_framework.cloud_event
def normalize(event: CloudEvent) -> None:
    entrypoints.normalize(event, Settings.from_env())
