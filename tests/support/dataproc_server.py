"""A small local HTTP server speaking the part of the Dataproc Batches REST API the pipeline uses.

`POST /v1/projects/{p}/locations/{r}/batches?batchId=...&requestId=...` with a Batch JSON body:
200 with a long-running Operation for a new id, 409 ALREADY_EXISTS for a known one (as Dataproc
answers, whatever state the batch is in), or the status codes queued in `fail_next` (to test retries).
`GET /v1/projects/{p}/locations/{r}/batches/{id}` returns a stored batch with its `state`: new batches
are PENDING; `set_state` moves one on (SUCCEEDED, FAILED...), as Dataproc would once the job ran.

With `run_job` set, the server runs each new batch itself, as Dataproc would: in a thread, the batch
goes RUNNING, `run_job(batch)` runs its job (tests: spark/load_events.py with local PySpark), and the
batch ends SUCCEEDED when it returns True, FAILED otherwise (or when it raises).
"""

from __future__ import annotations

import json
import re
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

_CREATE_RE = re.compile(r"^/v1/projects/([^/]+)/locations/([^/]+)/batches$")
_GET_RE = re.compile(r"^/v1/projects/([^/]+)/locations/([^/]+)/batches/([^/]+)$")
_STATUS = {
    400: "INVALID_ARGUMENT",
    404: "NOT_FOUND",
    409: "ALREADY_EXISTS",
    429: "RESOURCE_EXHAUSTED",
    500: "INTERNAL",
    503: "UNAVAILABLE",
}


@dataclass
class CreateCall:
    """One create request as received (query parameters and the Batch JSON body)."""

    project: str
    region: str
    batch_id: str
    request_id: str
    body: dict[str, Any]
    status: int = 0


@dataclass
class DataprocServer:
    host: str = "127.0.0.1"
    calls: list[CreateCall] = field(default_factory=list)
    batches: dict[str, dict[str, Any]] = field(default_factory=dict)
    fail_next: list[int] = field(default_factory=list)
    run_job: Callable[[dict[str, Any]], bool] | None = None
    _server: ThreadingHTTPServer | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def endpoint(self) -> str:
        assert self._server is not None, "server not started"
        return f"http://{self.host}:{self._server.server_address[1]}"

    def start(self) -> DataprocServer:
        self._server = ThreadingHTTPServer((self.host, 0), self._handler_class())
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> DataprocServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def set_state(self, batch_id: str, state: str) -> dict[str, Any]:
        """Move a batch to `state` (e.g. FAILED on demand); returns the stored batch."""
        with self._lock:
            name = next(n for n in self.batches if n.rsplit("/", 1)[1] == batch_id)
            self.batches[name]["state"] = state
            return self.batches[name]

    def batch_ids(self, state: str | None = None) -> list[str]:
        """Ids of the stored batches (in a `state`), in submission order."""
        with self._lock:
            return [
                n.rsplit("/", 1)[1] for n, b in self.batches.items() if state is None or b["state"] == state
            ]

    def args(self, batch_id: str) -> list[str]:
        """The Spark job arguments a batch was submitted with."""
        with self._lock:
            batch = next(b for n, b in self.batches.items() if n.rsplit("/", 1)[1] == batch_id)
        return list(batch["pysparkBatch"]["args"])

    def reset(self) -> None:
        with self._lock:
            self.calls.clear()
            self.batches.clear()
            self.fail_next.clear()

    # ---- request handling ------------------------------------------------------------------------
    def _create(
        self, project: str, region: str, query: dict[str, list[str]], body: dict[str, Any]
    ) -> tuple[int, dict[str, Any]]:
        batch_id = (query.get("batchId") or [""])[0]
        call = CreateCall(project, region, batch_id, (query.get("requestId") or [""])[0], body)
        with self._lock:
            self.calls.append(call)
            name = f"projects/{project}/locations/{region}/batches/{batch_id}"
            if self.fail_next:
                code = self.fail_next.pop(0)
                call.status = code
                return code, _error(code, f"injected failure for batch {batch_id}")
            if name in self.batches:
                call.status = 409
                return 409, _error(409, f"Batch {name} already exists")
            batch_uuid = str(uuid.uuid4())
            self.batches[name] = {**body, "name": name, "uuid": batch_uuid, "state": "PENDING"}
            call.status = 200
        if self.run_job is not None:
            threading.Thread(target=self._run, args=(name,), daemon=True).start()
        operation = {"name": f"projects/{project}/regions/{region}/operations/{batch_uuid}", "done": False}
        return 200, operation

    def _run(self, name: str) -> None:
        with self._lock:
            self.batches[name]["state"] = "RUNNING"
            batch = dict(self.batches[name])
        assert self.run_job is not None
        try:
            ok = self.run_job(batch)
        except Exception as exc:  # the job's failure is the batch's, as on Dataproc
            ok = False
            batch["stateMessage"] = repr(exc)
        with self._lock:
            self.batches[name]["state"] = "SUCCEEDED" if ok else "FAILED"
            if not ok:
                self.batches[name]["stateMessage"] = batch.get("stateMessage", "the job exited non-zero")

    def _get(self, project: str, region: str, batch_id: str) -> tuple[int, dict[str, Any]]:
        name = f"projects/{project}/locations/{region}/batches/{batch_id}"
        with self._lock:
            batch = self.batches.get(name)
        return (200, batch) if batch else (404, _error(404, f"Batch {name} not found"))

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                url = urlsplit(self.path)
                m = _CREATE_RE.match(url.path)
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b"{}"
                if not m:
                    self._send(404, _error(404, f"no such method {url.path}"))
                    return
                self._send(*server._create(m.group(1), m.group(2), parse_qs(url.query), json.loads(raw)))

            def do_GET(self) -> None:
                m = _GET_RE.match(urlsplit(self.path).path)
                if not m:
                    self._send(404, _error(404, f"no such method {self.path}"))
                    return
                self._send(*server._get(m.group(1), m.group(2), m.group(3)))

            def _send(self, code: int, doc: dict[str, Any]) -> None:
                data = json.dumps(doc).encode()
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        return Handler


def _error(code: int, message: str) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, "status": _STATUS.get(code, "UNKNOWN")}}
