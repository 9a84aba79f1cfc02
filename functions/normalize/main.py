"""Cloud Function `normalize`: raw object finalized -> curated parquet for that hour.

A thin adapter: all logic is in gharchive_pipeline.stages.normalize (the local bus runs the
same code). Foreign objects (ledger, quarantine, other prefixes) are ignored with a log line.
"""

from __future__ import annotations

import functions_framework
from cloudevents.http import CloudEvent

from gharchive_pipeline.cloud_events import parse_storage_event
from gharchive_pipeline.settings import ENV_CURATED_BUCKET, Settings
from gharchive_pipeline.stages.normalize import handle_raw_finalized

#: The settings.py variables this function reads (Terraform must set them).
ENV_VARS: tuple[str, ...] = (ENV_CURATED_BUCKET,)


@functions_framework.cloud_event
def normalize(event: CloudEvent) -> None:
    handle_raw_finalized(parse_storage_event(event), Settings.from_env())
