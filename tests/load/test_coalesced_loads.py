"""Coalesced loads in the cloud: hourly batches, deferred backfills loaded by day batches, the sweep.

Through the real stage handlers (ingest from a directory of real GH Archive hour files renamed into
March 2015, normalize, spark_trigger) on local directory buckets, submitting to the Dataproc REST
stand-in (tests/support/dataproc_server.py) with the real google-cloud-dataproc client.

The Spark job itself cannot run behind the stand-in, so `run_batches` plays its side of the contract
(a stand-in, said here as the guide asks): for each PENDING batch it lists the curated hours of the
days in the batch's args (as the job does after taking the day lock), records `loaded` with the batch
id and the curated generation in their ledgers and marks the batch SUCCEEDED. (The real job also
reads, and records, the hours that day-index markers name; left out here: in the month test every
hour's rows fall on one other day, and recording that 31 times only costs time.) The job is tested on
real Spark in tests/load/test_spark_load.py.
"""

from __future__ import annotations

import functools
import gzip
import importlib.util
import itertools
import json
import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from gharchive_pipeline import layout
from gharchive_pipeline.cli import cli
from gharchive_pipeline.cloud_events import StorageObjectEvent, bucket_name
from gharchive_pipeline.context import Context, cloud_context
from gharchive_pipeline.hours import Hour, hour_range
from gharchive_pipeline.ledger import read_ledger
from gharchive_pipeline.load import dataproc
from gharchive_pipeline.load.dataproc import DataprocSubmitter
from gharchive_pipeline.load.loader import DEFERRED, LOAD_MODE, HourVersion, LoadRequest
from gharchive_pipeline.local.status import collect_status
from gharchive_pipeline.outcome import IngestOutcome, LoadOutcome, Stage
from gharchive_pipeline.publish import Publisher, hour_message
from gharchive_pipeline.settings import Settings
from gharchive_pipeline.stages import StageOutcome, record
from gharchive_pipeline.stages.ingest import MalformedMessage, handle_message, parse_message
from gharchive_pipeline.stages.normalize import handle_raw_finalized
from gharchive_pipeline.stages.spark_trigger import handle_curated_finalized, loaded_generation
from gharchive_pipeline.stages.sweep import Per, sweep
from gharchive_pipeline.storage import ObjectInfo, Storage, open_storage
from tests.conftest import DATA, ROOT
from tests.support.dataproc_server import DataprocServer

#: 10 real events (the first seconds of 2018-01-01T00), gzipped as GH Archive serves hours: small, so a
#: month of them normalizes in seconds.
SMALL = DATA / "partial" / "2018-01-01-0.json"
SMALL_DAY = date(2018, 1, 1)  # where its rows belong, whatever hour it is served as
MARCH = [date(2015, 3, d) for d in range(1, 32)]
DAY = date(2015, 3, 10)


@dataclass
class Cloud:
    raw: Storage
    curated: Storage
    settings: Settings
    server: DataprocServer
    loader: DataprocSubmitter

    def context(self, publisher: Publisher | None = None) -> Context:
        """What the functions of this cloud run on (its buckets, this submitter)."""
        return cloud_context(
            self.settings, raw=self.raw, curated=self.curated, loader=self.loader, publisher=publisher
        )


@pytest.fixture(scope="module")
def server() -> Iterator[DataprocServer]:
    with DataprocServer() as running:
        yield running


@pytest.fixture
def cloud(tmp_path: Path, server: DataprocServer) -> Cloud:
    server.reset()
    raw, curated = open_storage(str(tmp_path / "raw")), open_storage(str(tmp_path / "curated"))
    settings = Settings(
        raw_bucket=raw.url,
        curated_bucket=curated.url,
        source=str(tmp_path / "source"),
        topic="projects/test-project/topics/hours",
        max_range_hours=1000,
        project="test-project",
        region="europe-west1",
        spark_job_uri="gs://gha-code/spark/load_events.py",
        bq_table="test-project.gharchive.events",
        spark_temp_bucket="gs://gha-spark-temp",
        dataproc_endpoint=server.endpoint,
    )
    return Cloud(raw, curated, settings, server, DataprocSubmitter(settings))


# ---- driving the stages ---------------------------------------------------------------------------
class Messages:
    """A Publisher that keeps the messages a fan-out publishes (Pub/Sub would deliver them)."""

    def __init__(self) -> None:
        self.bodies: list[bytes] = []

    def publish_hours(
        self, topic: str, hours: Iterable[Hour], *, on_published: object = None, load: str = ""
    ) -> int:
        before = len(self.bodies)
        self.bodies += [hour_message(h, load) for h in hours]
        return len(self.bodies) - before


def as_event(storage: Storage, info: ObjectInfo) -> StorageObjectEvent:
    return StorageObjectEvent(bucket_name(storage.url), info.name, info.generation, info.size)


def trigger(cloud: Cloud, info: ObjectInfo) -> StageOutcome:
    """Deliver the curated finalize event of `info` to spark_trigger."""
    return handle_curated_finalized(as_event(cloud.curated, info), cloud.context())


def deliver(cloud: Cloud, body: bytes) -> StageOutcome | None:
    """One hour message through ingest -> normalize -> spark_trigger, as the finalize events chain them."""
    result = handle_message(body, cloud.context())
    [ingested] = result.outcomes
    if ingested.outcome is not IngestOutcome.STORED:
        return None
    raw_info = cloud.raw.stat(layout.raw_object(ingested.hour))
    assert raw_info is not None
    handle_raw_finalized(as_event(cloud.raw, raw_info), cloud.context())
    info = cloud.curated.stat(layout.curated_object(ingested.hour))
    assert info is not None
    return trigger(cloud, info)


def put_curated(cloud: Cloud, hour: Hour, *, deferred: bool = True, payload: bytes = b"PAR1") -> ObjectInfo:
    """A curated object as normalize leaves it (content not read by these tests)."""
    meta = {"raw_generation": "1", **({LOAD_MODE: DEFERRED} if deferred else {})}
    return cloud.curated.put_bytes(layout.curated_object(hour), payload, metadata=meta)


def day_hours(day: date) -> list[Hour]:
    first = Hour.parse(f"{day.isoformat()}T00")
    return list(hour_range(first, first + 23))


# ---- the Spark job's side of the contract (see module docstring) ----------------------------------
def batch_days(args: list[str]) -> list[date]:
    days = [date.fromisoformat(v) for k, v in itertools.pairwise(args) if k == "--day"]
    if "--start-day" in args:
        first = date.fromisoformat(args[args.index("--start-day") + 1])
        last = date.fromisoformat(args[args.index("--end-day") + 1])
        days += [d for d in (first.fromordinal(o) for o in range(first.toordinal(), last.toordinal() + 1))]
    return days


def run_batches(cloud: Cloud) -> list[str]:
    """Run every PENDING batch: record `loaded` for what it read, then SUCCEEDED."""
    ran = cloud.server.batch_ids("PENDING")
    for batch in ran:
        args = cloud.server.args(batch)
        assert args[args.index("--batch-id") + 1] == batch
        hours = {Hour.parse(v) for k, v in itertools.pairwise(args) if k == "--hour"}
        for day in batch_days(args):
            names = [i.name for i in cloud.curated.list(layout.curated_day_prefix(day))]
            hours.update(layout.contributing_hours(names))
        for hour in sorted(hours):
            info = cloud.curated.stat(layout.curated_object(hour))
            if info is None:
                continue
            details = {"batch_id": batch, "curated_generation": info.generation}
            record(StageOutcome(Stage.LOAD, LoadOutcome.LOADED, hour, info.name, details), cloud.raw)
        cloud.server.set_state(batch, "SUCCEEDED")
    return ran


def successful_loads(cloud: Cloud, hour: Hour) -> set[str]:
    """The SUCCEEDED batches that loaded `hour` at its current curated generation for its own day
    (a batch rebuilding another day that some of the hour's rows fall on reads it too)."""
    info = cloud.curated.stat(layout.curated_object(hour))
    assert info is not None
    done = cloud.server.batch_ids("SUCCEEDED")
    own = {b for b in done if hour.start.date() in batch_days(cloud.server.args(b))}
    own |= {b for b in done if hour.key in cloud.server.args(b)}
    return {
        e.details["batch_id"]
        for e in read_ledger(cloud.raw, hour)
        if e.outcome == LoadOutcome.LOADED
        and e.details.get("curated_generation") == info.generation
        and e.details["batch_id"] in own
    }


def curated_hours(cloud: Cloud) -> list[Hour]:
    return [
        h for i in cloud.curated.list(layout.CURATED_PREFIX) if (h := layout.hour_of_curated_object(i.name))
    ]


# ---- the month backfill ---------------------------------------------------------------------------
def served_hours() -> list[Hour]:
    """One real hour per March day (a different hour each day); days 1-5 also have hour 23, so their
    last event is a curated hour and the trigger submits them; other days end on a 404."""
    hours = [Hour.parse(f"{d.isoformat()}T{(d.day * 5) % 23:02d}") for d in MARCH]
    hours += [Hour.parse(f"{d.isoformat()}T23") for d in MARCH[:5]]
    return sorted(hours)


@pytest.mark.slow
def test_month_backfill_submits_one_batch_per_day(cloud: Cloud) -> None:
    source = Path(cloud.settings.source)
    source.mkdir()
    served = served_hours()
    served_bytes = gzip.compress(SMALL.read_bytes())
    for hour in served:
        (source / hour.file_name).write_bytes(served_bytes)
    publisher = Messages()
    month = {"start": "2015-03-01T00", "end": "2015-03-31T23", LOAD_MODE: DEFERRED}
    fanned = handle_message(json.dumps(month).encode(), cloud.context(publisher=publisher))
    assert fanned.published == 744 and all(json.loads(b)[LOAD_MODE] == DEFERRED for b in publisher.bodies)

    outcomes = [deliver(cloud, body) for body in publisher.bodies]
    for hour in served[-3:]:  # redelivered messages: nothing new
        assert deliver(cloud, hour_message(hour, DEFERRED)) is None

    # normalize carried the flag and wrote a marker for the day the rows really belong to
    info = cloud.curated.stat(layout.curated_object(served[0]))
    assert info is not None and info.metadata[LOAD_MODE] == DEFERRED and info.metadata["days"] == "2018-01-01"
    assert cloud.curated.stat(layout.day_index_object(SMALL_DAY, served[0])) is not None

    # triggers submitted the days whose last event was a curated hour, and deferred the others
    by_trigger = cloud.server.batch_ids()
    assert len(by_trigger) == 5
    assert {batch_days(cloud.server.args(b))[0] for b in by_trigger} == set(MARCH[:5])
    assert sum(1 for o in outcomes if o is not None and o.outcome == LoadOutcome.DEFERRED) == len(served) - 5
    late = next(h for h in served if h.start.day == 10)
    assert [e.outcome for e in read_ledger(cloud.raw, late) if e.stage == Stage.LOAD] == ["deferred"]

    # the sweep submits the days that ended on a 404, and leaves the pending ones alone
    swept = sweep(
        cloud.raw, cloud.curated, MARCH[0], MARCH[-1], cloud.loader, states=cloud.loader.state
    ).swept
    assert [s.result.outcome for s in swept] == [LoadOutcome.SUBMITTED] * 26
    batches = cloud.server.batch_ids()
    assert len(batches) == 31
    march_days = [[d for d in batch_days(cloud.server.args(b)) if d.month == 3] for b in batches]
    assert sorted(d for days in march_days for d in days) == MARCH  # each batch: exactly its day
    assert all(SMALL_DAY in batch_days(cloud.server.args(b)) for b in batches)  # + where the rows are

    # the ledger and status say which batch will load each hour
    rows = {r.hour: r for r in collect_status(cloud.raw, cloud.curated, served)}
    assert all(rows[h].batch in batches and rows[h].loaded == "submitted" for h in served)

    run_batches(cloud)
    assert (
        sweep(cloud.raw, cloud.curated, MARCH[0], MARCH[-1], cloud.loader, states=cloud.loader.state).swept
        == []
    )
    assert all(len(successful_loads(cloud, h)) == 1 for h in served)
    assert len(cloud.server.calls) == 31  # never a duplicate submission


# ---- races, duplicates, failures, re-normalization (no normalize needed: objects put directly) ----
def test_last_two_hours_at_once_and_duplicates_submit_one_day_batch(cloud: Cloud) -> None:
    hours = day_hours(DAY)
    for hour in hours[:22]:
        assert trigger(cloud, put_curated(cloud, hour)).outcome == LoadOutcome.DEFERRED
    assert cloud.server.calls == []

    barrier = threading.Barrier(2)
    outcomes: list[str] = []

    def finish_hour(hour: Hour) -> None:
        barrier.wait()
        info = put_curated(cloud, hour)  # write ...
        outcomes.append(trigger(cloud, info).outcome)  # ... then check
        outcomes.append(trigger(cloud, info).outcome)  # a duplicated event

    threads = [threading.Thread(target=finish_hour, args=(h,)) for h in hours[22:]]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(cloud.server.batches) == 1, outcomes
    assert outcomes.count(LoadOutcome.SUBMITTED) == 1
    assert set(outcomes) <= {LoadOutcome.SUBMITTED, LoadOutcome.ALREADY_EXISTS, LoadOutcome.DEFERRED}

    for hour in hours:  # every event delivered again
        trigger(cloud, cloud.curated.stat(layout.curated_object(hour)))  # type: ignore[arg-type]
    assert len(cloud.server.batches) == 1
    [batch] = cloud.server.batch_ids()
    run_batches(cloud)
    assert all(successful_loads(cloud, h) == {batch} for h in hours)


def test_a_day_with_missing_hours_settles_on_their_ledger(cloud: Cloud) -> None:
    hours = day_hours(DAY)
    for hour in hours[1:]:
        record(StageOutcome(Stage.INGEST, IngestOutcome.MISSING, hour, "gh"), cloud.raw)
    assert trigger(cloud, put_curated(cloud, hours[0])).outcome == LoadOutcome.SUBMITTED
    [batch] = cloud.server.batch_ids()
    assert cloud.server.args(batch)[:2] == ["--day", DAY.isoformat()]


@pytest.mark.slow
def test_failed_batch_is_resubmitted_by_the_sweep(cloud: Cloud, monkeypatch: pytest.MonkeyPatch) -> None:
    hours = day_hours(DAY)
    infos = [put_curated(cloud, h) for h in hours]
    for info in infos:
        trigger(cloud, info)
    [first] = cloud.server.batch_ids()
    cloud.server.set_state(first, "FAILED")
    assert trigger(cloud, infos[-1]).outcome == LoadOutcome.ALREADY_EXISTS  # a redelivery does not retry

    # the sweep from the command line, as an operator runs it
    for key, value in {
        "GHARCHIVE_SPARK_JOB_URI": cloud.settings.spark_job_uri,
        "GHARCHIVE_BQ_TABLE": cloud.settings.bq_table,
        "GHARCHIVE_DATAPROC_ENDPOINT": cloud.settings.dataproc_endpoint,
    }.items():
        monkeypatch.setenv(key, value)
    args = ["load", DAY.isoformat(), "--project", "test-project", "--region", "europe-west1"]
    args += ["--raw", cloud.raw.url, "--curated", cloud.curated.url]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    assert f"{DAY}: submitted {first}-a2 (24 pending hour(s), 24 covered)" in result.output
    again = CliRunner().invoke(cli, args)  # still running: nothing new
    assert again.exit_code == 0 and "0 load(s)" in again.output

    cloud.server.set_state(f"{first}-a2", "FAILED")
    [retried] = sweep(cloud.raw, cloud.curated, DAY, DAY, cloud.loader, states=cloud.loader.state).swept
    assert retried.result.batch_id == f"{first}-a3"
    run_batches(cloud)
    assert sweep(cloud.raw, cloud.curated, DAY, DAY, cloud.loader, states=cloud.loader.state).swept == []
    assert all(successful_loads(cloud, h) == {f"{first}-a3"} for h in hours)
    assert cloud.server.batch_ids("SUCCEEDED") == [f"{first}-a3"]


def test_renormalized_hour_gets_a_new_day_batch(cloud: Cloud) -> None:
    hours = day_hours(DAY)
    for hour in hours:
        trigger(cloud, put_curated(cloud, hour))
    [old_batch] = run_batches(cloud)
    old = cloud.curated.stat(layout.curated_object(hours[5]))
    assert old is not None
    new = put_curated(cloud, hours[5], payload=b"PAR1 renormalized")
    assert trigger(cloud, old).outcome == LoadOutcome.SUPERSEDED
    assert trigger(cloud, new).outcome == LoadOutcome.SUBMITTED
    assert trigger(cloud, new).outcome == LoadOutcome.ALREADY_EXISTS
    [new_batch] = run_batches(cloud)
    assert new_batch != old_batch
    assert successful_loads(cloud, hours[5]) == {new_batch}
    assert loaded_generation(read_ledger(cloud.raw, hours[5])) == {
        old.generation: old_batch,
        new.generation: new_batch,
    }
    assert sweep(cloud.raw, cloud.curated, DAY, DAY, cloud.loader, states=cloud.loader.state).swept == []


def test_hourly_flow_one_batch_per_new_hour(cloud: Cloud) -> None:
    hours = day_hours(DAY)[:3]
    infos = [put_curated(cloud, h, deferred=False) for h in hours]
    for info in infos + infos:  # each event twice
        trigger(cloud, info)
    expected = [f"gha-{h.start:%Y%m%d%H}-g{i.generation}" for h, i in zip(hours, infos, strict=True)]
    assert cloud.server.batch_ids() == expected
    assert [c.status for c in cloud.server.calls] == [200] * 3 + [409] * 3
    assert cloud.server.args(expected[0])[:2] == ["--hour", hours[0].key]
    run_batches(cloud)
    renormalized = put_curated(cloud, hours[0], deferred=False, payload=b"PAR1 again")
    assert trigger(cloud, renormalized).outcome == LoadOutcome.SUBMITTED
    run_batches(cloud)
    assert successful_loads(cloud, hours[0]) == {f"gha-{hours[0].start:%Y%m%d%H}-g{renormalized.generation}"}
    assert all(len(successful_loads(cloud, h)) == 1 for h in hours)


def test_sweep_per_month_uses_day_ranges(cloud: Cloud) -> None:
    for day in (date(2015, 3, 3), date(2015, 3, 9), date(2015, 4, 2)):
        put_curated(cloud, day_hours(day)[4])
    first, last = date(2015, 3, 1), date(2015, 4, 30)
    report = sweep(cloud.raw, cloud.curated, first, last, cloud.loader, per=Per.MONTH)
    assert report.swept == [] and len(report.waiting) == 3  # their other hours are still to come
    swept = sweep(cloud.raw, cloud.curated, first, last, cloud.loader, per=Per.MONTH, unsettled=True).swept
    assert [s.pending for s in swept] == [2, 1]
    args = [cloud.server.args(s.result.batch_id) for s in swept]
    assert args[0][:4] == ["--start-day", "2015-03-03", "--end-day", "2015-03-09"]
    assert args[1][:4] == ["--start-day", "2015-04-02", "--end-day", "2015-04-02"]


def test_sweep_paces_itself_to_bigquerys_partition_modification_limit(cloud: Cloud) -> None:
    """Each rebuilt day spends one of the 30,000 partition modifications a column-partitioned table
    allows a day (https://cloud.google.com/bigquery/quotas#partitioned_tables): a sweep asks for
    no more than its budget, in day order, and defers the rest to its next run; a month batch
    spends one per day of its range."""
    from gharchive_pipeline.stages import sweep as sweeping

    assert sweeping.SWEEP_BUDGET + sweeping.HOURLY_FLOW_RESERVE == 30_000
    assert sweeping.SWEEP_BUDGET > 5_802  # the whole archive's days fit one run
    days = [date(2015, 3, d) for d in (3, 4, 5)]
    for day in days:
        put_curated(cloud, day_hours(day)[4])
    first, last = days[0], days[-1]
    kw: dict[str, Any] = {"unsettled": True, "budget": 2, "states": cloud.loader.state}
    report = sweep(cloud.raw, cloud.curated, first, last, cloud.loader, **kw)
    assert [s.request.days for s in report.swept] == [(days[0],), (days[1],)]
    assert [r.days for r in report.deferred] == [(days[2],)]
    assert len(cloud.server.batch_ids()) == 2
    later = sweep(cloud.raw, cloud.curated, first, last, cloud.loader, **kw)
    assert [s.request.days for s in later.swept] == [(days[2],)] and later.deferred == []
    for batch in cloud.server.batch_ids():  # all three failed: a month batch redoes them
        cloud.server.set_state(batch, "FAILED")
    month = sweep(cloud.raw, cloud.curated, first, last, cloud.loader, per=Per.MONTH, **kw)
    assert month.swept == [] and [sweeping.partitions(r) for r in month.deferred] == [3]


def test_status_shows_the_batch_of_each_hour(cloud: Cloud, tmp_path: Path) -> None:
    hours = day_hours(DAY)
    for hour in hours[:2]:
        trigger(cloud, put_curated(cloud, hour))
    result = CliRunner().invoke(cli, ["status", "--home", str(tmp_path), "--json"])
    assert result.exit_code == 0, result.output
    rows = {r["hour"]: r for r in map(json.loads, result.output.splitlines())}
    assert rows[hours[0].key]["loaded"] == "deferred" and rows[hours[0].key]["batch"] == ""
    for hour in hours[2:]:
        trigger(cloud, put_curated(cloud, hour))
    [batch] = cloud.server.batch_ids()
    table = CliRunner().invoke(cli, ["status", "--home", str(tmp_path)])
    rows = {
        r["hour"]: r
        for r in map(
            json.loads,
            CliRunner().invoke(cli, ["status", "--home", str(tmp_path), "--json"]).output.splitlines(),
        )
    }
    assert all(rows[h.key]["batch"] == batch and rows[h.key]["loaded"] == "submitted" for h in hours)
    assert batch[:20] in table.output


def test_backfill_messages_carry_the_deferred_flag() -> None:
    now = datetime(2026, 1, 1, tzinfo=UTC)
    parse = functools.partial(parse_message, now=now, lag=timedelta(minutes=30), max_range_hours=800)
    assert parse(b'{"hour": "2015-03-01T05", "load": "deferred"}').load == DEFERRED
    assert parse(b'{"start": "2015-03-01T00", "end": "2015-03-31T23", "load": "deferred"}').load == DEFERRED
    assert parse(b'{"hour": "2015-03-01T05"}').load == ""
    for bad in (b'{"hour": "2015-03-01T05", "load": "later"}', b'{"load": "deferred"}'):
        with pytest.raises(MalformedMessage, match="deferred"):
            parse(bad)
    assert json.loads(hour_message(Hour.parse("2015-03-01T05"), DEFERRED)) == {
        "hour": "2015-03-01T05",
        "load": "deferred",
    }


def test_batch_args_are_what_the_spark_job_parses() -> None:
    """The contract with spark/load_events.py (engineer A1's job), checked with its own parser."""
    spec = importlib.util.spec_from_file_location("load_events", ROOT / "spark" / "load_events.py")
    assert spec and spec.loader
    job = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(job)
    settings = Settings(
        raw_bucket="gs://raw", bq_table="p.d.events", spark_temp_bucket="gs://tmp", project="p", region="r"
    )
    hour = Hour.parse("2015-03-10T05")
    covers = (HourVersion(hour, 7), HourVersion(hour + 1, 8))
    for request, days, hours in (
        (LoadRequest("gs://cur", covers[:1]), [], [hour]),
        (LoadRequest("gs://cur", covers, days=(DAY, SMALL_DAY)), [DAY, SMALL_DAY], []),
        (
            LoadRequest("gs://cur", covers, days=(SMALL_DAY,), day_range=(DAY, date(2015, 3, 12))),
            [DAY, date(2015, 3, 11), date(2015, 3, 12), SMALL_DAY],
            [],
        ),
    ):
        batch = dataproc.batch_id(request)
        args = job.parse_args(dataproc.job_args(request, settings, batch))
        assert (args.days, args.hours, args.batch_id) == (days, hours, batch)
        assert (args.raw, args.curated, args.sink, args.table, args.temp_bucket) == (
            "gs://raw",
            "gs://cur",
            "bigquery",
            "p.d.events",
            "gs://tmp",
        )


def test_local_sweep_loads_the_days_in_process(tmp_path: Path) -> None:
    """`gharchive load --home`: the same sweep, with the local day loader instead of Dataproc."""
    raw, curated = open_storage(str(tmp_path / "raw")), open_storage(str(tmp_path / "curated"))
    hour = Hour.parse("2011-02-15T00")
    info = raw.put_bytes(layout.raw_object(hour), (DATA / hour.file_name).read_bytes())
    settings = Settings(raw_bucket=raw.url, curated_bucket=curated.url)
    handle_raw_finalized(as_event(raw, info), cloud_context(settings, raw=raw, curated=curated))
    load = ["load", "2011-02-14", "2011-02-16", "--home", str(tmp_path)]
    waiting = CliRunner().invoke(cli, load)  # its 23 other hours were never asked for
    assert "2011-02-15: not settled, left alone (23 hour(s) waiting" in waiting.output
    load.append("--unsettled")
    first = CliRunner().invoke(cli, load)
    assert first.exit_code == 0, first.output
    assert "2011-02-15: loaded (1 pending hour(s), 1 covered)" in first.output
    again = CliRunner().invoke(cli, load)
    assert again.exit_code == 0 and "0 load(s)" in again.output
    [row] = collect_status(raw, curated, [hour])
    assert row.loaded == "loaded" and row.batch.startswith("local-")
