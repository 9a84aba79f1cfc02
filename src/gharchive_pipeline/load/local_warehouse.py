"""The local warehouse: parquet tables partitioned by UTC day, as BigQuery's are.

HOME/warehouse/events/date=2015-01-01/part-0.parquet        the day's events, unique by construction
HOME/warehouse/hourly_stats/date=2015-01-01/part-0.parquet  materialized statistics of that day
HOME/warehouse/daily_stats/date=2015-01-01/part-0.parquet
Each partition directory also holds `_inputs.json`: the curated hour versions it was built from. A
day is up to date when all three partitions name the same, current inputs; the partitions are
swapped in events first, so a run killed between two swaps rebuilds the day next time.

A partition is replaced by two renames (readers see the old day or the new one, never a mix).
Staging and trash directories start with a dot and carry the writer's pid: readers only ever read
`date=*/*.parquet` (never a hidden directory), and the next run removes what a dead writer left.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import uuid
from collections.abc import Mapping
from datetime import date
from pathlib import Path
from typing import Any

from ..hours import Hour
from ..literal_paths import duckdb_files

log = logging.getLogger(__name__)

EVENTS = "events"
HOURLY_STATS = "hourly_stats"
DAILY_STATS = "daily_stats"
#: In swap order: events first, the statistics computed from it after.
TABLES: tuple[str, ...] = (EVENTS, HOURLY_STATS, DAILY_STATS)
MANIFEST = "_inputs.json"
#: A run's processes keep their temp files (downloads, parquet before upload) in WAREHOUSE/.tmp-run-<pid>.
RUN_TMP_PREFIX = ".tmp-run-"
_LEFTOVER_PREFIXES = (".staging-", ".trash-", ".tmp-duckdb-", RUN_TMP_PREFIX)


def table_root(warehouse: Path, table: str) -> Path:
    return warehouse / table


def day_dir(warehouse: Path, table: str, day: date) -> Path:
    return table_root(warehouse, table) / f"date={day.isoformat()}"


def _partition_day(path: Path) -> date | None:
    """The day a `date=YYYY-MM-DD` partition directory holds; None for any other name (a foreign
    folder someone put there is no partition: skipped, never fatal)."""
    if not path.name.startswith("date="):
        return None
    try:
        return date.fromisoformat(path.name.removeprefix("date="))
    except ValueError:
        return None


def _partitions(warehouse: Path, table: str) -> dict[date, Path]:
    root = table_root(warehouse, table)
    if not root.is_dir():
        return {}
    found: dict[date, Path] = {}
    for path in root.iterdir():
        day = _partition_day(path)
        if day is None:
            if not path.name.startswith("."):  # hidden: a writer's staging/trash
                _warn_foreign(path)
            continue
        if path.is_dir():
            found[day] = path
    return dict(sorted(found.items()))


_warned: set[Path] = set()


def _warn_foreign(path: Path) -> None:
    if path not in _warned:  # logged once per process
        _warned.add(path)
        log.warning("skipping %s: not a day partition of the warehouse (expected date=YYYY-MM-DD)", path)


def day_files(warehouse: Path, table: str) -> list[Path]:
    """What readers read: the parquet files of every day partition (never a hidden staging or
    trash directory), as a list of files: hand it to an engine through literal_paths."""
    return [f for d in _partitions(warehouse, table).values() for f in sorted(d.glob("*.parquet"))]


def read_days_sql(warehouse: Path, table: str) -> str | None:
    """`read_parquet([...])` over day_files (literal paths), or None when the table has no file.
    Files are unioned by name: days written before a column was added simply lack it."""
    files = day_files(warehouse, table)
    if not files:
        return None
    return f"read_parquet({duckdb_files(files)}, hive_partitioning = false, union_by_name = true)"


def loaded_days(warehouse: Path, table: str = EVENTS) -> list[date]:
    """Days whose partition holds at least one parquet file."""
    return [d for d, p in _partitions(warehouse, table).items() if any(p.glob("*.parquet"))]


def has_rows(warehouse: Path) -> bool:
    return bool(loaded_days(warehouse, EVENTS))


def read_manifest(warehouse: Path, table: str, day: date) -> dict[str, Any] | None:
    try:
        data = json.loads((day_dir(warehouse, table, day) / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def manifest(day: date, versions: Mapping[Hour, int]) -> dict[str, Any]:
    """The inputs of a day rebuild: which curated hour versions it read."""
    return {"day": day.isoformat(), "hours": {h.key: g for h, g in sorted(versions.items())}}


def is_current(warehouse: Path, day: date, expected: Mapping[str, Any]) -> bool:
    """Every table's partition of `day` was built from exactly these inputs."""
    return all(read_manifest(warehouse, t, day) == expected for t in TABLES)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _owner_pid(name: str) -> int | None:
    """The pid a leftover's name carries (`.staging-<pid>-<id>`), None for names without one."""
    for prefix in _LEFTOVER_PREFIXES:
        if name.startswith(prefix):
            head = name.removeprefix(prefix).split("-", 1)[0]
            return int(head) if head.isdigit() else None
    return None


def clean_leftovers(warehouse: Path) -> list[Path]:
    """Remove the staging, trash and temp directories of writers that are no longer running
    (a killed run leaves them; a live concurrent run's are kept). Returns what was removed."""
    removed: list[Path] = []
    roots = [warehouse, *(table_root(warehouse, t) for t in TABLES)]
    for root in roots:
        if not root.is_dir():
            continue
        for path in root.iterdir():
            if not path.name.startswith(_LEFTOVER_PREFIXES):
                continue
            pid = _owner_pid(path.name)
            if pid is not None and pid != os.getpid() and _pid_alive(pid):
                continue
            if path.is_dir():
                shutil.rmtree(path, ignore_errors=True)
            else:
                path.unlink(missing_ok=True)
            removed.append(path)
    return removed


def _hidden_name(kind: str) -> str:
    return f".{kind}-{os.getpid()}-{uuid.uuid4().hex[:10]}"


def swap_in(new: Path | None, final: Path) -> None:
    """Replace directory `final` by `new` (or remove it when `new` is None).

    Two renames on one filesystem: readers see the old partition or the new one, never a mix.
    """
    trash = final.with_name(_hidden_name(f"trash-{final.name}"))
    if final.exists():
        final.rename(trash)
    if new is not None:
        final.parent.mkdir(parents=True, exist_ok=True)
        new.rename(final)
    shutil.rmtree(trash, ignore_errors=True)


class PartitionWriter:
    """Stages the new partitions of one day (one per table), then swaps them all in."""

    def __init__(self, warehouse: Path, day: date) -> None:
        self.warehouse = warehouse
        self.day = day
        self.staged: dict[str, Path] = {}

    def staging(self, table: str) -> Path:
        """A fresh hidden directory under the table, for its new partition."""
        root = table_root(self.warehouse, table)
        root.mkdir(parents=True, exist_ok=True)
        path = root / _hidden_name("staging")
        path.mkdir()
        self.staged[table] = path
        return path

    def commit(self, inputs: Mapping[str, Any]) -> None:
        """Write the manifest into every staged partition and swap them in, in TABLES order."""
        missing = [t for t in TABLES if t not in self.staged]
        if missing:
            raise RuntimeError(f"day {self.day}: no staged partition for {', '.join(missing)}")
        text = json.dumps(inputs, sort_keys=True)
        for table in TABLES:
            (self.staged[table] / MANIFEST).write_text(text, encoding="utf-8")
        for table in TABLES:
            swap_in(self.staged.pop(table), day_dir(self.warehouse, table, self.day))

    def abort(self) -> None:
        for path in self.staged.values():
            shutil.rmtree(path, ignore_errors=True)
        self.staged.clear()
