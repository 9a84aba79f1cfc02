"""Runtime configuration: environment variables in the functions, a deployment file for the CLI.

The functions read GHARCHIVE_* variables that Terraform sets; the names here are the contract with
`terraform/` (tests check that every variable a function reads is one Terraform sets). An operator's
commands (`gharchive load`, `backfill`, `smoke`) read the same settings from the deployment file
instead: the JSON `terraform output -json` prints, saved (DEPLOYMENT_OUTPUTS says which output is which
setting, and tests check that each output is the value the functions get).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field, fields, replace
from enum import StrEnum
from pathlib import Path
from typing import Any

from .errors import UserError
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
ENV_HOURLY_LOAD = "GHARCHIVE_HOURLY_LOAD"  # "hour" or "day": how the scheduler's hours are loaded

DEFAULT_MAX_RANGE_HOURS = 31 * 24


class HourlyLoad(StrEnum):
    """How the hourly flow loads: one Dataproc batch per hour (minutes after it lands), or one batch
    per UTC day once the day is settled (about 1/18 of the Dataproc cost: docs/scale.md)."""

    HOUR = "hour"
    DAY = "day"


def _env(name: str, default: str = "") -> str:
    return os.environ.get(name, default)


def _hourly_load(text: str) -> HourlyLoad:
    try:
        return HourlyLoad(text or HourlyLoad.HOUR)
    except ValueError:
        choices = ", ".join(repr(m.value) for m in HourlyLoad)
        raise UserError(f"hourly_load must be one of {choices}, not {text!r}") from None


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
    hourly_load: HourlyLoad = HourlyLoad.HOUR

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
            hourly_load=_hourly_load(_env(ENV_HOURLY_LOAD)),
        )

    @classmethod
    def from_deployment(cls, path: Path) -> Settings:
        """The settings of a deployment, from its saved `terraform output -json` (see module doc)."""
        found = settings_from_outputs(read_deployment(path), str(path))
        # the one variable still read: a Dataproc stand-in's endpoint, for tests (never in production)
        return replace(found, dataproc_endpoint=_env(ENV_DATAPROC_ENDPOINT))


#: Terraform output -> (Settings field, the function environment variable with the same value).
DEPLOYMENT_OUTPUTS: dict[str, tuple[str, str]] = {
    "project": ("project", ENV_PROJECT),
    "region": ("region", ENV_REGION),
    "raw_bucket": ("raw_bucket", ENV_RAW_BUCKET),
    "curated_bucket": ("curated_bucket", ENV_CURATED_BUCKET),
    "hours_topic": ("topic", ENV_TOPIC),
    "events_table": ("bq_table", ENV_BQ_TABLE),
    "temp_bucket": ("spark_temp_bucket", ENV_SPARK_TEMP_BUCKET),
    "spark_job_uri": ("spark_job_uri", ENV_SPARK_JOB_URI),
    "spark_py_files": ("spark_py_files", ENV_SPARK_PY_FILES),
    "dataproc_service_account": ("dataproc_service_account", ENV_DATAPROC_SERVICE_ACCOUNT),
    "dataproc_runtime_version": ("dataproc_runtime_version", ENV_DATAPROC_RUNTIME_VERSION),
    "hourly_load": ("hourly_load", ENV_HOURLY_LOAD),
}


class DeploymentError(UserError):
    """The deployment file cannot be read, or lacks an output the commands need."""


def read_deployment(path: Path) -> dict[str, Any]:
    """Output name -> value. Takes `terraform output -json` ({"name": {"value": ...}}) or a plain
    {"name": value} settings file with the same names."""
    saved = "save it with `terraform -chdir=terraform output -json > FILE`"
    try:
        doc = json.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise DeploymentError(f"deployment file {path}: {exc.strerror or exc}; {saved}") from None
    except ValueError as exc:
        raise DeploymentError(f"deployment file {path} is not JSON ({exc}); {saved}") from None
    if not isinstance(doc, dict):
        raise DeploymentError(f"deployment file {path} is not a JSON object of outputs; {saved}")
    return {
        name: value["value"] if isinstance(value, dict) and "value" in value else value
        for name, value in doc.items()
    }


def settings_from_outputs(outputs: dict[str, Any], where: str = "deployment") -> Settings:
    """Settings from Terraform outputs; every output of DEPLOYMENT_OUTPUTS is required."""
    missing = sorted(name for name in DEPLOYMENT_OUTPUTS if outputs.get(name) in (None, ""))
    if missing:
        raise DeploymentError(
            f"{where} lacks the Terraform output(s) {', '.join(missing)}: "
            "apply the current terraform/ and save `terraform output -json` again"
        )
    kinds = {f.name: f for f in fields(Settings)}
    values: dict[str, Any] = {}
    for output, (name, _env_name) in DEPLOYMENT_OUTPUTS.items():
        value = outputs[output]
        if name == "spark_py_files":
            value = tuple(value) if isinstance(value, list) else tuple(p for p in str(value).split(",") if p)
        elif name == "hourly_load":
            value = _hourly_load(str(value))
        elif not isinstance(value, str):
            raise DeploymentError(f"{where}: output {output} must be a string, got {json.dumps(value)[:80]}")
        assert name in kinds
        values[name] = value
    return Settings(**values)
