"""The storage interface every stage uses.

Two implementations: `gcs.GCSStorage` (google-cloud-storage) and `local.LocalStorage` (a directory,
the embedded default). Writes are atomic: an object is either absent or complete under its name.
`if_generation_match=0` means "only if absent", as in GCS; generations increase on every overwrite.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO, Protocol

from ..errors import TransientError


class StorageError(TransientError, RuntimeError):
    """A bucket that cannot be reached or used (names the bucket): retried, as a fix may come."""


class PreconditionFailed(StorageError):
    """A generation precondition did not hold (e.g. the object already exists)."""


@dataclass(frozen=True)
class ObjectInfo:
    name: str
    size: int
    generation: int
    metadata: dict[str, str] = field(default_factory=dict)


class Storage(Protocol):
    #: `gs://bucket` or the local directory path; used in messages and CloudEvent sources.
    url: str

    def stat(self, name: str) -> ObjectInfo | None: ...

    def open_read(self, name: str) -> BinaryIO: ...

    def read_bytes(self, name: str) -> bytes: ...

    def put_file(
        self,
        name: str,
        path: Path,
        *,
        metadata: dict[str, str] | None = None,
        if_generation_match: int | None = None,
    ) -> ObjectInfo: ...

    def put_bytes(
        self,
        name: str,
        data: bytes,
        *,
        metadata: dict[str, str] | None = None,
        if_generation_match: int | None = None,
    ) -> ObjectInfo: ...

    def rewrite(self, name: str, *, metadata: dict[str, str], if_generation_match: int) -> ObjectInfo:
        """Store the object again with the same bytes and `metadata` (replacing its own): a new
        generation, and so a new finalize event, without moving the data through this process
        (re-processing an hour whose bytes have not changed). PreconditionFailed if the object is
        no longer at generation `if_generation_match`."""
        ...

    def list(self, prefix: str = "") -> Iterator[ObjectInfo]: ...

    def delete(self, name: str) -> None: ...


def object_url(bucket_url: str, name: str) -> str:
    """`gs://bucket/name` (or `dir/name` locally): one object, for messages, ledgers and Spark paths."""
    return f"{bucket_url.rstrip('/')}/{name}"


def open_storage(url: str) -> Storage:
    """`gs://bucket` -> GCS; anything else is a local directory (created if missing)."""
    if url.startswith("gs://"):
        from .gcs import GCSStorage

        return GCSStorage(url)
    from .local import LocalStorage

    return LocalStorage(Path(url))
