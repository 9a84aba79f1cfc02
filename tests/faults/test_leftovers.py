"""What a killed run leaves (warehouse staging and trash folders, temp files of the buckets) is
removed by the next run, and never counted: a staging folder holding a full copy of the day's rows
must not double them."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from tests.conftest import DATA

from .harness import FIRST, LAST, CleanRun, gharchive_exe, kill_tree, leftovers, outcome, run, run_cmd, start


def _dead_pid() -> int:
    probe = subprocess.Popen(["true"])
    probe.wait()
    return probe.pid


def test_leftovers_of_a_killed_run_are_cleaned_and_never_counted(clean_run: CleanRun, tmp_path: Path) -> None:
    home = tmp_path / "home"
    shutil.copytree(clean_run.home, home)
    pid = _dead_pid()
    events = home / "warehouse" / "events"
    part = next(p for p in events.rglob("*.parquet") if not any(s.startswith(".") for s in p.parts))
    planted = [
        events / f".staging-{pid}-0123456789" / part.parent.name / part.name,  # a full copy of rows
        events / f".trash-{pid}-0123456789" / part.name,
        *(home / b / ".gharchive-storage" / "tmp" / "put-0123456789" for b in ("raw", "curated")),
    ]
    for path in planted:
        path.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(part, path)
    assert len(leftovers(home)) >= len(planted)

    rc = run(run_cmd(home, DATA, FIRST, LAST), tmp_path / "run.log")
    assert rc == 0, (tmp_path / "run.log").read_text()[-3000:]
    assert outcome(home).differences(clean_run.outcome) == []
    assert leftovers(home) == []


def test_temp_folders_of_a_killed_run_are_cleaned(clean_run: CleanRun, tmp_path: Path) -> None:
    home, log, temp = tmp_path / "home", tmp_path / "run.log", tmp_path / "tmp"
    temp.mkdir()
    env = {**os.environ, "TMPDIR": str(temp)}
    proc = start(run_cmd(home, DATA, FIRST, LAST), log, env)
    deadline = time.monotonic() + 3 * clean_run.seconds + 30
    # The stages' temp folders (stages/*: locked_temp.temp_dir) are in the run's temp dir: $TMPDIR,
    # or the local runner's per-process folder in the warehouse; kill while one holds a parquet temp.
    writing = ("gharchive-*/.*.tmp", "warehouse/.tmp-run-*/gharchive-*/.*.tmp")
    while proc.poll() is None and time.monotonic() < deadline:
        if any(any(root.glob(p)) for root in (temp, home) for p in writing):
            break
        time.sleep(0.005)
    kill_tree(proc)
    assert run(run_cmd(home, DATA, FIRST, LAST), log, env=env) == 0, log.read_text()[-3000:]
    assert outcome(home).differences(clean_run.outcome) == []
    assert leftovers(home) == []
    assert sorted(p.name for p in temp.iterdir()) == []


@pytest.mark.parametrize(
    "command",
    [
        ["stats", "--by", "type"],
        ["report", "-o", "{tmp}/report.html"],
        ["load", "2015-01-01", "--unsettled"],
    ],
    ids=["stats", "report", "load"],
)
def test_every_command_using_the_warehouse_cleans_a_killed_writers_leftovers(
    clean_run: CleanRun, tmp_path: Path, command: list[str]
) -> None:
    """A killed `gharchive load` leaves `.staging-*` (a full copy of a day's rows) and `.trash-*`:
    the next command that uses the warehouse removes them, not only the next `run`; a live
    writer's (its pid runs) are kept."""
    home = tmp_path / "home"
    shutil.copytree(clean_run.home, home)
    events = home / "warehouse" / "events"
    part = next(p for p in events.rglob("*.parquet") if not any(s.startswith(".") for s in p.parts))
    dead, live = _dead_pid(), os.getpid()
    planted = [events / f".staging-{dead}-0123456789" / part.parent.name / part.name]
    planted.append(events / f".trash-{dead}-0123456789" / part.name)
    kept = events / f".staging-{live}-9876543210" / part.parent.name / part.name
    for path in [*planted, kept]:
        path.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(part, path)

    args = [a.replace("{tmp}", str(tmp_path)) for a in command]
    assert run([*gharchive_exe(), *args, "--home", str(home)], tmp_path / "cmd.log") == 0, (
        tmp_path / "cmd.log"
    ).read_text()[-3000:]
    assert [p for p in planted if p.exists()] == []
    assert kept.exists()
