"""The stage handlers on local buckets: the local load path of spark_trigger and concurrent normalize
deliveries (the same code the functions run)."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pytest

from gharchive_pipeline import layout
from gharchive_pipeline.cloud_events import StorageObjectEvent, bucket_name
from gharchive_pipeline.context import cloud_context
from gharchive_pipeline.hours import Hour
from gharchive_pipeline.ledger import read_ledger
from gharchive_pipeline.settings import Settings
from gharchive_pipeline.stages.normalize import handle_raw_finalized
from gharchive_pipeline.stages.spark_trigger import handle_curated_finalized
from gharchive_pipeline.storage import ObjectInfo, Storage, open_storage
from tests.conftest import DATA
from tests.support.loaders import InProcessLoader

HOUR = Hour.parse("2011-02-15T00")  # the smallest real complete hour


def buckets(tmp_path: Path) -> tuple[Storage, Storage]:
    return open_storage(str(tmp_path / "raw")), open_storage(str(tmp_path / "curated"))


def as_event(storage: Storage, info: ObjectInfo) -> StorageObjectEvent:
    return StorageObjectEvent(bucket_name(storage.url), info.name, info.generation, info.size)


def test_local_load_runs_once_per_curated_generation(tmp_path: Path) -> None:
    raw, curated = buckets(tmp_path)
    settings = Settings(raw_bucket=raw.url, curated_bucket=curated.url)
    calls: list[tuple[Path, Hour]] = []

    def loader(home: Path, hour: Hour) -> Any:
        calls.append((home, hour))
        return None

    info = curated.put_bytes(layout.curated_object(HOUR), b"pq")
    event = as_event(curated, info)
    first = handle_curated_finalized(event, cloud_context(settings, loader=InProcessLoader(loader)))
    again = handle_curated_finalized(event, cloud_context(settings, loader=InProcessLoader(loader)))
    assert (first.outcome, again.outcome) == ("loaded", "already_done")
    assert calls == [(tmp_path.resolve(), HOUR)]

    newer = curated.put_bytes(layout.curated_object(HOUR), b"pq2")
    assert (
        handle_curated_finalized(event, cloud_context(settings, loader=InProcessLoader(loader))).outcome
        == "superseded"
    )
    latest = handle_curated_finalized(
        as_event(curated, newer), cloud_context(settings, loader=InProcessLoader(loader))
    )
    assert latest.outcome == "loaded"
    assert len(calls) == 2


def test_local_load_failure_is_recorded_and_raised_for_retry(tmp_path: Path) -> None:
    raw, curated = buckets(tmp_path)
    settings = Settings(raw_bucket=raw.url, curated_bucket=curated.url)

    def broken(home: Path, hour: Hour) -> Any:
        raise OSError("warehouse disk full")

    info = curated.put_bytes(layout.curated_object(HOUR), b"pq")
    with pytest.raises(OSError, match="disk full"):
        handle_curated_finalized(
            as_event(curated, info), cloud_context(settings, loader=InProcessLoader(broken))
        )
    [entry] = read_ledger(raw, HOUR)
    assert (entry.stage, entry.outcome) == ("load", "failed") and "disk full" in entry.details["error"]


def test_concurrent_duplicate_deliveries_store_one_object(tmp_path: Path) -> None:
    raw, curated = buckets(tmp_path)
    settings = Settings(raw_bucket=raw.url, curated_bucket=curated.url)
    info = raw.put_bytes(layout.raw_object(HOUR), (DATA / HOUR.file_name).read_bytes())
    event = as_event(raw, info)
    outcomes: list[str] = []

    def deliver() -> None:
        outcomes.append(handle_raw_finalized(event, cloud_context(settings)).outcome)

    threads = [threading.Thread(target=deliver) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(outcomes).count("normalized") == 1, outcomes
    assert set(outcomes) <= {"normalized", "already_done"}
    [done] = curated.list("events/")
    assert done.metadata["raw_generation"] == str(info.generation) and done.metadata["events"] == "1639"
    assert [e.outcome for e in read_ledger(raw, HOUR) if e.stage == "normalize"] == ["normalized"]
