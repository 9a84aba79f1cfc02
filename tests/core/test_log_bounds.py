"""Every log line stays far below Cloud Logging's 256 KB entry limit (an entry over it is dropped,
https://cloud.google.com/logging/quotas#log-limits), whatever the input: a 300 KB hour string in a
Pub/Sub message, a 300 KB object name in a finalize event. Long fields are cut in the middle with a
marker saying how much; the line still says what happened. Driven through functions-framework's
test client with Google's payload shapes (tests/data goldens), as the poison-message tests are."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from functions_framework import create_app

from gharchive_pipeline import layout
from gharchive_pipeline.cloud_events import bucket_name, finalized_event
from gharchive_pipeline.hours import Hour
from gharchive_pipeline.logs import JsonFormatter, log_stream
from gharchive_pipeline.settings import ENV_CURATED_BUCKET, ENV_RAW_BUCKET, ENV_SOURCE, ENV_TOPIC
from gharchive_pipeline.storage import ObjectInfo, Storage, open_storage
from tests.conftest import DATA, ROOT
from tests.support import golden

LONG = 300_000
#: what a line may take at most (well under Cloud Logging's 256 KB)
LINE_BOUND = 64 * 1024


def client(function: str) -> Any:
    source = str(ROOT / "functions" / function / "main.py")
    return create_app(target=function, source=source, signature_type="cloudevent").test_client()


@pytest.fixture
def raw(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Storage:
    monkeypatch.setenv(ENV_RAW_BUCKET, str(tmp_path / "raw"))
    monkeypatch.setenv(ENV_CURATED_BUCKET, str(tmp_path / "curated"))
    monkeypatch.setenv(ENV_SOURCE, str(DATA))
    monkeypatch.delenv(ENV_TOPIC, raising=False)
    return open_storage(str(tmp_path / "raw"))


@pytest.fixture
def log() -> Iterator[io.StringIO]:
    with log_stream(io.StringIO()) as out:
        yield out


def bounded_lines(log: io.StringIO) -> list[dict[str, Any]]:
    lines = log.getvalue().splitlines()
    assert lines
    for line in lines:
        assert len(line.encode()) < LINE_BOUND, f"a log line of {len(line.encode()):,} bytes"
    return [json.loads(line) for line in lines]


def test_a_300_kb_hour_in_a_pubsub_message(raw: Storage, log: io.StringIO) -> None:
    headers, payload = golden.published_request("structured", b'{"hour": "' + b"9" * LONG + b'"}')
    assert client("ingest").post("/", headers=headers, data=payload).status_code == 200
    [line] = bounded_lines(log)
    assert line["outcome"] == "malformed"
    assert "bad hour '9999" in line["message"]  # it still says what was wrong


def test_a_300_kb_object_name_in_a_finalize_event(raw: Storage, log: io.StringIO) -> None:
    real = DATA / "2011-02-15-0.json.gz"
    name = layout.raw_object(Hour.parse("2011-02-15T00")).replace(".json.gz", "x" * LONG + ".json.gz")
    event = finalized_event(bucket_name(raw.url), ObjectInfo(name, real.stat().st_size, 1))
    from cloudevents.conversion import to_structured

    headers, body = to_structured(event)
    assert client("normalize").post("/", headers=headers, data=body).status_code == 200
    [line] = bounded_lines(log)
    assert line["outcome"] == "ignored"
    assert "chars cut]" in json.dumps(line)


def test_any_record_is_bounded() -> None:
    """Any `logging` record, with a long message, long and nested fields and a huge integer."""
    record = logging.LogRecord("x", logging.ERROR, __file__, 1, "m" * LONG, None, None)
    record.json_fields = {"hour": "h" * LONG, "nested": {"k": ["v" * LONG] * 1000}, "n": 10**5000}
    line = JsonFormatter().format(record)
    assert len(line.encode()) <= LINE_BOUND
    doc = json.loads(line)
    assert doc["message"].startswith("m" * 100) and "chars cut]" in doc["message"]
    assert doc["n"] == "<an integer of 16610 bits>"
