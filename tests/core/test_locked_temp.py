"""locked_temp: remove_unlocked removes what killed processes left (unlocked, exactly our name form) and
nothing else. A flock taken through another open file conflicts even within one process, so a
descriptor held here stands in for a live process (no mock: real files, real locks)."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest

from gharchive_pipeline import locked_temp


def _ours(name: str) -> bool:
    return name.startswith("t-")


def test_remove_unlocked_removes_unlocked_files_of_our_form_only(tmp_path: Path) -> None:
    (tmp_path / "t-stale").write_bytes(b"x")
    (tmp_path / "other").write_bytes(b"x")
    (tmp_path / "t-folder").mkdir()  # a folder is not a file cleanup's business
    (tmp_path / "t-link").symlink_to(tmp_path / "other")  # never followed
    keep = tmp_path / "t-input"
    keep.write_bytes(b"x")
    fd, live = locked_temp.create_locked(lambda: tmp_path / f"t-{locked_temp.tag()}")
    try:
        assert locked_temp.remove_unlocked(tmp_path, _ours, keep=keep) == 1
        left = {"other", "t-folder", "t-link", "t-input", live.name}
        assert {p.name for p in tmp_path.iterdir()} == left
    finally:
        os.close(fd)
    assert locked_temp.remove_unlocked(tmp_path, _ours, keep=keep) == 1  # the live one, its owner gone
    assert locked_temp.remove_unlocked(tmp_path, _ours, folders=True) == 1  # t-folder
    assert {p.name for p in tmp_path.iterdir()} == {"other", "t-link", "t-input"}


def test_temp_dir_is_removed_on_exit_and_sweeps_dead_ones(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    dead = tmp_path / "gharchive-2015-01-01T15-abcd_123"
    (dead / "sub").mkdir(parents=True)
    (dead / "sub" / "x").write_bytes(b"x")
    near = ["gharchive-2015-01-01T15-abcd_12", "gharchive-notes-abcd_123", "gharchive-2015-01-01T15-ABCD_123"]
    for name in near:
        (tmp_path / name).mkdir()
    with locked_temp.temp_dir("2015-01-01-15") as inner:
        (inner / "f").write_bytes(b"x")
        with locked_temp.temp_dir("2015-01-01T15") as nested:  # a second live run: both stay
            assert inner.is_dir() and nested.is_dir() and not dead.exists()
        assert inner.is_dir() and not nested.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(near)
