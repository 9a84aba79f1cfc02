"""Ingest of one hour and the ingest message logic, against real files, a local server and fake GCS."""

from __future__ import annotations

import base64
import json
import os
import tempfile
import threading
from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from gharchive_pipeline import locked_temp
from gharchive_pipeline.context import Context, cloud_context
from gharchive_pipeline.download import RetryPolicy
from gharchive_pipeline.hours import Hour
from gharchive_pipeline.layout import quarantine_object, raw_object
from gharchive_pipeline.ledger import read_ledger
from gharchive_pipeline.outcome import IngestOutcome
from gharchive_pipeline.settings import Settings
from gharchive_pipeline.stages.ingest import (
    IngestResult,
    MalformedMessage,
    TransientIngestError,
    handle_message,
    ingest_hour,
    parse_message,
    pubsub_payload,
)
from gharchive_pipeline.storage import Storage, open_storage
from tests.conftest import DATA
from tests.support.fake_gcs import fake_gcs_server, new_gcs_bucket
from tests.support.gharchive_server import Fault, GHArchiveServer
from tests.support.loaders import FixedClock

FAST = RetryPolicy(attempts=3, corrupt_attempts=2, base_delay=0.001, max_delay=0.002, read_timeout=5)
H0 = Hour.parse("2015-01-01T00")
LATER = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def server() -> Iterator[GHArchiveServer]:
    with GHArchiveServer(DATA) as s:
        yield s


@pytest.fixture
def raw(tmp_path: Path) -> Storage:
    return open_storage(str(tmp_path / "raw"))


def log_lines(captured: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in captured.splitlines() if line.startswith("{")]


def at(
    raw: Storage,
    source: str,
    now: datetime = LATER,
    *,
    policy: RetryPolicy = FAST,
    sleep: Callable[[float], None] = lambda _s: None,
) -> Context:
    """`gharchive ingest`'s context on `raw`, its clock stopped at `now`."""
    return cloud_context(
        Settings(raw_bucket=raw.url, source=source), raw=raw, clock=FixedClock(now, sleep), download=policy
    )


def run_on(
    settings: Settings,
    now: datetime,
    *,
    policy: RetryPolicy | None = None,
    sleep: Callable[[float], None] = lambda _s: None,
) -> Context:
    """The ingest function's context for `settings`, its clock stopped at `now`."""
    return cloud_context(settings, clock=FixedClock(now, sleep), download=policy)


def ingest(hour: Hour, raw: Storage, source: str, now: datetime = LATER) -> IngestResult:
    return ingest_hour(hour, at(raw, source, now))


# ---- one hour ----------------------------------------------------------------------------------------
def test_stored_then_already_present(
    server: GHArchiveServer, raw: Storage, capsys: pytest.CaptureFixture[str]
) -> None:
    server.reset_counts()
    first = ingest(H0, raw, server.url)
    assert first.outcome is IngestOutcome.STORED and first.attempts == 1
    assert raw.read_bytes(raw_object(H0)) == (DATA / H0.file_name).read_bytes()
    info = raw.stat(raw_object(H0))
    assert (
        info is not None and first.generation == info.generation and info.metadata["sha256"] == first.sha256
    )
    second = ingest(H0, raw, server.url)
    assert second.outcome is IngestOutcome.ALREADY_PRESENT and second.generation == first.generation
    assert server.hits(H0.file_name) == 1  # never downloaded twice
    assert [e.outcome for e in read_ledger(raw, H0)] == ["stored", "already_present"]
    stored_log = log_lines(capsys.readouterr().err)[0]
    assert (
        stored_log["severity"] == "INFO" and stored_log["stage"] == "ingest" and stored_log["hour"] == H0.key
    )
    assert stored_log["outcome"] == "stored" and stored_log["bytes"] == info.size


def test_temp_folders_of_killed_runs_are_removed_never_a_live_one(
    server: GHArchiveServer, raw: Storage, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A stage killed with SIGKILL leaves its `gharchive-<hour>-<tag>` folder in the temp dir: the
    next stage run removes it. A live run holds a flock on its folder (a flock from another open
    file conflicts even within one process, so this one stands in for it); other names stay."""
    temp = tmp_path / "temp"
    temp.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(temp))
    stale = temp / "gharchive-2015-01-01T07-abcd_123"  # normalize's form (hour key)
    stale.mkdir()
    (stale / ".events.parquet.abcd_123.tmp").write_bytes(b"x")
    (temp / "gharchive-2015-01-01-7-0123abcd").mkdir()  # ingest's form (file stem)
    (temp / "gharchive-someone-else").mkdir()
    live_fd, live = locked_temp.create_locked(
        lambda: temp / f"gharchive-2015-01-01-8-{locked_temp.tag()}", folder=True
    )
    try:
        assert ingest(H0, raw, server.url).outcome is IngestOutcome.STORED
        assert sorted(p.name for p in temp.iterdir()) == sorted(["gharchive-someone-else", live.name])
    finally:
        os.close(live_fd)


def test_404_is_missing_for_old_hours_and_not_yet_published_for_recent(
    server: GHArchiveServer, raw: Storage
) -> None:
    gone = Hour.parse("2018-10-21T23")
    missing = ingest(gone, raw, server.url)
    assert (
        missing.outcome is IngestOutcome.MISSING and "NoSuchKey" in missing.detail and not missing.retryable
    )
    recent = ingest(gone, raw, server.url, now=gone.end + timedelta(hours=2))
    assert recent.outcome is IngestOutcome.NOT_YET_PUBLISHED and recent.retryable
    in_progress = ingest(gone, raw, server.url, now=gone.start + timedelta(minutes=30))
    assert in_progress.outcome is IngestOutcome.NOT_YET_PUBLISHED and "not ended" in in_progress.detail
    assert [e.outcome for e in read_ledger(raw, gone)] == [
        "missing",
        "not_yet_published",
        "not_yet_published",
    ]
    assert raw.stat(raw_object(gone)) is None


def test_corrupt_hour_is_quarantined_not_stored(tmp_path: Path, raw: Storage) -> None:
    src = tmp_path / "src"
    src.mkdir()
    (src / H0.file_name).write_bytes((DATA / H0.file_name).read_bytes()[:4096])
    result = ingest(H0, raw, str(src))
    assert result.outcome is IngestOutcome.CORRUPT and "truncated" in result.detail
    assert raw.stat(raw_object(H0)) is None
    quarantined = raw.stat(quarantine_object(H0))
    assert (
        quarantined is not None and quarantined.size == 4096 and "truncated" in quarantined.metadata["error"]
    )
    assert result.object == quarantine_object(H0)
    entry = read_ledger(raw, H0)[-1]
    assert entry.outcome == "corrupt" and entry.details["object"] == quarantine_object(H0)


def test_transient_outcome_after_bounded_retries(server: GHArchiveServer, raw: Storage) -> None:
    hour = Hour.parse("2015-01-01T03")
    server.script(hour.file_name, *[Fault.status(500)] * FAST.attempts)
    result = ingest(hour, raw, server.url)
    assert result.outcome is IngestOutcome.TRANSIENT and result.attempts == FAST.attempts and result.retryable
    assert raw.stat(raw_object(hour)) is None
    assert ingest(hour, raw, server.url).outcome is IngestOutcome.STORED  # the next delivery succeeds


# ---- messages ----------------------------------------------------------------------------------------
def parse(data: bytes, now: datetime = LATER, max_hours: int = 744) -> Any:
    return parse_message(data, now=now, lag=timedelta(minutes=30), max_range_hours=max_hours)


def test_parse_scheduler_hour_and_range_messages() -> None:
    at = datetime(2016, 1, 1, 0, 45, tzinfo=UTC)
    for empty in (b"", b"  \n", b"{}"):
        req = parse(empty, at)
        assert req.kind == "scheduled" and req.start.key == "2015-12-31T23"
    req = parse(b'{"hour": "2015-01-01-1"}')
    assert req.kind == "hour" and req.start.key == "2015-01-01T01"
    req = parse(b'{"start": "2016-02-28T22", "end": "2016-03-01T01"}')
    assert req.kind == "range" and len(req.hours) == 28


@pytest.mark.parametrize(
    ("data", "says"),
    [
        (b"not json", "not JSON"),
        (b"\xff\xfe", "UTF-8"),
        (b"[1, 2]", "JSON object"),
        (b'{"hour": "2015-13-01T00"}', "month"),
        (b'{"hour": "2015-01-01T24"}', "hour 24"),
        (b'{"hour": "2030-01-01T00"}', "future"),
        (b'{"hour": "2010-01-01T00"}', "2011-02-12"),
        (b'{"hour": 15}', "strings"),
        (b'{"hours": "2015-01-01T00"}', "unexpected fields"),
        (b'{"hour": "2015-01-01T00", "extra": 1}', "unexpected fields"),
        (b'{"start": "2015-01-01T00"}', "unexpected fields"),
        (b'{"start": "2015-01-02T00", "end": "2015-01-01T00"}', "before its start"),
        (b'{"start": "2015-01-01T00", "end": "2015-03-01T00"}', "over the maximum of 744"),
    ],
)
def test_malformed_messages_are_explained(data: bytes, says: str) -> None:
    with pytest.raises(MalformedMessage, match=says):
        parse(data)


def test_range_limit_is_configurable() -> None:
    assert len(parse(b'{"start": "2015-01-01T00", "end": "2015-01-01T09"}', max_hours=10).hours) == 10
    with pytest.raises(MalformedMessage, match="11 hours, over the maximum of 10"):
        parse(b'{"start": "2015-01-01T00", "end": "2015-01-01T10"}', max_hours=10)


def settings_for(raw: Storage, source: str, **kw: Any) -> Settings:
    return replace(Settings(), raw_bucket=raw.url, source=source, **kw)


def test_handle_hour_message_stores_and_acks(server: GHArchiveServer, raw: Storage) -> None:
    result = handle_message(
        b'{"hour": "2015-01-01T05"}', run_on(settings_for(raw, server.url), LATER, policy=FAST)
    )
    assert [o.outcome for o in result.outcomes] == [IngestOutcome.STORED]
    # Pub/Sub delivers at least once: the duplicate is acknowledged without a download
    again = handle_message(
        b'{"hour": "2015-01-01T05"}', run_on(settings_for(raw, server.url), LATER, policy=FAST)
    )
    assert [o.outcome for o in again.outcomes] == [IngestOutcome.ALREADY_PRESENT]


def test_handle_scheduler_message_retries_until_published(server: GHArchiveServer, raw: Storage) -> None:
    now = datetime(2015, 1, 1, 2, 40, tzinfo=UTC)  # latest complete hour: 2015-01-01T01
    settings = settings_for(raw, server.url)
    server.remove_file("2015-01-01-1.json.gz")
    try:
        with pytest.raises(TransientIngestError, match="2015-01-01T01 is not_yet_published") as err:
            handle_message(b"", run_on(settings, now, policy=FAST))
        assert err.value.outcomes[0].outcome is IngestOutcome.NOT_YET_PUBLISHED
    finally:
        server.add_file("2015-01-01-1.json.gz", (DATA / "2015-01-01-1.json.gz").read_bytes())
    result = handle_message(b"", run_on(settings, now, policy=FAST))  # the redelivery, once published
    assert [(o.hour.key, o.outcome) for o in result.outcomes] == [("2015-01-01T01", IngestOutcome.STORED)]


def test_handle_message_permanent_outcomes_do_not_raise(server: GHArchiveServer, raw: Storage) -> None:
    result = handle_message(
        b'{"hour": "2016-01-28T01"}', run_on(settings_for(raw, server.url), LATER, policy=FAST)
    )
    assert [o.outcome for o in result.outcomes] == [IngestOutcome.MISSING]


def test_malformed_message_is_logged_once_and_acked(raw: Storage, capsys: pytest.CaptureFixture[str]) -> None:
    result = handle_message(
        b'{"hour": "2015-13-01T00"}', run_on(settings_for(raw, "http://127.0.0.1:9"), LATER)
    )
    assert result.request is None and "month" in result.rejected
    lines = log_lines(capsys.readouterr().err)
    assert len(lines) == 1 and lines[0]["severity"] == "ERROR" and lines[0]["outcome"] == "malformed"
    assert "2015-13-01T00" in lines[0]["data"]


def test_range_without_topic_is_rejected_not_retried(raw: Storage) -> None:
    result = handle_message(
        b'{"start": "2015-01-01T00", "end": "2015-01-01T02"}', run_on(settings_for(raw, ""), LATER)
    )
    assert "GHARCHIVE_TOPIC" in result.rejected and result.published == 0


def test_pubsub_payload_shapes() -> None:
    body = base64.b64encode(b'{"hour": "2015-01-01T00"}').decode()
    assert pubsub_payload({"message": {"data": body, "messageId": "1"}, "subscription": "s"}) == (
        b'{"hour": "2015-01-01T00"}'
    )
    assert pubsub_payload({"message": {"attributes": {"a": "b"}}}) == b""
    assert pubsub_payload(json.dumps({"message": {"data": body}})) == b'{"hour": "2015-01-01T00"}'
    for bad in ({"no": "message"}, "not json", {"message": {"data": "@@@"}}, None):
        with pytest.raises(MalformedMessage):
            pubsub_payload(bad)


# ---- concurrent duplicate deliveries on GCS ------------------------------------------------------------
@pytest.mark.slow
def test_concurrent_duplicate_deliveries_store_one_gcs_object(server: GHArchiveServer) -> None:
    with fake_gcs_server():
        raw = new_gcs_bucket(prefix="raw")
        hour = Hour.parse("2015-01-01T01")
        # Both deliveries see "absent", then meet at the barrier (during their first retry's
        # backoff) so both download and race to create the object.
        server.script(hour.file_name, Fault.status(500), Fault.status(500))
        barrier = threading.Barrier(2)
        results: list[IngestResult] = []

        def deliver() -> None:
            out = ingest_hour(
                hour, at(raw, server.url, LATER, policy=FAST, sleep=lambda _s: barrier.wait(10))
            )
            results.append(out)

        threads = [threading.Thread(target=deliver) for _ in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert sorted(r.outcome.value for r in results) == ["already_present", "stored"]
        assert [o.name for o in raw.list("hours/")] == [raw_object(hour)]
        assert raw.read_bytes(raw_object(hour)) == (DATA / hour.file_name).read_bytes()
        assert len({r.generation for r in results}) == 1  # both report the one stored generation
        assert sorted(e.outcome for e in read_ledger(raw, hour)) == ["already_present", "stored"]


# ---- a dripping source, secrets in the source URL -----------------------------------------------------
def test_a_dripping_source_is_a_recorded_transient_within_the_deadline(
    server: GHArchiveServer, raw: Storage
) -> None:
    """Locally (`ingest_hour`, what `gharchive ingest/run` call) and in the cloud (the function's
    message handler, the deadline from its settings): bounded, recorded, and retried by Pub/Sub."""
    import time

    hour = Hour.parse("2015-01-01T03")
    local = replace(FAST, attempts=2, deadline=1.0)
    server.script(hour.file_name, Fault.drip(0.25))
    started = time.monotonic()
    result = ingest_hour(hour, at(raw, server.url, LATER, policy=local, sleep=lambda _s: None))
    assert time.monotonic() - started < 4
    assert result.outcome is IngestOutcome.TRANSIENT and "deadline of 1 s" in result.detail
    assert raw.stat(raw_object(hour)) is None

    server.script(hour.file_name, Fault.drip(0.25))
    cloud = settings_for(raw, server.url, download_deadline_seconds=1.0)
    started = time.monotonic()
    with pytest.raises(TransientIngestError, match="deadline of 1 s"):
        handle_message(b'{"hour": "2015-01-01T03"}', run_on(cloud, LATER, sleep=lambda _s: None))
    assert time.monotonic() - started < 4
    entries = read_ledger(raw, hour)
    assert [e.outcome for e in entries] == ["transient", "transient"]
    assert all("deadline" in e.details["detail"] for e in entries)


def test_source_credentials_never_reach_ledger_metadata_or_logs(
    server: GHArchiveServer, raw: Storage, capsys: pytest.CaptureFixture[str]
) -> None:
    host = server.url.removeprefix("http://")
    source = f"http://reader:hunter2-pw@{host}/?token=tok-98765"
    stored = ingest(Hour.parse("2015-01-01T01"), raw, source)
    server.script(Hour.parse("2015-01-01T03").file_name, *[Fault.status(500)] * FAST.attempts)
    failed = ingest(Hour.parse("2015-01-01T03"), raw, source)
    missing = ingest(Hour.parse("2015-01-01T04"), raw, source)
    assert [r.outcome for r in (stored, failed, missing)] == [
        IngestOutcome.STORED,
        IngestOutcome.TRANSIENT,
        IngestOutcome.MISSING,
    ]
    assert server.credentials[-1][0].startswith("Basic ")  # the credentials were used
    info = raw.stat(raw_object(stored.hour))
    assert info is not None and info.metadata["source"].startswith("http://***@")
    everything = [json.dumps(info.metadata), capsys.readouterr().err]
    everything += [raw.read_bytes(i.name).decode() for i in raw.list("ledger/")]
    for text in everything:
        assert "hunter2" not in text and "tok-98765" not in text and "reader" not in text
    assert "token=***" in everything[0]
