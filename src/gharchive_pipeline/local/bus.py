"""An in-process stand-in for Pub/Sub + Eventarc: the same CloudEvents, to the same function handlers.

Wiring (as Terraform sets it up in the cloud; the handlers are gharchive_pipeline.entrypoints, which
functions/*/main.py call too):
  hour messages on the topic          -> `ingest`
  object finalized in the raw bucket  -> `normalize`
  object finalized in the curated one -> `spark_trigger`

Handlers get the home's `local_context` (no environment patching) with the bus itself as the
publisher, so the chain runs from an installed package as well as from a checkout.
Local buckets send no notifications, so after each delivery the bus compares the objects of the
day it touched (listed before and after) and emits a finalize event for every new generation: a
write anywhere in that day, ledger included, is announced exactly as GCS would. Deliveries are
sequential; a handler that raises is retried (at-least-once), then recorded as failed.
"""

from __future__ import annotations

import functools
import json
import logging
import re
import time
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from cloudevents.http import CloudEvent
from tenacity import RetryCallState, Retrying, stop_after_attempt

from .. import entrypoints, layout
from ..cloud_events import (
    GCS_FINALIZED,
    bucket_name,
    finalized_event,
    parse_pubsub_event,
    parse_storage_event,
    published_event,
)
from ..context import LOCAL_TOPIC, Context
from ..hours import Hour
from ..storage.base import ObjectInfo, Storage

log = logging.getLogger(__name__)

Handler = Callable[[CloudEvent], Any]
#: function name -> which events it gets: "topic" or the role of the bucket it watches
ROUTES: dict[str, str] = {"ingest": "topic", "normalize": "raw", "spark_trigger": "curated"}


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


def package_handlers(ctx: Context) -> dict[str, Handler]:
    """The entrypoints bound to one context, keyed by function."""
    return {
        "ingest": functools.partial(entrypoints.ingest, ctx=ctx),
        "normalize": functools.partial(entrypoints.normalize, ctx=ctx),
        "spark_trigger": functools.partial(entrypoints.spark_trigger, ctx=ctx),
    }


class LocalBus:
    """Queues CloudEvents and delivers them until nothing is left (see module docstring)."""

    def __init__(
        self,
        ctx: Context,
        *,
        handlers: Mapping[str, Handler] | None = None,
        max_attempts: int = 3,
    ) -> None:
        """`handlers` replace the package's (tests); otherwise they run on `ctx` (from
        `local_context`), with this bus as its publisher."""
        self.ctx = ctx.replace(publisher=self)
        self.buckets: dict[str, Storage] = {"raw": ctx.raw, "curated": ctx.curated}
        self.topic = ctx.settings.topic or LOCAL_TOPIC
        self.settings = self.ctx.settings
        self.handlers = dict(handlers if handlers is not None else package_handlers(self.ctx))
        self.max_attempts = max_attempts
        self._queue: deque[tuple[str, CloudEvent]] = deque()

    # ---- publishing (also satisfies publish.Publisher) ------------------------------------------
    def publish(self, data: bytes, attributes: Mapping[str, str] | None = None) -> None:
        self._queue.append(("ingest", published_event(self.topic, data, attributes=attributes)))

    def publish_hours(
        self,
        topic: str,
        hours: Iterable[Hour],
        *,
        on_published: Callable[[Hour], None] | None = None,
        load: str = "",
        renormalize: bool = False,
    ) -> int:
        from ..publish import hour_message

        count = 0
        for hour in hours:
            self.publish(hour_message(hour, load, renormalize=renormalize), {"hour": hour.key})
            count += 1
            if on_published:
                on_published(hour)
        return count

    def announce(self, role: str, info: ObjectInfo) -> None:
        """Queue a finalize event for an existing object version (used to replay a stage)."""
        self._queue.append((_subscriber(role), finalized_event(bucket_name(self.buckets[role].url), info)))

    # ---- delivering -----------------------------------------------------------------------------
    def drain(self) -> list[Delivery]:
        """Deliver queued events, and the events their writes cause, until the queue is empty.

        Returns this drain's deliveries; the bus keeps none (a long run must not grow)."""
        done: list[Delivery] = []
        while self._queue:
            function, event = self._queue.popleft()
            hour = _event_hour(event)
            before = self._snapshot(hour)
            delivery = self._deliver(function, event, hour)
            done.append(delivery)
            for role, info in self._changes(before, self._snapshot(hour)):
                self.announce(role, info)
        return done

    def _deliver(self, function: str, event: CloudEvent, hour: Hour | None) -> Delivery:
        handler = self.handlers[function]
        subject = str(event.get("subject") or event["source"])
        started = time.perf_counter()
        error: str | None = None

        def failed(state: RetryCallState) -> None:
            exc = state.outcome.exception() if state.outcome else None
            log.warning(
                "%s failed on %s (attempt %d/%d): %s: %s",
                function,
                subject,
                state.attempt_number,
                self.max_attempts,
                type(exc).__name__,
                exc,
            )

        # Redelivery as Eventarc does it, minus the waits (a local run has nothing to wait for).
        retrying = Retrying(stop=stop_after_attempt(self.max_attempts), after=failed, reraise=True)
        try:
            retrying(handler, event)
        except Exception as exc:
            error = f"{type(exc).__name__}: {exc}"
        attempts = int(retrying.statistics.get("attempt_number", 1))
        return Delivery(
            function, str(event["id"]), subject, hour, attempts, time.perf_counter() - started, error
        )

    # ---- change detection -----------------------------------------------------------------------
    def _snapshot(self, hour: Hour | None) -> dict[tuple[str, str], ObjectInfo]:
        snap: dict[tuple[str, str], ObjectInfo] = {}
        for role, prefixes in _watched_prefixes(hour).items():
            for prefix in prefixes:
                for info in self.buckets[role].list(prefix):
                    # raw folders hold a whole day: objects of other hours are another bus's
                    # (the runner chains hours in parallel), never this delivery's doing
                    if hour is None or _name_hour(info.name) in (None, hour):
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


def _name_hour(name: str) -> Hour | None:
    """The hour a listed name spells, None when it spells none (a stray `-99` hour is no hour)."""
    m = _ANY_HOUR_RE.search(name)
    try:
        return Hour.parse(f"{m.group(1)}T{int(m.group(2)):02d}") if m else None
    except ValueError:
        return None


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
