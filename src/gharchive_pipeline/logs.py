"""Structured JSON logs through stdlib `logging`, one line per record, as Cloud Logging parses them.

Cloud Functions forward stdout/stderr lines to Cloud Logging, which reads a JSON line's `severity`
and `message` and keeps the other keys as `jsonPayload`, so every stage outcome is queryable there.
`JsonFormatter` writes that shape for any `logging` record (structured fields ride in `extra=`); the
outcome lines go through the `gharchive_pipeline.outcomes` logger, which writes to stderr unless a
run sends them elsewhere (`log_stream`, or `log_file` for the local run's JSON-lines log). The
severity of an outcome is the caller's (the stage recorder takes it from outcome.py).
"""

from __future__ import annotations

import contextlib
import json
import logging
import sys
from collections.abc import Iterator
from datetime import UTC, date, datetime
from enum import Enum
from pathlib import Path
from typing import Any, TextIO

from .hours import Hour

#: The logger every outcome line goes through (not propagated: its handler decides where lines go).
OUTCOME_LOGGER = "gharchive_pipeline.outcomes"
#: The `extra=` key carrying a record's structured fields.
FIELDS = "json_fields"

#: Cloud Logging drops an entry over 256 KB; none of our fields needs more than a few KB (an hour, an
#: object name, an error message). Longer strings keep their head and tail around a marker saying
#: how much was cut; lists and mappings keep MAX_ITEMS entries; a line stays far below the limit.
MAX_FIELD_CHARS = 4096
MAX_ITEMS = 64
MAX_DEPTH = 4
TRUNCATED = "…[{cut} chars cut]…"
#: A line over this (many long fields) is written again with shorter fields, then as message only.
MAX_LINE_BYTES = 64 * 1024

_LEVELS = {"DEBUG": logging.DEBUG, "INFO": logging.INFO, "WARNING": logging.WARNING, "ERROR": logging.ERROR}
_SEVERITIES = {logging.CRITICAL: "CRITICAL", logging.ERROR: "ERROR", logging.WARNING: "WARNING"}


def _jsonable(value: Any) -> Any:
    if isinstance(value, Hour):
        return value.key
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, set | frozenset | tuple):
        return list(value)
    return str(value)


def bounded(value: Any, limit: int = MAX_FIELD_CHARS, depth: int = 0) -> Any:
    """`value` made JSON-ready and small (see MAX_FIELD_CHARS): strings cut in the middle, with a
    marker; containers to MAX_ITEMS entries and MAX_DEPTH levels; an integer too long to print as
    its size."""
    if value is None or isinstance(value, bool | float):
        return value
    if isinstance(value, int):
        return value if value.bit_length() <= 256 else f"<an integer of {value.bit_length()} bits>"
    if isinstance(value, dict | list | tuple | set | frozenset) and depth >= MAX_DEPTH:
        return f"<{type(value).__name__} of {len(value)} entries, nested too deep to log>"
    if isinstance(value, dict):
        items = list(value.items())
        out = {bounded(str(k), 256): bounded(v, limit, depth + 1) for k, v in items[:MAX_ITEMS]}
        if len(items) > MAX_ITEMS:
            out["…"] = f"{len(items) - MAX_ITEMS} more entries cut"
        return out
    if isinstance(value, list | tuple | set | frozenset):
        seq = list(value)
        kept = [bounded(v, limit, depth + 1) for v in seq[:MAX_ITEMS]]
        return kept + ([f"…{len(seq) - MAX_ITEMS} more items cut"] if len(seq) > MAX_ITEMS else [])
    text = value if isinstance(value, str) else _jsonable(value)
    if not isinstance(text, str):
        return bounded(text, limit)
    if len(text) <= limit:
        return text
    half = limit // 2
    return text[:half] + TRUNCATED.format(cut=len(text) - 2 * half) + text[-half:]


def severity_name(levelno: int) -> str:
    """Cloud Logging's severity for a `logging` level."""
    for level, name in _SEVERITIES.items():
        if levelno >= level:
            return name
    return "INFO" if levelno >= logging.INFO else "DEBUG"


class JsonFormatter(logging.Formatter):
    """`{"severity", "message", ...fields, "time"}`: the jsonPayload shape of Cloud Logging."""

    def format(self, record: logging.LogRecord) -> str:
        fields: dict[str, Any] = getattr(record, FIELDS, None) or {}
        doc: dict[str, Any] = {"severity": severity_name(record.levelno), "message": record.getMessage()}
        doc.update(fields)
        doc.setdefault("time", datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"))
        if record.name != OUTCOME_LOGGER:
            doc.setdefault("logger", record.name)
        if record.exc_info:
            doc["stack_trace"] = self.formatException(record.exc_info)  # Error Reporting reads this
        return bounded_line(doc)


def bounded_line(doc: dict[str, Any]) -> str:
    """`doc` as one JSON line of at most MAX_LINE_BYTES (see `bounded`)."""
    for limit in (MAX_FIELD_CHARS, MAX_FIELD_CHARS // 8, 64):
        line = json.dumps(bounded(doc, limit), default=_jsonable)
        if len(line.encode()) <= MAX_LINE_BYTES:
            return line
    keep = {k: bounded(doc.get(k), 1024) for k in ("severity", "message", "stage", "hour", "outcome", "time")}
    return json.dumps({**keep, "truncated": f"the other fields were cut: {len(line.encode()):,} bytes"})


class _StderrHandler(logging.StreamHandler):
    """Writes to whatever `sys.stderr` is at the time (test capture, a redirected console)."""

    def __init__(self) -> None:
        super().__init__(sys.stderr)

    @property
    def stream(self) -> TextIO:
        return sys.stderr

    @stream.setter
    def stream(self, _value: TextIO) -> None:
        pass


def _json_handler(handler: logging.Handler) -> logging.Handler:
    handler.setFormatter(JsonFormatter())
    return handler


_outcomes = logging.getLogger(OUTCOME_LOGGER)
_outcomes.setLevel(logging.DEBUG)
_outcomes.propagate = False
_DEFAULT_HANDLER = _json_handler(_StderrHandler())
_outcomes.addHandler(_DEFAULT_HANDLER)


def log_event(
    stage: str,
    hour: Hour | str | None,
    outcome: str,
    *,
    message: str | None = None,
    severity: str | None = None,
    **fields: Any,
) -> dict[str, Any]:
    """Write one JSON line for `hour` at `stage` and return its fields (handy in tests).

    `severity` is INFO unless given (the recorder passes the outcome's); `message` defaults to
    "<stage> <hour>: <outcome>". Extra fields must be JSON-serialisable or are str()'d.
    """
    key = hour.key if isinstance(hour, Hour) else hour
    level = severity.upper() if severity else "INFO"
    record: dict[str, Any] = {
        "severity": level,
        "message": message or f"{stage} {key or '-'}: {outcome}",
        "stage": str(stage),
        "hour": key,
        "outcome": str(outcome),
        "time": datetime.now(UTC).isoformat(timespec="milliseconds"),
        **fields,
    }
    extra = {k: v for k, v in record.items() if k not in ("severity", "message")}
    _outcomes.log(_LEVELS.get(level, logging.ERROR), "%s", record["message"], extra={FIELDS: extra})
    return record


@contextlib.contextmanager
def _handled_by(handler: logging.Handler) -> Iterator[logging.Handler]:
    """Send outcome lines to `handler` (instead of stderr) for a while."""
    previous = list(_outcomes.handlers)
    for h in previous:
        _outcomes.removeHandler(h)
    _outcomes.addHandler(_json_handler(handler))
    try:
        yield handler
    finally:
        _outcomes.removeHandler(handler)
        handler.flush()
        for h in previous:
            _outcomes.addHandler(h)


@contextlib.contextmanager
def log_stream(stream: TextIO) -> Iterator[TextIO]:
    """Send outcome lines to `stream` for a while (e.g. a CLI's console or a file); stderr otherwise."""
    with _handled_by(logging.StreamHandler(stream)):
        yield stream


@contextlib.contextmanager
def log_file(path: Path) -> Iterator[Path]:
    """Append outcome lines to the JSON-lines file `path` for a while (the local run's per-run log)."""
    handler = logging.FileHandler(path, encoding="utf-8")
    try:
        with _handled_by(handler):
            yield path
    finally:
        handler.close()


def configure_json_logging(level: int = logging.INFO) -> None:
    """Make every `logging` record of the process one JSON line on stderr (the Cloud Functions' setup).

    Idempotent; the outcome logger keeps its own handler, so its lines are not written twice.
    """
    root = logging.getLogger()
    root.setLevel(level)
    if not any(isinstance(h, _StderrHandler) for h in root.handlers):
        for h in list(root.handlers):
            root.removeHandler(h)
        root.addHandler(_json_handler(_StderrHandler()))
