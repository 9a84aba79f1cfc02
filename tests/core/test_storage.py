"""The Storage contract, run against both implementations: a local directory and GCS (fake-gcs-server)."""

from __future__ import annotations

import http.server
import os
import re
import threading
import types
from pathlib import Path

import pytest

from gharchive_pipeline import locked_temp
from gharchive_pipeline.storage import PreconditionFailed, Storage, StorageError, open_storage
from gharchive_pipeline.storage.local import SYSTEM_DIR, LocalStorage
from tests.conftest import DATA
from tests.support.fake_gcs import fake_gcs_fixture, new_gcs_bucket, storage_fixture  # noqa: F401 (fixtures)


# ---- contract ------------------------------------------------------------------------------------------
def test_put_stat_read_roundtrip(storage: Storage, tmp_path: Path) -> None:
    src = DATA / "2011-02-15-0.json.gz"
    info = storage.put_file("hours/2011/02/15/2011-02-15-0.json.gz", src, metadata={"sha256": "abc"})
    assert info.size == src.stat().st_size and info.generation > 0 and info.metadata == {"sha256": "abc"}
    assert storage.stat(info.name) == info
    assert storage.read_bytes(info.name) == src.read_bytes()
    with storage.open_read(info.name) as fh:
        assert fh.read(10) == src.read_bytes()[:10]
        assert fh.read() == src.read_bytes()[10:]
    assert storage.stat("hours/none.json.gz") is None


def test_generations_and_preconditions(storage: Storage) -> None:
    first = storage.put_bytes("ledger/x.json", b"1", if_generation_match=0)
    with pytest.raises(PreconditionFailed, match=r"ledger/x\.json"):
        storage.put_bytes("ledger/x.json", b"2", if_generation_match=0)
    second = storage.put_bytes("ledger/x.json", b"2", if_generation_match=first.generation)
    assert second.generation > first.generation
    with pytest.raises(PreconditionFailed):
        storage.put_bytes("ledger/x.json", b"3", if_generation_match=first.generation)
    assert storage.read_bytes("ledger/x.json") == b"2"
    third = storage.put_bytes("ledger/x.json", b"3")  # unconditional overwrite
    assert third.generation > second.generation and third.metadata == {}


def test_generation_grows_across_delete_and_recreate(storage: Storage) -> None:
    first = storage.put_bytes("a/b", b"1")
    storage.delete("a/b")
    storage.delete("a/b")  # deleting a missing object is fine
    assert storage.stat("a/b") is None
    assert storage.put_bytes("a/b", b"1", if_generation_match=0).generation > first.generation


def test_list_by_prefix_in_name_order(storage: Storage) -> None:
    for name in ["hours/2015/01/02/x", "hours/2015/01/01/y", "ledger/2015/01/01/z.json", "hours2/q"]:
        storage.put_bytes(name, name.encode())
    assert [o.name for o in storage.list("hours/")] == ["hours/2015/01/01/y", "hours/2015/01/02/x"]
    assert [o.name for o in storage.list("hours/2015/01/0")] == ["hours/2015/01/01/y", "hours/2015/01/02/x"]
    assert len(list(storage.list())) == 4
    assert list(storage.list("nothing/")) == []


def test_missing_objects_raise_file_not_found_naming_the_bucket(storage: Storage) -> None:
    with pytest.raises(FileNotFoundError, match="no object nope"):
        storage.read_bytes("nope")
    with pytest.raises(FileNotFoundError, match=re.escape(storage.url)):
        storage.open_read("nope")


def test_concurrent_create_only_one_wins(storage: Storage) -> None:
    results: list[str] = []
    lock = threading.Lock()

    def put(i: int) -> None:
        try:
            storage.put_bytes("hours/race", str(i).encode(), if_generation_match=0)
            outcome = "won"
        except PreconditionFailed:
            outcome = "lost"
        with lock:
            results.append(outcome)

    threads = [threading.Thread(target=put, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results) == ["lost"] * 7 + ["won"]


# ---- local specifics -------------------------------------------------------------------------------------
def test_local_writes_are_atomic_and_hide_their_bookkeeping(tmp_path: Path) -> None:
    bucket = LocalStorage(tmp_path / "b")
    bucket.put_file("hours/f.json.gz", DATA / "2011-02-15-0.json.gz")
    assert (tmp_path / "b" / "hours" / "f.json.gz").read_bytes() == (
        DATA / "2011-02-15-0.json.gz"
    ).read_bytes()
    assert not any((tmp_path / "b" / SYSTEM_DIR / "tmp").iterdir())  # no temp file left behind
    assert [o.name for o in bucket.list()] == ["hours/f.json.gz"]
    with pytest.raises(StorageError, match="bad object name"):
        bucket.put_bytes(f"{SYSTEM_DIR}/meta/x", b"")
    with pytest.raises(StorageError, match="bad object name"):
        bucket.put_bytes("../escape", b"")


def test_local_temp_files_of_killed_writers_are_removed_on_next_use(tmp_path: Path) -> None:
    """A writer killed with SIGKILL leaves `put-*`; a live writer's is flock'ed and stays (a flock
    from another open file conflicts even within one process, so this one stands in for it)."""
    LocalStorage(tmp_path / "b")
    tmp = tmp_path / "b" / SYSTEM_DIR / "tmp"
    (tmp / "put-0123456789").write_bytes(b"stale")  # a killed writer's
    (tmp / "put-a b").write_bytes(b"x")  # not of our name form: left alone
    live_fd, live = locked_temp.create_locked(lambda: tmp / f"put-{locked_temp.tag()}")
    try:
        bucket = LocalStorage(tmp_path / "b")
        assert sorted(p.name for p in tmp.iterdir()) == sorted(["put-a b", live.name])
        bucket.put_bytes("x", b"1")
    finally:
        os.close(live_fd)
    LocalStorage(tmp_path / "b")
    assert [p.name for p in tmp.iterdir()] == ["put-a b"]


def test_local_reader_never_sees_a_generation_that_never_existed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A writer commits data, then its sidecar (generation, metadata). A reader that lists between
    the two once took the file's mtime for its generation: two spark_trigger calls settling the same
    day then asked for two different day batches. The reader now waits for the writer's lock."""
    from gharchive_pipeline.storage import local

    bucket = LocalStorage(tmp_path / "b")
    data_in_place, go_on = threading.Event(), threading.Event()

    def replace(src: str | Path, dst: str | Path) -> None:
        if SYSTEM_DIR in Path(dst).parts:  # the sidecar: hold the writer between its two replaces
            data_in_place.set()
            go_on.wait(10)
        os.replace(src, dst)

    monkeypatch.setattr(local, "os", types.SimpleNamespace(**{**vars(os), "replace": replace}))
    written: list[int] = []
    writer = threading.Thread(target=lambda: written.append(bucket.put_bytes("d/x", b"1").generation))
    writer.start()
    assert data_in_place.wait(10)
    seen: list[list[int]] = []
    reader = threading.Thread(target=lambda: seen.append([i.generation for i in bucket.list("d/")]))
    reader.start()
    reader.join(0.3)
    assert reader.is_alive(), f"the reader did not wait for the writer: {seen}"
    go_on.set()
    writer.join(10)
    reader.join(10)
    assert seen == [written]


def test_local_file_copied_in_by_hand_is_an_object(tmp_path: Path) -> None:
    bucket = LocalStorage(tmp_path / "b")
    (tmp_path / "b" / "hours").mkdir()
    (tmp_path / "b" / "hours" / "manual").write_bytes(b"abc")
    info = bucket.stat("hours/manual")
    assert info is not None and info.size == 3 and info.generation > 0
    assert (
        bucket.put_bytes("hours/manual", b"x", if_generation_match=info.generation).generation
        > info.generation
    )


def test_unusable_local_bucket_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "afile").write_text("x")
    with pytest.raises(StorageError, match="afile"):
        LocalStorage(tmp_path / "afile")
    if os.geteuid() != 0:  # root can write anywhere
        ro = tmp_path / "ro"
        ro.mkdir(mode=0o500)
        with pytest.raises(StorageError, match="ro"):
            LocalStorage(ro / "bucket")


# ---- GCS specifics -------------------------------------------------------------------------------------
@pytest.mark.slow
def test_gcs_streams_reads(fake_gcs: str) -> None:
    from google.cloud.storage.fileio import BlobReader

    bucket = new_gcs_bucket()
    bucket.put_file("big", DATA / "2015-01-01-0.json.gz")
    reader = bucket.open_read("big")
    assert isinstance(reader, BlobReader)  # chunked ranged reads, not one download into memory
    assert reader.read(2) == b"\x1f\x8b"


@pytest.mark.slow
def test_gcs_missing_bucket_is_named(fake_gcs: str) -> None:
    from gharchive_pipeline.storage.gcs import GCSStorage

    bucket = GCSStorage("gs://no-such-bucket-here")
    with pytest.raises(StorageError, match="gs://no-such-bucket-here"):
        bucket.put_bytes("x", b"1")
    with pytest.raises(StorageError, match="gs://no-such-bucket-here"):
        list(bucket.list())
    with pytest.raises(StorageError, match="bad bucket URL"):
        GCSStorage("gs://a/b")


@pytest.mark.slow
def test_open_storage_dispatches_on_scheme(fake_gcs: str, tmp_path: Path) -> None:
    from gharchive_pipeline.storage.gcs import GCSStorage

    assert isinstance(open_storage("gs://whatever"), GCSStorage)
    assert isinstance(open_storage(str(tmp_path / "x")), LocalStorage)


def test_gcs_without_credentials_is_a_clear_storage_error(monkeypatch, tmp_path):
    """No emulator and no credentials: one StorageError saying what to do, not an auth traceback."""
    from gharchive_pipeline.storage.base import StorageError, open_storage

    for var in ("STORAGE_EMULATOR_HOST", "GOOGLE_APPLICATION_CREDENTIALS", "GOOGLE_CLOUD_PROJECT"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("CLOUDSDK_CONFIG", str(tmp_path))  # no gcloud application-default login here
    monkeypatch.setenv("NO_GCE_CHECK", "True")  # do not probe the metadata server
    with pytest.raises(StorageError, match="no Google Cloud credentials"):
        open_storage("gs://some-bucket")


class _BadHashOnce(http.server.BaseHTTPRequestHandler):
    """Serves every object as BODY; the first `bad` downloads carry another body's CRC32C. (The
    client also asks for the bucket's metadata in the background; that GET is not counted.)"""

    bad = 1
    served = 0

    def do_GET(self) -> None:
        cls = type(self)
        cls.served += self.path.startswith("/download/")
        crc = _crc32c(b"another generation" if cls.served <= cls.bad else BODY)
        self.send_response(200)
        self.send_header("Content-Length", str(len(BODY)))
        self.send_header("X-Goog-Hash", f"crc32c={crc}")
        self.end_headers()
        self.wfile.write(BODY)

    def log_message(self, *_args: object) -> None:
        pass


BODY = b'{"hour":"2016-02-29T23","entries":[]}'


def _crc32c(data: bytes) -> str:
    import base64

    import google_crc32c

    return base64.b64encode(google_crc32c.Checksum(data).digest()).decode()


@pytest.mark.parametrize("bad", [1, 3])
def test_gcs_read_that_fails_its_checksum_is_read_again(bad: int, monkeypatch: pytest.MonkeyPatch) -> None:
    """The real client against a server whose hash header does not match the body it sends (what
    fake-gcs-server did once under concurrent ledger appends): read again, then a StorageError.
    Google's rule, https://cloud.google.com/storage/docs/data-validation ("Client-side
    validation"): discard data with an incorrect hash and retry, bounded (never an endless loop):
    exactly READ_ATTEMPTS downloads are made."""
    from gharchive_pipeline.storage import gcs

    handler = type("Handler", (_BadHashOnce,), {"bad": bad, "served": 0})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    monkeypatch.setenv("STORAGE_EMULATOR_HOST", f"http://127.0.0.1:{server.server_port}")
    try:
        bucket = gcs.GCSStorage("gs://b")
        if bad < gcs.READ_ATTEMPTS:
            assert bucket.read_bytes("ledger/x.json") == BODY
        else:
            with pytest.raises(StorageError, match=r"gs://b/ledger/x\.json: read failed its checksum"):
                bucket.read_bytes("ledger/x.json")
        assert handler.served == bad + (bad < gcs.READ_ATTEMPTS)
    finally:
        server.shutdown()
