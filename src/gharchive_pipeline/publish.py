"""Publishing hour messages to Pub/Sub (backfill fan-out from the CLI and the ingest function).

The message contract is the ingest function's input: `{"hour": "2015-01-01T15"}` per hour.
Delivery is at-least-once end to end; duplicates are harmless because ingest is idempotent.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable
from typing import Any, Protocol

from .errors import TransientError
from .hours import Hour

TOPIC_RE = re.compile(r"^projects/[^/\s]+/topics/[^/\s]+$")
#: Futures awaited per batch: bounds memory for year-long backfills and paces the progress bar.
BATCH = 500


class PublishError(TransientError, RuntimeError):
    """Publishing to a topic failed (names the topic and the first hour that failed)."""


def check_topic(topic: str) -> str:
    """`projects/P/topics/T` or a clear error."""
    if not TOPIC_RE.match(topic):
        raise ValueError(f"bad topic {topic!r}: expected projects/PROJECT/topics/TOPIC")
    return topic


def hour_message(hour: Hour, load: str = "", *, renormalize: bool = False) -> bytes:
    """`{"hour": ...}`, plus `"load": "deferred"` for a backfill loaded by day batches (or `"hour"`:
    loaded on its own, whatever the deployment's hourly_load), plus
    `"renormalize": true` to have the hour normalized again by the deployed version."""
    doc: dict[str, Any] = {"hour": hour.key}
    if load:
        doc["load"] = load
    if renormalize:
        doc["renormalize"] = True
    return json.dumps(doc).encode()


class Publisher(Protocol):
    def publish_hours(
        self,
        topic: str,
        hours: Iterable[Hour],
        *,
        on_published: Callable[[Hour], None] | None = None,
        load: str = "",
        renormalize: bool = False,
    ) -> int: ...


class PubSubPublisher:
    """google-cloud-pubsub publisher (honours PUBSUB_EMULATOR_HOST)."""

    def __init__(self, client: Any | None = None) -> None:
        if client is None:
            import google.cloud.pubsub_v1 as pubsub_v1

            client = pubsub_v1.PublisherClient()
        self._client = client

    def publish_hours(
        self,
        topic: str,
        hours: Iterable[Hour],
        *,
        on_published: Callable[[Hour], None] | None = None,
        load: str = "",
        renormalize: bool = False,
    ) -> int:
        """Publish one message per hour; returns how many; raises PublishError if any failed."""
        check_topic(topic)
        count = 0
        batch: list[tuple[Hour, Any]] = []

        def drain() -> None:
            nonlocal count
            for hour, future in batch:
                try:
                    future.result(timeout=60)
                except Exception as exc:
                    raise PublishError(f"publishing hour {hour.key} to {topic} failed: {exc}") from exc
                count += 1
                if on_published:
                    on_published(hour)
            batch.clear()

        for hour in hours:
            future = self._client.publish(
                topic, hour_message(hour, load, renormalize=renormalize), hour=hour.key
            )
            batch.append((hour, future))
            if len(batch) >= BATCH:
                drain()
        drain()
        return count
