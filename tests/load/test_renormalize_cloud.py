"""`gharchive renormalize --topic` on the stand-ins: March 2015 backfilled (real hours placed as in
the coalesced-loads month test) by an older pipeline version, then re-processed: every present hour
ends at the new version and every day is loaded by exactly one new day batch.

The chain is the real stage handlers (ingest, normalize, spark_trigger) on local directory buckets,
submitting to the Dataproc REST stand-in with the real client; Pub/Sub is the test delivering each
message body to the ingest handler and each finalize event to the next stage, in order (see
tests/load/test_coalesced_loads.py, whose fixtures and job stand-in `run_batches` this reuses). The
older version is the package's version patched during the backfill (the stages run in this
process, so the patch reaches them, as an older release would have written its objects).
"""

from __future__ import annotations

import gzip
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

import gharchive_pipeline
import gharchive_pipeline.normalize.hour as normalizer
from gharchive_pipeline import PIPELINE_VERSION, layout
from gharchive_pipeline.cli.renormalize_cmd import hours_to_send
from gharchive_pipeline.hours import Hour
from gharchive_pipeline.ledger import read_ledger
from gharchive_pipeline.load.loader import DEFERRED, LOAD_MODE
from gharchive_pipeline.local.status import collect_status
from gharchive_pipeline.outcome import IngestOutcome, LoadOutcome, Stage
from gharchive_pipeline.publish import hour_message
from gharchive_pipeline.stages.ingest import IngestRequest, MalformedMessage, handle_message, parse_message
from gharchive_pipeline.stages.normalize import handle_raw_finalized
from gharchive_pipeline.stages.sweep import sweep
from tests.load.test_coalesced_loads import (  # noqa: F401 - fixtures
    MARCH,
    SMALL,
    Cloud,
    Messages,
    as_event,
    batch_days,
    cloud,
    deliver,
    run_batches,
    served_hours,
    server,
    successful_loads,
    trigger,
)

OLDER = "0.0.1"


def backfill_march(env: Cloud) -> None:
    """The month through the chain (one batch per day, run), as in the coalesced-loads test."""
    source = Path(env.settings.source)
    source.mkdir()
    served_bytes = gzip.compress(SMALL.read_bytes())
    for hour in served_hours():
        (source / hour.file_name).write_bytes(served_bytes)
    publisher = Messages()
    month = {"start": "2015-03-01T00", "end": "2015-03-31T23", LOAD_MODE: DEFERRED}
    handle_message(json.dumps(month).encode(), env.context(publisher=publisher))
    for body in publisher.bodies:
        deliver(env, body)
    sweep(env.raw, env.curated, MARCH[0], MARCH[-1], env.loader, states=env.loader.state)
    run_batches(env)


def renormalize(env: Cloud, body: bytes) -> IngestOutcome:
    """One renormalize message: ingest, then (if it stored the hour again) normalize and the trigger."""
    [ingested] = handle_message(body, env.context()).outcomes
    if ingested.outcome is IngestOutcome.REWRITTEN:
        raw_info = env.raw.stat(layout.raw_object(ingested.hour))
        assert raw_info is not None and raw_info.generation == ingested.generation
        handle_raw_finalized(as_event(env.raw, raw_info), env.context())
        info = env.curated.stat(layout.curated_object(ingested.hour))
        assert info is not None
        trigger(env, info)
    return ingested.outcome


@pytest.mark.slow
def test_month_renormalized_ends_at_the_new_version_with_one_batch_per_day(
    cloud: Cloud,  # noqa: F811 - the fixture
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert OLDER != PIPELINE_VERSION
    with monkeypatch.context() as older:
        older.setattr(gharchive_pipeline, "PIPELINE_VERSION", OLDER)
        older.setattr(normalizer, "PIPELINE_VERSION", OLDER)
        backfill_march(cloud)
    served = served_hours()
    first_batches = set(cloud.server.batch_ids())
    assert len(first_batches) == 31
    rows = {r.hour: r for r in collect_status(cloud.raw, cloud.curated, served)}
    assert {r.version for r in rows.values()} == {OLDER}

    # the command's choice: with the curated bucket, exactly the hours curated by another version
    hours = hours_to_send(MARCH, cloud.curated)
    assert hours == served
    bodies = [hour_message(h, DEFERRED, renormalize=True) for h in hours]
    assert [renormalize(cloud, b) for b in bodies] == [IngestOutcome.REWRITTEN] * len(served)

    # a re-processed hour waits for the older hours of its day: days 1-5 (two hours each) were
    # submitted by their second hour only, so one new batch per day
    new = [b for b in cloud.server.batch_ids() if b not in first_batches]
    march_days = sorted(d for b in new for d in batch_days(cloud.server.args(b)) if d.month == 3)
    assert march_days == MARCH
    two = [h for h in served if h.start.day <= 5 and h.start.hour != 23]
    for hour in two:  # deferred, then named by the batch its day's second hour submitted
        entries = read_ledger(cloud.raw, hour)
        since = [e for e in entries[-3:] if e.stage == Stage.LOAD]
        assert [e.outcome for e in since] == [LoadOutcome.DEFERRED, LoadOutcome.SUBMITTED]
    run_batches(cloud)

    rows = {r.hour: r for r in collect_status(cloud.raw, cloud.curated, served)}
    for hour in served:
        assert (rows[hour].version, rows[hour].normalized, rows[hour].loaded) == (
            PIPELINE_VERSION,
            "normalized",
            "loaded",
        ), rows[hour]
        assert len(successful_loads(cloud, hour)) == 1
        assert [str(e.outcome) for e in read_ledger(cloud.raw, hour) if e.stage == Stage.INGEST][-1] == (
            "rewritten"
        )

    # idempotent: redelivered messages and a second renormalize change nothing
    calls = len(cloud.server.calls)
    assert {renormalize(cloud, b) for b in bodies[:3]} == {IngestOutcome.ALREADY_PRESENT}
    assert hours_to_send(MARCH, cloud.curated) == []
    assert len(cloud.server.calls) == calls == 62
    swept = sweep(cloud.raw, cloud.curated, MARCH[0], MARCH[-1], cloud.loader, states=cloud.loader.state)
    assert swept.swept == []


def test_renormalize_messages_are_strict() -> None:
    def parse(body: bytes) -> IngestRequest:
        now = datetime(2026, 1, 1, tzinfo=UTC)
        return parse_message(body, now=now, lag=timedelta(minutes=30), max_range_hours=100)

    request = parse(b'{"hour": "2015-03-01T05", "load": "deferred", "renormalize": true}')
    assert request.renormalize is True and request.load == DEFERRED
    assert parse(b'{"hour": "2015-03-01T05"}').renormalize is False
    for bad in (
        b'{"hour": "2015-03-01T05", "renormalize": "yes"}',
        b'{"hour": "2015-03-01T05", "renormalize": 1}',
        b'{"start": "2015-03-01T00", "end": "2015-03-01T05", "renormalize": true}',
        b'{"renormalize": true}',
    ):
        with pytest.raises(MalformedMessage, match="renormalize"):
            parse(bad)
    assert json.loads(hour_message(Hour.parse("2015-03-01T05"), DEFERRED, renormalize=True)) == {
        "hour": "2015-03-01T05",
        "load": "deferred",
        "renormalize": True,
    }
