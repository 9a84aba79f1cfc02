"""The CloudEvents the pipeline exchanges, built and parsed in one place.

Eventarc delivers GCS notifications as `google.cloud.storage.object.v1.finalized` events and Pub/Sub
messages as `google.cloud.pubsub.topic.v1.messagePublished`; the local bus builds exactly the same
events, so the function entry points cannot tell the difference.

Buckets: a CloudEvent names a bucket (`my-raw`), a Storage has a URL (`gs://my-raw` or a local
directory). GCS bucket names never contain `/`, so a "bucket" containing `/` is a local directory.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cloudevents.http import CloudEvent

from .errors import INPUT_ERRORS, MalformedInput
from .storage.base import ObjectInfo, object_url

GCS_FINALIZED = "google.cloud.storage.object.v1.finalized"
PUBSUB_PUBLISHED = "google.cloud.pubsub.topic.v1.messagePublished"
GCS_SOURCE_PREFIX = "//storage.googleapis.com/projects/_/buckets/"
PUBSUB_SOURCE_PREFIX = "//pubsub.googleapis.com/"


class EventError(MalformedInput):
    """A CloudEvent that is not what a function expects (wrong type or missing fields): permanent,
    logged once and acknowledged."""


def parse_json(text: bytes | str, what: str) -> Any:
    """JSON from outside (a Pub/Sub body, an event's data), or EventError: never anything else. A
    body nested deeper than the recursion limit raises RecursionError in `json`, not ValueError."""
    try:
        return json.loads(text)
    except INPUT_ERRORS as exc:
        reason = "nested too deeply" if isinstance(exc, RecursionError) else str(exc)[:200]
        raise EventError(f"{what} is not JSON: {reason}") from None


@dataclass(frozen=True)
class StorageObjectEvent:
    """What a finalize notification says about one object version."""

    bucket: str
    name: str
    generation: int
    size: int
    metadata: dict[str, str] = field(default_factory=dict)
    event_id: str = ""

    @property
    def storage_url(self) -> str:
        return storage_url(self.bucket)

    @property
    def uri(self) -> str:
        """`gs://bucket/name` (or `dir/name` locally), for messages and ledgers."""
        return object_url(self.storage_url, self.name)


@dataclass(frozen=True)
class PubSubMessage:
    data: bytes
    attributes: dict[str, str] = field(default_factory=dict)
    message_id: str = ""
    topic: str = ""

    def json(self) -> Any:
        """The message body parsed as JSON (the pipeline's messages are JSON objects)."""
        return parse_json(self.data, f"Pub/Sub message {self.message_id or '?'}")


# ---- buckets ------------------------------------------------------------------------------------
def bucket_name(url: str) -> str:
    """The bucket a CloudEvent names for a Storage URL: `gs://b` -> `b`, a directory -> its absolute path."""
    if url.startswith("gs://"):
        return url[len("gs://") :].strip("/")
    return str(Path(url).resolve())


def storage_url(bucket: str) -> str:
    """Inverse of `bucket_name`: the URL `open_storage` takes for a bucket named in an event."""
    if bucket.startswith("gs://"):
        return bucket
    return bucket if "/" in bucket else f"gs://{bucket}"


# ---- GCS finalize -------------------------------------------------------------------------------
def finalized_event(bucket: str, info: ObjectInfo, *, time: datetime | None = None) -> CloudEvent:
    """A finalize event for one object version, as Eventarc sends it.

    The id is derived from bucket, name and generation, so a redelivery carries the same id, as
    it does in GCS.
    """
    when = (time or datetime.now(UTC)).isoformat().replace("+00:00", "Z")
    digest = hashlib.sha256(f"{bucket}\n{info.name}\n{info.generation}".encode()).hexdigest()[:20]
    attributes = {
        "type": GCS_FINALIZED,
        "source": f"{GCS_SOURCE_PREFIX}{bucket}",
        "subject": f"objects/{info.name}",
        "id": digest,
        "time": when,
    }
    data = {
        "kind": "storage#object",
        "bucket": bucket,
        "name": info.name,
        # the JSON API spells int64 as strings
        "generation": str(info.generation),
        "metageneration": "1",
        "size": str(info.size),
        "metadata": dict(info.metadata),
        "timeCreated": when,
        "updated": when,
    }
    return CloudEvent(attributes, data)


def parse_storage_event(event: CloudEvent) -> StorageObjectEvent:
    """The object version a finalize event is about; EventError for anything else."""
    if event["type"] != GCS_FINALIZED:
        raise EventError(f"expected a {GCS_FINALIZED} event, got {event['type']!r} (id {event['id']})")
    data = _data_dict(event)
    try:
        bucket = str(data.get("bucket") or _bucket_from_source(str(event["source"])))
        name = str(data["name"])
        generation = int(data["generation"])
    except INPUT_ERRORS as exc:
        raise EventError(f"finalize event {event['id']} lacks bucket/name/generation: {exc}") from None
    try:
        metadata = data.get("metadata") or {}
        return StorageObjectEvent(
            bucket=bucket,
            name=name,
            generation=generation,
            size=int(data.get("size") or 0),
            metadata={str(k): str(v) for k, v in metadata.items()},
            event_id=str(event["id"]),
        )
    except INPUT_ERRORS as exc:
        raise EventError(f"finalize event {event['id']}: bad size or metadata: {str(exc)[:200]}") from None


def _bucket_from_source(source: str) -> str:
    if not source.startswith(GCS_SOURCE_PREFIX):
        raise ValueError(f"source {source!r} is not a GCS bucket")
    return source[len(GCS_SOURCE_PREFIX) :]


# ---- Pub/Sub ------------------------------------------------------------------------------------
def published_event(
    topic: str,
    data: bytes,
    *,
    attributes: Mapping[str, str] | None = None,
    message_id: str | None = None,
    time: datetime | None = None,
) -> CloudEvent:
    """A messagePublished event as Eventarc delivers a Pub/Sub message (`topic` = projects/P/topics/T)."""
    when = (time or datetime.now(UTC)).isoformat().replace("+00:00", "Z")
    mid = message_id or hashlib.sha256(data + when.encode()).hexdigest()[:16]
    message = {
        "data": base64.b64encode(data).decode("ascii"),
        "attributes": dict(attributes or {}),
        "messageId": mid,
        "publishTime": when,
    }
    return CloudEvent(
        {"type": PUBSUB_PUBLISHED, "source": f"{PUBSUB_SOURCE_PREFIX}{topic}", "id": mid, "time": when},
        {"message": message, "subscription": f"{topic.replace('/topics/', '/subscriptions/')}-local"},
    )


def parse_pubsub_event(event: CloudEvent) -> PubSubMessage:
    if event["type"] != PUBSUB_PUBLISHED:
        raise EventError(f"expected a {PUBSUB_PUBLISHED} event, got {event['type']!r} (id {event['id']})")
    message, data = pubsub_envelope(event.get_data(), what=f"Pub/Sub event {event['id']}")
    source = str(event["source"])
    attributes = message.get("attributes") or {}
    if not isinstance(attributes, dict):
        raise EventError(f"Pub/Sub event {event['id']}: message attributes are not a JSON object")
    return PubSubMessage(
        data=data,
        attributes={str(k): str(v) for k, v in attributes.items()},
        message_id=str(message.get("messageId") or event["id"]),
        topic=source[len(PUBSUB_SOURCE_PREFIX) :] if source.startswith(PUBSUB_SOURCE_PREFIX) else source,
    )


def pubsub_envelope(data: Any, *, what: str = "CloudEvent") -> tuple[dict[str, Any], bytes]:
    """The `message` object of a Pub/Sub CloudEvent's data and its body (base64 `data`; b"" if none).

    `data` as functions-framework hands it over: a dict, or JSON text/bytes (a push delivery's body).
    """
    if isinstance(data, bytes | str):
        data = parse_json(data or "{}", f"{what} data")
    if not isinstance(data, dict) or not isinstance(data.get("message"), dict):
        raise EventError(f"{what} data has no Pub/Sub `message` object")
    message: dict[str, Any] = data["message"]
    body = message.get("data") or b""
    if not isinstance(body, str | bytes):
        raise EventError(f"{what}: Pub/Sub message data is not a base64 string")
    try:
        return message, base64.b64decode(body, validate=True)
    except INPUT_ERRORS:
        raise EventError(f"{what}: Pub/Sub message data is not valid base64") from None


def _data_dict(event: CloudEvent) -> dict[str, Any]:
    data = event.get_data()
    if isinstance(data, bytes | str):
        data = parse_json(data, f"event {event['id']} data")
    if not isinstance(data, dict):
        raise EventError(f"event {event['id']} data is not a JSON object")
    return data
