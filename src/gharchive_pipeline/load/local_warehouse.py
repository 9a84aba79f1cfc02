"""The local sink: a parquet dataset with one directory per source hour.

HOME/warehouse/events/2015-01-01T15/part-*.parquet holds exactly the rows of that source hour, so
replacing an hour is swapping one directory; DuckDB reads the whole dataset with one glob.
"""

from __future__ import annotations

import shutil
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from ..hours import Hour
from .spark_job import HOUR_COL

if TYPE_CHECKING:
    from pyspark.sql import DataFrame

EVENTS_DIR = "events"


def events_root(warehouse: Path) -> Path:
    return warehouse / EVENTS_DIR


def hour_dir(warehouse: Path, hour: Hour) -> Path:
    return events_root(warehouse) / hour.key


def parquet_glob(warehouse: Path) -> str:
    """What DuckDB reads: every parquet file of every loaded hour."""
    return str(events_root(warehouse) / "*" / "*.parquet")


def loaded_hours(warehouse: Path) -> list[Hour]:
    root = events_root(warehouse)
    if not root.is_dir():
        return []
    return sorted(Hour.parse(p.name) for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))


def swap_in(new: Path | None, final: Path) -> None:
    """Replace directory `final` by `new` (or remove it when `new` is None: the hour has no rows).

    Two renames on one filesystem: readers see the old hour or the new one, never a mix.
    """
    trash = final.with_name(f".trash-{final.name}-{uuid.uuid4().hex[:8]}")
    if final.exists():
        final.rename(trash)
    if new is not None:
        final.parent.mkdir(parents=True, exist_ok=True)
        new.rename(final)
    shutil.rmtree(trash, ignore_errors=True)


class LocalWarehouseSink:
    name = "local"

    def __init__(self, warehouse: Path) -> None:
        self.warehouse = warehouse
        self.target = str(events_root(warehouse))

    def replace_hours(self, unique: DataFrame, hours: Sequence[Hour]) -> None:
        root = events_root(self.warehouse)
        root.mkdir(parents=True, exist_ok=True)
        staging = root / f".staging-{uuid.uuid4().hex[:12]}"
        try:
            unique.write.mode("overwrite").partitionBy(HOUR_COL).parquet(str(staging))
            for hour in hours:
                written = staging / f"{HOUR_COL}={hour.key}"
                swap_in(written if written.is_dir() else None, hour_dir(self.warehouse, hour))
        finally:
            shutil.rmtree(staging, ignore_errors=True)
