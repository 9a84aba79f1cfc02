"""The hour ledger: what happened to an hour at every stage, one small JSON object per hour.

Stored in the raw bucket at `layout.ledger_object(hour)` as
`{"hour": "2015-01-01T15", "entries": [{"stage", "outcome", "at", "details"}, ...], "dropped": 0}`
(newest last). Appends are read-modify-write guarded by a generation precondition, so concurrent
writers (duplicate Pub/Sub deliveries, stages racing) never lose each other's entries.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from tenacity import (
    RetryError,
    Retrying,
    retry_if_exception_type,
    stop_after_attempt,
    wait_random_exponential,
)

from .hours import Hour
from .layout import LEDGER_PREFIX, ledger_object
from .storage.base import ObjectInfo, PreconditionFailed, Storage, StorageError

if TYPE_CHECKING:
    from .stages.outcome import Outcome, Stage

#: Keep the document small: older entries beyond this are dropped (and counted in "dropped").
MAX_ENTRIES = 100
#: How often an append retries when another writer got there first.
MAX_APPEND_ATTEMPTS = 20

_LEDGER_RE = re.compile(r"^ledger/\d{4}/\d{2}/\d{2}/(\d{4}-\d{2}-\d{2}T\d{2})\.json$")


class LedgerError(StorageError):
    """A ledger object that cannot be read or updated (names the hour and bucket)."""


@dataclass(frozen=True)
class LedgerEntry:
    """One thing that happened to an hour at one stage, in the stage's outcome vocabulary.

    Plain strings are accepted and checked (ValueError for an unknown stage or outcome).
    """

    stage: Stage
    outcome: Outcome
    at: datetime
    details: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        # imported here: stages/ records through this module, so it cannot be imported at the top
        from .stages.outcome import Stage, parse_outcome

        try:
            stage = Stage(self.stage)
        except ValueError:
            known = ", ".join(s.value for s in Stage)
            raise ValueError(f"unknown ledger stage {self.stage!r} (one of {known})") from None
        object.__setattr__(self, "stage", stage)
        object.__setattr__(self, "outcome", parse_outcome(stage, self.outcome))

    def to_json(self) -> dict[str, Any]:
        return {
            "stage": self.stage.value,
            "outcome": self.outcome.value,
            "at": self.at.isoformat(),
            "details": self.details,
        }

    @classmethod
    def from_json(cls, doc: dict[str, Any]) -> LedgerEntry:
        return cls(
            stage=doc["stage"],
            outcome=doc["outcome"],
            at=datetime.fromisoformat(doc["at"]),
            details=dict(doc.get("details") or {}),
        )


def _decode(storage: Storage, hour: Hour, raw: bytes) -> dict[str, Any]:
    try:
        doc = json.loads(raw)
        if not isinstance(doc, dict) or not isinstance(doc.get("entries"), list):
            raise ValueError("not a ledger document")
        return doc
    except ValueError as exc:
        raise LedgerError(
            f"ledger for hour {hour.key} in {storage.url}/{ledger_object(hour)} is unreadable: {exc}"
        ) from exc


def read_ledger(storage: Storage, hour: Hour) -> list[LedgerEntry]:
    """Entries for `hour`, oldest first; [] for an hour nothing has happened to yet."""
    name = ledger_object(hour)
    if storage.stat(name) is None:
        return []
    try:
        raw = storage.read_bytes(name)
    except FileNotFoundError:
        return []
    try:
        return [LedgerEntry.from_json(e) for e in _decode(storage, hour, raw)["entries"]]
    except (KeyError, TypeError, ValueError) as exc:
        if isinstance(exc, LedgerError):
            raise
        raise LedgerError(
            f"ledger for hour {hour.key} in {storage.url}/{name} is unreadable: bad entry: {exc}"
        ) from exc


class _Conflict(Exception):
    """Another writer changed the ledger between our read and our write: read again."""


def _append_once(storage: Storage, hour: Hour, entry: LedgerEntry) -> None:
    name = ledger_object(hour)
    # stat before read: the data read is at least as new as this generation, so a write
    # conditioned on it fails whenever anything changed in between.
    info: ObjectInfo | None = storage.stat(name)
    doc: dict[str, Any] = {"hour": hour.key, "entries": [], "dropped": 0}
    if info is not None:
        try:
            doc = _decode(storage, hour, storage.read_bytes(name))
        except FileNotFoundError:
            raise _Conflict from None  # deleted between stat and read
    entries = [*doc["entries"], entry.to_json()]
    overflow = max(0, len(entries) - MAX_ENTRIES)
    doc = {"hour": hour.key, "entries": entries[overflow:], "dropped": int(doc.get("dropped", 0)) + overflow}
    data = json.dumps(doc, separators=(",", ":"), default=str).encode()
    try:
        storage.put_bytes(name, data, if_generation_match=info.generation if info else 0)
    except PreconditionFailed:
        raise _Conflict from None


def append_entry(
    storage: Storage,
    hour: Hour,
    entry: LedgerEntry,
    *,
    sleep: Callable[[float], None] = time.sleep,
) -> None:
    """Append `entry` to the hour's ledger; safe under concurrent writers (see module docstring).

    A lost race is retried after a short random wait (full jitter, so racers spread out).
    """
    retrying = Retrying(
        retry=retry_if_exception_type(_Conflict),
        stop=stop_after_attempt(MAX_APPEND_ATTEMPTS),
        wait=wait_random_exponential(multiplier=0.01, max=0.5),
        sleep=sleep,
    )
    try:
        retrying(_append_once, storage, hour, entry)
    except RetryError:
        raise LedgerError(
            f"could not append to the ledger of hour {hour.key} in {storage.url}: "
            f"{MAX_APPEND_ATTEMPTS} concurrent-update conflicts"
        ) from None


def ledger_hours(storage: Storage) -> Iterator[Hour]:
    """Every hour that has a ledger, in time order (what `gharchive status` walks)."""
    for info in storage.list(LEDGER_PREFIX):
        m = _LEDGER_RE.match(info.name)
        if m:
            yield Hour.parse(m.group(1), now=None)


def latest(entries: list[LedgerEntry], stage: Stage | str) -> LedgerEntry | None:
    """The newest entry of `stage`, if any (an hour's current state at that stage)."""
    for entry in reversed(entries):
        if entry.stage == stage:
            return entry
    return None
