"""`log_event` and the stage recorder: one JSON line per outcome, in the shape Cloud Logging parses."""

from __future__ import annotations

import io
import json
import logging
from datetime import UTC, datetime
from pathlib import Path

import pytest

from gharchive_pipeline.hours import Hour
from gharchive_pipeline.ledger import LedgerEntry, read_ledger
from gharchive_pipeline.logs import FIELDS, JsonFormatter, log_event, log_file, log_stream
from gharchive_pipeline.outcome import NormalizeOutcome, Stage
from gharchive_pipeline.stages import StageOutcome, record
from gharchive_pipeline.storage import open_storage


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
     ("corrupt", "ERROR"), ("malformed", "ERROR")],
)  # fmt: skip
def test_recorded_severity_follows_outcome(outcome: str, severity: str) -> None:
    with log_stream(io.StringIO()) as out:
        record(StageOutcome(Stage.INGEST, outcome, Hour.parse("2015-01-01T15")))
    assert json.loads(out.getvalue())["severity"] == severity


def test_an_outcome_outside_its_stage_vocabulary_is_refused() -> None:
    with pytest.raises(ValueError, match="not a ingest outcome"):
        StageOutcome(Stage.INGEST, "normalized", None)
    with pytest.raises(ValueError, match="unknown ledger stage"):
        LedgerEntry("download", "stored", datetime.now(UTC))


def test_record_logs_once_and_ledgers_once(tmp_path: Path) -> None:
    raw = open_storage(str(tmp_path))
    hour = Hour.parse("2015-01-01T15")
    with log_stream(io.StringIO()) as out:
        record(StageOutcome(Stage.NORMALIZE, "failed", hour, "x/y", {"error": "boom"}), raw)
    (line,) = [json.loads(x) for x in out.getvalue().splitlines()]
    assert (line["outcome"], line["severity"], line["object"], line["error"]) == (
        "failed",
        "ERROR",
        "x/y",
        "boom",
    )
    (entry,) = read_ledger(raw, hour)
    assert (entry.stage, entry.outcome, entry.details) == (
        Stage.NORMALIZE,
        NormalizeOutcome.FAILED,
        {"error": "boom"},
    )


def test_log_file_collects_lines_and_other_loggers_become_json(tmp_path: Path) -> None:
    path = tmp_path / "run.jsonl"
    with log_file(path):
        log_event("load", "2015-01-01T15", "loaded", rows=3)
    assert json.loads(path.read_text())["rows"] == 3
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    logger = logging.getLogger("gharchive_pipeline.test_logs")
    logger.addHandler(handler)
    try:
        logger.warning("disk %s", "full", extra={FIELDS: {"hour": "2015-01-01T15"}})
    finally:
        logger.removeHandler(handler)
    doc = json.loads(stream.getvalue())
    assert (doc["severity"], doc["message"], doc["hour"]) == ("WARNING", "disk full", "2015-01-01T15")


def test_explicit_severity_message_and_no_hour() -> None:
    with log_stream(io.StringIO()) as out:
        log_event("ingest", None, "rejected", severity="ERROR", message="bad message")
    doc = json.loads(out.getvalue())
    assert (doc["severity"], doc["message"], doc["hour"]) == ("ERROR", "bad message", None)


def test_in_a_function_every_logger_writes_cloud_logging_json() -> None:
    """What functions/*/main.py set up: module loggers (Dataproc submitter, loaders...) become JSON
    lines with a severity too, and outcome lines are not written twice."""
    import subprocess
    import sys

    script = (
        "import logging\n"
        "from gharchive_pipeline.logs import configure_json_logging, log_event\n"
        "configure_json_logging(); configure_json_logging()\n"
        "logging.getLogger('gharchive_pipeline.load.dataproc').warning('batch %s exists', 'gha-1')\n"
        "log_event('load', '2015-01-01T15', 'submitted', severity='INFO')\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=True
    )
    lines = [json.loads(line) for line in done.stderr.splitlines()]
    assert [(x["severity"], x["message"]) for x in lines] == [
        ("WARNING", "batch gha-1 exists"),
        ("INFO", "load 2015-01-01T15: submitted"),
    ]
    assert lines[0]["logger"] == "gharchive_pipeline.load.dataproc"
