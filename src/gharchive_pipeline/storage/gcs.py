"""Google Cloud Storage behind the Storage interface (google-cloud-storage).

Reads stream (`Blob.open("rb")`), uploads carry `if_generation_match` so that concurrent duplicate
deliveries store one object, and API errors become StorageError / PreconditionFailed naming the
bucket. With STORAGE_EMULATOR_HOST set (tests: fake-gcs-server) anonymous credentials are used.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, BinaryIO, cast

import google.cloud.storage as gcs
from google.api_core import exceptions as gexc
from google.cloud.storage.exceptions import DataCorruption
from tenacity import Retrying, retry_if_exception_type, stop_after_attempt, wait_random_exponential

from .base import ObjectInfo, PreconditionFailed, StorageError

#: Streaming read size: large enough for throughput, small enough for a 256 MB function.
READ_CHUNK_BYTES = 8 * 1024 * 1024

#: Tries of a whole-object read whose bytes fail the CRC32C the server sent with them (the client
#: raises DataCorruption). Google's rule: "discard downloaded data with incorrect hash values and
#: use the recommended retry strategy", bounded and with backoff
#: (https://cloud.google.com/storage/docs/data-validation, "Client-side validation"). The retry is
#: a whole new download: the client's own retry would resume the same stream. fake-gcs-server also
#: answers a read racing an overwrite with one generation's hash and the other's body (seen in CI
#: on the ledger's concurrent appends).
READ_ATTEMPTS = 3


def make_client(project: str | None = None) -> gcs.Client:
    """A client; anonymous against an emulator (STORAGE_EMULATOR_HOST), default credentials otherwise."""
    if os.environ.get("STORAGE_EMULATOR_HOST"):
        from google.auth.credentials import AnonymousCredentials

        return gcs.Client(project=project or "local", credentials=AnonymousCredentials())
    from google.auth.exceptions import DefaultCredentialsError

    try:
        return gcs.Client(project=project)
    except DefaultCredentialsError as exc:
        raise StorageError(
            "no Google Cloud credentials for Cloud Storage: run `gcloud auth application-default login` "
            "or set GOOGLE_APPLICATION_CREDENTIALS"
        ) from exc


class GCSStorage:
    """A GCS bucket, addressed as `gs://bucket`."""

    def __init__(self, url: str, *, client: gcs.Client | None = None) -> None:
        if not url.startswith("gs://") or not url[5:].strip("/") or "/" in url[5:].strip("/"):
            raise StorageError(f"bad bucket URL {url!r}: expected gs://BUCKET")
        self.bucket_name = url[5:].strip("/")
        self.url = f"gs://{self.bucket_name}"
        self._client = client or make_client()
        self._bucket = self._client.bucket(self.bucket_name)

    @contextlib.contextmanager
    def _errors(self, name: str, action: str) -> Iterator[None]:
        """Translate API errors into the interface's, always naming the bucket and object."""
        where = f"{self.url}/{name}" if name else self.url
        try:
            yield
        except gexc.PreconditionFailed as exc:
            raise PreconditionFailed(f"{where}: generation precondition failed ({action})") from exc
        except gexc.NotFound as exc:
            if name and self._bucket_exists():
                raise FileNotFoundError(f"no object {name} in bucket {self.url}") from exc
            raise StorageError(f"bucket {self.url} does not exist ({action})") from exc
        except gexc.GoogleAPICallError as exc:
            raise StorageError(f"{where}: {action} failed: {exc}") from exc
        except OSError as exc:
            if isinstance(exc, FileNotFoundError):
                raise
            raise StorageError(f"{where}: {action} failed: {exc}") from exc

    def _bucket_exists(self) -> bool:
        try:
            return self._client.lookup_bucket(self.bucket_name) is not None
        except gexc.Forbidden:
            # the functions' accounts hold object roles only (no storage.buckets.get): a denied
            # lookup comes from an existing bucket, so the object is what is missing
            return True
        except gexc.GoogleAPICallError:
            return False

    @staticmethod
    def _info(blob: Any) -> ObjectInfo:
        return ObjectInfo(
            name=blob.name,
            size=int(blob.size or 0),
            generation=int(blob.generation or 0),
            metadata=dict(blob.metadata or {}),
        )

    def stat(self, name: str) -> ObjectInfo | None:
        with self._errors("", f"stat {name}"):
            blob = self._bucket.get_blob(name)
        return self._info(blob) if blob is not None else None

    def open_read(self, name: str) -> BinaryIO:
        """A streaming reader pinned to the current generation (never the whole object in memory)."""
        info = self.stat(name)
        if info is None:
            raise FileNotFoundError(f"no object {name} in bucket {self.url}")
        blob = self._bucket.blob(name, generation=info.generation)
        with self._errors(name, "open"):
            return cast(BinaryIO, blob.open("rb", chunk_size=READ_CHUNK_BYTES))

    def read_bytes(self, name: str) -> bytes:
        retrying = Retrying(
            retry=retry_if_exception_type(DataCorruption),
            stop=stop_after_attempt(READ_ATTEMPTS),
            wait=wait_random_exponential(multiplier=0.05, max=1),
            reraise=True,
        )
        try:
            with self._errors(name, "read"):  # each try a new blob and a new download
                return cast(bytes, retrying(lambda: self._bucket.blob(name).download_as_bytes()))
        except DataCorruption as exc:
            raise StorageError(f"{self.url}/{name}: read failed its checksum {READ_ATTEMPTS} times") from exc

    def put_file(
        self,
        name: str,
        path: Path,
        *,
        metadata: dict[str, str] | None = None,
        if_generation_match: int | None = None,
    ) -> ObjectInfo:
        return self._upload(
            name,
            metadata,
            lambda blob: blob.upload_from_filename(
                str(path), content_type="application/octet-stream", if_generation_match=if_generation_match
            ),
        )

    def put_bytes(
        self,
        name: str,
        data: bytes,
        *,
        metadata: dict[str, str] | None = None,
        if_generation_match: int | None = None,
    ) -> ObjectInfo:
        content_type = "application/json" if name.endswith(".json") else "application/octet-stream"
        return self._upload(
            name,
            metadata,
            lambda blob: blob.upload_from_string(
                data, content_type=content_type, if_generation_match=if_generation_match
            ),
        )

    def _upload(
        self, name: str, metadata: dict[str, str] | None, send: Callable[[gcs.Blob], object]
    ) -> ObjectInfo:
        """One blob with its metadata, sent by `send`; API errors named after the object."""
        blob = self._bucket.blob(name)
        if metadata:
            blob.metadata = metadata
        with self._errors(name, "upload"):
            send(blob)
        return self._info(blob)

    def rewrite(self, name: str, *, metadata: dict[str, str], if_generation_match: int) -> ObjectInfo:
        """objects.rewrite onto itself with new metadata: a server-side copy (no download), a new
        generation and so a finalize event. GCS refuses a rewrite onto the same object that changes
        nothing; new metadata is a change. The source is the live object: `if_generation_match`
        on the destination (the same object) refuses the copy if it moved on. Overwriting needs
        storage.objects.delete as well as create
        (https://cloud.google.com/storage/docs/access-control/iam-permissions)."""
        source = self._bucket.blob(name)
        target = self._bucket.blob(name)
        target.metadata = metadata
        with self._errors(name, "rewrite"):
            token, _, _ = target.rewrite(source, if_generation_match=if_generation_match)
            while token is not None:  # large objects across locations/classes take several calls
                token, _, _ = target.rewrite(source, token=token, if_generation_match=if_generation_match)
        return self._info(target)

    def list(self, prefix: str = "") -> Iterator[ObjectInfo]:
        with self._errors("", f"list {prefix or '/'}"):
            for blob in self._client.list_blobs(self.bucket_name, prefix=prefix or None):
                yield self._info(blob)

    def delete(self, name: str) -> None:
        with contextlib.suppress(FileNotFoundError), self._errors(name, "delete"):
            self._bucket.blob(name).delete()
