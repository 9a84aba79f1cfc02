"""One writer per `events` day partition: a lock object in the curated bucket.

Taken with an "only if absent" write (if_generation_match=0), so two batches can never both hold
it; the holder lists the day's contributing hours only AFTER taking it, so the last writer always
sees the newest hours. A lock older than its lease belongs to a killed batch; so does one whose
holder was a process on this machine that no longer runs (a local run killed with -9: the rerun
must not wait for the lease). Either is broken by overwriting exactly that generation, so two
breakers cannot both win.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import cast

from tenacity import RetryCallState, Retrying, retry_if_result, wait_fixed

from .. import layout
from ..errors import TransientError
from ..storage.base import ObjectInfo, PreconditionFailed, Storage

log = logging.getLogger(__name__)

# One rule sizes both how long a batch may live (its Dataproc TTL) and how long its locks are
# trusted. A batch gets a fixed allowance for start-up and bookkeeping plus one per day it rebuilds,
# days one after another (a month batch: up to 31), so its TTL is `batch_ttl(days)`. Each lock it
# takes records `expires_at`, the moment Dataproc has certainly terminated it (its driver's start
# plus that TTL): until then the holder may be alive, after it the lock is stale. A lock without
# `expires_at` (a local run, which has no TTL; or an older lock) is trusted for `batch_ttl(1)`, one
# day's rebuild, the only thing a lock is held for.
#: A day's rebuild: list, one Spark pass, the load job, the statistics queries, the ledgers. A 2024
#: day takes minutes (docs/scale.md); ten times that and more.
DAY_ALLOWANCE = timedelta(hours=1)
#: Driver and executor start-up, waiting for capacity once running, the last ledger writes.
BATCH_OVERHEAD = timedelta(hours=1)
#: Dataproc's bounds for a batch TTL (ExecutionConfig.ttl: minimum 10 minutes, maximum 14 days).
TTL_MIN, TTL_MAX = timedelta(minutes=10), timedelta(days=14)
#: Clocks of two machines may disagree by this much: a lock is stale only this long after expires_at.
CLOCK_SKEW = timedelta(minutes=5)


def batch_ttl(days: int) -> timedelta:
    """How long a batch rebuilding `days` days one after another may live (its Dataproc TTL)."""
    return min(max(BATCH_OVERHEAD + max(days, 1) * DAY_ALLOWANCE, TTL_MIN), TTL_MAX)


#: The lease of a lock that names no expiry: one day's rebuild by a one-day batch (2 h).
DEFAULT_LEASE = batch_ttl(1)
#: How long a second writer waits for the holder before giving up (transient: retried later).
DEFAULT_WAIT = timedelta(minutes=10)
_POLL_S = 2.0


class DayLocked(TransientError, RuntimeError):
    """Another batch holds the day's lock (transient: retry later). Names the day and holder."""


@dataclass(frozen=True)
class Held:
    day: date
    batch_id: str
    generation: int


def _instant(info: ObjectInfo, key: str) -> datetime | None:
    """A moment the lock's metadata names, or None when it names none we can use: a lock written by
    hand or by another tool (no time zone, not a time) must not make every load of its day fail."""
    try:
        moment = datetime.fromisoformat(info.metadata[key])
    except (KeyError, TypeError, ValueError):
        return None
    return moment if moment.tzinfo is not None else None


def _acquired_at(info: ObjectInfo) -> datetime | None:
    return _instant(info, "acquired_at")


def holder() -> str:
    """Who takes a lock: `host:pid` (on Dataproc every batch has its own driver host)."""
    return f"{socket.gethostname()}:{os.getpid()}"


def _dead_here(info: ObjectInfo) -> bool:
    """The holder was a process on this machine that is gone (a reused pid only delays this)."""
    host, _, pid = info.metadata.get("holder", "").rpartition(":")
    if host != socket.gethostname() or not pid.isdigit() or int(pid) == os.getpid():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


def _expires_at(info: ObjectInfo) -> datetime | None:
    return _instant(info, "expires_at")


def is_stale(info: ObjectInfo, now: datetime, lease: timedelta = DEFAULT_LEASE) -> bool:
    """A lock is stale once its holder is certainly gone: past the `expires_at` it names (its batch's
    TTL ran out), else past its lease; or when its holder died on this machine, or when it says
    nothing about its age (never written by us)."""
    if _dead_here(info):
        return True
    expires = _expires_at(info)
    if expires is not None:
        return now > expires + CLOCK_SKEW
    acquired = _acquired_at(info)
    return acquired is None or now - acquired > lease


def try_acquire(
    storage: Storage,
    day: date,
    batch_id: str,
    *,
    now: datetime,
    lease: timedelta = DEFAULT_LEASE,
    expires: datetime | None = None,
) -> Held | None:
    """Take the lock of `day`, or None when a live lock is held by someone else. `expires`: when the
    holder will certainly be gone (its batch's deadline), written into the lock."""
    name = layout.lock_object(day)
    meta = {"batch_id": batch_id, "acquired_at": now.astimezone(UTC).isoformat(), "holder": holder()}
    if expires is not None:
        meta["expires_at"] = expires.astimezone(UTC).isoformat()
    body = json.dumps(meta).encode()
    try:
        info = storage.put_bytes(name, body, metadata=meta, if_generation_match=0)
        return Held(day, batch_id, info.generation)
    except PreconditionFailed:
        pass
    current = storage.stat(name)
    if current is None:  # released meanwhile: try again from scratch next poll
        return None
    if not is_stale(current, now, lease):
        return None
    log.warning(
        "day %s: breaking the stale lock of batch %s (taken %s by %s)",
        day,
        current.metadata.get("batch_id", "?"),
        current.metadata.get("acquired_at", "?"),
        current.metadata.get("holder", "?"),
    )
    try:
        info = storage.put_bytes(name, body, metadata=meta, if_generation_match=current.generation)
    except PreconditionFailed:  # another breaker or the owner got there first
        return None
    return Held(day, batch_id, info.generation)


def release(storage: Storage, held: Held) -> None:
    """Delete the lock if it is still ours (a lock broken after our lease ran out is not)."""
    name = layout.lock_object(held.day)
    current = storage.stat(name)
    if current is not None and current.generation == held.generation:
        storage.delete(name)


@contextmanager
def day_lock(
    storage: Storage,
    day: date,
    batch_id: str,
    *,
    wait: timedelta = DEFAULT_WAIT,
    lease: timedelta = DEFAULT_LEASE,
    expires: datetime | None = None,
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    sleep: Callable[[float], None] = time.sleep,
) -> Iterator[Held]:
    """Hold the lock of `day` for the block; wait up to `wait` for another holder, then DayLocked.
    `expires`: the holder's deadline (a Dataproc batch's TTL), recorded in the lock."""
    deadline = clock() + wait

    def gave_up(_state: RetryCallState) -> Held:
        current = storage.stat(layout.lock_object(day))
        holder = current.metadata.get("batch_id", "?") if current else "?"
        raise DayLocked(
            f"day {day}: batch {holder} holds {storage.url}/{layout.lock_object(day)}; "
            f"gave up after {wait.total_seconds():.0f}s (retry later)"
        )

    polling = Retrying(
        retry=retry_if_result(lambda got: got is None),
        wait=wait_fixed(_POLL_S),
        stop=lambda _state: clock() >= deadline,  # the given clock, not tenacity's own
        sleep=sleep,
        retry_error_callback=gave_up,
    )
    # every None is retried until gave_up raises: what comes back is the lock
    held = cast(
        Held, polling(lambda: try_acquire(storage, day, batch_id, now=clock(), lease=lease, expires=expires))
    )
    try:
        yield held
    finally:
        release(storage, held)
