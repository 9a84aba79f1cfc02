"""Event handlers behind the Cloud Functions: each turns one event into one step of the chain.

The functions in `functions/*/main.py` only parse the CloudEvent and call in here, so the local bus
and the cloud run the same code. Every stage ends a delivery the same way: `record` writes the
outcome as one JSON log line and, for an hour, appends it to that hour's ledger.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from cloudevents.http import CloudEvent

from .. import ledger as _ledger  # the module: `ledger` is also a parameter name here
from ..cloud_events import StorageObjectEvent, bucket_name, parse_storage_event
from ..errors import INPUT_ERRORS, ConfigError
from ..hours import Hour, HourError
from ..logs import log_event
from ..outcome import RAW_GENERATION as RAW_GENERATION  # curated metadata: made from which raw
from ..outcome import Outcome, Stage, parse_outcome, severity
from ..storage.base import Storage

#: What other packages may import: these names and these modules.
__all__ = [
    "StageOutcome",
    "ingest",
    "normalize",
    "record",
    "screen_object",
    "settle",
    "spark_trigger",
    "storage_event",
    "sweep",
]


@dataclass(frozen=True)
class StageOutcome:
    """What one event delivery did; `outcome` is also what the ledger and the log line say.

    Plain strings are accepted and checked against the stage's vocabulary (a typo fails here,
    not in `gharchive status` weeks later).
    """

    stage: Stage
    outcome: Outcome
    hour: Hour | None
    object_uri: str = ""
    details: dict[str, Any] = field(default_factory=dict)
    message: str = ""  # a human sentence for the log line; "<stage> <hour>: <outcome>" if empty

    def __post_init__(self) -> None:
        stage = Stage(self.stage)
        object.__setattr__(self, "stage", stage)
        object.__setattr__(self, "outcome", parse_outcome(stage, self.outcome))


def record(
    outcome: StageOutcome, ledger: Storage | None = None, *, at: datetime | None = None
) -> StageOutcome:
    """THE way a stage reports an outcome: one JSON log line and, given the bucket holding the
    ledgers and an hour, one ledger entry. Returns `outcome` so handlers can `return record(...)`.

    The ledger entry's details are `outcome.details`; the log line also names the object.
    StorageError from the ledger write propagates (the delivery is retried).
    """
    fields: dict[str, Any] = dict(outcome.details)
    if outcome.object_uri:
        fields.setdefault("object", outcome.object_uri)
    log_event(
        outcome.stage,
        outcome.hour,
        outcome.outcome,
        message=outcome.message or None,
        severity=severity(outcome.outcome),
        **fields,
    )
    if ledger is not None and outcome.hour is not None:
        entry = _ledger.LedgerEntry(
            outcome.stage, outcome.outcome, at or datetime.now(UTC), dict(outcome.details)
        )
        _ledger.append_entry(ledger, outcome.hour, entry)
    return outcome


# ---- storage events that can never succeed ---------------------------------------------------------
def storage_event(event: CloudEvent, stage: Stage) -> StorageObjectEvent | StageOutcome:
    """The object a finalize event names, or (logged once) an `ignored` outcome for an event that
    can never succeed: a wrong type, a missing or non-integer generation, a malformed body.
    Acknowledging it is right: a redelivery would be the same event."""
    try:
        return parse_storage_event(event)
    except INPUT_ERRORS as exc:  # EventError is a ValueError
        reason = f"not a usable storage finalize event: {exc}"
        uri = f"{event.get('source', '?')} {event.get('subject', '')}".strip()
        return record(StageOutcome(stage, parse_outcome(stage, "ignored"), None, uri, {"reason": reason}))


def screen_object(
    obj: StorageObjectEvent,
    stage: Stage,
    *,
    bucket: str,
    hour_of: Callable[[str], Hour | None],
    name_of: Callable[[Hour], str],
    what: str,
) -> Hour | StageOutcome:
    """The hour `obj` holds if the stage must act on it; otherwise the recorded `ignored` outcome.

    Acts only on objects of `bucket` (the configured bucket URL: `gs://b`, or a directory the local
    assembly configured), whose name is exactly the pipeline's name for a real GH Archive hour
    (`name_of(hour)`): so date folders that disagree with the file name, impossible, future and
    pre-archive hours are ignored, logged once, with nothing written anywhere (no ledger entry in
    a foreign bucket) and nothing retried.
    """
    ignored = parse_outcome(stage, "ignored")

    def ignore(reason: str) -> StageOutcome:
        return record(StageOutcome(stage, ignored, None, obj.uri, {"reason": reason}))

    if not bucket:
        raise ConfigError(f"no {what} bucket configured for {stage.value}: cannot check {obj.uri}")
    if obj.bucket != bucket_name(bucket):
        return ignore(f"bucket {obj.bucket!r} is not the configured {what} bucket {bucket}")
    try:
        hour = hour_of(obj.name)
    except HourError as exc:
        return ignore(f"not a GH Archive hour: {exc}")
    if hour is None:
        return ignore(f"not a {what} hour object")
    if name_of(hour) != obj.name:
        return ignore(f"name does not agree with hour {hour.key} (expected {name_of(hour)})")
    return hour
