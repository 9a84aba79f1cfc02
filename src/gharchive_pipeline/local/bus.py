"""An in-process stand-in for Pub/Sub + Eventarc: the same CloudEvents, to the same function entry points.

Wiring (as Terraform sets it up in the cloud):
  hour messages on the topic          -> functions/ingest/main.py        `ingest`
  object finalized in the raw bucket  -> functions/normalize/main.py     `normalize`
  object finalized in the curated one -> functions/spark_trigger/main.py `spark_trigger`

Local buckets send no notifications, so after each delivery the bus compares the objects of the
day it touched (listed before and after) and emits a finalize event for every new generation: a
write anywhere in that day, ledger included, is announced exactly as GCS would. Deliveries are
sequential; a handler that raises is retried (at-least-once), then recorded as failed.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import logging
import os
import re
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cloudevents.http import CloudEvent

from .. import layout
from ..cloud_events import (
    GCS_FINALIZED,
    bucket_name,
    finalized_event,
    parse_pubsub_event,
    parse_storage_event,
    published_event,
)
from ..hours import Hour
from ..storage.base import ObjectInfo, Storage

log = logging.getLogger(__name__)

Handler = Callable[[CloudEvent], Any]
#: function name -> which events it gets: "topic" or the role of the bucket it watches
ROUTES: dict[str, str] = {"ingest": "topic", "normalize": "raw", "spark_trigger": "curated"}
LOCAL_TOPIC = "projects/local/topics/gharchive-hours"
DEFAULT_FUNCTIONS_DIR = Path(__file__).resolve().parents[3] / "functions"


class BusError(RuntimeError):
    """The bus cannot be wired (e.g. a function's main.py is missing)."""


@dataclass(frozen=True)
class Delivery:
    """One event handed to one function: how many attempts it took and how it ended."""

    function: str
    event_id: str
    subject: str
    hour: Hour | None
    attempts: int
    seconds: float
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


def load_entry_points(functions_dir: Path = DEFAULT_FUNCTIONS_DIR) -> dict[str, Handler]:
    """Import each functions/<name>/main.py under a unique module name and take its entry point."""
    handlers: dict[str, Handler] = {}
    for name in ROUTES:
        path = functions_dir / name / "main.py"
        if not path.is_file():
            raise BusError(f"function source {path} not found (run from a checkout of the repository)")
        spec = importlib.util.spec_from_file_location(f"gharchive_function_{name}", path)
        if spec is None or spec.loader is None:
            raise BusError(f"cannot import {path}")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        handlers[name] = getattr(module, name)
    return handlers


@contextlib.contextmanager
def patched_environ(env: Mapping[str, str | None]) -> Iterator[None]:
    """Set (value) or unset (None) environment variables for the duration of a delivery."""
    saved = {k: os.environ.get(k) for k in env}
    try:
        _set_environ(env)
        yield
    finally:
        _set_environ(saved)


def _set_environ(env: Mapping[str, str | None]) -> None:
    for key, value in env.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


class LocalBus:
    """Queues CloudEvents and delivers them until nothing is left (see module docstring)."""

    def __init__(
        self,
        raw: Storage,
        curated: Storage,
        *,
        env: Mapping[str, str | None] | None = None,
        handlers: Mapping[str, Handler] | None = None,
        topic: str = LOCAL_TOPIC,
        max_attempts: int = 3,
    ) -> None:
        self.buckets: dict[str, Storage] = {"raw": raw, "curated": curated}
        self.env = dict(env or {})
        self.handlers = dict(handlers) if handlers is not None else load_entry_points()
        self.topic = topic
        self.max_attempts = max_attempts
        self._queue: deque[tuple[str, CloudEvent]] = deque()
        self.deliveries: list[Delivery] = []

    # ---- publishing (also satisfies publish.Publisher) ------------------------------------------
    def publish(self, data: bytes, attributes: Mapping[str, str] | None = None) -> None:
        self._queue.append(("ingest", published_event(self.topic, data, attributes=attributes)))

    def publish_hours(
        self, topic: str, hours: Iterable[Hour], *, on_published: Callable[[Hour], None] | None = None
    ) -> int:
        from ..publish import hour_message

        count = 0
        for hour in hours:
            self.publish(hour_message(hour), {"hour": hour.key})
            count += 1
            if on_published:
                on_published(hour)
        return count

    def announce(self, role: str, info: ObjectInfo) -> None:
        """Queue a finalize event for an existing object version (used to replay a stage)."""
        self._queue.append((_subscriber(role), finalized_event(bucket_name(self.buckets[role].url), info)))

    # ---- delivering -----------------------------------------------------------------------------
    def drain(self) -> list[Delivery]:
        """Deliver queued events, and the events their writes cause, until the queue is empty."""
        done: list[Delivery] = []
        while self._queue:
            function, event = self._queue.popleft()
            hour = _event_hour(event)
            before = self._snapshot(hour)
            delivery = self._deliver(function, event, hour)
            done.append(delivery)
            for role, info in self._changes(before, self._snapshot(hour)):
                self.announce(role, info)
        self.deliveries.extend(done)
        return done

    def _deliver(self, function: str, event: CloudEvent, hour: Hour | None) -> Delivery:
        handler = self.handlers[function]
        subject = str(event.get("subject") or event["source"])
        started = time.perf_counter()
        error: str | None = None
        attempt = 0
        for attempt in range(1, self.max_attempts + 1):
            try:
                with patched_environ(self.env):
                    handler(event)
                error = None
                break
            except Exception as exc:
                error = f"{type(exc).__name__}: {exc}"
                log.warning(
                    "%s failed on %s (attempt %d/%d): %s",
                    function,
                    subject,
                    attempt,
                    self.max_attempts,
                    error,
                )
        return Delivery(
            function, str(event["id"]), subject, hour, attempt, time.perf_counter() - started, error
        )

    # ---- change detection -----------------------------------------------------------------------
    def _snapshot(self, hour: Hour | None) -> dict[tuple[str, str], ObjectInfo]:
        snap: dict[tuple[str, str], ObjectInfo] = {}
        for role, prefixes in _watched_prefixes(hour).items():
            for prefix in prefixes:
                for info in self.buckets[role].list(prefix):
                    snap[(role, info.name)] = info
        return snap

    @staticmethod
    def _changes(
        before: dict[tuple[str, str], ObjectInfo], after: dict[tuple[str, str], ObjectInfo]
    ) -> list[tuple[str, ObjectInfo]]:
        return [
            (role, info)
            for (role, name), info in after.items()
            if (old := before.get((role, name))) is None or old.generation != info.generation
        ]


def _subscriber(role: str) -> str:
    return next(fn for fn, route in ROUTES.items() if route == role)


def _watched_prefixes(hour: Hour | None) -> dict[str, list[str]]:
    """Where a delivery for `hour` may write: its objects' folders (whole buckets if unknown)."""
    if hour is None:
        return {"raw": [""], "curated": [""]}
    raw = [layout.raw_object(hour), layout.ledger_object(hour), layout.quarantine_object(hour)]
    curated = [layout.curated_object(hour), layout.rejects_object(hour)]
    return {
        "raw": [name.rsplit("/", 1)[0] + "/" for name in raw],
        "curated": [name.rsplit("/", 1)[0] + "/" for name in curated],
    }


_ANY_HOUR_RE = re.compile(r"(\d{4}-\d{2}-\d{2})(?:T|-|/hour=)(\d{1,2})(?:\.json|/)")


def _event_hour(event: CloudEvent) -> Hour | None:
    """The hour an event is about, to scope change detection (None: unknown)."""
    try:
        if event["type"] == GCS_FINALIZED:
            # raw, quarantine, ledger, curated and rejects names all spell the hour
            m = _ANY_HOUR_RE.search(parse_storage_event(event).name)
            return Hour.parse(f"{m.group(1)}T{int(m.group(2)):02d}") if m else None
        body = json.loads(parse_pubsub_event(event).data)
        return Hour.parse(str(body["hour"])) if isinstance(body, dict) and "hour" in body else None
    except Exception:
        return None
