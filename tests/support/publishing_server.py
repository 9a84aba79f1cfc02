"""A local GH Archive that publishes hours over (simulated) time, with outages: for `run --follow`.

Usage::

    clock = FakeClock(datetime(2015, 1, 1, 0, 5, tzinfo=UTC))
    with PublishingServer(clock, {hour: path_or_bytes, ...}) as server:
        server.publish_at(hour, when)             # default: 10 minutes after the hour ends
        server.outage(start, end, refuse=True)    # connection refused (or 500s) in [start, end)
        Follower(..., clock=clock, sleep=clock.sleep).run()

`FakeClock.sleep` advances the clock at once, so days of follow take seconds; the server reads the
same clock to decide what is published and whether it is down (for "refused" it really closes its
listening socket and binds the same port again when the outage ends). Unknown names answer S3's 404.
"""

from __future__ import annotations

import contextlib
import threading
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from gharchive_pipeline.hours import Hour, HourError

from .gharchive_server import S3_NOT_FOUND

DEFAULT_DELAY = timedelta(minutes=10)


class FakeClock:
    """Simulated UTC time: `clock()` reads it, `clock.sleep(s)` advances it (no real waiting)."""

    def __init__(self, now: datetime) -> None:
        self.now = now
        self.slept = 0.0
        self._lock = threading.Lock()
        self._listeners: list[Any] = []

    def __call__(self) -> datetime:
        with self._lock:
            return self.now

    def sleep(self, seconds: float) -> None:
        with self._lock:
            self.now += timedelta(seconds=max(0.0, seconds))
            self.slept += max(0.0, seconds)
            now = self.now
        for listener in self._listeners:
            listener(now)

    def on_change(self, listener: Any) -> None:
        self._listeners.append(listener)


@dataclass(frozen=True)
class Outage:
    start: datetime
    end: datetime
    refuse: bool  # True: connection refused; False: every request answers 500


class PublishingServer:
    """See module docstring."""

    def __init__(self, clock: FakeClock, files: Mapping[Hour, Path | bytes]) -> None:
        self.clock = clock
        self._files = {h: (v if isinstance(v, bytes) else v.read_bytes()) for h, v in files.items()}
        self._published_at = {h: h.end + DEFAULT_DELAY for h in self._files}
        self._outages: list[Outage] = []
        self.hits: Counter[str] = Counter()
        self._lock = threading.Lock()
        self._httpd: ThreadingHTTPServer | None = None
        self._port = 0
        clock.on_change(lambda _now: self._apply())

    # ---- control --------------------------------------------------------------------------------
    def publish_at(self, hour: Hour, when: datetime | None) -> None:
        """When `hour` appears (None: never, it answers 404 for ever)."""
        with self._lock:
            if when is None:
                self._published_at.pop(hour, None)
            else:
                self._published_at[hour] = when

    def outage(self, start: datetime, end: datetime, *, refuse: bool) -> None:
        with self._lock:
            self._outages.append(Outage(start, end, refuse))
        self._apply()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._port}"

    # ---- state ----------------------------------------------------------------------------------
    def _down(self, now: datetime) -> Outage | None:
        with self._lock:
            return next((o for o in self._outages if o.start <= now < o.end), None)

    def _apply(self) -> None:
        """Close the socket during a refusing outage, bind the same port again after it."""
        outage = self._down(self.clock())
        if outage is not None and outage.refuse:
            self._close()
        elif self._httpd is None:
            self._open()

    def _open(self) -> None:
        self._httpd = ThreadingHTTPServer(("127.0.0.1", self._port), _handler_for(self))
        self._httpd.daemon_threads = True
        self._port = self._httpd.server_address[1]
        threading.Thread(target=self._httpd.serve_forever, name="publishing-server", daemon=True).start()

    def _close(self) -> None:
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None

    def _answer(self, name: str) -> tuple[int, bytes]:
        now = self.clock()
        with self._lock:
            self.hits[name] += 1
        if self._down(now) is not None:
            return 500, b"<Error><Code>InternalError</Code></Error>"
        try:
            hour = Hour.parse(name)
        except HourError:
            hour = None
        with self._lock:
            when = self._published_at.get(hour) if hour is not None else None
            data = self._files.get(hour) if hour is not None else None
        if data is None or when is None or now < when:
            return 404, S3_NOT_FOUND.format(name=name).encode()
        return 200, data

    def __enter__(self) -> PublishingServer:
        self._apply()
        return self

    def __exit__(self, *exc: object) -> None:
        self._close()


def _handler_for(owner: PublishingServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:  # quiet
            pass

        def do_GET(self) -> None:
            status, body = owner._answer(self.path.lstrip("/").split("?")[0])
            self.send_response(status)
            self.send_header("Content-Type", "application/gzip" if status == 200 else "application/xml")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def finish(self) -> None:
            with contextlib.suppress(OSError):
                super().finish()

    return Handler
