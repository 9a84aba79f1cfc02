"""Curated object finalized -> load that hour (the core of the spark_trigger function).

In the cloud (GHARCHIVE_PROJECT set) this submits a Dataproc Serverless batch whose id is derived
from hour and curated generation, so a redelivered event cannot load twice; it does not wait for
the batch. Locally (a curated bucket that is a directory, no project) it runs the load in process
with local PySpark, skipping a generation the ledger already shows as loaded.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .. import layout
from ..cloud_events import StorageObjectEvent
from ..hours import Hour
from ..ledger import read_ledger
from ..settings import ENV_PROJECT, Settings
from ..storage.base import Storage, open_storage
from . import StageOutcome, dataproc, finish, record_outcome

STAGE = "load"
#: Ledger outcomes meaning "this curated generation is (being) loaded".
LOADED_OUTCOMES = frozenset({"loaded", "submitted", "already_exists"})

LocalLoader = Callable[[Path, Hour], Any]


def handle_curated_finalized(
    obj: StorageObjectEvent,
    settings: Settings,
    *,
    curated: Storage | None = None,
    raw: Storage | None = None,
    dataproc_client: Any | None = None,
    local_loader: LocalLoader | None = None,
) -> StageOutcome:
    """Load the hour a curated object holds; other objects (rejects, foreign files) are ignored."""
    hour = layout.hour_of_curated_object(obj.name)
    if hour is None:
        return finish(StageOutcome(STAGE, "ignored", None, obj.uri, {"reason": "not a curated hour object"}))
    curated = curated or open_storage(obj.storage_url)
    if raw is None and settings.raw_bucket:
        raw = open_storage(settings.raw_bucket)
    base: dict[str, Any] = {"curated_generation": obj.generation}

    current = curated.stat(obj.name)
    if current is None or current.generation != obj.generation:
        now = current.generation if current else "deleted"
        return finish(StageOutcome(STAGE, "superseded", hour, obj.uri, {**base, "curated_now": now}))

    if settings.project or obj.storage_url.startswith("gs://"):
        outcome = _submit_dataproc(obj, hour, settings, dataproc_client)
    else:
        outcome = _load_locally(obj, hour, raw, local_loader)
    if raw is not None and outcome.outcome != "already_done":
        record_outcome(raw, outcome)
    return finish(outcome)


def _submit_dataproc(
    obj: StorageObjectEvent, hour: Hour, settings: Settings, client: Any | None
) -> StageOutcome:
    if not settings.project:
        raise dataproc.DataprocConfigError(
            f"{ENV_PROJECT} is not set: cannot submit the load of hour {hour.key} ({obj.uri})"
        )
    target = dataproc.LoadTarget(hour, obj.storage_url, obj.generation)
    submission = dataproc.submit(target, settings, client=client)
    details = {
        "curated_generation": obj.generation,
        "batch_id": submission.batch_id,
        "operation": submission.operation,
    }
    return StageOutcome(STAGE, submission.outcome, hour, obj.uri, details)


def _load_locally(
    obj: StorageObjectEvent, hour: Hour, raw: Storage | None, loader: LocalLoader | None
) -> StageOutcome:
    base: dict[str, Any] = {"curated_generation": obj.generation}
    if raw is not None and _already_loaded(raw, hour, obj.generation):
        return StageOutcome(STAGE, "already_done", hour, obj.uri, base)
    loader = loader or _default_local_loader()
    if loader is None:
        # The local Spark job is not installed: record that the load was asked for.
        return StageOutcome(STAGE, "recorded", hour, obj.uri, {**base, "reason": "local loader unavailable"})
    # Home layout: HOME/curated is the curated bucket, HOME/warehouse the warehouse.
    home = Path(obj.storage_url).parent
    started = time.perf_counter()
    try:
        result = loader(home, hour)
    except Exception as exc:
        error = f"{type(exc).__name__}: {exc}"
        failed = StageOutcome(STAGE, "failed", hour, obj.uri, {**base, "error": error})
        if raw is not None:
            record_outcome(raw, failed)
        finish(failed)
        raise  # the bus (like Eventarc) retries the delivery
    details = {**base, **_jsonable_fields(result), "seconds": round(time.perf_counter() - started, 3)}
    return StageOutcome(STAGE, "loaded", hour, obj.uri, details)


def _already_loaded(raw: Storage, hour: Hour, generation: int) -> bool:
    return any(
        e.stage == STAGE
        and e.outcome in LOADED_OUTCOMES
        and e.details.get("curated_generation") == generation
        for e in read_ledger(raw, hour)
    )


def _default_local_loader() -> LocalLoader | None:
    try:
        from ..load.local_load import load_hour_local
    except ImportError:
        return None
    return load_hour_local


def _jsonable_fields(result: Any) -> dict[str, Any]:
    """A load result's scalar fields, for the ledger (whatever the loader's result type is)."""
    if not dataclasses.is_dataclass(result) or isinstance(result, type):
        return {}
    return {
        k: v
        for k, v in dataclasses.asdict(result).items()
        if isinstance(v, str | int | float | bool) or v is None
    }
