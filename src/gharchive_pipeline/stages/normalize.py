"""Raw object finalized -> curated parquet for that hour (the core of the normalize function).

Idempotent under at-least-once delivery: the curated object records the raw generation it was made
from (metadata `raw_generation`). A delivery for a generation already done, or for one that is no
longer the raw object's current generation, does nothing; a newer generation replaces the hour.
Uploads carry `if_generation_match`, so two concurrent deliveries store one object.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from .. import layout
from ..cloud_events import StorageObjectEvent
from ..hours import Hour
from ..normalize import NormalizeError, NormalizeResult, normalize
from ..settings import ENV_CURATED_BUCKET, Settings
from ..storage.base import ObjectInfo, PreconditionFailed, Storage, object_url, open_storage
from . import RAW_GENERATION, StageOutcome, finish, record_outcome

STAGE = "normalize"


def handle_raw_finalized(
    obj: StorageObjectEvent,
    settings: Settings,
    *,
    raw: Storage | None = None,
    curated: Storage | None = None,
) -> StageOutcome:
    """Normalize the hour a raw object holds, unless that generation is done or superseded.

    Transient failures (storage errors) raise, so the event is redelivered; input the normalizer
    refuses (corrupt, empty, too many rejects) is recorded in the ledger as `failed` and not retried.
    """
    hour = layout.hour_of_raw_object(obj.name)
    if hour is None:
        reason = {"reason": "not a GH Archive hour object"}
        return finish(StageOutcome(STAGE, "ignored", None, obj.uri, reason))
    if curated is None:
        if not settings.curated_bucket:
            raise RuntimeError(f"{ENV_CURATED_BUCKET} is not set: nowhere to write hour {hour.key}")
        curated = open_storage(settings.curated_bucket)
    raw = raw or open_storage(obj.storage_url)
    base: dict[str, Any] = {"raw_generation": obj.generation}

    current = raw.stat(obj.name)
    if current is None or current.generation != obj.generation:
        now = current.generation if current else "deleted"
        return finish(StageOutcome(STAGE, "superseded", hour, obj.uri, {**base, "raw_now": now}))
    target = layout.curated_object(hour)
    existing = curated.stat(target)
    done = _raw_generation(existing)
    if done == obj.generation:
        seen = {**base, "curated_generation": existing.generation if existing else None}
        return finish(StageOutcome(STAGE, "already_done", hour, obj.uri, seen))
    if done is not None and done > obj.generation:
        return finish(StageOutcome(STAGE, "superseded", hour, obj.uri, {**base, "curated_from": done}))

    with tempfile.TemporaryDirectory(prefix=f"gharchive-{hour.key}-") as tmp:
        try:
            result = _normalize(raw, obj, hour, Path(tmp))
        except NormalizeError as exc:
            failed = StageOutcome(
                STAGE, "failed", hour, obj.uri, {**base, "error": str(exc), "error_type": type(exc).__name__}
            )
            record_outcome(raw, failed)
            return finish(failed)
        try:
            written = _publish(curated, hour, result, obj.generation, existing)
        except PreconditionFailed:
            # Another delivery of this event stored the hour between our stat and our upload.
            return finish(StageOutcome(STAGE, "already_done", hour, obj.uri, {**base, "race": True}))
    details: dict[str, Any] = {
        **base,
        "events": result.events,
        "rejects": result.rejects,
        "era": result.era,
        "eras": dict(result.eras),
        "lines": result.lines,
        "native_events": result.native_events,
        "salvaged": result.salvaged,
        "seconds": round(result.seconds, 3),
        "curated": object_url(curated.url, target),
        "curated_generation": written.generation,
    }
    if result.rejects:
        details["rejects_object"] = object_url(curated.url, layout.rejects_object(hour))
    outcome = StageOutcome(STAGE, "rejected" if result.rejects else "normalized", hour, obj.uri, details)
    record_outcome(raw, outcome)
    return finish(outcome)


def _raw_generation(info: ObjectInfo | None) -> int | None:
    if info is None:
        return None
    try:
        return int(info.metadata.get(RAW_GENERATION, ""))
    except ValueError:
        return None


def _normalize(raw: Storage, obj: StorageObjectEvent, hour: Hour, tmp: Path) -> NormalizeResult:
    """Stream the raw object into the normalizer (no full local copy of the gzip)."""
    with raw.open_read(obj.name) as src:
        return normalize(
            src,
            tmp / "events.parquet",
            hour=hour,
            rejects_path=tmp / "rejects.ndjson",
            source_name=obj.uri,
        )


def _publish(
    curated: Storage, hour: Hour, result: NormalizeResult, raw_generation: int, existing: ObjectInfo | None
) -> ObjectInfo:
    """Rejects first, parquet last: the parquet's finalize event triggers the load."""
    meta = {
        RAW_GENERATION: str(raw_generation),
        "hour": hour.key,
        "events": str(result.events),
        "rejects": str(result.rejects),
        "era": result.era,
    }
    rejects_name = layout.rejects_object(hour)
    if result.rejects and result.rejects_path is not None and result.rejects_path.exists():
        curated.put_file(rejects_name, result.rejects_path, metadata=meta)
    elif curated.stat(rejects_name) is not None:
        curated.delete(rejects_name)  # left by an older generation of the hour
    return curated.put_file(
        layout.curated_object(hour),
        result.output,
        metadata=meta,
        if_generation_match=existing.generation if existing else 0,
    )
