"""Runtime configuration from environment variables (set by Terraform in the cloud, by the CLI locally).

The names here are the contract with `terraform/`: tests check that every variable a function
reads is one Terraform sets.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from .hours import DEFAULT_BASE_URL

ENV_RAW_BUCKET = "GHARCHIVE_RAW_BUCKET"  # gs://bucket or a local directory
ENV_CURATED_BUCKET = "GHARCHIVE_CURATED_BUCKET"  # gs://bucket or a local directory
ENV_SOURCE = "GHARCHIVE_SOURCE"  # base URL or local directory of GH Archive files
ENV_TOPIC = "GHARCHIVE_TOPIC"  # projects/P/topics/T, for fanning out range messages
ENV_MAX_RANGE_HOURS = "GHARCHIVE_MAX_RANGE_HOURS"
ENV_PUBLICATION_LAG_MINUTES = "GHARCHIVE_PUBLICATION_LAG_MINUTES"
ENV_PROJECT = "GHARCHIVE_PROJECT"
ENV_REGION = "GHARCHIVE_REGION"
ENV_DATAPROC_SERVICE_ACCOUNT = "GHARCHIVE_DATAPROC_SERVICE_ACCOUNT"
ENV_DATAPROC_RUNTIME_VERSION = "GHARCHIVE_DATAPROC_RUNTIME_VERSION"
ENV_SPARK_JOB_URI = "GHARCHIVE_SPARK_JOB_URI"  # gs://code-bucket/spark/load_events.py
ENV_SPARK_PY_FILES = "GHARCHIVE_SPARK_PY_FILES"  # comma-separated gs:// URIs (the core package zip)
ENV_BQ_TABLE = "GHARCHIVE_BQ_TABLE"  # project.dataset.events
ENV_SPARK_TEMP_BUCKET = "GHARCHIVE_SPARK_TEMP_BUCKET"  # staging bucket for the BigQuery connector
ENV_DATAPROC_ENDPOINT = "GHARCHIVE_DATAPROC_ENDPOINT"  # optional override (tests: a local REST server)
ENV_DOWNLOAD_DEADLINE = "GHARCHIVE_DOWNLOAD_DEADLINE_SECONDS"  # optional: one hour's download, all tries

DEFAULT_MAX_RANGE_HOURS = 31 * 24


def _env(name: str, default: str = "") -> str:
    return os.environ.get(name, default)


@dataclass(frozen=True)
class Settings:
    raw_bucket: str = ""
    curated_bucket: str = ""
    source: str = DEFAULT_BASE_URL
    topic: str = ""
    max_range_hours: int = DEFAULT_MAX_RANGE_HOURS
    publication_lag_minutes: int = 30
    project: str = ""
    region: str = ""
    dataproc_service_account: str = ""
    dataproc_runtime_version: str = "2.2"
    spark_job_uri: str = ""
    spark_py_files: tuple[str, ...] = field(default_factory=tuple)
    bq_table: str = ""
    spark_temp_bucket: str = ""
    dataproc_endpoint: str = ""
    download_deadline_seconds: float | None = None  # None: the downloader's default (under 540 s)

    @classmethod
    def from_env(cls) -> Settings:
        return cls(
            raw_bucket=_env(ENV_RAW_BUCKET),
            curated_bucket=_env(ENV_CURATED_BUCKET),
            source=_env(ENV_SOURCE, DEFAULT_BASE_URL),
            topic=_env(ENV_TOPIC),
            max_range_hours=int(_env(ENV_MAX_RANGE_HOURS, str(DEFAULT_MAX_RANGE_HOURS))),
            publication_lag_minutes=int(_env(ENV_PUBLICATION_LAG_MINUTES, "30")),
            project=_env(ENV_PROJECT),
            region=_env(ENV_REGION),
            dataproc_service_account=_env(ENV_DATAPROC_SERVICE_ACCOUNT),
            dataproc_runtime_version=_env(ENV_DATAPROC_RUNTIME_VERSION, "2.2"),
            spark_job_uri=_env(ENV_SPARK_JOB_URI),
            spark_py_files=tuple(p for p in _env(ENV_SPARK_PY_FILES).split(",") if p),
            bq_table=_env(ENV_BQ_TABLE),
            spark_temp_bucket=_env(ENV_SPARK_TEMP_BUCKET),
            dataproc_endpoint=_env(ENV_DATAPROC_ENDPOINT),
            download_deadline_seconds=float(_env(ENV_DOWNLOAD_DEADLINE))
            if _env(ENV_DOWNLOAD_DEADLINE)
            else None,
        )
