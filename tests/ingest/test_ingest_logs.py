"""`log_event`: one JSON line per outcome, in the shape Cloud Logging parses."""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime

import pytest

from gharchive_pipeline.hours import Hour
from gharchive_pipeline.logs import log_event, log_stream


def test_one_parseable_line_with_cloud_logging_fields(capsys: pytest.CaptureFixture[str]) -> None:
    hour = Hour.parse("2015-01-01T15")
    record = log_event("ingest", hour, "stored", bytes=12, at=datetime(2015, 1, 1, tzinfo=UTC), hours={hour})
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 1
    doc = json.loads(lines[0])
    assert doc == record | {"at": "2015-01-01T00:00:00+00:00", "hours": ["2015-01-01T15"]}
    assert doc["severity"] == "INFO" and doc["message"] == "ingest 2015-01-01T15: stored"
    assert (doc["stage"], doc["hour"], doc["outcome"], doc["bytes"]) == (
        "ingest",
        "2015-01-01T15",
        "stored",
        12,
    )


@pytest.mark.parametrize(
    ("outcome", "severity"),
    [("stored", "INFO"), ("already_present", "INFO"), ("missing", "WARNING"), ("transient", "WARNING"),
     ("corrupt", "ERROR")],
)  # fmt: skip
def test_severity_follows_outcome(outcome: str, severity: str) -> None:
    with log_stream(io.StringIO()) as out:
        log_event("ingest", "2015-01-01T15", outcome)
    assert json.loads(out.getvalue())["severity"] == severity


def test_explicit_severity_message_and_no_hour() -> None:
    with log_stream(io.StringIO()) as out:
        log_event("ingest", None, "rejected", severity="ERROR", message="bad message")
    doc = json.loads(out.getvalue())
    assert (doc["severity"], doc["message"], doc["hour"]) == ("ERROR", "bad message", None)
