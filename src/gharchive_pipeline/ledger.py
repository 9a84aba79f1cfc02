"""The hour ledger: what happened to an hour at every stage, one small JSON object per hour, and the
one reading of it (`HourHistory`, `hour_state`) that status, the load trigger, the sweep and the
loaders share.

Stored in the raw bucket at `layout.ledger_object(hour)` as
`{"hour": "2015-01-01T15", "entries": [{"stage", "outcome", "at", "details"}, ...], "dropped": 0}`
(newest last). Appends are read-modify-write guarded by a generation precondition, so concurrent
writers (duplicate Pub/Sub deliveries, stages racing) never lose each other's entries.

A ledger that cannot be decoded never blocks its hour (or its day): readers see an empty history
with the problem named, and the next append moves the bad object under `quarantine/ledger/` and
starts a fresh document that names it (`"quarantined"`), so the state is rebuilt from what the
buckets hold and nothing needs editing by hand.
"""

from __future__ import annotations

import contextlib
import json
import logging
import re
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from tenacity import (
    RetryError,
    Retrying,
    retry_if_exception_type,
    stop_after_attempt,
    wait_random_exponential,
)

from .hours import Hour, HourError
from .layout import LEDGER_PREFIX, LEDGER_QUARANTINE_PREFIX, QUARANTINE_PREFIX, ledger_object
from .outcome import (
    BATCH_ID,
    CURATED_GENERATION,
    DAY,
    EVENTS,
    LEGACY_VERSION,
    LOAD_DONE,
    PIPELINE_VERSION_KEY,
    RAW_GENERATION,
    REASON_KEYS,
    REJECTS,
    SECONDS,
    IngestOutcome,
    LoadOutcome,
    NormalizeOutcome,
    Outcome,
    Stage,
)
from .storage.base import ObjectInfo, PreconditionFailed, Storage, StorageError

log = logging.getLogger(__name__)

#: Keep the document small: older entries beyond this are dropped (and counted in "dropped").
MAX_ENTRIES = 100
#: How often an append retries when another writer got there first.
MAX_APPEND_ATTEMPTS = 20

#: Document key: the unreadable ledger objects this one replaced (kept under quarantine/).
QUARANTINED = "quarantined"

_LEDGER_SHAPE = re.compile(r"^ledger/\d{4}/\d{2}/\d{2}/([^/]+)\.json$")


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
        from .outcome import parse_outcome

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

    @property
    def curated_generation(self) -> int | None:
        return _int(self.details.get(CURATED_GENERATION))

    @property
    def raw_generation(self) -> int | None:
        return _int(self.details.get(RAW_GENERATION))

    @property
    def batch_id(self) -> str:
        return str(self.details.get(BATCH_ID) or "")

    @property
    def seconds(self) -> float | None:
        try:
            return float(self.details[SECONDS])
        except (KeyError, TypeError, ValueError):
            return None

    @property
    def reason(self) -> str:
        return next((str(self.details[k]) for k in REASON_KEYS if self.details.get(k)), "")

    @property
    def note(self) -> str:
        """`<stage> <outcome>: <reason>` for an entry that says why, else ''."""
        return f"{self.stage} {self.outcome}: {self.reason}" if self.reason else ""


def _int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


# ---- reading ----------------------------------------------------------------------------------------
def _decode(storage: Storage, hour: Hour, raw: bytes) -> dict[str, Any]:
    try:
        doc = json.loads(raw)
        if not isinstance(doc, dict) or not isinstance(doc.get("entries"), list):
            raise ValueError("not a ledger document")
        return doc
    except ValueError as exc:  # UnicodeDecodeError and JSONDecodeError are ValueErrors
        raise LedgerError(
            f"ledger for hour {hour.key} in {storage.url}/{ledger_object(hour)} is unreadable: {exc}"
        ) from exc


def read_ledger(storage: Storage, hour: Hour) -> list[LedgerEntry]:
    """Entries for `hour`, oldest first; [] for an hour nothing has happened to yet.

    Strict (LedgerError for an unreadable ledger); `read_history` is the tolerant reading."""
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


def read_history(storage: Storage, hour: Hour, *, listed: bool = False) -> HourHistory:
    """The hour's history; never raises for a bad ledger (the problem is named in the history, and
    the readable entries are kept). `listed`: the caller saw the object in a listing (skip a stat)."""
    name = ledger_object(hour)
    if not listed and storage.stat(name) is None:
        return HourHistory()
    try:
        raw = storage.read_bytes(name)
    except FileNotFoundError:
        return HourHistory()
    return history_of(storage, hour, raw)


def history_of(storage: Storage, hour: Hour, raw: bytes) -> HourHistory:
    """Decode a ledger object's bytes into a history (bad parts named in `problem`, never raised)."""
    try:
        doc = _decode(storage, hour, raw)
    except LedgerError as exc:
        return HourHistory(problem=f"{exc}; the next stage to record the hour replaces it")
    entries: list[LedgerEntry] = []
    bad = 0
    for item in doc["entries"]:
        try:
            entries.append(LedgerEntry.from_json(item))
        except (KeyError, TypeError, ValueError, AttributeError):
            bad += 1
    quarantined = tuple(_quarantined(doc))
    problem = f"{bad} unreadable ledger entries skipped" if bad else ""
    return HourHistory(tuple(entries), problem, quarantined)


# ---- writing ----------------------------------------------------------------------------------------
class _Conflict(Exception):
    """Another writer changed the ledger between our read and our write: read again."""


def quarantine_name(hour: Hour, generation: int) -> str:
    """Where an unreadable ledger object is kept (its generation keeps repeated ones apart)."""
    kept = f"{QUARANTINE_PREFIX}{ledger_object(hour).removesuffix('.json')}.{generation}.json"
    assert kept.startswith(LEDGER_QUARANTINE_PREFIX)  # the prefix terraform/iam.tf lets appenders create
    return kept


def _append_once(storage: Storage, hour: Hour, entry: LedgerEntry) -> None:
    name = ledger_object(hour)
    # stat before read: the data read is at least as new as this generation, so a write
    # conditioned on it fails whenever anything changed in between.
    info: ObjectInfo | None = storage.stat(name)
    doc: dict[str, Any] = {"hour": hour.key, "entries": [], "dropped": 0}
    if info is not None:
        try:
            data = storage.read_bytes(name)
        except FileNotFoundError:
            raise _Conflict from None  # deleted between stat and read
        try:
            doc = _decode(storage, hour, data)
        except LedgerError as exc:
            doc = _quarantine(storage, hour, info, data, exc)
    entries = [*doc["entries"], entry.to_json()]
    overflow = max(0, len(entries) - MAX_ENTRIES)
    new: dict[str, Any] = {
        "hour": hour.key,
        "entries": entries[overflow:],
        "dropped": (_int(doc.get("dropped")) or 0) + overflow,
    }
    if kept := _quarantined(doc):
        new[QUARANTINED] = kept
    encoded = json.dumps(new, separators=(",", ":"), default=str).encode()
    try:
        storage.put_bytes(name, encoded, if_generation_match=info.generation if info else 0)
    except PreconditionFailed:
        raise _Conflict from None


def _quarantined(doc: dict[str, Any]) -> list[str]:
    names = doc.get(QUARANTINED)
    return [n for n in names if isinstance(n, str)] if isinstance(names, list) else []


def _quarantine(
    storage: Storage, hour: Hour, info: ObjectInfo, data: bytes, exc: LedgerError
) -> dict[str, Any]:
    """Keep an unreadable ledger under quarantine/ and start a fresh document that names it (the
    caller's conditioned write replaces the bad object, so a racing writer simply reads again)."""
    kept = quarantine_name(hour, info.generation)
    with contextlib.suppress(PreconditionFailed):  # a racing writer kept this generation already
        storage.put_bytes(kept, data, if_generation_match=0)
    log.warning("%s; kept at %s/%s, a fresh ledger starts", exc, storage.url, kept)
    return {"hour": hour.key, "entries": [], "dropped": 0, QUARANTINED: [kept]}


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


# ---- listing ----------------------------------------------------------------------------------------
def hour_of_ledger_object(name: str) -> Hour | None:
    """The hour a ledger object is for; None for a name that is not exactly a real hour's ledger
    name (`ledger/2015/02/30/2015-02-30T00.json`, a date folder that disagrees, foreign files)."""
    m = _LEDGER_SHAPE.match(name)
    if not m:
        return None
    try:
        hour = Hour.parse(m.group(1), now=None)
    except HourError:
        return None
    return hour if ledger_object(hour) == name else None


@dataclass(frozen=True)
class LedgerListing:
    """What a listing of ledger objects found: the hours' ledgers and the names that are none."""

    ledgers: dict[Hour, ObjectInfo]
    strays: tuple[str, ...] = ()


def list_ledgers(storage: Storage, prefix: str = LEDGER_PREFIX) -> LedgerListing:
    """The ledger objects under `prefix`; names that look like ledgers but name no real hour are
    strays (reported, never fatal: one stray must not stop a status of the whole bucket)."""
    found: dict[Hour, ObjectInfo] = {}
    strays: list[str] = []
    for info in storage.list(prefix):
        hour = hour_of_ledger_object(info.name)
        if hour is not None:
            found[hour] = info
        elif info.name.endswith(".json"):
            strays.append(info.name)
    return LedgerListing(found, tuple(strays))


def ledger_hours(storage: Storage) -> Iterator[Hour]:
    """Every hour that has a ledger, in time order (strays skipped: see `list_ledgers`)."""
    yield from sorted(list_ledgers(storage).ledgers)


def latest(entries: Iterable[LedgerEntry], stage: Stage | str) -> LedgerEntry | None:
    """The newest entry of `stage`, if any (an hour's current state at that stage)."""
    for entry in reversed(list(entries)):
        if entry.stage == stage:
            return entry
    return None


# ---- the one reading of an hour's history -----------------------------------------------------------
#: Latest outcomes after which an hour will never get a curated object (its day can settle).
TERMINAL_INGEST: frozenset[IngestOutcome] = frozenset({IngestOutcome.MISSING, IngestOutcome.CORRUPT})
TERMINAL_NORMALIZE: frozenset[NormalizeOutcome] = frozenset({NormalizeOutcome.FAILED})
#: Normalize outcomes that wrote a curated object.
NORMALIZED: tuple[NormalizeOutcome, NormalizeOutcome] = (
    NormalizeOutcome.NORMALIZED,
    NormalizeOutcome.NORMALIZED_WITH_REJECTS,
)
#: Load outcomes naming a batch asked to load a curated version (it may not have run yet).
ASKED: frozenset[LoadOutcome] = frozenset({LoadOutcome.SUBMITTED, LoadOutcome.ALREADY_EXISTS})


@dataclass(frozen=True)
class CuratedVersion:
    """One curated version of an hour: from the curated object, or as the ledger recorded it."""

    generation: int
    events: int | None = None
    rejects: int | None = None
    raw_generation: int | None = None
    #: The pipeline version that wrote it (LEGACY_VERSION when it does not say: written before
    #: curated objects recorded their version).
    pipeline_version: str = LEGACY_VERSION

    @classmethod
    def of_object(cls, info: ObjectInfo) -> CuratedVersion:
        meta = info.metadata
        return cls(
            info.generation,
            _int(meta.get(EVENTS)),
            _int(meta.get(REJECTS)),
            _int(meta.get(RAW_GENERATION)),
            str(meta.get(PIPELINE_VERSION_KEY) or LEGACY_VERSION),
        )

    @classmethod
    def of_entry(cls, entry: LedgerEntry) -> CuratedVersion | None:
        generation = entry.curated_generation
        if generation is None:
            return None
        d = entry.details
        version = str(d.get(PIPELINE_VERSION_KEY) or LEGACY_VERSION)
        return cls(generation, _int(d.get(EVENTS)), _int(d.get(REJECTS)), entry.raw_generation, version)


@dataclass(frozen=True)
class HourHistory:
    """An hour's ledger entries (oldest first) and the questions every reader asks of them.

    "Loaded" has two meanings and each has its name: `loaded(g)` (the load job recorded rows of
    curated generation g in the warehouse) and `load_asked(g)` (loaded, or a batch was asked to load
    it: what the trigger checks before asking again)."""

    entries: tuple[LedgerEntry, ...] = ()
    #: Why (part of) the ledger could not be read ('' when all of it was).
    problem: str = ""
    #: Unreadable ledger objects this ledger replaced (kept under quarantine/).
    quarantined: tuple[str, ...] = ()

    @classmethod
    def of(cls, entries: Iterable[LedgerEntry]) -> HourHistory:
        return cls(tuple(entries))

    def latest(self, stage: Stage) -> LedgerEntry | None:
        return latest(self.entries, stage)

    def loads(self, generation: int | None = None) -> list[LedgerEntry]:
        """Load entries (about curated `generation`, when given), oldest first."""
        return [
            e
            for e in self.entries
            if e.stage is Stage.LOAD and (generation is None or e.curated_generation == generation)
        ]

    def loaded(self, generation: int, *, day: str | None = None) -> LedgerEntry | None:
        """The newest `loaded` entry for curated `generation` (of UTC `day`, when given)."""
        for e in reversed(self.loads(generation)):
            if e.outcome is LoadOutcome.LOADED and (day is None or e.details.get(DAY) == day):
                return e
        return None

    def loaded_generations(self) -> dict[int, str]:
        """curated generation -> the batch that loaded it."""
        return {
            g: e.batch_id
            for e in self.loads()
            if e.outcome is LoadOutcome.LOADED and (g := e.curated_generation) is not None
        }

    def load_asked(self, generation: int) -> bool:
        """Loaded, or a batch was asked to load curated `generation`."""
        return any(e.outcome in LOAD_DONE for e in self.loads(generation))

    def load_seen(self, generation: int) -> bool:
        """Has the load stage recorded anything (deferred, a batch, ...) for curated `generation`?"""
        return bool(self.loads(generation))

    def asked_batches(self, generation: int) -> list[str]:
        """Batches asked to load curated `generation`, oldest first."""
        return [e.batch_id for e in self.loads(generation) if e.outcome in ASKED and e.batch_id]

    def batch(self, generation: int | None) -> str:
        """The batch named for curated `generation` (any, if None): the one that loaded it, else the
        newest one asked to."""
        named = [e for e in self.loads(generation) if e.batch_id]
        pick = [e for e in named if e.outcome is LoadOutcome.LOADED] or named
        return pick[-1].batch_id if pick else ""

    @property
    def refused(self) -> bool:
        """Terminally refused: missing or corrupt at the source, or failed by the normalizer."""
        ingest, norm = self.latest(Stage.INGEST), self.latest(Stage.NORMALIZE)
        return (ingest is not None and ingest.outcome in TERMINAL_INGEST) or (
            norm is not None and norm.outcome in TERMINAL_NORMALIZE
        )

    def normalized_version(self) -> CuratedVersion | None:
        """The newest curated version the normalizer recorded writing."""
        for e in reversed(self.entries):
            if e.stage is Stage.NORMALIZE and e.outcome in NORMALIZED:
                return CuratedVersion.of_entry(e)
        return None


class Progress(StrEnum):
    """Hour states that are no stage's outcome."""

    STALE = "stale"  # made from (or loaded at) an older version than the one that exists now
    PENDING = "pending"  # the previous stage is done, this one has recorded nothing yet
    DELETED = "deleted"  # the ledger records a curated version that the bucket no longer holds
    NONE = "-"  # nothing happened at this stage


RawState = IngestOutcome | Progress
NormalizedState = NormalizeOutcome | Progress
LoadedState = LoadOutcome | Progress


@dataclass(frozen=True)
class HourState:
    """Where one hour stands at each stage: the one answer status, the follower and tools read."""

    hour: Hour
    raw: RawState
    normalized: NormalizedState
    loaded: LoadedState
    #: The curated version the state is about (from the curated object, else from the ledger).
    curated: CuratedVersion | None
    #: The batch that loaded (or will load) that version.
    batch: str
    history: HourHistory
    notes: tuple[str, ...] = ()
    #: The entry each stage's state was read from (the load: the one for the version, if any).
    ingest: LedgerEntry | None = None
    normalize: LedgerEntry | None = None
    load: LedgerEntry | None = None

    @property
    def complete(self) -> bool:
        """Raw stored, normalized from the current raw object and loaded (or being loaded)."""
        return self.raw is IngestOutcome.STORED and self.normalized in NORMALIZED and self.loaded in LOAD_DONE


def hour_state(
    hour: Hour,
    history: HourHistory,
    raw_object: ObjectInfo | None,
    curated_object: ObjectInfo | None,
    *,
    curated_known: bool = True,
) -> HourState:
    """THE state of an hour, from its history and (as listed or stat'ed now) its raw and curated objects.

    The objects are the truth about what exists now; the ledger says how it got there. A load counts
    only for the curated generation that exists now. With `curated_known=False` (the curated bucket
    was not read) the ledger's newest normalized version stands in for the curated object."""
    ingest, norm, load = (history.latest(s) for s in (Stage.INGEST, Stage.NORMALIZE, Stage.LOAD))
    notes: list[str] = [history.problem] if history.problem else []
    notes += [f"unreadable ledger replaced, kept at {q}" for q in history.quarantined]

    raw: RawState
    if raw_object is not None:
        raw = IngestOutcome.STORED
    elif ingest is not None:
        said = IngestOutcome(ingest.outcome)
        raw = IngestOutcome.STORED if said is IngestOutcome.ALREADY_PRESENT else said
        notes.append(ingest.note)
    else:
        raw = Progress.NONE

    recorded = history.normalized_version()
    version = (
        CuratedVersion.of_object(curated_object)
        if curated_object is not None
        else (None if curated_known else recorded)
    )
    failed = norm is not None and norm.outcome is NormalizeOutcome.FAILED
    normalized: NormalizedState
    if version is not None:
        fresh = raw_object is None or version.raw_generation == raw_object.generation
        normalized = NORMALIZED[bool(version.rejects)] if fresh else Progress.STALE
        if failed and norm is not None:
            notes.append(norm.note)
    elif failed and norm is not None:
        normalized = NormalizeOutcome.FAILED
        notes.append(norm.note)
    elif recorded is not None:  # the ledger says it was written; the curated bucket lacks it
        normalized = Progress.DELETED
        notes.append(
            f"curated generation {recorded.generation} is gone: normalize the hour again (`gharchive run` "
            "it; deployed: rewrite its raw object, which fires normalize) and its day loads it anew"
        )
    else:
        normalized = Progress.PENDING if raw_object is not None else Progress.NONE

    if version is not None:  # a `loaded` for the current version wins over later re-deliveries
        load = history.loaded(version.generation) or load
    loaded: LoadedState = Progress.NONE
    if load is not None:
        loaded = LoadOutcome(load.outcome)
        if load.outcome in LOAD_DONE and (
            normalized is Progress.DELETED
            or (version is not None and load.curated_generation != version.generation)
        ):
            loaded = Progress.STALE
        if load.outcome not in LOAD_DONE:
            notes.append(load.note)
    elif version is not None:
        loaded = Progress.PENDING

    return HourState(
        hour=hour,
        raw=raw,
        normalized=normalized,
        loaded=loaded,
        curated=version,
        batch=history.batch(version.generation if version is not None else None),
        history=history,
        notes=tuple(n for n in notes if n),
        ingest=ingest,
        normalize=norm,
        load=load,
    )
