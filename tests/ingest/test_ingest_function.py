"""The ingest Cloud Function through functions-framework, with real Pub/Sub push CloudEvents."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from functions_framework import create_app

from gharchive_pipeline import settings as S
from gharchive_pipeline.hours import Hour, latest_complete_hour
from gharchive_pipeline.layout import raw_object
from gharchive_pipeline.ledger import read_ledger
from gharchive_pipeline.storage import open_storage
from tests.conftest import DATA, ROOT
from tests.support.gharchive_server import GHArchiveServer

SOURCE = ROOT / "functions" / "ingest" / "main.py"


@pytest.fixture(scope="module")
def server() -> Iterator[GHArchiveServer]:
    with GHArchiveServer(DATA) as s:
        yield s


@pytest.fixture(scope="module")
def client() -> Any:
    return create_app(target="ingest", source=str(SOURCE), signature_type="cloudevent").test_client()


@pytest.fixture
def raw_dir(tmp_path: Path, server: GHArchiveServer, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv(S.ENV_RAW_BUCKET, str(tmp_path / "raw"))
    monkeypatch.setenv(S.ENV_SOURCE, server.url)
    monkeypatch.delenv(S.ENV_TOPIC, raising=False)
    return tmp_path / "raw"


def pubsub_event(data: bytes | None, *, message_id: str = "1234567890") -> dict[str, Any]:
    """A CloudEvent as Eventarc delivers a Pub/Sub message (google.cloud.pubsub.topic.v1.messagePublished)."""
    message: dict[str, Any] = {"messageId": message_id, "publishTime": "2026-11-29T12:00:00.000Z"}
    if data is not None:
        message["data"] = base64.b64encode(data).decode()
    return {
        "specversion": "1.0",
        "type": "google.cloud.pubsub.topic.v1.messagePublished",
        "source": "//pubsub.googleapis.com/projects/gharchive/topics/gharchive-ingest",
        "id": message_id,
        "time": "2026-11-29T12:00:00.000Z",
        "datacontenttype": "application/json",
        "data": {"message": message, "subscription": "projects/gharchive/subscriptions/eventarc-ingest"},
    }


def post(client: Any, event: dict[str, Any]) -> Any:
    return client.post("/", data=json.dumps(event), headers={"Content-Type": "application/cloudevents+json"})


def test_env_vars_are_settings_names() -> None:
    import importlib.util

    spec = importlib.util.spec_from_file_location("ingest_main", SOURCE)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    names = {v for k, v in vars(S).items() if k.startswith("ENV_")}
    assert set(module.ENV_VARS) <= names
    assert {S.ENV_RAW_BUCKET, S.ENV_SOURCE, S.ENV_TOPIC} <= set(module.ENV_VARS)


def test_backfill_hour_message_is_stored(client: Any, raw_dir: Path) -> None:
    resp = post(client, pubsub_event(b'{"hour": "2012-10-13T00"}'))
    assert resp.status_code == 200
    raw = open_storage(str(raw_dir))
    assert [e.outcome for e in read_ledger(raw, Hour.parse("2012-10-13T00"))] == ["stored"]
    # at-least-once: the same message again is acknowledged, nothing re-downloaded
    assert post(client, pubsub_event(b'{"hour": "2012-10-13T00"}')).status_code == 200


def test_binary_mode_cloudevent(client: Any, raw_dir: Path) -> None:
    event = pubsub_event(b'{"hour": "2011-02-15T00"}')
    headers = {
        "ce-id": event["id"],
        "ce-source": event["source"],
        "ce-type": event["type"],
        "ce-specversion": "1.0",
        "Content-Type": "application/json",
    }
    assert client.post("/", data=json.dumps(event["data"]), headers=headers).status_code == 200
    assert (raw_dir / "hours/2011/02/15/2011-02-15-0.json.gz").is_file()


def test_scheduler_message_retries_until_the_hour_is_published(
    client: Any, raw_dir: Path, server: GHArchiveServer
) -> None:
    # the scheduler's tick: an empty message -> the latest complete hour, not on the server yet
    candidates = {latest_complete_hour(datetime.now(UTC)), latest_complete_hour(datetime.now(UTC)).next()}
    for hour in candidates:
        server.remove_file(hour.file_name)
    assert post(client, pubsub_event(None)).status_code == 500  # raised: Pub/Sub redelivers
    for hour in candidates:  # GH Archive publishes it
        server.add_file(hour.file_name, (DATA / "2015-01-01-5.json.gz").read_bytes())
    assert post(client, pubsub_event(b"{}")).status_code == 200
    raw = open_storage(str(raw_dir))
    stored = [h for h in candidates if raw.stat(raw_object(h)) is not None]
    assert len(stored) == 1
    assert [e.outcome for e in read_ledger(raw, stored[0])][-1] == "stored"


@pytest.mark.parametrize(
    "data",
    [
        b"not json",
        b'{"hour": "2015-13-01T00"}',
        b'{"hour": "2015-01-01T00", "x": 1}',
        b'{"hour": "2099-01-01T00"}',
    ],
)
def test_malformed_messages_are_acknowledged(
    client: Any, raw_dir: Path, data: bytes, capfd: pytest.CaptureFixture[str]
) -> None:
    assert post(client, pubsub_event(data)).status_code == 200  # acked: never retried forever
    lines = [json.loads(x) for x in capfd.readouterr().err.splitlines() if x.startswith("{")]
    assert [(x["severity"], x["outcome"]) for x in lines] == [("ERROR", "malformed")]


def test_event_without_pubsub_envelope_is_acknowledged(client: Any, raw_dir: Path) -> None:
    event = pubsub_event(b"")
    event["data"] = {"bucket": "not-a-pubsub-event"}
    assert post(client, event).status_code == 200


def test_range_over_the_configured_maximum_is_rejected(
    client: Any, raw_dir: Path, monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv(S.ENV_MAX_RANGE_HOURS, "24")
    monkeypatch.setenv(S.ENV_TOPIC, "projects/p/topics/never-used")
    assert (
        post(client, pubsub_event(b'{"start": "2015-01-01T00", "end": "2015-01-02T00"}')).status_code == 200
    )
    assert "over the maximum of 24" in capfd.readouterr().err
