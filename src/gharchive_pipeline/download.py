"""Fetch one GH Archive hour from its source into a local file, verified end to end.

The source is `https://data.gharchive.org` (or any base URL) or a local directory of GH Archive
files. Bytes are streamed to disk in chunks (never whole in memory) while a gzip decoder runs over
them, so a truncated, zero-byte or corrupt file is caught before anything is stored. Transient
failures (5xx, 429, timeouts, resets, short reads) are retried (tenacity) with exponential backoff and
jitter, or after the server's `Retry-After`, all within one overall deadline; a 404 is reported as
such (the caller decides "not yet published" vs "missing" from the hour's age). Source URLs may
carry credentials (`http://user:pw@host/`, `?token=`): what this module reports is redacted.
"""

from __future__ import annotations

import errno
import hashlib
import random
import re
import socket
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

import requests
import urllib3
from tenacity import RetryCallState, RetryError, Retrying, retry_if_exception_type, wait_exponential
from urllib3.util import Retry

from .hours import Hour

try:  # isal inflates several times faster than zlib; same API
    from isal import isal_zlib as _zlib
except ImportError:  # pragma: no cover - isal is a declared dependency
    import zlib as _zlib  # type: ignore[no-redef]

CHUNK_BYTES = 1024 * 1024
_GZIP_WBITS = 31  # gzip container only
_ERROR_BODY_CHARS = 300
DEFAULT_DEADLINE_SECONDS = 300.0


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
    #: Overall bound on one hour's download, attempts and waits included: a source that drips bytes
    #: ends as `transient` well before the ingest function's 540 s timeout. It is checked as bytes
    #: arrive, so the worst case is deadline + read_timeout (300 + 60 s by default).
    deadline: float = DEFAULT_DEADLINE_SECONDS

    def backoff(self, rand: Callable[[], float] = random.random) -> Backoff:
        """The wait before each retry (a tenacity wait strategy)."""
        return Backoff(self.base_delay, self.max_delay, self.jitter, rand)


class Backoff(wait_exponential):
    """tenacity's exponential wait (base, 2 x base, ... up to max) with the jitter taken off the
    top: a wait is drawn from [d * (1 - jitter), d], so no retry waits longer than its step."""

    def __init__(self, base: float, most: float, jitter: float, rand: Callable[[], float]) -> None:
        super().__init__(multiplier=base, max=most)
        self.jitter, self.rand = jitter, rand

    def __call__(self, retry_state: RetryCallState) -> float:
        return float(super().__call__(retry_state)) * (1 - self.jitter * self.rand())


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
    """Result of fetching one hour; `path` holds the bytes when kind is OK or CORRUPT.

    `url` and `detail` never carry credentials (see `redact`): they reach logs, ledgers and metadata.
    """

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
    """A failure a later attempt may not have; `retry_after` is the server's Retry-After, in seconds."""

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class _Corrupt(Exception):
    def __init__(self, check: GzipCheck) -> None:
        super().__init__(check.error)
        self.check = check


class _DeadlinePassed(_Transient):
    pass


def is_http(source: str) -> bool:
    return source.startswith(("http://", "https://"))


# ---- secrets in source URLs ---------------------------------------------------------------------
_REDACTED = "***"
_URL_RE = re.compile(r"(?P<scheme>[a-zA-Z][a-zA-Z0-9+.-]*://)(?P<userinfo>[^/?#@\s]*@)?(?P<rest>[^\s'\"<>]*)")


def _redact_query(query: str) -> str:
    return "&".join(
        f"{k}={_REDACTED}" if sep else part
        for part in query.split("&")
        for k, sep, _ in [part.partition("=")]
    )


def redact_url(url: str) -> str:
    """`url` as it may be shown: userinfo and query values replaced by `***`."""

    def one(m: re.Match[str]) -> str:
        rest = m.group("rest")
        cut = len(rest.rstrip(":,;.)"))  # punctuation after a URL in a sentence is not part of it
        rest, tail = rest[:cut], rest[cut:]
        path, q, query = rest.partition("?")
        shown = path + (q + _redact_query(query) if q else "") + tail
        return m.group("scheme") + (f"{_REDACTED}@" if m.group("userinfo") else "") + shown

    return _URL_RE.sub(one, url)


def _secrets(source: str) -> list[str]:
    """The parts of a source URL that must never be shown (password, user, query values)."""
    if not is_http(source):
        return []
    parts = urlsplit(source)
    found = [parts.password or "", parts.username or ""]
    found += [v for _, v in parse_qsl(parts.query, keep_blank_values=True)]
    found += [unquote(f) for f in found]
    return sorted({f for f in found if len(f) >= 3}, key=len, reverse=True)


def redact(text: str, source: str = "") -> str:
    """`text` with every URL's credentials redacted and, given the `source`, its secrets wherever
    they appear (library error messages quote URL pieces without their scheme)."""
    text = redact_url(text)
    for secret in _secrets(source):
        text = text.replace(secret, _REDACTED)
    return text


#: The schemes a source URL may have: the web (GH Archive or a mirror), or a local directory.
SOURCE_SCHEMES = ("http", "https", "file")
#: How long the start of a local run waits to learn whether its source can be reached at all.
REACH_TIMEOUT_SECONDS = 5.0
#: Connection errors that say "this source cannot be reached from here" (no waiting will help soon).
_UNREACHABLE = {errno.ECONNREFUSED, errno.ENETUNREACH, errno.EHOSTUNREACH}


def source_problem(source: str) -> str | None:
    """Why `source` can never be fetched from (an unknown scheme, a folder that is not there), for
    the command line to refuse up front; None for a usable one."""
    scheme, sep, rest = source.partition("://")
    if not sep:
        if Path(source).is_dir():
            return None
        shown = re.sub(r"^[^/@]*@", f"{_REDACTED}@", source)  # a password given without a scheme
        return f"source {shown!r} is neither a URL nor a directory"
    shown = redact_url(source)
    if scheme not in SOURCE_SCHEMES:
        return f"source {shown}: cannot fetch {scheme}:// URLs (use https://, http:// or a local directory)"
    if scheme == "file" and not Path(rest).is_dir():
        return f"source {shown}: no such directory"
    if scheme != "file" and not urlsplit(source).hostname:
        return f"source {shown}: no host name"
    return None


def unreachable(source: str, timeout: float = REACH_TIMEOUT_SECONDS) -> str | None:
    """Why an http(s) `source` cannot be reached at all right now: its name does not resolve, or
    its address refuses or has no route. None when it can (or when a proxy is configured, or the
    check is inconclusive: a slow answer is the download's to retry). Not a fetch; one connection,
    closed at once."""
    if not is_http(source) or requests.utils.get_environ_proxies(source):
        return None
    parts = urlsplit(source)
    host = parts.hostname or ""
    port = parts.port or (443 if parts.scheme == "https" else 80)
    found: list[Any] = []

    def resolve() -> None:
        try:
            found.append(socket.getaddrinfo(host, port, type=socket.SOCK_STREAM))
        except OSError as exc:
            found.append(exc)

    resolver = threading.Thread(target=resolve, daemon=True)  # getaddrinfo has no timeout of its own
    resolver.start()
    resolver.join(timeout)
    if not found:
        return None  # a resolver this slow: let the download's retries judge
    if isinstance(found[0], socket.gaierror):
        return f"the name {host} does not resolve ({found[0].strerror})"
    if isinstance(found[0], OSError):
        return None
    last: OSError | None = None
    for family, kind, proto, _name, address in found[0]:
        try:
            with socket.socket(family, kind, proto) as conn:
                conn.settimeout(timeout)
                conn.connect(address)
            return None
        except TimeoutError:
            return None
        except OSError as exc:
            last = exc
    if last is not None and last.errno in _UNREACHABLE:
        return f"{host} port {port}: {last.strerror or last}"
    return None


def source_location(hour: Hour, source: str) -> str:
    """The URL or file path the hour is read from (with any credentials: never show it, see `redact`)."""
    if is_http(source):
        return hour.url(source)
    return str(Path(source.removeprefix("file://")) / hour.file_name)


def _error_summary(resp: requests.Response) -> str:
    """The S3 error code (`NoSuchKey`) when the body is S3's XML, else the start of the body."""
    body = resp.text[:_ERROR_BODY_CHARS]
    m = re.search(r"<Code>([^<]+)</Code>", body)
    return m.group(1) if m else " ".join(body.split())


def _retry_after(resp: requests.Response) -> float | None:
    """Seconds the server asks us to wait (`Retry-After`: seconds or an HTTP date), if it says."""
    value = resp.headers.get("Retry-After")
    if not value:
        return None
    try:
        return Retry().parse_retry_after(value)
    except urllib3.exceptions.InvalidHeader:
        return None


class _Clock:
    """The overall download deadline: every attempt and wait must end before `at`."""

    def __init__(self, seconds: float, monotonic: Callable[[], float]) -> None:
        self.seconds = seconds
        self.monotonic = monotonic
        self.at = monotonic() + seconds

    def left(self) -> float:
        return self.at - self.monotonic()

    def check(self, url: str, got: int) -> None:
        if self.left() <= 0:
            raise _DeadlinePassed(
                f"GET {url}: download deadline of {self.seconds:g} s passed after {got} bytes"
            )


def _http_chunks(session: requests.Session, url: str, policy: RetryPolicy, clock: _Clock) -> Iterator[bytes]:
    shown = redact_url(url)
    left = max(0.001, clock.left())
    try:
        resp = session.get(
            url,
            stream=True,
            timeout=(min(policy.connect_timeout, left), min(policy.read_timeout, left)),
            headers={"Accept-Encoding": "identity"},
        )
    except (requests.RequestException, urllib3.exceptions.HTTPError, OSError) as exc:
        raise _Transient(f"GET {shown}: {type(exc).__name__}: {exc}") from exc
    with resp:
        if resp.status_code in (404, 410):
            raise _NotFound(f"HTTP {resp.status_code} for {shown}: {_error_summary(resp)}")
        if resp.status_code != 200:
            asked = _retry_after(resp)
            wait = f" (Retry-After {asked:g} s)" if asked is not None else ""
            raise _Transient(f"HTTP {resp.status_code} for {shown}: {_error_summary(resp)}{wait}", asked)
        expected = resp.headers.get("Content-Length")
        got = 0
        try:
            # raw bytes as served: never let a Content-Encoding header make us store decoded data;
            # read1 returns what one receive brought, so a source dripping bytes meets the deadline
            while chunk := resp.raw.read1(CHUNK_BYTES, decode_content=False):
                got += len(chunk)
                yield chunk
                clock.check(shown, got)
        except (requests.RequestException, urllib3.exceptions.HTTPError, OSError) as exc:
            if clock.left() <= 0:
                clock.check(shown, got)
            raise _Transient(
                f"GET {shown}: connection failed after {got} bytes: {type(exc).__name__}"
            ) from exc
        if expected is not None and expected.isdigit() and int(expected) != got:
            raise _Transient(f"GET {shown}: short read, {got} of {expected} bytes")


def _file_chunks(path: Path, clock: _Clock) -> Iterator[bytes]:
    got = 0
    try:
        with open(path, "rb") as fh:
            while chunk := fh.read(CHUNK_BYTES):
                got += len(chunk)
                yield chunk
                clock.check(str(path), got)
    except FileNotFoundError:
        raise _NotFound(f"no file {path.name} in {path.parent}") from None
    except OSError as exc:
        raise _Transient(f"cannot read {path}: {exc}") from exc


def _fetch_once(
    hour: Hour, source: str, dest: Path, policy: RetryPolicy, session: Any, clock: _Clock
) -> GzipCheck:
    chunks = (
        _http_chunks(session, hour.url(source), policy, clock)
        if is_http(source)
        else _file_chunks(Path(source_location(hour, source)), clock)
    )
    verifier = GzipVerifier()
    with open(dest, "wb") as out:
        for chunk in chunks:
            out.write(chunk)
            verifier.update(chunk)
    check = verifier.finish()
    if check.error is not None:
        raise _Corrupt(check)
    return check


def fetch_hour(
    hour: Hour,
    source: str,
    dest: Path,
    *,
    policy: RetryPolicy | None = None,
    sleep: Callable[[float], None] = time.sleep,
    session: requests.Session | None = None,
    monotonic: Callable[[], float] = time.monotonic,
) -> Fetched:
    """Download `hour` from `source` into `dest`, retrying transient failures and corrupt bytes.

    Never raises for source problems: the outcome is in `Fetched.kind` with a human `detail`.
    Retries wait with exponential backoff and jitter, or as long as a 429/503's `Retry-After` asks;
    everything (attempts and waits) ends within `policy.deadline` seconds, as `transient` if not done.
    """
    policy = policy or RetryPolicy()
    shown = redact(source_location(hour, source), source)
    own_session = session is None and is_http(source)
    http = requests.Session() if own_session else session
    clock = _Clock(policy.deadline, monotonic)
    failures = {_Transient: 0, _Corrupt: 0}
    backoff = policy.backoff()

    def attempt() -> GzipCheck:
        try:
            return _fetch_once(hour, source, dest, policy, http, clock)
        except (_Transient, _Corrupt) as exc:
            failures[_Corrupt if isinstance(exc, _Corrupt) else _Transient] += 1
            raise

    def wait(state: RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome else None
        asked = getattr(exc, "retry_after", None)
        return asked if asked is not None else backoff(state)

    def stop(state: RetryCallState) -> bool:
        exc = state.outcome.exception() if state.outcome else None
        return (
            isinstance(exc, _DeadlinePassed)
            or failures[_Transient] >= policy.attempts
            or failures[_Corrupt] >= policy.corrupt_attempts
            or state.upcoming_sleep >= clock.left()
        )

    retrying = Retrying(
        retry=retry_if_exception_type((_Transient, _Corrupt)), wait=wait, stop=stop, sleep=sleep
    )

    def fetched(kind: FetchKind, attempts: int, check: GzipCheck | None = None, detail: str = "") -> Fetched:
        """The result after `attempts` tries; with a gzip check, the bytes are in `dest`."""
        path = None if check is None else dest
        seconds = clock.seconds - clock.left()
        return Fetched(kind, shown, attempts, seconds, check, redact(detail, source), path)

    try:
        check = retrying(attempt)
    except _NotFound as exc:
        return fetched(FetchKind.NOT_FOUND, sum(failures.values()) + 1, detail=str(exc))
    except RetryError as err:
        last = err.last_attempt.exception()
        tries = err.last_attempt.attempt_number
        if isinstance(last, _Corrupt):
            detail = f"{last.check.error} (same after {failures[_Corrupt]} downloads)"
            return fetched(FetchKind.CORRUPT, tries, last.check, detail)
        why = (
            f"deadline of {policy.deadline:g} s"
            if isinstance(last, _DeadlinePassed) or failures[_Transient] < policy.attempts
            else f"{failures[_Transient]} transient failures"
        )
        return fetched(FetchKind.TRANSIENT, tries, detail=f"{last} (gave up: {why})")
    finally:
        if own_session and http is not None:
            http.close()
    return fetched(FetchKind.OK, sum(failures.values()) + 1, check)
