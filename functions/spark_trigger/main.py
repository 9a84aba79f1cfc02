"""Cloud Function `spark_trigger`: curated object finalized -> a Dataproc Serverless batch loading the hour.

A thin adapter over gharchive_pipeline.entrypoints.spark_trigger. The batch id is derived from
hour and curated generation, so redelivered events cannot load twice; the function does not wait.
"""

from __future__ import annotations

import functions_framework
from cloudevents.http import CloudEvent

from gharchive_pipeline import entrypoints
from gharchive_pipeline.logs import configure_json_logging
from gharchive_pipeline.settings import (
    ENV_BQ_TABLE,
    ENV_CURATED_BUCKET,
    ENV_DATAPROC_RUNTIME_VERSION,
    ENV_DATAPROC_SERVICE_ACCOUNT,
    ENV_HOURLY_LOAD,
    ENV_PROJECT,
    ENV_RAW_BUCKET,
    ENV_REGION,
    ENV_SPARK_JOB_URI,
    ENV_SPARK_PY_FILES,
    ENV_SPARK_TEMP_BUCKET,
    Settings,
)

#: The settings.py variables this function reads (Terraform must set them). GHARCHIVE_DATAPROC_ENDPOINT,
#: a test-only override, is read too but deliberately not listed: Terraform never sets it.
ENV_VARS: tuple[str, ...] = (
    ENV_RAW_BUCKET,
    ENV_CURATED_BUCKET,  # events naming any other bucket are ignored
    ENV_PROJECT,
    ENV_REGION,
    ENV_DATAPROC_SERVICE_ACCOUNT,
    ENV_DATAPROC_RUNTIME_VERSION,
    ENV_SPARK_JOB_URI,
    ENV_SPARK_PY_FILES,
    ENV_BQ_TABLE,
    ENV_SPARK_TEMP_BUCKET,
    ENV_HOURLY_LOAD,  # "day": the scheduler's hours wait for one batch per settled day
)


configure_json_logging()  # every log record one JSON line: Cloud Logging reads it as jsonPayload


@functions_framework.cloud_event
def spark_trigger(event: CloudEvent) -> None:
    entrypoints.spark_trigger(event, Settings.from_env())
