"""Event handlers behind the Cloud Functions: each turns one event into one step of the chain.

The functions in `functions/*/main.py` only parse the CloudEvent and call in here, so the local bus
and the cloud run the same code. Every stage ends a delivery the same way: `record` writes the
outcome as one JSON log line and, for an hour, appends it to that hour's ledger.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from ..hours import Hour
from ..ledger import LedgerEntry, append_entry
from ..logs import log_event
from ..storage.base import Storage
from .outcome import Outcome, Stage, parse_outcome, severity

#: Curated-object metadata key recording which raw generation it was made from (idempotency).
RAW_GENERATION = "raw_generation"


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
        entry = LedgerEntry(outcome.stage, outcome.outcome, at or datetime.now(UTC), dict(outcome.details))
        append_entry(ledger, outcome.hour, entry)
    return outcome


def finish(outcome: StageOutcome) -> StageOutcome:
    """Log only (no ledger entry). Kept for stages/load.py until it calls `record` itself."""
    return record(outcome)


def record_outcome(raw: Storage, outcome: StageOutcome) -> None:
    """Ledger only, no log line. Kept for stages/load.py until it calls `record` itself."""
    assert outcome.hour is not None
    append_entry(
        raw, outcome.hour, LedgerEntry(outcome.stage, outcome.outcome, datetime.now(UTC), outcome.details)
    )
