"""Fetch one GH Archive hour from its source into a local file, verified end to end.

The source is `https://data.gharchive.org` (or any base URL) or a local directory of GH Archive
files. Bytes are streamed to disk in chunks (never whole in memory) while a gzip decoder runs over
them, so a truncated, zero-byte or corrupt file is caught before anything is stored. Transient
failures (5xx, 429, timeouts, resets, short reads) are retried with exponential backoff and jitter;
a 404 is reported as such (the caller decides "not yet published" vs "missing" from the hour's age).
"""

from __future__ import annotations

import hashlib
import random
import re
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

import requests
import urllib3

from .hours import Hour

try:  # isal inflates several times faster than zlib; same API
    from isal import isal_zlib as _zlib
except ImportError:  # pragma: no cover - isal is a declared dependency
    import zlib as _zlib  # type: ignore[no-redef]

CHUNK_BYTES = 1024 * 1024
_GZIP_WBITS = 31  # gzip container only
_ERROR_BODY_CHARS = 300


class FetchKind(StrEnum):
    OK = "ok"
    NOT_FOUND = "not_found"
    TRANSIENT = "transient"
    CORRUPT = "corrupt"


@dataclass(frozen=True)
class RetryPolicy:
    """Bounded retries with exponential backoff and jitter (tests inject tiny delays)."""

    attempts: int = 5  # tries while the source fails transiently
    corrupt_attempts: int = 3  # tries while bytes arrive but fail gzip verification
    base_delay: float = 2.0
    max_delay: float = 60.0
    jitter: float = 0.5  # delay is drawn from [d * (1 - jitter), d]
    connect_timeout: float = 10.0
    read_timeout: float = 60.0

    def delay(self, retry: int, rand: Callable[[], float] = random.random) -> float:
        """Seconds to wait before retry number `retry` (1-based)."""
        full = min(self.max_delay, self.base_delay * 2 ** (retry - 1))
        return full * (1 - self.jitter * rand())


@dataclass(frozen=True)
class GzipCheck:
    """What streaming a file through the verifier found."""

    size: int
    sha256: str
    uncompressed: int
    members: int
    error: str | None  # None when the whole gzip stream decoded and every CRC matched


class GzipVerifier:
    """Incremental gzip check: feed chunks, then `finish()`; also sizes and hashes the bytes."""

    def __init__(self) -> None:
        self._d = _zlib.decompressobj(wbits=_GZIP_WBITS)
        self._sha = hashlib.sha256()
        self.size = 0
        self.uncompressed = 0
        self.members = 0
        self._error: str | None = None
        self._in_member = False
        self._padding = False  # saw NUL padding after the last member

    def update(self, chunk: bytes) -> None:
        self._sha.update(chunk)
        self.size += len(chunk)
        if self._error is None:
            self._feed(chunk)

    def _feed(self, data: bytes) -> None:
        while data and self._error is None:
            if self._padding or (not self._in_member and self.members and not data.startswith(b"\x1f")):
                # after a complete member only NUL padding may follow (as gzip tolerates)
                if data.strip(b"\x00"):
                    self._error = f"trailing garbage after gzip member {self.members} at byte ~{self.size}"
                self._padding = True
                return
            self._in_member = True
            try:
                out = self._d.decompress(data, CHUNK_BYTES * 64)
                self.uncompressed += len(out)
                while self._d.unconsumed_tail and not self._d.eof:
                    out = self._d.decompress(self._d.unconsumed_tail, CHUNK_BYTES * 64)
                    self.uncompressed += len(out)
            except Exception as exc:  # zlib.error / isal_zlib.error: bad header, data or CRC
                self._error = f"gzip error at byte ~{self.size}: {exc}"
                return
            if self._d.eof:
                self.members += 1
                self._in_member = False
                data = self._d.unused_data
                self._d = _zlib.decompressobj(wbits=_GZIP_WBITS)
            else:
                data = b""

    def finish(self) -> GzipCheck:
        error = self._error
        if error is None:
            if self.size == 0:
                error = "zero-byte file (not a gzip stream)"
            elif self._in_member or self.members == 0:
                error = (
                    f"truncated gzip stream: ended inside member {self.members + 1} after {self.size} bytes"
                )
        return GzipCheck(self.size, self._sha.hexdigest(), self.uncompressed, self.members, error)


def verify_chunks(chunks: Iterable[bytes]) -> GzipCheck:
    """Verify an iterable of byte chunks as one gzip stream."""
    v = GzipVerifier()
    for chunk in chunks:
        v.update(chunk)
    return v.finish()


def verify_file(path: Path) -> GzipCheck:
    with open(path, "rb") as fh:
        return verify_chunks(iter(lambda: fh.read(CHUNK_BYTES), b""))


@dataclass(frozen=True)
class Fetched:
    """Result of fetching one hour; `path` holds the bytes when kind is OK or CORRUPT."""

    kind: FetchKind
    url: str
    attempts: int
    seconds: float
    check: GzipCheck | None = None
    detail: str = ""
    path: Path | None = None


class _NotFound(Exception):
    pass


class _Transient(Exception):
    pass


def is_http(source: str) -> bool:
    return source.startswith(("http://", "https://"))


def source_location(hour: Hour, source: str) -> str:
    """The URL or file path the hour is read from."""
    if is_http(source):
        return hour.url(source)
    return str(Path(source.removeprefix("file://")) / hour.file_name)


def _error_summary(resp: requests.Response) -> str:
    """The S3 error code (`NoSuchKey`) when the body is S3's XML, else the start of the body."""
    body = resp.text[:_ERROR_BODY_CHARS]
    m = re.search(r"<Code>([^<]+)</Code>", body)
    return m.group(1) if m else " ".join(body.split())


def _http_chunks(session: requests.Session, url: str, policy: RetryPolicy) -> Iterator[bytes]:
    try:
        resp = session.get(
            url,
            stream=True,
            timeout=(policy.connect_timeout, policy.read_timeout),
            headers={"Accept-Encoding": "identity"},
        )
    except (requests.RequestException, urllib3.exceptions.HTTPError, OSError) as exc:
        raise _Transient(f"GET {url}: {type(exc).__name__}: {exc}") from exc
    with resp:
        if resp.status_code in (404, 410):
            raise _NotFound(f"HTTP {resp.status_code} for {url}: {_error_summary(resp)}")
        if resp.status_code != 200:
            raise _Transient(f"HTTP {resp.status_code} for {url}: {_error_summary(resp)}")
        expected = resp.headers.get("Content-Length")
        got = 0
        try:
            # raw bytes as served: never let a Content-Encoding header make us store decoded data
            for chunk in resp.raw.stream(CHUNK_BYTES, decode_content=False):
                got += len(chunk)
                yield chunk
        except (requests.RequestException, urllib3.exceptions.HTTPError, OSError) as exc:
            raise _Transient(f"GET {url}: connection failed after {got} bytes: {type(exc).__name__}") from exc
        if expected is not None and expected.isdigit() and int(expected) != got:
            raise _Transient(f"GET {url}: short read, {got} of {expected} bytes")


def _file_chunks(path: Path) -> Iterator[bytes]:
    try:
        with open(path, "rb") as fh:
            yield from iter(lambda: fh.read(CHUNK_BYTES), b"")
    except FileNotFoundError:
        raise _NotFound(f"no file {path.name} in {path.parent}") from None
    except OSError as exc:
        raise _Transient(f"cannot read {path}: {exc}") from exc


def _fetch_once(hour: Hour, source: str, dest: Path, policy: RetryPolicy, session: Any) -> GzipCheck:
    chunks = (
        _http_chunks(session, hour.url(source), policy)
        if is_http(source)
        else _file_chunks(Path(source_location(hour, source)))
    )
    verifier = GzipVerifier()
    with open(dest, "wb") as out:
        for chunk in chunks:
            out.write(chunk)
            verifier.update(chunk)
    return verifier.finish()


def fetch_hour(
    hour: Hour,
    source: str,
    dest: Path,
    *,
    policy: RetryPolicy | None = None,
    sleep: Callable[[float], None] = time.sleep,
    session: requests.Session | None = None,
) -> Fetched:
    """Download `hour` from `source` into `dest`, retrying transient failures and corrupt bytes.

    Never raises for source problems: the outcome is in `Fetched.kind` with a human `detail`.
    """
    policy = policy or RetryPolicy()
    location = source_location(hour, source)
    own_session = session is None and is_http(source)
    http = requests.Session() if own_session else session
    started = time.monotonic()
    transient = corrupt = 0

    def fetched(kind: FetchKind, attempt: int, check: GzipCheck | None = None, detail: str = "") -> Fetched:
        """The result after `attempt` tries; with a gzip check, the bytes are in `dest`."""
        path = None if check is None else dest
        return Fetched(kind, location, attempt, time.monotonic() - started, check, detail, path)

    try:
        while True:
            attempt = transient + corrupt + 1
            try:
                check = _fetch_once(hour, source, dest, policy, http)
            except _NotFound as exc:
                return fetched(FetchKind.NOT_FOUND, attempt, detail=str(exc))
            except _Transient as exc:
                transient += 1
                if transient >= policy.attempts:
                    detail = f"{exc} (gave up after {transient} transient failures)"
                    return fetched(FetchKind.TRANSIENT, attempt, detail=detail)
            else:
                if check.error is None:
                    return fetched(FetchKind.OK, attempt, check)
                corrupt += 1
                if corrupt >= policy.corrupt_attempts:
                    detail = f"{check.error} (same after {corrupt} downloads)"
                    return fetched(FetchKind.CORRUPT, attempt, check, detail)
            sleep(policy.delay(transient + corrupt))
    finally:
        if own_session and http is not None:
            http.close()
