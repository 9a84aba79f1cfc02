"""A local directory as a bucket (the embedded default), with GCS-like generations and metadata.

Objects are plain files under the root, so `ls` and DuckDB can read them directly. Each object's
generation and custom metadata live in a JSON sidecar under `.gharchive-storage/meta/`. Writers
serialise on a lock file (`fcntl.flock`), write the data to a temp file first and `os.replace` it,
then the sidecar: a reader that stats and then reads can only see data at least as new as the
generation it stat'ed, so read-modify-write with `if_generation_match` (the ledger) is safe. A reader
that finds a new object's data before its sidecar waits for the writer's lock, so it never sees a
generation that never existed (two concurrent day settlements would ask for different batches);
only a file put there by hand (or left by a writer killed between the two) goes by its mtime.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import re
import shutil
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import BinaryIO

from .. import locked_temp
from .base import ObjectInfo, PreconditionFailed, StorageError

#: Reserved directory for sidecars, temp files and the lock; never listed as objects.
SYSTEM_DIR = ".gharchive-storage"
#: temp files under SYSTEM_DIR/tmp: `put-<tag>` (the folder is reserved, so any such tag is ours)
_TMP_PREFIX = "put-"
_TMP_NAME = re.compile(r"put-[a-z0-9_]+")


class LocalStorage:
    """A directory that behaves like a bucket (see module docstring)."""

    def __init__(self, root: Path | str) -> None:
        self.root = Path(root)
        self.url = str(self.root)
        try:
            (self.root / SYSTEM_DIR / "meta").mkdir(parents=True, exist_ok=True)
            (self.root / SYSTEM_DIR / "tmp").mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StorageError(f"local bucket {self.url} is not usable: {exc}") from exc
        if not os.access(self.root, os.W_OK):
            raise StorageError(f"local bucket {self.url} is not writable")
        # The temp files of writers killed outright (kill -9); a live writer's are locked.
        locked_temp.remove_unlocked(
            self.root / SYSTEM_DIR / "tmp", lambda n: _TMP_NAME.fullmatch(n) is not None
        )

    # ---- naming ---------------------------------------------------------------------------------
    def _path(self, name: str) -> Path:
        parts = name.split("/")
        if (
            not name
            or name.startswith("/")
            or any(p in ("", ".", "..") for p in parts)
            or parts[0] == SYSTEM_DIR
        ):
            raise StorageError(f"bad object name {name!r} for local bucket {self.url}")
        return self.root.joinpath(*parts)

    def _meta_path(self, name: str) -> Path:
        return self.root / SYSTEM_DIR / "meta" / (name + ".json")

    @contextlib.contextmanager
    def _tmp_file(self) -> Iterator[Path]:
        """A temp file locked while this writer lives (so a cleanup never takes it), gone on exit."""
        folder = self.root / SYSTEM_DIR / "tmp"
        fd, tmp = locked_temp.create_locked(lambda: folder / f"{_TMP_PREFIX}{locked_temp.tag()}")
        try:
            yield tmp
        finally:
            try:
                tmp.unlink(missing_ok=True)
            finally:
                os.close(fd)

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        with open(self.root / SYSTEM_DIR / "lock", "a+b") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    # ---- reading --------------------------------------------------------------------------------
    def _read_meta(self, name: str) -> tuple[int, dict[str, str]] | None:
        try:
            doc = json.loads(self._meta_path(name).read_text())
            return int(doc["generation"]), dict(doc.get("metadata") or {})
        except (OSError, ValueError, KeyError):
            return None

    def stat(self, name: str) -> ObjectInfo | None:
        return self._stat(name, settle=True)

    def _stat(self, name: str, *, settle: bool) -> ObjectInfo | None:
        """`settle`: data without a sidecar may be a writer's between its two replaces (see
        _commit), so look again under the writers' lock (callers holding it pass False)."""
        path = self._path(name)
        try:
            size = path.stat().st_size
        except FileNotFoundError:
            return None
        if not path.is_file():
            return None
        meta = self._read_meta(name)
        if meta is None and settle:
            with self._locked():
                return self._stat(name, settle=False)
        # A file put there by hand (e.g. copied in): its mtime stands in for a generation.
        generation, metadata = meta if meta is not None else (path.stat().st_mtime_ns // 1000, {})
        return ObjectInfo(name=name, size=size, generation=generation, metadata=metadata)

    def open_read(self, name: str) -> BinaryIO:
        try:
            return open(self._path(name), "rb")
        except FileNotFoundError:
            raise FileNotFoundError(f"no object {name} in local bucket {self.url}") from None

    def read_bytes(self, name: str) -> bytes:
        with self.open_read(name) as fh:
            return fh.read()

    def list(self, prefix: str = "") -> Iterator[ObjectInfo]:
        """Objects whose name starts with `prefix`, in name order."""
        names: list[str] = []
        for dirpath, dirnames, filenames in os.walk(self.root):
            rel_dir = os.path.relpath(dirpath, self.root)
            if rel_dir == ".":
                dirnames[:] = [d for d in dirnames if d != SYSTEM_DIR]
                rel_dir = ""
            else:
                rel_dir = rel_dir.replace(os.sep, "/") + "/"
            # prune directories that cannot contain a match
            dirnames[:] = [
                d
                for d in dirnames
                if (rel_dir + d + "/").startswith(prefix) or prefix.startswith(rel_dir + d + "/")
            ]
            names.extend(rel_dir + f for f in filenames if (rel_dir + f).startswith(prefix))
        for name in sorted(names):
            info = self.stat(name)
            if info is not None:
                yield info

    # ---- writing --------------------------------------------------------------------------------
    def put_file(
        self,
        name: str,
        path: Path,
        *,
        metadata: dict[str, str] | None = None,
        if_generation_match: int | None = None,
    ) -> ObjectInfo:
        return self._staged(name, lambda tmp: shutil.copyfile(path, tmp), metadata, if_generation_match)

    def put_bytes(
        self,
        name: str,
        data: bytes,
        *,
        metadata: dict[str, str] | None = None,
        if_generation_match: int | None = None,
    ) -> ObjectInfo:
        return self._staged(name, lambda tmp: tmp.write_bytes(data), metadata, if_generation_match)

    def rewrite(self, name: str, *, metadata: dict[str, str], if_generation_match: int) -> ObjectInfo:
        """A copy of the object's own bytes committed under its name (new generation, new metadata)."""
        source = self._path(name)

        def copy(tmp: Path) -> None:
            try:
                shutil.copyfile(source, tmp)
            except FileNotFoundError:
                raise PreconditionFailed(
                    f"{self.url}/{name}: gone (expected {if_generation_match})"
                ) from None

        return self._staged(name, copy, metadata, if_generation_match)

    def _staged(
        self,
        name: str,
        write: Callable[[Path], object],
        metadata: dict[str, str] | None,
        if_generation_match: int | None,
    ) -> ObjectInfo:
        """Write the data to a temp file with `write`, then commit it under `name` (atomic)."""
        with self._tmp_file() as tmp:
            write(tmp)
            return self._commit(name, tmp, metadata, if_generation_match)

    def _commit(
        self, name: str, tmp: Path, metadata: dict[str, str] | None, if_generation_match: int | None
    ) -> ObjectInfo:
        target = self._path(name)
        with self._locked():
            current = self._stat(name, settle=False)
            if if_generation_match is not None:
                have = current.generation if current else 0
                if have != if_generation_match:
                    raise PreconditionFailed(
                        f"{self.url}/{name}: generation is {have}, expected {if_generation_match}"
                    )
            # Generations only grow, even across delete + recreate (like GCS's timestamps).
            generation = max(time.time_ns() // 1000, (current.generation + 1) if current else 0)
            meta = dict(metadata or {})
            size = tmp.stat().st_size
            try:
                target.parent.mkdir(parents=True, exist_ok=True)
                os.replace(tmp, target)  # data first, sidecar second: see module docstring
                meta_path = self._meta_path(name)
                meta_path.parent.mkdir(parents=True, exist_ok=True)
                with self._tmp_file() as meta_tmp:
                    meta_tmp.write_text(json.dumps({"generation": generation, "metadata": meta}))
                    os.replace(meta_tmp, meta_path)
            except OSError as exc:
                raise StorageError(f"cannot write {name} to local bucket {self.url}: {exc}") from exc
        return ObjectInfo(name=name, size=size, generation=generation, metadata=meta)

    def delete(self, name: str) -> None:
        with self._locked():
            self._path(name).unlink(missing_ok=True)
            self._meta_path(name).unlink(missing_ok=True)
