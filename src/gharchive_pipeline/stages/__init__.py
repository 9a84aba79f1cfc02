"""Event handlers behind the Cloud Functions: each turns one storage event into one step of the chain.

The functions in `functions/*/main.py` only parse the CloudEvent and call in here, so the local bus
and the cloud run the same code.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from ..hours import Hour
from ..ledger import LedgerEntry, append_entry
from ..logs import log_event
from ..storage.base import Storage

#: Curated-object metadata key recording which raw generation it was made from (idempotency).
RAW_GENERATION = "raw_generation"


@dataclass(frozen=True)
class StageOutcome:
    """What one event delivery did; `outcome` is also what the ledger and the log line say."""

    stage: str
    outcome: str
    hour: Hour | None
    object_uri: str
    details: dict[str, Any] = field(default_factory=dict)


def finish(outcome: StageOutcome) -> StageOutcome:
    """Log the outcome as one JSON line and return it (every delivery ends here)."""
    log_event(outcome.stage, outcome.hour, outcome.outcome, object=outcome.object_uri, **outcome.details)
    return outcome


def record_outcome(raw: Storage, outcome: StageOutcome) -> None:
    """Append the outcome to its hour's ledger in the raw bucket."""
    assert outcome.hour is not None
    entry = LedgerEntry(outcome.stage, outcome.outcome, datetime.now(UTC), outcome.details)
    append_entry(raw, outcome.hour, entry)
