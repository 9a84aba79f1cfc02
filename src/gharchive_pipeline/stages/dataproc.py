"""Dataproc Serverless batches that load one curated hour: naming, request building, submission.

The batch id is derived from the hour and the curated object's generation, so a redelivered
finalize event asks Dataproc for a batch that already exists (409 ALREADY_EXISTS) and nothing is
loaded twice, while a re-normalized hour (new generation) gets a new batch.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from typing import Any

from ..hours import Hour
from ..settings import (
    ENV_BQ_TABLE,
    ENV_DATAPROC_RUNTIME_VERSION,
    ENV_PROJECT,
    ENV_REGION,
    ENV_SPARK_JOB_URI,
    Settings,
)

log = logging.getLogger(__name__)

BATCH_ID_PREFIX = "gha"
_BATCH_ID_RE = re.compile(r"^[a-z][a-z0-9-]{2,61}[a-z0-9]$")


class DataprocConfigError(RuntimeError):
    """A setting the Dataproc submission needs is missing (names the env var)."""


@dataclass(frozen=True)
class LoadTarget:
    """One curated object version to load (the object's name follows from the hour: layout.py)."""

    hour: Hour
    curated_bucket_url: str  # gs://bucket
    generation: int


@dataclass(frozen=True)
class Submission:
    batch_id: str
    outcome: str  # "submitted" | "already_exists"
    operation: str = ""


def batch_id(hour: Hour, generation: int) -> str:
    """`gha-2015010115-g1700000000000000`: 4-63 chars of [a-z0-9-], as Dataproc requires."""
    value = f"{BATCH_ID_PREFIX}-{hour.start:%Y%m%d%H}-g{generation}"
    if not _BATCH_ID_RE.match(value):
        raise ValueError(f"batch id {value!r} for hour {hour.key} breaks Dataproc's id rules")
    return value


def job_args(target: LoadTarget, settings: Settings) -> list[str]:
    """Arguments of spark/load_events.py for one hour loaded into BigQuery."""
    args = [
        "--hour",
        target.hour.key,
        "--curated",
        target.curated_bucket_url,
        "--sink",
        "bigquery",
        "--table",
        settings.bq_table,
    ]
    if settings.spark_temp_bucket:
        args += ["--temp-bucket", settings.spark_temp_bucket]
    return args


def labels(target: LoadTarget) -> dict[str, str]:
    """Labels to find an hour's batches in the console (values: lowercase, digits, `-`, max 63)."""
    return {
        "app": "gharchive-pipeline",
        "stage": "load",
        "hour": target.hour.start.strftime("%Y-%m-%dt%H"),
        "curated-generation": str(target.generation),
    }


def check_settings(settings: Settings) -> None:
    missing = [
        env
        for env, value in (
            (ENV_PROJECT, settings.project),
            (ENV_REGION, settings.region),
            (ENV_SPARK_JOB_URI, settings.spark_job_uri),
            (ENV_BQ_TABLE, settings.bq_table),
            (ENV_DATAPROC_RUNTIME_VERSION, settings.dataproc_runtime_version),
        )
        if not value
    ]
    if missing:
        raise DataprocConfigError(f"cannot submit a Dataproc batch: {', '.join(missing)} not set")


def build_request(target: LoadTarget, settings: Settings) -> Any:
    """The CreateBatchRequest for one hour (pure: no network)."""
    from google.cloud import dataproc_v1

    check_settings(settings)
    bid = batch_id(target.hour, target.generation)
    execution = dataproc_v1.ExecutionConfig(
        service_account=settings.dataproc_service_account or None,
    )
    if settings.spark_temp_bucket:
        execution.staging_bucket = settings.spark_temp_bucket.removeprefix("gs://").strip("/")
    batch = dataproc_v1.Batch(
        pyspark_batch=dataproc_v1.PySparkBatch(
            main_python_file_uri=settings.spark_job_uri,
            args=job_args(target, settings),
            python_file_uris=list(settings.spark_py_files),
        ),
        runtime_config=dataproc_v1.RuntimeConfig(version=settings.dataproc_runtime_version),
        environment_config=dataproc_v1.EnvironmentConfig(execution_config=execution),
        labels=labels(target),
    )
    return dataproc_v1.CreateBatchRequest(
        parent=f"projects/{settings.project}/locations/{settings.region}",
        batch=batch,
        batch_id=bid,
        # same id on a retried request lets Dataproc dedupe it too (max 40 chars)
        request_id=bid if len(bid) <= 40 else "",
    )


def make_client(settings: Settings) -> Any:
    """BatchControllerClient on the regional endpoint, or on GHARCHIVE_DATAPROC_ENDPOINT over REST."""
    from google.cloud import dataproc_v1

    if settings.dataproc_endpoint:
        kwargs: dict[str, Any] = {}
        if settings.dataproc_endpoint.startswith("http://"):
            # a plain-HTTP endpoint is a local stand-in: no Google credentials involved
            from google.auth.credentials import AnonymousCredentials

            kwargs["credentials"] = AnonymousCredentials()
        return dataproc_v1.BatchControllerClient(
            transport="rest", client_options={"api_endpoint": settings.dataproc_endpoint}, **kwargs
        )
    return dataproc_v1.BatchControllerClient(
        client_options={"api_endpoint": f"{settings.region}-dataproc.googleapis.com:443"}
    )


def submit(target: LoadTarget, settings: Settings, *, client: Any | None = None) -> Submission:
    """Submit the batch without waiting for it. ALREADY_EXISTS is success; other errors raise (retry)."""
    from google.api_core.exceptions import AlreadyExists, Conflict

    request = build_request(target, settings)
    client = client or make_client(settings)
    try:
        operation = client.create_batch(request=request)
    except (AlreadyExists, Conflict) as exc:
        log.info("batch %s for hour %s already exists: %s", request.batch_id, target.hour.key, exc)
        return Submission(batch_id=request.batch_id, outcome="already_exists")
    name = getattr(getattr(operation, "operation", None), "name", "") or ""
    log.info("submitted batch %s for hour %s (%s)", request.batch_id, target.hour.key, name)
    return Submission(batch_id=request.batch_id, outcome="submitted", operation=name)
