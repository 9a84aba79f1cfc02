"""Finalize events that can never succeed, and events naming another bucket (issue 13, items 6-7).

Driven through the very handlers the Cloud Functions and the local bus call (`entrypoints`), on local
buckets holding a real hour file. Each such event must be logged once and acknowledged (the handler
returns normally: no 500, so no endless redelivery), write nothing anywhere and start no load.
"""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest
from cloudevents.http import CloudEvent

from gharchive_pipeline import entrypoints, layout
from gharchive_pipeline.cloud_events import GCS_FINALIZED, bucket_name, finalized_event
from gharchive_pipeline.context import cloud_context
from gharchive_pipeline.hours import Hour
from gharchive_pipeline.load.loader import DeferToRunner, LoadRequest, LoadResult
from gharchive_pipeline.logs import log_stream
from gharchive_pipeline.outcome import LoadOutcome
from gharchive_pipeline.settings import Settings
from gharchive_pipeline.storage import ObjectInfo, Storage, open_storage
from tests.conftest import DATA

HOUR = Hour.parse("2011-02-15T00")  # the smallest real complete hour
REAL = (DATA / HOUR.file_name).read_bytes()


class RefusingLoader:
    """A loader that fails the test if a load is ever asked for (none may be, for these events)."""

    by_day = False

    def load(self, request: LoadRequest) -> LoadResult:
        raise AssertionError(f"a load was submitted for {request}")


@pytest.fixture
def home(tmp_path: Path) -> tuple[Storage, Storage, Settings]:
    raw, curated = open_storage(str(tmp_path / "raw")), open_storage(str(tmp_path / "curated"))
    return raw, curated, Settings(raw_bucket=raw.url, curated_bucket=curated.url)


def deliver(
    function: str, event: CloudEvent, settings: Settings, **deps: Any
) -> tuple[Any, list[dict[str, Any]]]:
    with log_stream(io.StringIO()) as out:
        handler = getattr(entrypoints, function)
        result = handler(event, cloud_context(settings, **deps))
    return result, [json.loads(line) for line in out.getvalue().splitlines()]


def assert_ignored_once(result: Any, lines: list[dict[str, Any]], says: str) -> None:
    assert result.outcome == "ignored" and result.hour is None
    assert says in result.details["reason"], result.details
    assert [(x["outcome"], x["severity"]) for x in lines] == [("ignored", "INFO")]


def names(storage: Storage) -> list[str]:
    return sorted(i.name for i in storage.list(""))


@pytest.mark.parametrize(
    ("name", "says"),
    [
        ("hours/2015/13/01/2015-13-01-0.json.gz", "month must be in 1..12"),
        ("hours/2015/01/01/2015-01-01-99.json.gz", "hour 99 is not in 0..23"),
        ("hours/2099/01/01/2099-01-01-0.json.gz", "in the future"),
        ("hours/2010/01/01/2010-01-01-0.json.gz", "GH Archive starts at 2011-02-12T00"),
        ("hours/1999/12/31/2011-02-15-0.json.gz", "does not agree with hour 2011-02-15T00"),
        ("hours/2011/02/15/2011-02-15-00.json.gz", "does not agree with hour 2011-02-15T00"),
        ("ledger/2011/02/15/2011-02-15T00.json", "not a raw hour object"),
    ],
)
def test_normalize_ignores_names_that_are_no_real_hour(
    home: tuple[Storage, Storage, Settings], name: str, says: str
) -> None:
    raw, curated, settings = home
    info = raw.put_bytes(name, REAL)  # a real hour's bytes, under a name that is not its hour
    result, lines = deliver("normalize", finalized_event(bucket_name(raw.url), info), settings)
    assert_ignored_once(result, lines, says)
    assert names(raw) == [name] and names(curated) == []  # no ledger entry, nothing else written


@pytest.mark.parametrize(
    ("name", "says"),
    [
        ("events/date=2015-01-01/hour=99/events.parquet", "hour 99 is not in 0..23"),
        ("events/date=2015-13-01/hour=00/events.parquet", "month must be in 1..12"),
        ("events/date=2099-01-01/hour=00/events.parquet", "in the future"),
        ("rejects/date=2011-02-15/hour=00/rejects.ndjson", "not a curated hour object"),
    ],
)
def test_spark_trigger_ignores_names_that_are_no_real_hour(
    home: tuple[Storage, Storage, Settings], name: str, says: str
) -> None:
    raw, curated, settings = home
    info = curated.put_bytes(name, b"not read")
    event = finalized_event(bucket_name(curated.url), info)
    result, lines = deliver("spark_trigger", event, settings, loader=RefusingLoader())
    assert_ignored_once(result, lines, says)
    assert names(raw) == []


def malformed_events(bucket: str) -> list[tuple[CloudEvent, str]]:
    good = finalized_event(bucket, ObjectInfo(layout.raw_object(HOUR), len(REAL), 1))
    data = dict(good.get_data())
    return [
        (
            CloudEvent({**good.get_attributes(), "type": "google.cloud.storage.object.v1.deleted"}, data),
            "expected",
        ),
        (CloudEvent(good.get_attributes(), {**data, "generation": "12x"}), "generation"),
        (
            CloudEvent(good.get_attributes(), {k: v for k, v in data.items() if k != "generation"}),
            "generation",
        ),
        (CloudEvent(good.get_attributes(), {**data, "size": "huge"}), "huge"),
        (CloudEvent(good.get_attributes(), ["not", "an", "object"]), "not a JSON object"),
    ]


@pytest.mark.parametrize("function", ["normalize", "spark_trigger"])
def test_malformed_finalize_events_are_acknowledged(
    home: tuple[Storage, Storage, Settings], function: str
) -> None:
    raw, curated, settings = home
    raw.put_bytes(layout.raw_object(HOUR), REAL)
    deps: dict[str, Any] = {"loader": RefusingLoader()} if function == "spark_trigger" else {}
    for event, says in malformed_events(bucket_name(raw.url)):
        result, lines = deliver(function, event, settings, **deps)
        assert_ignored_once(result, lines, says)
        assert event["type"] == GCS_FINALIZED or "deleted" in event["type"]
    assert names(raw) == [layout.raw_object(HOUR)] and names(curated) == []


def test_a_foreign_bucket_is_never_touched(home: tuple[Storage, Storage, Settings], tmp_path: Path) -> None:
    """The real hour in another directory: normalize ignores it (no ledger written there, no curated
    hour), spark_trigger starts no load for a curated object of another bucket."""
    raw, curated, settings = home
    foreign = open_storage(str(tmp_path / "foreign"))
    info = foreign.put_bytes(layout.raw_object(HOUR), REAL)
    result, lines = deliver("normalize", finalized_event(bucket_name(foreign.url), info), settings)
    assert_ignored_once(result, lines, "is not the configured raw bucket")
    assert names(foreign) == [layout.raw_object(HOUR)]
    assert names(raw) == [] and names(curated) == []

    parquet = foreign.put_bytes(layout.curated_object(HOUR), b"pq")
    event = finalized_event(bucket_name(foreign.url), parquet)
    result, lines = deliver("spark_trigger", event, settings, loader=RefusingLoader())
    assert_ignored_once(result, lines, "is not the configured curated bucket")


def test_in_the_cloud_a_bucket_with_a_slash_is_never_opened_as_a_directory(tmp_path: Path) -> None:
    settings = Settings(raw_bucket="gs://gha-raw", curated_bucket="gs://gha-curated")
    target = tmp_path / "looks-like-a-bucket"
    info = ObjectInfo(layout.raw_object(HOUR), len(REAL), 7)
    result, lines = deliver("normalize", finalized_event(str(target), info), settings)
    assert_ignored_once(result, lines, "is not the configured raw bucket gs://gha-raw")
    curated_info = ObjectInfo(layout.curated_object(HOUR), 10, 8)
    result, lines = deliver(
        "spark_trigger", finalized_event(str(target), curated_info), settings, loader=RefusingLoader()
    )
    assert_ignored_once(result, lines, "is not the configured curated bucket gs://gha-curated")
    assert not target.exists()


def test_the_configured_local_buckets_still_work(home: tuple[Storage, Storage, Settings]) -> None:
    raw, curated, settings = home
    info = raw.put_bytes(layout.raw_object(HOUR), REAL)
    result, lines = deliver("normalize", finalized_event(bucket_name(raw.url), info), settings)
    assert result.outcome == "normalized" and result.details["events"] == 1639
    assert [x["outcome"] for x in lines] == ["normalized"]
    parquet = curated.stat(layout.curated_object(HOUR))
    assert parquet is not None
    event = finalized_event(bucket_name(curated.url), parquet)
    result, _ = deliver("spark_trigger", event, settings, loader=DeferToRunner())  # as the local bus does
    assert result.outcome is LoadOutcome.DEFERRED and result.hour == HOUR
