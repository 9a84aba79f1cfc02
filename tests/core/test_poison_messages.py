"""Poison messages at the Cloud Functions' door, and the one error model behind them.

Driven through functions-framework's test client with Google's payload shapes (tests/data goldens,
only `message.data` or one field swapped): an event that can never succeed must be answered 2xx
(Pub/Sub and Eventarc treat anything else as a nack and redeliver until the dead-letter topic,
https://cloud.google.com/pubsub/docs/push#receive_push), logged once, and write nothing; a
transient fault must be answered 5xx so it is redelivered.
"""

from __future__ import annotations

import io
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from cloudevents.http import from_http
from functions_framework import create_app

from gharchive_pipeline import entrypoints, errors, layout
from gharchive_pipeline.context import MissingSetting
from gharchive_pipeline.hours import Hour, HourError
from gharchive_pipeline.load.dataproc import DataprocConfigError, DataprocRetryExhausted
from gharchive_pipeline.load.day_lock import DayLocked
from gharchive_pipeline.load.spark_days import LoadError
from gharchive_pipeline.load.spark_frames import SchemaMismatch
from gharchive_pipeline.logs import log_stream
from gharchive_pipeline.normalize.errors import CorruptInputError
from gharchive_pipeline.publish import PublishError
from gharchive_pipeline.settings import ENV_CURATED_BUCKET, ENV_RAW_BUCKET, ENV_SOURCE, ENV_TOPIC
from gharchive_pipeline.stages.ingest import MalformedMessage, TransientIngestError
from gharchive_pipeline.storage import ObjectInfo, Storage, StorageError, open_storage
from tests.conftest import DATA, ROOT
from tests.support import golden

HOUR_FILE = DATA / "2011-02-15-0.json.gz"  # the hour the goldens name
DEPTH = 2000  # past CPython's default recursion limit (1000): json raises RecursionError


def client(function: str) -> Any:
    source = str(ROOT / "functions" / function / "main.py")
    return create_app(target=function, source=source, signature_type="cloudevent").test_client()


@pytest.fixture
def buckets(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Storage, Storage]:
    monkeypatch.setenv(ENV_RAW_BUCKET, str(tmp_path / "raw"))
    monkeypatch.setenv(ENV_CURATED_BUCKET, str(tmp_path / "curated"))
    monkeypatch.setenv(ENV_SOURCE, str(DATA))
    monkeypatch.delenv(ENV_TOPIC, raising=False)
    return open_storage(str(tmp_path / "raw")), open_storage(str(tmp_path / "curated"))


@pytest.fixture
def log() -> Iterator[io.StringIO]:
    """Where the outcome log lines go while the test runs."""
    with log_stream(io.StringIO()) as out:
        yield out


def logged(log: io.StringIO) -> list[dict[str, Any]]:
    """The outcome lines written so far (one JSON object each)."""
    return [json.loads(line) for line in log.getvalue().splitlines() if line.startswith("{")]


def names(storage: Storage) -> list[str]:
    return sorted(i.name for i in storage.list())


def deep(open_: bytes, close: bytes, inner: bytes = b"1") -> bytes:
    return open_ * DEPTH + inner + close * DEPTH


POISON_BODIES = {
    "nested arrays": deep(b"[", b"]"),
    "nested objects": deep(b'{"a":', b"}"),
    "nested hour value": b'{"hour": ' + deep(b"[", b"]") + b"}",
    "nested range end": b'{"start": "2015-01-01T00", "end": ' + deep(b'{"x":', b"}") + b"}",
    "not UTF-8": b"\xff\xfe{}",
    "a 9 MB hour string": b'{"hour": "' + b"9" * 9_000_000 + b'"}',
    "a 5,000-digit number": b'{"hour": ' + b"7" * 5000 + b"}",
    "NUL in the hour": b'{"hour": "2011-02-15T00\\u0000"}',
}


@pytest.mark.parametrize("mode", ["structured", "binary"])
@pytest.mark.parametrize("body", list(POISON_BODIES), ids=list(POISON_BODIES))
def test_poison_bodies_are_malformed_and_acknowledged(
    body: str, mode: str, buckets: tuple[Storage, Storage], log: io.StringIO
) -> None:
    headers, payload = golden.published_request(mode, POISON_BODIES[body])
    response = client("ingest").post("/", headers=headers, data=payload)
    assert response.status_code == 200, response.data[:300]
    raw, _ = buckets
    assert names(raw) == []
    lines = logged(log)
    assert [x["outcome"] for x in lines] == ["malformed"]
    assert len(log.getvalue().encode()) < 256_000  # Cloud Logging drops a larger entry: never logged


def _envelope(mode: str, change: Callable[[dict[str, Any]], None]) -> tuple[dict[str, str], bytes]:
    doc = golden.load(f"cloudevent_pubsub_{mode}.json")
    change(doc["body"] if "body" in doc else doc["data"])
    return golden.request(doc)


ENVELOPES: dict[str, Callable[[dict[str, Any]], None]] = {
    "data not a string": lambda d: d["message"].update(data=12),
    "data not base64": lambda d: d["message"].update(data="e30=!!"),
    "data not ASCII": lambda d: d["message"].update(data="ëyJ9"),
    "message a string": lambda d: d.update(message="hello"),
    "no message": lambda d: d.pop("message"),
}


@pytest.mark.parametrize("mode", ["structured", "binary"])
@pytest.mark.parametrize("change", list(ENVELOPES), ids=list(ENVELOPES))
def test_broken_pubsub_envelopes_are_malformed_and_acknowledged(
    change: str, mode: str, buckets: tuple[Storage, Storage], log: io.StringIO
) -> None:
    headers, payload = _envelope(mode, ENVELOPES[change])
    response = client("ingest").post("/", headers=headers, data=payload)
    assert response.status_code == 200, response.data[:300]
    assert names(buckets[0]) == []
    assert [x["outcome"] for x in logged(log)] == ["malformed"]


def test_parsers_of_outside_input_raise_only_event_errors() -> None:
    """Every parser in cloud_events turns bad input into EventError (a permanent MalformedInput)."""
    from gharchive_pipeline.cloud_events import EventError, parse_json, parse_pubsub_event, pubsub_envelope

    for text in (deep(b"[", b"]"), b"\xff", b"{", "\ud800"):
        with pytest.raises(EventError):
            parse_json(text, "body")
    for data in ({"message": {"data": ["x"]}}, {"message": {"data": "%%"}}, deep(b"[", b"]"), "[1]"):
        with pytest.raises(EventError):
            pubsub_envelope(data)
    headers, body = _envelope("binary", lambda d: d["message"].update(attributes=["origin"]))
    with pytest.raises(EventError, match="attributes"):
        parse_pubsub_event(from_http(headers, body))  # ingest ignores attributes; parsers refuse
    assert issubclass(EventError, errors.MalformedInput) and issubclass(EventError, ValueError)


# ---- the error tree, mapped once at the functions' door --------------------------------------------
PERMANENT = [
    LoadError("day 2015-01-01: rows of another source_hour"),
    SchemaMismatch("curated file lacks columns"),
    CorruptInputError("hours/x.json.gz: not gzip"),
    HourError("no such hour"),
    MalformedMessage("bad"),
    DataprocRetryExhausted("every attempt failed"),
]
TRANSIENT = [
    StorageError("gs://b: 503"),
    PublishError("topic t: deadline exceeded"),
    DayLocked("day 2015-01-01 held by batch b"),
    DataprocConfigError("GHARCHIVE_PROJECT not set"),
    TransientIngestError("hour 2015-01-01T00 is not_yet_published"),
    errors.ConfigError("no raw bucket configured for normalize"),
    MissingSetting("GHARCHIVE_CURATED_BUCKET is not set: no bucket to open"),
]


def test_every_exception_of_the_package_is_in_the_tree() -> None:
    for exc in PERMANENT:
        assert isinstance(exc, errors.PermanentError) and not errors.is_transient(exc), exc
    for exc in TRANSIENT:
        assert isinstance(exc, errors.TransientError) and errors.is_transient(exc), exc
    assert issubclass(HourError, errors.UserError)


def _finalized(storage: Storage, name: str) -> tuple[dict[str, str], bytes]:
    info = storage.put_bytes(name, HOUR_FILE.read_bytes())
    return golden.finalized_request("structured", storage.url, ObjectInfo(name, info.size, info.generation))


@pytest.mark.parametrize("exc", PERMANENT + TRANSIENT, ids=lambda e: type(e).__name__)
def test_permanent_errors_are_acknowledged_transient_ones_retried(
    exc: Exception,
    buckets: tuple[Storage, Storage],
    monkeypatch: pytest.MonkeyPatch,
    log: io.StringIO,
) -> None:
    """The stage is replaced by one that raises `exc` (a stand-in: these faults cannot all be made
    to happen for real in one process); the function's answer is what Pub/Sub/Eventarc act on."""
    raw, _ = buckets

    def failing(*args: Any, **kwargs: Any) -> Any:
        raise exc

    monkeypatch.setattr(entrypoints, "handle_raw_finalized", failing)
    headers, body = _finalized(raw, layout.raw_object(Hour.parse("2011-02-15T00")))
    response = client("normalize").post("/", headers=headers, data=body)
    lines = logged(log)
    if isinstance(exc, errors.PermanentError):
        assert response.status_code == 200, response.data[:300]
        assert [(x["outcome"], x["severity"]) for x in lines] == [("failed", "ERROR")]
        assert type(exc).__name__ in lines[0]["reason"]
    else:
        assert response.status_code == 500
        assert lines == []
