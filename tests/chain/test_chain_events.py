"""CloudEvents built and parsed by gharchive_pipeline.cloud_events, and the local bus wiring."""

from __future__ import annotations

import ast
import base64
import json
import os
from pathlib import Path
from typing import Any

import pytest
from cloudevents.conversion import to_structured
from cloudevents.http import CloudEvent, from_http

from gharchive_pipeline import entrypoints, layout, settings
from gharchive_pipeline.cloud_events import (
    GCS_FINALIZED,
    PUBSUB_PUBLISHED,
    EventError,
    bucket_name,
    finalized_event,
    parse_pubsub_event,
    parse_storage_event,
    published_event,
    storage_url,
)
from gharchive_pipeline.context import local_context
from gharchive_pipeline.hours import Hour
from gharchive_pipeline.ledger import read_ledger
from gharchive_pipeline.local.bus import LocalBus
from gharchive_pipeline.storage import ObjectInfo, open_storage
from tests.conftest import DATA, ROOT

HOUR = Hour.parse("2015-01-01T03")


def test_finalize_event_looks_like_eventarcs_and_round_trips() -> None:
    info = ObjectInfo(layout.raw_object(HOUR), 1944584, 1735700000123456, {"sha256": "abc"})
    event = finalized_event("gha-raw", info)
    assert event["type"] == GCS_FINALIZED
    assert event["source"] == "//storage.googleapis.com/projects/_/buckets/gha-raw"
    assert event["subject"] == "objects/hours/2015/01/01/2015-01-01-3.json.gz"
    assert event.get_data()["generation"] == "1735700000123456"  # int64 as a JSON string

    headers, body = to_structured(event)
    parsed = parse_storage_event(from_http(headers, body))
    assert (parsed.bucket, parsed.name, parsed.generation, parsed.size) == (
        "gha-raw",
        info.name,
        info.generation,
        info.size,
    )
    assert parsed.metadata == {"sha256": "abc"}
    assert parsed.uri == "gs://gha-raw/hours/2015/01/01/2015-01-01-3.json.gz"
    # a redelivery is the same event
    assert finalized_event("gha-raw", info)["id"] == event["id"]
    assert finalized_event("gha-raw", ObjectInfo(info.name, 1, info.generation + 1))["id"] != event["id"]


def test_bucket_names_map_to_storage_urls(tmp_path: Path) -> None:
    assert bucket_name("gs://gha-raw") == "gha-raw"
    assert storage_url("gha-raw") == "gs://gha-raw"
    local = bucket_name(str(tmp_path / "raw"))
    assert local.startswith("/") and storage_url(local) == local


def test_pubsub_event_round_trips() -> None:
    event = published_event("projects/p/topics/hours", b'{"hour": "2015-01-01T03"}', attributes={"a": "b"})
    assert event["type"] == PUBSUB_PUBLISHED
    message = event.get_data()["message"]
    assert base64.b64decode(message["data"]) == b'{"hour": "2015-01-01T03"}'
    parsed = parse_pubsub_event(event)
    assert parsed.json() == {"hour": "2015-01-01T03"}
    assert parsed.attributes == {"a": "b"} and parsed.topic == "projects/p/topics/hours"


def test_wrong_events_are_refused_clearly() -> None:
    with pytest.raises(EventError, match=r"expected a google\.cloud\.storage"):
        parse_storage_event(published_event("projects/p/topics/t", b"{}"))
    bad = CloudEvent(
        {"type": GCS_FINALIZED, "source": "//storage.googleapis.com/projects/_/buckets/b"}, {"name": "x"}
    )
    with pytest.raises(EventError, match="generation"):
        parse_storage_event(bad)


def test_bus_announces_every_write_of_a_delivery_to_the_bucket_subscriber(tmp_path: Path) -> None:
    raw, curated = open_storage(str(tmp_path / "raw")), open_storage(str(tmp_path / "curated"))
    seen: list[tuple[str, str]] = []

    def ingest(event: CloudEvent) -> None:
        hour = Hour.parse(json.loads(parse_pubsub_event(event).data)["hour"])
        raw.put_bytes(layout.raw_object(hour), b"gz")
        seen.append(("ingest", hour.key))

    def normalize(event: CloudEvent) -> None:
        obj = parse_storage_event(event)
        seen.append(("normalize", obj.name))
        hour = layout.hour_of_raw_object(obj.name)
        if hour:
            curated.put_bytes(layout.curated_object(hour), b"parquet")

    def spark_trigger(event: Any) -> None:
        seen.append(("spark_trigger", parse_storage_event(event).name))

    attempts: list[int] = []

    def flaky_trigger(event: Any) -> None:
        attempts.append(1)
        if len(attempts) == 1:
            raise RuntimeError("transient")
        spark_trigger(event)

    bus = LocalBus(
        local_context(tmp_path),
        handlers={"ingest": ingest, "normalize": normalize, "spark_trigger": flaky_trigger},
    )
    bus.publish_hours("projects/local/topics/t", [HOUR])
    deliveries = bus.drain()
    assert seen == [
        ("ingest", HOUR.key),
        ("normalize", layout.raw_object(HOUR)),
        ("spark_trigger", layout.curated_object(HOUR)),
    ]
    assert [d.attempts for d in deliveries] == [1, 1, 2] and all(d.ok for d in deliveries)

    # replaying an object's finalize delivers it again (the stages must be idempotent)
    info = raw.stat(layout.raw_object(HOUR))
    assert info is not None
    bus.announce("raw", info)
    bus.drain()
    assert seen[-2:] == [
        ("normalize", layout.raw_object(HOUR)),
        ("spark_trigger", layout.curated_object(HOUR)),
    ]


def test_gcs_notification_becomes_the_finalize_event_eventarc_sends() -> None:
    from gharchive_pipeline.cloud_events import PubSubMessage
    from tests.support.eventarc import event_from_notification

    resource = {
        "kind": "storage#object",
        "name": layout.raw_object(HOUR),
        "bucket": "gha-raw",
        "generation": "1795954246236983",
        "size": "1944584",
        "metadata": {"k": "v"},
    }
    attributes = {
        "eventType": "OBJECT_FINALIZE",
        "bucketId": "gha-raw",
        "objectId": layout.raw_object(HOUR),
        "objectGeneration": "1795954246236983",
        "payloadFormat": "JSON_API_V1",
        "eventTime": "2026-11-29T12:10:46Z",
    }
    event = event_from_notification(PubSubMessage(json.dumps(resource).encode(), attributes, "m-1"))
    assert event is not None
    parsed = parse_storage_event(event)
    assert (parsed.bucket, parsed.name, parsed.generation, parsed.metadata) == (
        "gha-raw",
        layout.raw_object(HOUR),
        1795954246236983,
        {"k": "v"},
    )
    deleted = PubSubMessage(b"{}", {**attributes, "eventType": "OBJECT_DELETE"}, "m-2")
    assert event_from_notification(deleted) is None


def test_bus_runs_the_package_handlers_with_settings_values_not_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The chain an installed wheel runs: entrypoints bound to a Settings value and the bus's buckets;
    the environment (here pointing elsewhere) is neither read nor changed."""
    small = Hour.parse("2011-02-15T00")
    decoys = {
        settings.ENV_RAW_BUCKET: str(tmp_path / "decoy-raw"),
        settings.ENV_CURATED_BUCKET: str(tmp_path / "decoy-curated"),
        settings.ENV_SOURCE: str(tmp_path / "nowhere"),
        settings.ENV_PROJECT: "decoy-project",
    }
    for key, value in decoys.items():
        monkeypatch.setenv(key, value)
    raw, curated = open_storage(str(tmp_path / "raw")), open_storage(str(tmp_path / "curated"))
    bus = LocalBus(local_context(tmp_path, source=str(DATA)))
    bus.publish_hours("projects/local/topics/t", [small])
    deliveries = bus.drain()
    assert all(d.ok for d in deliveries), [d.error for d in deliveries if not d.ok]
    outcomes = [(str(e.stage), str(e.outcome)) for e in read_ledger(raw, small)]
    assert outcomes[:2] == [("ingest", "stored"), ("normalize", "normalized")]
    assert outcomes[2][0] == "load"  # the default loader defers to the local runner
    done = curated.stat(layout.curated_object(small))
    assert done is not None and done.metadata["events"] == "1639"
    assert {k: os.environ.get(k) for k in decoys} == decoys
    assert not (tmp_path / "decoy-raw").exists() and not (tmp_path / "decoy-curated").exists()


@pytest.mark.parametrize("name", entrypoints.FUNCTIONS)
def test_function_main_is_a_thin_adapter_over_its_entrypoint(name: str) -> None:
    """functions/<name>/main.py: one decorated function making one call, to its entrypoint."""
    tree = ast.parse((ROOT / "functions" / name / "main.py").read_text())
    [fn] = [n for n in tree.body if isinstance(n, ast.FunctionDef)]
    assert fn.name == name and ast.unparse(fn.decorator_list[0]) == "functions_framework.cloud_event"
    [stmt] = fn.body
    assert ast.unparse(stmt) == f"entrypoints.{name}(event, Settings.from_env())"
