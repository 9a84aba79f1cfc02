"""Event handlers behind the Cloud Functions: each turns one storage event into one step of the chain.

The functions in `functions/*/main.py` only parse the CloudEvent and call in here, so the local bus
and the cloud run the same code.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..hours import Hour

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
