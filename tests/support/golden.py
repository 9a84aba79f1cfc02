"""Google's payloads, literally: the golden JSON files under tests/data/, and re-pointing them at the
real objects a test created (only the fields that name the object change; the shape never does).

  pubsub_push_hour_message.json        a Pub/Sub push request body (our hour message as its data)
  pubsub_push_gcs_notification.json    a push body carrying a GCS notification (JSON_API_V1 payload)
  cloudevent_pubsub_{structured,binary}.json           google.cloud.pubsub.topic.v1.messagePublished
  cloudevent_storage_finalized_{structured,binary}.json  google.cloud.storage.object.v1.finalized

Binary-mode files hold {"headers": ..., "body": ...}: the HTTP request Eventarc sends.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any
from urllib.parse import quote

from gharchive_pipeline.storage import ObjectInfo

DATA = Path(__file__).resolve().parent.parent / "data"
#: What the storage goldens name; `finalized_request` swaps these for a real object's.
GOLDEN_BUCKET = "gharchive-raw"
GOLDEN_OBJECT = "hours/2011/02/15/2011-02-15-0.json.gz"
GOLDEN_GENERATION = "1764417605123456"


def load(name: str) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads((DATA / name).read_text())
    return doc


def request(doc: dict[str, Any]) -> tuple[dict[str, str], bytes]:
    """(headers, body) of the HTTP request a golden file describes (binary or structured mode)."""
    if "headers" in doc:
        return dict(doc["headers"]), json.dumps(doc["body"]).encode()
    return {"Content-Type": "application/cloudevents+json"}, json.dumps(doc).encode()


def finalized_request(mode: str, bucket: str, info: ObjectInfo) -> tuple[dict[str, str], bytes]:
    """The golden finalize event (`mode`: binary | structured) about object `info` in `bucket`."""
    text = (DATA / f"cloudevent_storage_finalized_{mode}.json").read_text()
    for old, new in (
        (quote(GOLDEN_OBJECT, safe=""), quote(info.name, safe="")),
        (GOLDEN_OBJECT, info.name),
        (GOLDEN_GENERATION, str(info.generation)),
        (GOLDEN_BUCKET, bucket),
    ):
        text = text.replace(old, new)
    doc = json.loads(text)
    data = doc["body"] if "body" in doc else doc["data"]
    data["size"] = str(info.size)
    return request(doc)


def published_request(mode: str, message: bytes) -> tuple[dict[str, str], bytes]:
    """The golden messagePublished event (`mode`: binary | structured) carrying `message`."""
    doc = load(f"cloudevent_pubsub_{mode}.json")
    data = doc["body"] if "body" in doc else doc["data"]
    data["message"]["data"] = base64.b64encode(message).decode()
    return request(doc)
