"""One-line structured JSON logs that Cloud Logging parses (and humans can grep).

Every stage reports what happened to an hour with `log_event(stage, hour, outcome, **fields)`. Cloud
Functions forward stdout/stderr lines to Cloud Logging, which reads a JSON line's `severity` and
`message` and keeps the other keys as `jsonPayload`, so one line per outcome is queryable there.
"""

from __future__ import annotations

import contextlib
import json
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any, TextIO

from .hours import Hour

#: Outcomes that are worth a human's attention (severity WARNING) or a failure (ERROR).
WARNING_OUTCOMES = frozenset({"missing", "not_yet_published", "transient", "rejected", "salvaged"})
ERROR_OUTCOMES = frozenset({"corrupt", "failed", "error"})

_stream: TextIO | None = None


def severity_for(outcome: str) -> str:
    if outcome in ERROR_OUTCOMES:
        return "ERROR"
    if outcome in WARNING_OUTCOMES:
        return "WARNING"
    return "INFO"


def _jsonable(value: Any) -> Any:
    if isinstance(value, Hour):
        return value.key
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, (set, frozenset, tuple)):
        return list(value)
    return str(value)


def log_event(
    stage: str,
    hour: Hour | str | None,
    outcome: str,
    *,
    message: str | None = None,
    severity: str | None = None,
    **fields: Any,
) -> dict[str, Any]:
    """Write one JSON line for `hour` at `stage` and return the record (handy in tests).

    `severity` defaults from the outcome (see WARNING_OUTCOMES / ERROR_OUTCOMES); `message`
    defaults to "<stage> <hour>: <outcome>". Extra fields must be JSON-serialisable or are str()'d.
    """
    key = hour.key if isinstance(hour, Hour) else hour
    record: dict[str, Any] = {
        "severity": severity or severity_for(outcome),
        "message": message or f"{stage} {key or '-'}: {outcome}",
        "stage": stage,
        "hour": key,
        "outcome": outcome,
        "time": datetime.now(UTC).isoformat(timespec="milliseconds"),
        **fields,
    }
    stream = _stream if _stream is not None else sys.stderr
    stream.write(json.dumps(record, default=_jsonable, sort_keys=False) + "\n")
    stream.flush()
    return record


@contextlib.contextmanager
def log_stream(stream: TextIO) -> Iterator[TextIO]:
    """Send log lines to `stream` for a while (e.g. a CLI's console or a file); stderr otherwise."""
    global _stream
    previous, _stream = _stream, stream
    try:
        yield stream
    finally:
        _stream = previous
