"""normalize function: raw finalize -> curated parquet, driven through functions-framework with real
CloudEvent payloads against fake-gcs-server buckets and real GH Archive hours."""

from __future__ import annotations

import gzip
import io
from collections.abc import Iterator
from typing import Any

import pyarrow.parquet as pq
import pytest
from cloudevents.conversion import to_structured
from cloudevents.http import CloudEvent

from gharchive_pipeline import layout
from gharchive_pipeline.cloud_events import finalized_event
from gharchive_pipeline.hours import Hour
from gharchive_pipeline.ledger import read_ledger
from gharchive_pipeline.schema import COLUMN_NAMES
from gharchive_pipeline.settings import ENV_CURATED_BUCKET, ENV_RAW_BUCKET
from gharchive_pipeline.storage import ObjectInfo, Storage
from tests.conftest import DATA, ROOT
from tests.support.fake_gcs import fake_gcs_server, new_gcs_bucket

pytestmark = pytest.mark.slow

RAW, CURATED = "gha-raw-normalize", "gha-curated-normalize"
HOUR = Hour.parse("2015-01-01T01")  # two real servings of this hour exist (see SOURCES.md)
SMALL = Hour.parse("2011-02-15T00")


@pytest.fixture(scope="module")
def gcs() -> Iterator[tuple[Storage, Storage]]:
    with fake_gcs_server():
        yield new_gcs_bucket(RAW), new_gcs_bucket(CURATED)


@pytest.fixture(scope="module")
def app() -> Any:
    from functions_framework import create_app

    return create_app(
        target="normalize", source=str(ROOT / "functions/normalize/main.py"), signature_type="cloudevent"
    ).test_client()


@pytest.fixture(autouse=True)
def env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ENV_RAW_BUCKET, f"gs://{RAW}")
    monkeypatch.setenv(ENV_CURATED_BUCKET, f"gs://{CURATED}")


def post(client: Any, event: CloudEvent) -> None:
    headers, body = to_structured(event)
    response = client.post("/", headers=headers, data=body)
    assert response.status_code == 200, response.data


def put_raw(raw: Storage, hour: Hour, data: bytes) -> ObjectInfo:
    return raw.put_bytes(layout.raw_object(hour), data)


def parquet_rows(curated: Storage, hour: Hour) -> Any:
    return pq.read_table(io.BytesIO(curated.read_bytes(layout.curated_object(hour))))


def normalize_entries(raw: Storage, hour: Hour) -> list[Any]:
    return [e for e in read_ledger(raw, hour) if e.stage == "normalize"]


def test_finalize_writes_parquet_once_and_a_new_generation_replaces_it(
    gcs: tuple[Storage, Storage], app: Any
) -> None:
    raw, curated = gcs
    first = put_raw(raw, HOUR, (DATA / "variant-preobfuscation" / HOUR.file_name).read_bytes())
    event = finalized_event(RAW, first)
    post(app, event)

    done = curated.stat(layout.curated_object(HOUR))
    assert done is not None
    assert done.metadata["raw_generation"] == str(first.generation)
    table = parquet_rows(curated, HOUR)
    assert table.num_rows == 7427
    assert tuple(table.schema.names) == COLUMN_NAMES
    [entry] = normalize_entries(raw, HOUR)
    assert entry.outcome == "normalized" and entry.details["events"] == 7427

    # the same event again: one object, no second work (same generation, no new ledger entry)
    post(app, event)
    assert curated.stat(layout.curated_object(HOUR)) == done
    assert len(normalize_entries(raw, HOUR)) == 1

    # an overwrite (the re-issued serving of the same hour) replaces the hour
    second = put_raw(raw, HOUR, (DATA / HOUR.file_name).read_bytes())
    assert second.generation > first.generation
    post(app, finalized_event(RAW, second))
    replaced = curated.stat(layout.curated_object(HOUR))
    assert replaced is not None and replaced.generation > done.generation
    assert replaced.metadata["raw_generation"] == str(second.generation)
    assert parquet_rows(curated, HOUR).num_rows == 7427
    assert [o.name for o in curated.list("events/")] == [layout.curated_object(HOUR)]

    # the first generation's event arriving late changes nothing
    post(app, event)
    assert curated.stat(layout.curated_object(HOUR)) == replaced
    assert len(normalize_entries(raw, HOUR)) == 2


def test_foreign_objects_are_ignored(gcs: tuple[Storage, Storage], app: Any) -> None:
    raw, curated = gcs
    before = [o.name for o in curated.list()]
    for name in (
        layout.ledger_object(SMALL + 5),
        layout.quarantine_object(SMALL + 5),
        "notes/2011-02-15-5.json.gz",
        "hours/2011/02/15/readme.txt",
    ):
        post(app, finalized_event(RAW, raw.put_bytes(name, b"not an hour")))
    assert [o.name for o in curated.list()] == before


def test_rejects_land_beside_the_output_and_in_the_ledger(gcs: tuple[Storage, Storage], app: Any) -> None:
    raw, curated = gcs
    lines = gzip.decompress((DATA / SMALL.file_name).read_bytes()).splitlines(keepends=True)
    broken = [*lines[:10], b'{"type": "PushEvent", "trunc\n', *lines[10:], b"not json at all\n"]
    post(app, finalized_event(RAW, put_raw(raw, SMALL, gzip.compress(b"".join(broken)))))

    assert parquet_rows(curated, SMALL).num_rows == 1639
    rejects = curated.stat(layout.rejects_object(SMALL))
    assert rejects is not None and rejects.size > 0
    [entry] = normalize_entries(raw, SMALL)
    assert entry.details["rejects"] == 2
    assert entry.details["rejects_object"].endswith(layout.rejects_object(SMALL))


def test_flipped_bit_in_a_raw_object_is_recorded_not_salvaged(gcs: tuple[Storage, Storage], app: Any) -> None:
    """One flipped bit alters lines before the CRC reveals it: the hour is a recorded failure that
    says so, with no curated file (no possibly altered row is ever published)."""
    raw, curated = gcs
    hour = SMALL + 2
    data = bytearray((DATA / SMALL.file_name).read_bytes())
    data[len(data) // 2] ^= 0x01
    post(app, finalized_event(RAW, put_raw(raw, hour, bytes(data))))  # 200: no redelivery
    assert curated.stat(layout.curated_object(hour)) is None
    [entry] = normalize_entries(raw, hour)
    assert entry.outcome == "failed" and entry.details["error_type"] == "CorruptInputError"
    assert "corrupt gzip data" in entry.details["error"] and "\n" not in entry.details["error"]


def test_corrupt_raw_object_is_recorded_not_retried(gcs: tuple[Storage, Storage], app: Any) -> None:
    raw, curated = gcs
    hour = SMALL + 1
    data = (DATA / SMALL.file_name).read_bytes()
    post(app, finalized_event(RAW, put_raw(raw, hour, data[: len(data) // 2])))  # 200: no redelivery
    assert curated.stat(layout.curated_object(hour)) is None
    [entry] = normalize_entries(raw, hour)
    assert entry.outcome == "failed" and entry.details["error"]
