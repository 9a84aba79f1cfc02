"""The function entry points driven with Google's literal payloads (tests/data/, see tests/support/golden.py),
not only with events the code under test builds: Pub/Sub push bodies, messagePublished and
storage finalized CloudEvents in structured and binary mode, as Eventarc sends them."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cloudevents.http import from_http
from functions_framework import create_app

from gharchive_pipeline import layout
from gharchive_pipeline import settings as S
from gharchive_pipeline.cloud_events import (
    GCS_FINALIZED,
    PUBSUB_PUBLISHED,
    PubSubMessage,
    finalized_event,
    parse_pubsub_event,
    parse_storage_event,
    published_event,
)
from gharchive_pipeline.hours import Hour
from gharchive_pipeline.ledger import read_ledger
from gharchive_pipeline.settings import ENV_CURATED_BUCKET, ENV_RAW_BUCKET, ENV_SOURCE, ENV_TOPIC
from gharchive_pipeline.storage import ObjectInfo, Storage, open_storage
from tests.conftest import DATA, ROOT
from tests.support import golden
from tests.support.dataproc_server import DataprocServer
from tests.support.eventarc import event_from_notification

HOUR = Hour.parse("2011-02-15T00")  # what the goldens name; the smallest real complete hour
MODES = ("structured", "binary")


def app(function: str) -> Any:
    source = str(ROOT / "functions" / function / "main.py")
    return create_app(target=function, source=source, signature_type="cloudevent").test_client()


# ---- the files are Google's shapes ----------------------------------------------------------------
def test_push_body_is_what_a_push_subscription_posts() -> None:
    push = golden.load("pubsub_push_hour_message.json")
    assert set(push) == {"message", "subscription"}
    message = push["message"]
    assert {"data", "attributes", "messageId", "publishTime"} <= set(message)
    assert message["messageId"] == message["message_id"]  # Pub/Sub sends both spellings
    assert json.loads(base64.b64decode(message["data"])) == {"hour": HOUR.key}
    assert push["subscription"].startswith("projects/") and "/subscriptions/" in push["subscription"]


@pytest.mark.parametrize("mode", MODES)
def test_storage_event_data_is_the_json_api_object_resource(mode: str) -> None:
    headers, body = golden.request(golden.load(f"cloudevent_storage_finalized_{mode}.json"))
    event = from_http(headers, body)
    assert event["type"] == GCS_FINALIZED and event["subject"] == f"objects/{layout.raw_object(HOUR)}"
    data = event.get_data()
    # int64 fields are JSON strings in the JSON API (and so in Eventarc's events)
    for key in ("generation", "metageneration", "size"):
        assert isinstance(data[key], str) and data[key].isdigit(), key
    assert {
        "bucket",
        "name",
        "contentType",
        "md5Hash",
        "crc32c",
        "timeCreated",
        "updated",
        "metadata",
    } <= set(data)
    parsed = parse_storage_event(event)
    assert (parsed.bucket, parsed.name, parsed.generation, parsed.size) == (
        "gharchive-raw",
        layout.raw_object(HOUR),
        int(data["generation"]),
        (DATA / HOUR.file_name).stat().st_size,
    )
    assert parsed.metadata["source"] == "https://data.gharchive.org/2011-02-15-0.json.gz"


@pytest.mark.parametrize("mode", MODES)
def test_pubsub_event_data_is_the_push_body(mode: str) -> None:
    headers, body = golden.request(golden.load(f"cloudevent_pubsub_{mode}.json"))
    event = from_http(headers, body)
    assert event["type"] == PUBSUB_PUBLISHED
    assert event.get_data() == golden.load("pubsub_push_hour_message.json")
    message = parse_pubsub_event(event)
    assert message.json() == {"hour": HOUR.key} and message.message_id == "2070443601311540"
    assert message.topic == "projects/gharchive-prod/topics/gharchive-hours"


def test_events_the_local_bus_builds_have_the_golden_shape() -> None:
    """Every field we put in an event is one Google puts there, with the same JSON type."""
    ours = finalized_event("gharchive-raw", ObjectInfo(layout.raw_object(HOUR), 292970, 1764417605123456))
    theirs = golden.load("cloudevent_storage_finalized_structured.json")
    assert {k: type(v) for k, v in ours.get_data().items()} == {
        k: type(v) for k, v in theirs["data"].items() if k in ours.get_data()
    }
    for attr in ("type", "source", "subject"):
        assert ours[attr] == theirs[attr]

    published = published_event("projects/gharchive-prod/topics/gharchive-hours", b"{}")
    push = golden.load("pubsub_push_hour_message.json")
    assert set(published.get_data()) == set(push)
    assert set(published.get_data()["message"]) <= set(push["message"])
    assert published["source"] == golden.load("cloudevent_pubsub_structured.json")["source"]


def test_gcs_notification_push_becomes_the_golden_finalize_event() -> None:
    push = golden.load("pubsub_push_gcs_notification.json")["message"]
    message = PubSubMessage(base64.b64decode(push["data"]), push["attributes"], push["messageId"])
    event = event_from_notification(message)
    assert event is not None
    expected = golden.load("cloudevent_storage_finalized_structured.json")
    assert event.get_data() == expected["data"]
    assert (event["type"], event["source"], event["subject"]) == (
        expected["type"],
        expected["source"],
        expected["subject"],
    )


# ---- the function entry points take them ----------------------------------------------------------
@pytest.fixture
def ingest_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Storage:
    monkeypatch.setenv(ENV_RAW_BUCKET, str(tmp_path / "raw"))
    monkeypatch.setenv(ENV_SOURCE, str(DATA))
    monkeypatch.delenv(ENV_TOPIC, raising=False)
    return open_storage(str(tmp_path / "raw"))


@pytest.mark.parametrize("mode", MODES)
def test_ingest_function_takes_the_golden_messagepublished_event(mode: str, ingest_env: Storage) -> None:
    headers, body = golden.request(golden.load(f"cloudevent_pubsub_{mode}.json"))
    response = app("ingest").post("/", headers=headers, data=body)
    assert response.status_code == 200, response.data
    assert [e.outcome for e in read_ledger(ingest_env, HOUR) if e.stage == "ingest"] == ["stored"]
    info = ingest_env.stat(layout.raw_object(HOUR))
    assert info is not None and info.size == (DATA / HOUR.file_name).stat().st_size


@pytest.mark.parametrize("mode", MODES)
def test_ingest_function_acknowledges_a_golden_event_with_a_bad_message(
    mode: str, ingest_env: Storage
) -> None:
    headers, body = golden.published_request(mode, b'{"hour": "2015-13-01T00"}')
    response = app("ingest").post("/", headers=headers, data=body)
    assert response.status_code == 200, response.data  # logged once and acknowledged, never retried
    assert list(ingest_env.list()) == []


@pytest.fixture(scope="module")
def gcs() -> Iterator[tuple[Storage, Storage]]:
    from tests.support.fake_gcs import fake_gcs_server, new_gcs_bucket

    with fake_gcs_server():
        yield new_gcs_bucket(prefix="golden-raw"), new_gcs_bucket(prefix="golden-curated")


@pytest.mark.slow
@pytest.mark.parametrize("mode", MODES)
def test_normalize_function_takes_the_golden_finalize_event(
    mode: str, gcs: tuple[Storage, Storage], monkeypatch: pytest.MonkeyPatch
) -> None:
    raw, curated = gcs
    monkeypatch.setenv(ENV_RAW_BUCKET, raw.url)
    monkeypatch.setenv(ENV_CURATED_BUCKET, curated.url)
    info = raw.put_bytes(layout.raw_object(HOUR), (DATA / HOUR.file_name).read_bytes())
    headers, body = golden.finalized_request(mode, raw.url.removeprefix("gs://"), info)
    response = app("normalize").post("/", headers=headers, data=body)
    assert response.status_code == 200, response.data
    done = curated.stat(layout.curated_object(HOUR))
    assert done is not None and done.metadata["raw_generation"] == str(info.generation)
    assert done.metadata["events"] == "1639"
    entries = [e for e in read_ledger(raw, HOUR) if e.stage == "normalize"]
    assert [e.details["raw_generation"] for e in entries][-1] == info.generation


@pytest.mark.slow
@pytest.mark.parametrize("mode", MODES)
def test_spark_trigger_function_takes_the_golden_finalize_event(
    mode: str, gcs: tuple[Storage, Storage], monkeypatch: pytest.MonkeyPatch
) -> None:
    raw, curated = gcs
    hour = HOUR + (1 if mode == "binary" else 2)  # one hour per mode: each is one new load
    with DataprocServer() as dataproc:
        for key, value in {
            S.ENV_RAW_BUCKET: raw.url,
            S.ENV_CURATED_BUCKET: curated.url,
            S.ENV_PROJECT: "gharchive-prod",
            S.ENV_REGION: "europe-west1",
            S.ENV_SPARK_JOB_URI: "gs://gharchive-code/spark/load_events.py",
            S.ENV_BQ_TABLE: "gharchive-prod.gharchive.events",
            S.ENV_DATAPROC_ENDPOINT: dataproc.endpoint,
        }.items():
            monkeypatch.setenv(key, value)
        info = curated.put_bytes(
            layout.curated_object(hour), b"PAR1 stand-in", metadata={"raw_generation": "1"}
        )
        headers, body = golden.finalized_request(mode, curated.url.removeprefix("gs://"), info)
        for _ in range(2):  # a redelivery asks for the same batch: ALREADY_EXISTS is success
            response = app("spark_trigger").post("/", headers=headers, data=body)
            assert response.status_code == 200, response.data
        assert dataproc.batch_ids() == [f"gha-{hour.start:%Y%m%d%H}-g{info.generation}"]
