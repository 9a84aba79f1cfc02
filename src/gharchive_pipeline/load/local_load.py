"""The local chain's "Dataproc": run the load job with in-process PySpark into HOME/warehouse.

One SparkSession per process (local[2], small shuffle, quiet logs): starting Spark costs seconds,
loading an hour costs less.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from ..hours import Hour
from ..ledger import LedgerEntry, append_entry
from ..stages.outcome import LoadOutcome, Stage
from ..storage import Storage
from .job import LoadError, LoadResult, run_load
from .local_warehouse import LocalWarehouseSink
from .spark_job import build_session

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

log = logging.getLogger(__name__)
_lock = threading.Lock()
#: One load at a time per process: local[2] gains nothing from concurrent jobs, and two loads of the
#: same hour must not interleave their directory swaps.
_load_lock = threading.Lock()
_session: SparkSession | None = None


def local_spark() -> SparkSession:
    """The process-wide local SparkSession, started on first use."""
    global _session
    with _lock:
        if _session is None:
            _session = build_session("gharchive-local-load", master="local[2]")
        return _session


def warehouse_dir(home: Path) -> Path:
    return home / "warehouse"


def load_hours_local(home: Path, hours: Sequence[Hour], *, raw: Storage | None = None) -> LoadResult:
    """Load curated `hours` from HOME/curated into HOME/warehouse.

    Given the raw storage, each hour gets a ledger entry (stage "load": "loaded" with rows and
    seconds, "missing", or "failed" before re-raising). Without it the caller records the outcome
    (the local spark_trigger stage does, from the returned LoadResult).
    """
    try:
        with _load_lock:
            result = run_load(
                local_spark(), str(home / "curated"), hours, LocalWarehouseSink(warehouse_dir(home))
            )
    except Exception as exc:
        for hour in hours:
            _record(raw, hour, "failed", {"error": f"{type(exc).__name__}: {exc}"})
        raise
    per_hour = result.seconds / max(len(result.loaded), 1)
    for h in result.loaded:
        _record(
            raw,
            h.hour,
            "loaded",
            {
                "rows": h.rows,
                "duplicates": h.duplicates,
                "seconds": round(per_hour, 3),
                "sink": result.sink,
                "target": result.target,
            },
        )
    for hour in result.missing:
        _record(raw, hour, "missing", {"error": "no curated file to load"})
    return result


def load_hour_local(home: Path, hour: Hour, *, raw: Storage | None = None) -> LoadResult:
    """Load one hour (what the local spark_trigger "submits"); a missing curated file is an error."""
    result = load_hours_local(home, [hour], raw=raw)
    if result.missing:
        raise LoadError(f"hour {hour.key}: no curated parquet under {home / 'curated'}; run normalize first")
    return result


def _record(storage: Storage | None, hour: Hour, outcome: str, details: dict[str, object]) -> None:
    log.info("hour %s: load %s %s", hour.key, outcome, details)
    if storage is None:
        return
    entry = LedgerEntry(Stage.LOAD, LoadOutcome(outcome), datetime.now(UTC), dict(details))
    append_entry(storage, hour, entry)
