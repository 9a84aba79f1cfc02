"""The downloader against a local GH Archive server (real files, scripted faults) and directories."""

from __future__ import annotations

import gzip
import hashlib
import random
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from tenacity import RetryCallState, Retrying

from gharchive_pipeline.download import (
    FetchKind,
    RetryPolicy,
    fetch_hour,
    redact,
    redact_url,
    verify_chunks,
    verify_file,
)
from gharchive_pipeline.hours import Hour
from tests.conftest import COMPLETE_HOURS, DATA
from tests.support.gharchive_server import Fault, GHArchiveServer

FAST = RetryPolicy(attempts=4, corrupt_attempts=2, base_delay=0.001, max_delay=0.002, read_timeout=5)
HOUR = Hour.parse("2015-01-01T00")
NAME = HOUR.file_name
REAL = (DATA / NAME).read_bytes()


@pytest.fixture(scope="module")
def server() -> Iterator[GHArchiveServer]:
    with GHArchiveServer(DATA) as s:
        yield s


@pytest.fixture(autouse=True)
def _fresh_counts(server: GHArchiveServer) -> None:
    server.reset_counts()


def fetch(source: str, dest: Path, hour: Hour = HOUR, policy: RetryPolicy = FAST):  # type: ignore[no-untyped-def]
    sleeps: list[float] = []
    result = fetch_hour(hour, source, dest, policy=policy, sleep=sleeps.append)
    return result, sleeps


# ---- verification --------------------------------------------------------------------------------
@pytest.mark.parametrize("name", sorted(COMPLETE_HOURS))
def test_every_real_hour_verifies(name: str) -> None:
    check = verify_file(DATA / name)
    assert check.error is None
    assert check.members == 1
    assert check.sha256 == hashlib.sha256((DATA / name).read_bytes()).hexdigest()
    assert check.uncompressed == len(gzip.decompress((DATA / name).read_bytes()))


def test_verifier_catches_every_kind_of_damage() -> None:
    assert "zero-byte" in (verify_chunks([]).error or "")
    assert "truncated" in (verify_chunks([REAL[: len(REAL) // 2]]).error or "")
    assert "truncated" in (verify_chunks([REAL[:-4]]).error or "")  # missing the ISIZE trailer
    flipped = bytearray(REAL)
    flipped[len(REAL) // 2] ^= 0x55
    assert verify_chunks([bytes(flipped)]).error
    assert verify_chunks([b"AASDSADSDFFSD" + REAL[13:]]).error  # the corrupted copy seen in the wild
    assert "trailing garbage" in (verify_chunks([REAL, b"<html>"]).error or "")
    assert verify_chunks([b'<?xml version="1.0"?><Error/>']).error  # an error page saved as the file


def test_verifier_accepts_members_padding_and_any_chunking() -> None:
    assert verify_chunks([REAL, REAL]).members == 2
    assert verify_chunks([REAL, b"\0" * 10]).error is None
    small = (DATA / "2011-02-15-0.json.gz").read_bytes()
    assert verify_chunks(small[i : i + 997] for i in range(0, len(small), 997)).error is None
    empty_gzip = gzip.compress(b"")  # a real GH Archive hour can be a valid, empty gzip (2012-03-10-15)
    check = verify_chunks([empty_gzip])
    assert check.error is None and check.uncompressed == 0


# ---- HTTP -------------------------------------------------------------------------------------------
def test_http_success_stores_the_exact_bytes(server: GHArchiveServer, tmp_path: Path) -> None:
    result, sleeps = fetch(server.url, tmp_path / "f")
    assert result.kind is FetchKind.OK and result.attempts == 1 and not sleeps
    assert (tmp_path / "f").read_bytes() == REAL
    assert result.check is not None and result.check.size == len(REAL)
    assert result.url == f"{server.url}/{NAME}"


def test_404_with_s3_body_is_not_found_and_not_retried(server: GHArchiveServer, tmp_path: Path) -> None:
    missing = Hour.parse("2016-01-28T01")
    result, sleeps = fetch(server.url, tmp_path / "f", missing)
    assert result.kind is FetchKind.NOT_FOUND
    assert "NoSuchKey" in result.detail and "2016-01-28-1.json.gz" in result.detail
    assert server.hits("2016-01-28-1.json.gz") == 1 and not sleeps


def test_500_then_200_is_retried_with_backoff(server: GHArchiveServer, tmp_path: Path) -> None:
    server.script(NAME, Fault.status(500), Fault.status(503))
    result, sleeps = fetch(server.url, tmp_path / "f")
    assert result.kind is FetchKind.OK and result.attempts == 3
    assert server.hits(NAME) == 3 and len(sleeps) == 2
    assert (tmp_path / "f").read_bytes() == REAL


@pytest.mark.parametrize(
    "fault",
    [Fault.reset(0), Fault.reset(100_000), Fault.truncate(1000), Fault.status(429)],
    ids=["reset-at-start", "reset-mid-body", "short-read", "rate-limited"],
)
def test_connection_faults_are_transient_and_retried(
    server: GHArchiveServer, tmp_path: Path, fault: Fault
) -> None:
    server.script(NAME, fault)
    result, _ = fetch(server.url, tmp_path / "f")
    assert result.kind is FetchKind.OK and result.attempts == 2
    assert (tmp_path / "f").read_bytes() == REAL


def test_persistent_5xx_gives_up_as_transient(server: GHArchiveServer, tmp_path: Path) -> None:
    server.script(NAME, *[Fault.status(502)] * FAST.attempts)
    result, sleeps = fetch(server.url, tmp_path / "f")
    assert result.kind is FetchKind.TRANSIENT and result.attempts == FAST.attempts
    assert "HTTP 502" in result.detail and len(sleeps) == FAST.attempts - 1


@pytest.mark.parametrize(
    ("body", "says"),
    [(REAL[:50_000], "truncated"), (b"", "zero-byte")],
    ids=["truncated-gzip", "zero-byte"],
)
def test_bad_gzip_served_completely_is_corrupt(
    server: GHArchiveServer, tmp_path: Path, body: bytes, says: str
) -> None:
    server.script(NAME, *[Fault.serve(body)] * FAST.corrupt_attempts)
    result, _ = fetch(server.url, tmp_path / "f")
    assert result.kind is FetchKind.CORRUPT and says in result.detail
    assert result.attempts == FAST.corrupt_attempts
    assert result.path is not None and result.path.read_bytes() == body  # kept for quarantine


def test_corrupt_once_then_good_is_ok(server: GHArchiveServer, tmp_path: Path) -> None:
    server.script(NAME, Fault.serve(REAL[:1000]))
    result, _ = fetch(server.url, tmp_path / "f")
    assert result.kind is FetchKind.OK and result.attempts == 2


def test_content_encoding_is_never_decoded(server: GHArchiveServer, tmp_path: Path) -> None:
    # the stored object must be the served gzip file, byte for byte, whatever the headers say
    server.script(NAME, Fault.serve(REAL, headers={"Content-Encoding": "gzip"}))
    result, _ = fetch(server.url, tmp_path / "f")
    assert result.kind is FetchKind.OK
    assert (tmp_path / "f").read_bytes() == REAL


def test_unreachable_server_is_transient(tmp_path: Path) -> None:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # bound but not listening: connection refused
        result, _ = fetch(f"http://127.0.0.1:{port}", tmp_path / "f")
    assert result.kind is FetchKind.TRANSIENT and "ConnectionError" in result.detail


# ---- local directory sources ----------------------------------------------------------------------
def test_directory_source(tmp_path: Path) -> None:
    result, _ = fetch(str(DATA), tmp_path / "f")
    assert result.kind is FetchKind.OK and (tmp_path / "f").read_bytes() == REAL
    result, _ = fetch(f"file://{DATA}", tmp_path / "g")
    assert result.kind is FetchKind.OK
    missing, sleeps = fetch(str(DATA), tmp_path / "h", Hour.parse("2016-10-21T18"))
    assert missing.kind is FetchKind.NOT_FOUND and "2016-10-21-18.json.gz" in missing.detail and not sleeps


def test_directory_source_with_corrupt_file(tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    (src / NAME).write_bytes(REAL[:-100])
    result, _ = fetch(str(src), tmp_path / "f")
    assert result.kind is FetchKind.CORRUPT and "truncated" in result.detail


def delay(policy: RetryPolicy, retry: int, rand: Callable[[], float] = random.random) -> float:
    """The policy's (tenacity) wait before retry number `retry`."""
    state = RetryCallState(Retrying(), None, (), {})
    state.attempt_number = retry
    return policy.backoff(rand)(state)


def test_backoff_grows_exponentially_with_bounded_jitter() -> None:
    policy = RetryPolicy(base_delay=1.0, max_delay=10.0, jitter=0.5)
    for retry, full in [(1, 1.0), (2, 2.0), (3, 4.0), (4, 8.0), (5, 10.0), (9, 10.0)]:
        assert delay(policy, retry, lambda: 0.0) == full
        assert delay(policy, retry, lambda: 1.0) == full / 2
        assert full / 2 <= delay(policy, retry) <= full


# ---- Retry-After, the overall deadline, secrets in source URLs ----------------------------------
@pytest.mark.parametrize("header", ["7", "Wed, 21 Oct 2015 07:28:00 GMT"], ids=["seconds", "http-date"])
def test_retry_after_is_honoured(server: GHArchiveServer, tmp_path: Path, header: str) -> None:
    policy = RetryPolicy(attempts=4, base_delay=0.001, max_delay=0.002, deadline=60)
    server.script(NAME, Fault.status(429, headers={"Retry-After": header}))
    result, sleeps = fetch(server.url, tmp_path / "f", policy=policy)
    assert result.kind is FetchKind.OK and result.attempts == 2
    # seconds are waited as asked; a date already past means "now" (no backoff of our own either)
    assert sleeps == [7.0] if header == "7" else sleeps == [0.0]


def test_retry_after_beyond_the_deadline_gives_up_at_once(server: GHArchiveServer, tmp_path: Path) -> None:
    policy = RetryPolicy(attempts=4, base_delay=0.001, deadline=30)
    server.script(NAME, Fault.status(503, headers={"Retry-After": "3600"}))
    result, sleeps = fetch(server.url, tmp_path / "f", policy=policy)
    assert result.kind is FetchKind.TRANSIENT and result.attempts == 1 and not sleeps
    assert "Retry-After 3600 s" in result.detail and "deadline of 30 s" in result.detail


def test_a_dripping_source_ends_at_the_deadline(server: GHArchiveServer, tmp_path: Path) -> None:
    """Each byte arrives well within the read timeout, so only the overall deadline can stop it."""
    import time

    policy = RetryPolicy(attempts=3, base_delay=0.001, max_delay=0.002, read_timeout=5, deadline=1.5)
    server.script(NAME, Fault.drip(0.2))  # the first attempt meets the deadline: no second one
    started = time.monotonic()
    result, _ = fetch(server.url, tmp_path / "f", policy=policy)
    assert time.monotonic() - started < 4
    assert result.kind is FetchKind.TRANSIENT and "deadline of 1.5 s" in result.detail
    assert result.attempts == 1


def test_credentials_are_used_but_never_reported(server: GHArchiveServer, tmp_path: Path) -> None:
    host = server.url.removeprefix("http://")
    source = f"http://alice:s3cr%2Ft-pw@{host}/?token=tok-123456&sig=abcdef"
    server.script(NAME, Fault.status(500))
    result, _ = fetch(source, tmp_path / "f")
    assert result.kind is FetchKind.OK
    auth, query = server.credentials[-1]
    assert auth.startswith("Basic ") and query == "token=tok-123456&sig=abcdef"  # they were used
    shown = f"{result.url} {result.detail}"
    assert result.url == f"http://***@{host}/{NAME}?token=***&sig=***"
    for secret in ("alice", "s3cr", "tok-123456", "abcdef"):
        assert secret not in shown
    failed, _ = fetch(source, tmp_path / "g", hour=Hour.parse("2015-01-01T07"))
    assert failed.kind is FetchKind.NOT_FOUND and "tok-123456" not in failed.detail


def test_redact_scrubs_urls_and_known_secrets_in_any_text() -> None:
    source = "https://u:pw-secret@example.org/base?key=k3y-value"
    text = "GET https://u:pw-secret@example.org/base/x.json.gz?key=k3y-value failed: url: /x?key=k3y-value"
    shown = redact(text, source)
    assert "pw-secret" not in shown and "k3y-value" not in shown and "https://***@example.org" in shown
    assert redact_url("http://example.org/a?b") == "http://example.org/a?b"  # nothing to hide
