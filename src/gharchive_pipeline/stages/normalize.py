"""Raw object finalized -> curated parquet for that hour (the core of the normalize function).

Idempotent under at-least-once delivery: the curated object records the raw generation it was made
from (metadata `raw_generation`). A delivery for a generation already done, or for one that is no
longer the raw object's current generation, does nothing; a newer generation replaces the hour.
Uploads carry `if_generation_match`, so two concurrent deliveries store one object.

The curated object and the ledger entry name the pipeline version that wrote the hour
(`pipeline_version`): `gharchive renormalize` re-processes the hours of older versions by storing
their raw objects again (stages/ingest.py), so this stage needs no second way in.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .. import layout, locked_temp
from ..cloud_events import StorageObjectEvent
from ..context import Context
from ..hours import Hour
from ..load.loader import LOAD_MODE, OTHER_DAYS
from ..normalize import NormalizeError, NormalizeResult, normalize
from ..outcome import (
    CURATED_GENERATION,
    PIPELINE_VERSION_KEY,
    RENORMALIZE,
    NormalizeOutcome,
    Stage,
    pipeline_version,
)
from ..storage.base import ObjectInfo, PreconditionFailed, Storage, object_url
from . import RAW_GENERATION, StageOutcome, record, screen_object

STAGE = Stage.NORMALIZE


def handle_raw_finalized(obj: StorageObjectEvent, ctx: Context) -> StageOutcome:
    """Normalize the hour a raw object holds, unless that generation is done or superseded.

    Transient failures (storage errors) raise, so the event is redelivered; input the normalizer
    refuses (corrupt, empty, too many rejects) is recorded in the ledger as `failed` and not retried.
    Only objects of the configured raw bucket named exactly as a real hour are acted on; anything
    else is ignored (see `screen_object`), and the bucket opened is the configured one, never a
    bucket an event names.
    """
    screened = screen_object(
        obj,
        STAGE,
        bucket=ctx.settings.raw_bucket,
        hour_of=layout.hour_of_raw_object,
        name_of=layout.raw_object,
        what="raw",
    )
    if isinstance(screened, StageOutcome):
        return screened
    hour = screened
    curated, raw = ctx.curated, ctx.raw
    base: dict[str, Any] = {RAW_GENERATION: obj.generation}

    current = raw.stat(obj.name)
    if current is None or current.generation != obj.generation:
        now = current.generation if current else "deleted"
        return record(
            StageOutcome(STAGE, NormalizeOutcome.SUPERSEDED, hour, obj.uri, {**base, "raw_now": now})
        )
    target = layout.curated_object(hour)
    existing = curated.stat(target)
    done = _raw_generation(existing)
    if done == obj.generation:
        seen = {**base, CURATED_GENERATION: existing.generation if existing else None}
        return record(StageOutcome(STAGE, NormalizeOutcome.ALREADY_DONE, hour, obj.uri, seen))
    if done is not None and done > obj.generation:
        return record(
            StageOutcome(STAGE, NormalizeOutcome.SUPERSEDED, hour, obj.uri, {**base, "curated_from": done})
        )

    with locked_temp.temp_dir(hour.key) as tmp:
        try:
            result = _normalize(
                raw, obj, hour, Path(tmp), object_url(curated.url, layout.rejects_object(hour))
            )
        except NormalizeError as exc:
            error = {**base, "error": str(exc), "error_type": type(exc).__name__}
            error[PIPELINE_VERSION_KEY] = pipeline_version()  # a newer version may succeed
            return record(StageOutcome(STAGE, NormalizeOutcome.FAILED, hour, obj.uri, error), raw)
        try:
            written = _publish(curated, hour, result, obj.generation, existing, current.metadata)
        except PreconditionFailed:
            # Another delivery of this event stored the hour between our stat and our upload.
            return record(
                StageOutcome(STAGE, NormalizeOutcome.ALREADY_DONE, hour, obj.uri, {**base, "race": True})
            )
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
        CURATED_GENERATION: written.generation,
        PIPELINE_VERSION_KEY: written.metadata.get(PIPELINE_VERSION_KEY, ""),
    }
    if result.rejects:
        details["rejects_object"] = object_url(curated.url, layout.rejects_object(hour))
    final = NormalizeOutcome.NORMALIZED_WITH_REJECTS if result.rejects else NormalizeOutcome.NORMALIZED
    return record(StageOutcome(STAGE, final, hour, obj.uri, details), raw)


def _raw_generation(info: ObjectInfo | None) -> int | None:
    if info is None:
        return None
    try:
        return int(info.metadata.get(RAW_GENERATION, ""))
    except ValueError:
        return None


def _normalize(
    raw: Storage, obj: StorageObjectEvent, hour: Hour, tmp: Path, rejects_name: str
) -> NormalizeResult:
    """Stream the raw object into the normalizer (no full local copy of the gzip)."""
    with raw.open_read(obj.name) as src:
        return normalize(
            src,
            tmp / "events.parquet",
            hour=hour,
            rejects_path=tmp / "rejects.ndjson",
            source_name=obj.uri,
            rejects_name=rejects_name,  # the log names where the rejects go, not the temp file
        )


def _publish(
    curated: Storage,
    hour: Hour,
    result: NormalizeResult,
    raw_generation: int,
    existing: ObjectInfo | None,
    raw_metadata: dict[str, str] | None = None,
) -> ObjectInfo:
    """Rejects and day-index markers first, parquet last: the parquet's finalize event triggers the load."""
    meta = {
        RAW_GENERATION: str(raw_generation),
        "hour": hour.key,
        "events": str(result.events),
        "rejects": str(result.rejects),
        "era": result.era,
        PIPELINE_VERSION_KEY: pipeline_version(),
    }
    meta.update(_load_metadata(curated, hour, result, raw_metadata or {}))
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


def _load_metadata(
    curated: Storage, hour: Hour, result: NormalizeResult, raw_metadata: dict[str, str]
) -> dict[str, str]:
    """What the load stage needs to know, written before the parquet: a marker under every other UTC
    day the rows were created on (so that day's rebuild reads this hour), those days on the object,
    and a backfill's `load=deferred` (and a renormalize's mark) copied from the raw object."""
    meta: dict[str, str] = {}
    others = [d for d in result.days if d != hour.start.date()]
    for day in others:
        curated.put_bytes(layout.day_index_object(day, hour), b"", metadata={"hour": hour.key})
    if others:
        meta[OTHER_DAYS] = ",".join(d.isoformat() for d in others)
    for key in (LOAD_MODE, RENORMALIZE):  # the load waits for the day's other re-processed hours
        if raw_metadata.get(key):
            meta[key] = raw_metadata[key]
    return meta
