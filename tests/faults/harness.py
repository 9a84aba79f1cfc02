"""The fault suite's harness: `gharchive` as a real subprocess on a home, killed, raced, and compared.

Runs go through the installed console script exactly as a user (or systemd) would start them, in
their own process group, so a SIGKILL takes the whole tree down at once (like `systemctl kill -s
KILL` or an OOM kill of the service), including worker processes and a local Spark JVM.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.dataset as ds

from gharchive_pipeline.hours import Hour

#: Real hours 00 and 01 (data/gharchive), and 02, which is not there: a recorded `missing` hour.
FIRST, LAST = Hour.parse("2015-01-01T00"), Hour.parse("2015-01-01T02")
#: Columns that legitimately differ between two runs of the same hours.
RUN_SPECIFIC = ("ingested_at",)
#: Names a killed run may leave behind; none may survive the next run.
LEFTOVER_MARKERS = (".staging-", ".trash-", ".tmp-duckdb-")


def gharchive_exe() -> list[str]:
    exe = Path(sys.executable).with_name("gharchive")
    return [str(exe)] if exe.exists() else [shutil.which("gharchive") or "gharchive"]


def run_cmd(home: Path, source: Path | str, first: Hour, last: Hour) -> list[str]:
    return [*gharchive_exe(), "run", first.key, last.key, "--source", str(source), "--home", str(home)]


def start(cmd: list[str], log: Path, env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
    """Start `cmd` in a new session (its own process group); output goes to `log`."""
    with log.open("ab") as out:
        return subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, start_new_session=True, env=env)


def kill_tree(proc: subprocess.Popen[bytes]) -> None:
    """SIGKILL the whole process group of `proc`, then reap it."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=60)
    _wait_group_gone(proc.pid)


def _wait_group_gone(pgid: int, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            return
        try:
            os.killpg(pgid, signal.SIGKILL)
        except ProcessLookupError:
            return
        time.sleep(0.05)


def finish(proc: subprocess.Popen[bytes], timeout: float = 300) -> int:
    try:
        return proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        kill_tree(proc)
        raise


def run(cmd: list[str], log: Path, timeout: float = 300, env: dict[str, str] | None = None) -> int:
    proc = start(cmd, log, env)
    try:
        return finish(proc, timeout)
    finally:
        _wait_group_gone(proc.pid)


def gharchive_json(*args: str) -> Any:
    """A read-only command's JSON output (in-process: the runs under test are the subprocesses)."""
    from click.testing import CliRunner

    from gharchive_pipeline.cli import cli

    result = CliRunner().invoke(cli, list(args))
    assert result.exit_code == 0, f"gharchive {' '.join(args)}: {result.output[-2000:]}"
    if "--json" in args:
        return [json.loads(line) for line in result.stdout.splitlines() if line.strip()]
    return json.loads(result.stdout)


@dataclass(frozen=True)
class Outcome:
    """What a run leaves in a home that must not depend on how it got there."""

    stats_by_hour: Any
    stats_by_type: Any
    status: list[tuple[Any, ...]]
    rows: list[dict[str, Any]]

    def differences(self, other: Outcome) -> list[str]:
        diffs = [
            name
            for name in ("stats_by_hour", "stats_by_type", "status")
            if getattr(self, name) != getattr(other, name)
        ]
        if len(self.rows) != len(other.rows):
            diffs.append(f"rows: {len(self.rows)} != {len(other.rows)}")
        elif self.rows != other.rows:
            diffs.append("rows: same count, different content")
        return diffs


def outcome(home: Path) -> Outcome:
    h = str(home)
    status = [
        (r["hour"], r["raw"], r["events"], r["rejects"], r["normalized"], r["loaded"])
        for r in gharchive_json("status", "--home", h, "--json")
    ]
    return Outcome(
        stats_by_hour=gharchive_json("stats", "--home", h, "--format", "json", "--by", "hour"),
        stats_by_type=gharchive_json("stats", "--home", h, "--format", "json", "--by", "type"),
        status=status,
        rows=warehouse_rows(home),
    )


def warehouse_rows(home: Path) -> list[dict[str, Any]]:
    """Every row of the warehouse's events table (hidden staging/trash dirs are not the table),
    without run-specific columns, in a stable order."""
    root = home / "warehouse" / "events"
    if not root.is_dir():
        return []
    table: pa.Table = ds.dataset(root, format="parquet", partitioning="hive").to_table()
    table = table.drop_columns([c for c in RUN_SPECIFIC if c in table.column_names])
    rows = table.to_pylist()
    rows.sort(key=lambda r: (str(r.get("id")), str(r.get("created_at")), str(r.get("source_hour"))))
    return rows


@dataclass(frozen=True)
class CleanRun:
    """The reference: FIRST..LAST run once, start to end, on a fresh home."""

    home: Path
    outcome: Outcome
    seconds: float


def leftovers(home: Path) -> list[str]:
    """Files and folders a killed run leaves behind (temp files, staging/trash folders)."""
    found: list[str] = []
    for path in home.rglob("*"):
        name = path.name
        rel = str(path.relative_to(home))
        hidden_temp = name.startswith(LEFTOVER_MARKERS) or (name.startswith(".") and name.endswith(".tmp"))
        storage_temp = path.parent.name == "tmp" and path.parent.parent.name == ".gharchive-storage"
        if hidden_temp or (storage_temp and path.is_file()):
            found.append(rel)
    return sorted(found)


def stages_reached(home: Path) -> dict[str, list[str]]:
    """Per hour, the stages its ledger recorded (to say where a kill landed)."""
    reached: dict[str, list[str]] = {}
    for ledger in sorted((home / "raw" / "ledger").rglob("*.json")):
        try:
            doc = json.loads(ledger.read_text())
        except ValueError:
            continue
        reached[doc["hour"]] = [f"{e['stage']}:{e['outcome']}" for e in doc["entries"]]
    return reached


def kill_when(
    cmd: list[str],
    home: Path,
    log: Path,
    condition: Callable[[Path], bool],
    delay: float,
    clean_run: CleanRun,
) -> None:
    """Start `cmd` and SIGKILL its whole tree `delay` s after `condition(home)` first holds (or the
    run ended, or took three clean runs' time and 30 s); prints where the kill landed."""
    proc = start(cmd, log)
    deadline = time.monotonic() + 3 * clean_run.seconds + 30
    while not condition(home) and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.005)
    time.sleep(delay)
    finished_before_kill = proc.poll() is not None
    kill_tree(proc)
    print(f"kill + {delay:.2f}s (finished first: {finished_before_kill}): {stages_reached(home)}")
    print(f"left by the killed run: {leftovers(home)}")


def assert_rerun_equals_clean(cmd: list[str], home: Path, log: Path, clean_run: CleanRun) -> None:
    """Run `cmd` again to its end: exit 0, the home equal to the clean run's, nothing left behind."""
    assert run(cmd, log) == 0, log.read_text()[-3000:]
    assert outcome(home).differences(clean_run.outcome) == []
    assert leftovers(home) == []
