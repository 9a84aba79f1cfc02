"""A local GH Archive: an HTTP server on 127.0.0.1 serving real hour files, plus scripted faults.

Usage::

    from tests.support.gharchive_server import Fault, GHArchiveServer

    with GHArchiveServer(DATA) as server:            # serves DATA/<name> at <server.url>/<name>
        server.script("2015-01-01-0.json.gz", Fault.status(500))   # first GET fails, then the file
        server.add_file("2016-01-01-0.json.gz", b"...")            # extra or replacement content
        fetch(server.url)                                          # base URL, e.g. http://127.0.0.1:PORT
        assert server.hits("2015-01-01-0.json.gz") == 2

A name with no file answers 404 with the XML body S3 sends for a missing key (like
data.gharchive.org does for hours that were never archived). Scripted faults are consumed one per
request, in order; once a name's script is used up, it is served normally again. Thread-safe.
"""

from __future__ import annotations

import contextlib
import socket
import struct
import threading
import time
from collections import Counter, deque
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

S3_NOT_FOUND = (
    '<?xml version="1.0" encoding="UTF-8"?>\n'
    "<Error><Code>NoSuchKey</Code><Message>The specified key does not exist.</Message>"
    "<Key>{name}</Key><RequestId>4442587FB7D0A2F9</RequestId>"
    "<HostId>zN0l5aZbG+I6tTNpkmyzW2Lq3vH3KQ2E6+P8q/3Nl3s=</HostId></Error>"
)


@dataclass(frozen=True)
class Fault:
    """One scripted response. Build with the static constructors."""

    kind: str  # "status" | "reset" | "truncate" | "body" | "drip"
    code: int = 200
    body: bytes = b""
    keep: int = 0
    headers: tuple[tuple[str, str], ...] = ()
    interval: float = 0.0

    @staticmethod
    def status(code: int, body: bytes = b"", headers: dict[str, str] | None = None) -> Fault:
        """Answer `code` with `body` (e.g. 500, 503, 429 with {"Retry-After": "7"}, 404 with a body)."""
        return Fault(
            "status", code=code, body=body or f"error {code}".encode(), headers=tuple((headers or {}).items())
        )

    @staticmethod
    def drip(interval: float) -> Fault:
        """Announce the real file, then send it one byte every `interval` seconds (a stalling source
        that never trips a read timeout) until the client gives up."""
        return Fault("drip", interval=interval)

    @staticmethod
    def reset(after: int = 0) -> Fault:
        """Send headers and `after` bytes of the real file, then reset the connection (TCP RST)."""
        return Fault("reset", keep=after)

    @staticmethod
    def truncate(keep: int) -> Fault:
        """Announce the full Content-Length but send only `keep` bytes, then close (a short read)."""
        return Fault("truncate", keep=keep)

    @staticmethod
    def serve(body: bytes, status: int = 200, headers: dict[str, str] | None = None) -> Fault:
        """A complete, well-formed response with this body (a truncated gzip, zero bytes...)."""
        return Fault("body", code=status, body=body, headers=tuple((headers or {}).items()))


class GHArchiveServer:
    """See module docstring. `url` is the base URL to use as the pipeline's source."""

    def __init__(self, root: Path | None = None) -> None:
        self.root = root
        self._files: dict[str, bytes] = {}
        self._missing: set[str] = set()
        self._scripts: dict[str, deque[Fault]] = {}
        self._hits: Counter[str] = Counter()
        self.requests: list[str] = []
        #: Authorization header and query string of every request (to check credentials were used)
        self.credentials: list[tuple[str, str]] = []
        self._lock = threading.Lock()
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # ---- control ----------------------------------------------------------------------------------
    def add_file(self, name: str, data: bytes) -> None:
        with self._lock:
            self._files[name] = data
            self._missing.discard(name)

    def remove_file(self, name: str) -> None:
        """Make `name` answer 404 even if it exists under root."""
        with self._lock:
            self._files.pop(name, None)
            self._missing.add(name)

    def script(self, name: str, *faults: Fault) -> None:
        """Queue faults for the next requests of `name` (appended to any already queued)."""
        with self._lock:
            self._scripts.setdefault(name, deque()).extend(faults)

    def hits(self, name: str) -> int:
        with self._lock:
            return self._hits[name]

    def reset_counts(self) -> None:
        with self._lock:
            self._hits.clear()
            self.requests.clear()

    @property
    def url(self) -> str:
        assert self._httpd is not None, "server not started"
        host, port = self._httpd.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> GHArchiveServer:
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self))
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, name="gharchive-server", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> GHArchiveServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ---- serving ------------------------------------------------------------------------------------
    def _next(self, name: str) -> tuple[Fault | None, bytes | None]:
        with self._lock:
            self._hits[name] += 1
            self.requests.append(name)
            queue = self._scripts.get(name)
            fault = queue.popleft() if queue else None
            data = self._files.get(name)
            missing = name in self._missing
        if (
            data is None
            and not missing
            and self.root is not None
            and "/" not in name
            and name not in ("", ".", "..")
        ):
            path = self.root / name
            if path.is_file():
                data = path.read_bytes()
        return fault, data


def _handler_for(owner: GHArchiveServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:  # quiet
            pass

        def _send(
            self,
            status: int,
            body: bytes,
            content_type: str,
            length: int | None = None,
            headers: tuple[tuple[str, str], ...] = (),
        ) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            for key, value in headers:
                self.send_header(key, value)
            self.send_header("Content-Length", str(len(body) if length is None else length))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self) -> None:
            name, _, query = self.path.lstrip("/").partition("?")
            with owner._lock:
                owner.credentials.append((self.headers.get("Authorization", ""), query))
            fault, data = owner._next(name)
            if fault is None:
                if data is None:
                    self._send(404, S3_NOT_FOUND.format(name=name).encode(), "application/xml")
                else:
                    self._send(200, data, "application/gzip")
                return
            if fault.kind in ("status", "body"):
                ctype = "application/gzip" if fault.code == 200 else "application/xml"
                self._send(fault.code, fault.body, ctype, headers=fault.headers)
                return
            full = data or b""
            if fault.kind == "drip":
                self._drip(full, fault.interval)
                return
            if fault.kind == "truncate":
                self._send(200, full[: fault.keep], "application/gzip", length=len(full))
                self.close_connection = True
                return
            # reset: headers + some bytes, then RST instead of FIN
            self._send(200, full[: fault.keep], "application/gzip", length=len(full))
            self.wfile.flush()
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.connection.close()
            self.close_connection = True

        def _drip(self, full: bytes, interval: float) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "application/gzip")
            self.send_header("Content-Length", str(len(full)))
            self.end_headers()
            self.close_connection = True
            with contextlib.suppress(OSError):
                for i in range(len(full)):
                    self.wfile.write(full[i : i + 1])
                    self.wfile.flush()
                    time.sleep(interval)

        def finish(self) -> None:
            with contextlib.suppress(OSError):
                super().finish()

    return Handler
