"""Temp files and folders that a later run can tell apart from a live run's: each is flock'ed by
its creator for as long as it lives, and the lock dies with the process. So `remove_unlocked` removes exactly
what killed runs (kill -9) left: entries of our exact name form whose lock it can take. One
mechanism for the writer's parquet temp files, the local buckets' temp files and the stages' temp
folders.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import re
import secrets
import shutil
import stat
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

log = logging.getLogger(__name__)

#: the characters of a temp name's random tag (tempfile's alphabet, so old names keep the form)
TAG_ALPHABET = "abcdefghijklmnopqrstuvwxyz0123456789_"
TAG_LENGTH = 8


def tag() -> str:
    return "".join(secrets.choice(TAG_ALPHABET) for _ in range(TAG_LENGTH))


def create_locked(make_path: Callable[[], Path], *, folder: bool = False) -> tuple[int, Path]:
    """Create a new file (or folder) at a fresh `make_path()` and flock it; returns the open
    descriptor holding the lock (close it to release) and the path. A cleanup between create and
    lock may remove it: then another name is tried."""
    while True:
        path = make_path()
        try:
            if folder:
                path.mkdir(0o700)
                fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
            else:
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o666)
        except FileExistsError:
            continue  # that name is taken: another one
        fcntl.flock(fd, fcntl.LOCK_EX)
        try:
            if os.path.samestat(os.fstat(fd), os.stat(path, follow_symlinks=False)):
                return fd, path
        except FileNotFoundError:
            pass
        os.close(fd)


def remove_unlocked(
    folder: Path, is_ours: Callable[[str], bool], *, keep: Path | None = None, folders: bool = False
) -> int:
    """Delete the plain files (or, with `folders`, the folders) of `folder` named `is_ours` that no
    live process holds locked (never `keep`, however it is named; never another user's); returns
    how many. Anything else with such a name is left alone."""
    try:
        names = [entry.name for entry in os.scandir(folder) if is_ours(entry.name)]
    except (FileNotFoundError, NotADirectoryError):
        return 0  # no such folder yet (or a file in its place: writing will say so)
    removed = 0
    for name in names:
        path = folder / name
        if keep is not None and _same(path, keep):
            continue
        try:
            fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC | os.O_NOFOLLOW)
        except OSError:
            continue  # gone meanwhile, a link, or not readable: not ours to judge
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            continue  # a live process's entry
        try:
            mine = os.fstat(fd)
            if mine.st_uid == os.geteuid() and os.path.samestat(mine, os.stat(path, follow_symlinks=False)):
                if stat.S_ISREG(mine.st_mode) and not folders:
                    path.unlink()
                    removed += 1
                elif stat.S_ISDIR(mine.st_mode) and folders:
                    shutil.rmtree(path, ignore_errors=True)
                    removed += 1
        except FileNotFoundError:
            pass
        finally:
            os.close(fd)
    if removed:
        log.info("removed %d temp entr(ies) in %s left by an interrupted run", removed, folder)
    return removed


def _same(a: Path, b: Path) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False


def _is_temp_dir(name: str) -> bool:
    return _TEMP_DIR.fullmatch(name) is not None


#: `gharchive-<hour key or file stem>-<tag>`: the stages' temp folders (see `temp_dir`)
_TEMP_DIR = re.compile(r"gharchive-[0-9]{4}-[0-9]{2}-[0-9]{2}[T-][0-9]{1,2}-[a-z0-9_]{8}")


@contextlib.contextmanager
def temp_dir(hour_name: str) -> Iterator[Path]:
    """A locked folder `gharchive-<hour_name>-<tag>` in the temp dir, removed on exit; the
    folders killed runs left there are removed first (a live run's are locked)."""
    root = Path(tempfile.gettempdir())
    remove_unlocked(root, _is_temp_dir, folders=True)
    fd, path = create_locked(lambda: root / f"gharchive-{hour_name}-{tag()}", folder=True)
    try:
        yield path
    finally:
        try:
            shutil.rmtree(path, ignore_errors=True)
        finally:
            os.close(fd)
