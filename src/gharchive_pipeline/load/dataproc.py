"""Dataproc Serverless batches that load curated hours: naming, request building, submission.

Batch ids are deterministic, so asking twice for the same work asks Dataproc for a batch that
already exists (409 ALREADY_EXISTS = success) and nothing is loaded twice:
- one hour (hourly flow): `gha-<YYYYMMDDHH>-g<curated generation>`; a re-normalized hour (new
  generation) gets a new batch;
- whole days (backfills, the sweep): `gha-d<first day>-<hash>` / `gha-r<first>-<last>-<hash>`, the
  hash taken over the days and every (hour, curated generation) the batch covers, so triggers that
  see the same settled day submit the same id, and a day that changed gets a new one.
A batch that FAILED keeps its id; the sweep (`retry_failed`) then submits `<id>-a2`, `-a3`, ...
"""

from __future__ import annotations

import hashlib
import logging
import re
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from ..errors import ConfigError, PermanentError
from ..outcome import LoadOutcome
from ..settings import (
    ENV_BQ_TABLE,
    ENV_DATAPROC_RUNTIME_VERSION,
    ENV_PROJECT,
    ENV_REGION,
    ENV_SPARK_JOB_URI,
    Settings,
)
from .day_lock import batch_ttl
from .loader import LoadRequest, LoadResult

log = logging.getLogger(__name__)

BATCH_ID_PREFIX = "gha"
_BATCH_ID_RE = re.compile(r"^[a-z][a-z0-9-]{2,61}[a-z0-9]$")
#: Batch states after which a batch will never load anything (the sweep resubmits).
DEAD_STATES = frozenset({"FAILED", "CANCELLED"})
#: How many attempts (suffixes) the sweep tries for one piece of work before giving up.
MAX_ATTEMPTS = 9


class DataprocConfigError(ConfigError, RuntimeError):
    """A setting the Dataproc submission needs is missing (names the env var): transient, so the
    event is redelivered until the deployment is fixed instead of being lost."""


class DataprocRetryExhausted(PermanentError, RuntimeError):
    """Every attempt id of one piece of work is a failed batch: look at the batches' logs."""


@dataclass(frozen=True)
class Submission:
    batch_id: str
    outcome: LoadOutcome  # SUBMITTED | ALREADY_EXISTS
    operation: str = ""
    state: str = ""  # of an existing batch, when it was looked up


def _checked(value: str, what: str) -> str:
    if not _BATCH_ID_RE.match(value):
        raise ValueError(f"batch id {value!r} for {what} breaks Dataproc's id rules")
    return value


def batch_id(request: LoadRequest, attempt: int = 1) -> str:
    """The deterministic id of a request (4-63 chars of [a-z0-9-], as Dataproc requires)."""
    suffix = f"-a{attempt}" if attempt > 1 else ""
    if not request.by_day:
        if len(request.covers) != 1:
            raise ValueError(f"an hour batch covers exactly one hour, not {len(request.covers)}")
        v = request.covers[0]
        return _checked(f"{BATCH_ID_PREFIX}-{v.hour.start:%Y%m%d%H}-g{v.generation}{suffix}", v.hour.key)
    digest = _digest(request)
    if request.day_range is not None:
        first, last = request.day_range
        value = f"{BATCH_ID_PREFIX}-r{first:%Y%m%d}-{last:%Y%m%d}-{digest}{suffix}"
    else:
        value = f"{BATCH_ID_PREFIX}-d{request.days[0]:%Y%m%d}-{digest}{suffix}"
    return _checked(value, f"days {_span(request)}")


def _digest(request: LoadRequest) -> str:
    parts = [d.isoformat() for d in request.days]
    if request.day_range is not None:
        parts.append(f"{request.day_range[0].isoformat()}..{request.day_range[1].isoformat()}")
    parts += [f"{v.hour.key}@{v.generation}" for v in sorted(request.covers)]
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:16]


def _span(request: LoadRequest) -> str:
    if request.day_range is not None:
        return f"{request.day_range[0]}..{request.day_range[1]}"
    if request.days:
        return ",".join(d.isoformat() for d in request.days)
    return ",".join(v.hour.key for v in request.covers)


#: Days an hour batch is planned for: the hour's own day and the few its late events fall on.
HOUR_BATCH_DAYS = 3


def planned_days(request: LoadRequest) -> int:
    """How many days a request's batch rebuilds one after another (what its TTL is sized for)."""
    if not request.by_day:
        return HOUR_BATCH_DAYS
    days = set(request.days)
    if request.day_range is not None:
        first, last = request.day_range
        days.update(first + timedelta(days=i) for i in range((last - first).days + 1))
    return len(days)


def ttl(request: LoadRequest) -> timedelta:
    """The batch's TTL (ExecutionConfig.ttl): without one a 2.1+ runtime batch is cut at 4 hours,
    whatever it holds (a month batch needs more), and a live batch could outlive its day locks'
    lease. One rule sizes both: load/day_lock.batch_ttl. Dataproc: "the duration after which the
    workload will be terminated ... unconditionally terminated without waiting for ongoing work to
    finish ... If ttl is not specified for a batch that uses 2.1+ runtime version, it defaults to 4
    hours. Minimum value is 10 minutes; maximum value is 14 days"
    (https://cloud.google.com/dataproc-serverless/docs/reference/rest/v1/EnvironmentConfig#ExecutionConfig)."""
    return batch_ttl(planned_days(request))


def job_args(request: LoadRequest, settings: Settings, batch: str) -> list[str]:
    """Arguments of spark/load_events.py: what to rebuild, the batch id for the ledger, where to write."""
    args: list[str] = []
    if request.day_range is not None:
        args += [
            "--start-day",
            request.day_range[0].isoformat(),
            "--end-day",
            request.day_range[1].isoformat(),
        ]
    for day in request.days:
        args += ["--day", day.isoformat()]
    if not request.by_day:
        for v in request.covers:
            args += ["--hour", v.hour.key]
    args += ["--batch-id", batch, "--ttl-s", str(int(ttl(request).total_seconds()))]
    if settings.raw_bucket:
        args += ["--raw", settings.raw_bucket]
    args += ["--curated", request.curated_url, "--sink", "bigquery", "--table", settings.bq_table]
    if settings.spark_temp_bucket:
        args += ["--temp-bucket", settings.spark_temp_bucket]
    return args


def labels(request: LoadRequest) -> dict[str, str]:
    """Labels to find a load's batches in the console (values: lowercase, digits, `-`, max 63)."""
    found = {"app": "gharchive-pipeline", "stage": "load", "hours": str(len(request.covers))}
    if not request.by_day:
        v = request.covers[0]
        found["hour"] = v.hour.start.strftime("%Y-%m-%dt%H")
        found["curated-generation"] = str(v.generation)
    elif request.day_range is not None:
        found["start-day"], found["end-day"] = (d.isoformat() for d in request.day_range)
    else:
        found["day"] = request.days[0].isoformat()
    return found


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


def parent(settings: Settings) -> str:
    return f"projects/{settings.project}/locations/{settings.region}"


def build_request(request: LoadRequest, settings: Settings, *, attempt: int = 1) -> Any:
    """The CreateBatchRequest for a load request (pure: no network)."""
    from google.cloud import dataproc_v1

    check_settings(settings)
    bid = batch_id(request, attempt)
    execution = dataproc_v1.ExecutionConfig(
        service_account=settings.dataproc_service_account or None,
        ttl=ttl(request),
    )
    if settings.spark_temp_bucket:
        execution.staging_bucket = settings.spark_temp_bucket.removeprefix("gs://").strip("/")
    batch = dataproc_v1.Batch(
        pyspark_batch=dataproc_v1.PySparkBatch(
            main_python_file_uri=settings.spark_job_uri,
            args=job_args(request, settings, bid),
            python_file_uris=list(settings.spark_py_files),
        ),
        runtime_config=dataproc_v1.RuntimeConfig(version=settings.dataproc_runtime_version),
        environment_config=dataproc_v1.EnvironmentConfig(execution_config=execution),
        labels=labels(request),
    )
    return dataproc_v1.CreateBatchRequest(
        parent=parent(settings),
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


def batch_state(batch: str, settings: Settings, *, client: Any | None = None) -> str | None:
    """`PENDING`, `RUNNING`, `SUCCEEDED`, `FAILED`, ... of a batch id, or None if there is none."""
    from google.api_core.exceptions import NotFound

    client = client or make_client(settings)
    try:
        found = client.get_batch(name=f"{parent(settings)}/batches/{batch}")
    except NotFound:
        return None
    return str(found.state.name)


def submit(
    request: LoadRequest, settings: Settings, *, client: Any | None = None, attempt: int = 1
) -> Submission:
    """Submit one batch without waiting for it. ALREADY_EXISTS is success; other errors raise (retry)."""
    from google.api_core.exceptions import AlreadyExists, Conflict

    create = build_request(request, settings, attempt=attempt)
    client = client or make_client(settings)
    try:
        operation = client.create_batch(request=create)
    except (AlreadyExists, Conflict) as exc:
        log.info("batch %s for %s already exists: %s", create.batch_id, _span(request), exc)
        return Submission(batch_id=create.batch_id, outcome=LoadOutcome.ALREADY_EXISTS)
    name = getattr(getattr(operation, "operation", None), "name", "") or ""
    log.info("submitted batch %s for %s (%s)", create.batch_id, _span(request), name)
    return Submission(batch_id=create.batch_id, outcome=LoadOutcome.SUBMITTED, operation=name)


def submit_retrying_failed(
    request: LoadRequest, settings: Settings, *, client: Any | None = None
) -> Submission:
    """Submit; when the id (or a later attempt's) is a FAILED/CANCELLED batch, submit the next attempt."""
    client = client or make_client(settings)
    for attempt in range(1, MAX_ATTEMPTS + 1):
        found = submit(request, settings, client=client, attempt=attempt)
        if found.outcome is LoadOutcome.SUBMITTED:
            return found
        state = batch_state(found.batch_id, settings, client=client) or ""
        if state not in DEAD_STATES:
            return Submission(found.batch_id, found.outcome, state=state)
        log.warning("batch %s is %s: submitting attempt %d", found.batch_id, state, attempt + 1)
    raise DataprocRetryExhausted(
        f"{MAX_ATTEMPTS} batches for {_span(request)} failed (last {batch_id(request, MAX_ATTEMPTS)})"
    )


class DataprocSubmitter:
    """The cloud `Loader`: one Dataproc Serverless batch per request, never waited for."""

    def __init__(self, settings: Settings, client: Any | None = None) -> None:
        check_settings(settings)
        self.settings = settings
        self._client = client

    @property
    def client(self) -> Any:
        if self._client is None:
            self._client = make_client(self.settings)
        return self._client

    def load(self, request: LoadRequest) -> LoadResult:
        if request.retry_failed:
            found = submit_retrying_failed(request, self.settings, client=self.client)
        else:
            found = submit(request, self.settings, client=self.client)
        details: dict[str, Any] = {}
        if found.operation:
            details["operation"] = found.operation
        if found.state:
            details["batch_state"] = found.state
        return LoadResult(found.outcome, found.batch_id, details)

    def state(self, batch: str) -> str | None:
        return batch_state(batch, self.settings, client=self.client)
