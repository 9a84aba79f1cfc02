"""`gharchive smoke` end to end on the stand-ins: the hour really ends in the warehouse.

The deployment is a saved terraform-output JSON naming local buckets; the hours topic delivers
in process through the three stages as the functions run them (ingest -> normalize -> spark_trigger,
each on its finalize event); spark_trigger submits to the Dataproc REST stand-in, which runs the
submitted batch's own arguments through spark/load_events.py (local PySpark) into BigQuery through the
strict layer in front of bqemulator (tests/support/strict_bigquery.py). Pub/Sub push and Eventarc are
replaced by the in-process delivery here (tests/chain runs those through their emulators).
"""

from __future__ import annotations

import dataclasses
import importlib.util
import shutil
from collections.abc import Iterable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from gharchive_pipeline import layout
from gharchive_pipeline.cli import cli, smoke_cmd
from gharchive_pipeline.cli.smoke_cmd import Deployment, State, run_smoke
from gharchive_pipeline.cloud_events import StorageObjectEvent, bucket_name
from gharchive_pipeline.context import cloud_context
from gharchive_pipeline.hours import Hour
from gharchive_pipeline.load.bigquery_sink import BigQuerySink, ensure_tables
from gharchive_pipeline.load.dataproc import DataprocSubmitter
from gharchive_pipeline.publish import hour_message
from gharchive_pipeline.settings import Settings, settings_from_outputs
from gharchive_pipeline.stages.ingest import handle_message
from gharchive_pipeline.stages.normalize import handle_raw_finalized
from gharchive_pipeline.stages.spark_trigger import handle_curated_finalized
from gharchive_pipeline.storage import Storage, open_storage
from tests.conftest import DATA, ROOT
from tests.deploy.test_terraform_deployment import _output_json, outputs_for
from tests.deploy.test_terraform_permissions import Call, Recorder, in_table
from tests.support import standins, strict_bigquery
from tests.support.dataproc_server import DataprocServer
from tests.support.strict_bigquery import StrictBigQuery

pytestmark = pytest.mark.slow

PROJECT = "test-project"
HOUR = Hour.parse("2011-02-15T00")  # a small bundled hour (292 KB)


def _load_events() -> Any:
    spec = importlib.util.spec_from_file_location("load_events_job", ROOT / "spark" / "load_events.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class Cloud:
    """Buckets, the hours topic delivering in process, Dataproc running its jobs, strict BigQuery."""

    def __init__(self, tmp: Path, server: DataprocServer, bq: StrictBigQuery) -> None:
        source = tmp / "source"
        source.mkdir()
        shutil.copy(DATA / f"{HOUR.file_name}", source / HOUR.file_name)
        self.raw, self.curated = open_storage(str(tmp / "raw")), open_storage(str(tmp / "curated"))
        self.deployment = tmp / "deployment.json"
        self.deployment.write_text(_output_json(outputs_for(self.raw.url, self.curated.url)))
        found = Settings.from_deployment(self.deployment)
        assert found.bq_table == f"{PROJECT}.gharchive.events"
        self.settings = dataclasses.replace(found, source=str(source), dataproc_endpoint=server.endpoint)
        self.server, self.bq, self.staging = server, bq, tmp / "staging"
        self.loader = DataprocSubmitter(self.settings)
        self.published: list[bytes] = []
        self.job_calls: list[Call] = []
        self.job = _load_events()
        server.run_job = self.run_job

    # the hours topic: each message through the stages, as their finalize events chain them
    def publish_hours(
        self, topic: str, hours: Iterable[Hour], *, on_published: Any = None, load: str = ""
    ) -> int:
        assert topic == self.settings.topic
        ctx = cloud_context(self.settings, raw=self.raw, curated=self.curated, loader=self.loader)
        count = 0
        for hour in hours:
            body = hour_message(hour, load)
            self.published.append(body)
            handle_message(body, ctx)
            raw = self.raw.stat(layout.raw_object(hour))
            if raw is None:
                continue
            handle_raw_finalized(self._event(self.raw, raw.name, raw.generation, raw.size), ctx)
            cur = self.curated.stat(layout.curated_object(hour))
            if cur is not None:
                handle_curated_finalized(self._event(self.curated, cur.name, cur.generation, cur.size), ctx)
            count += 1
        return count

    @staticmethod
    def _event(storage: Storage, name: str, generation: int, size: int) -> StorageObjectEvent:
        return StorageObjectEvent(bucket_name(storage.url), name, generation, size)

    # Dataproc: the batch's own arguments through the job's main(), its sink on the strict layer
    def run_job(self, batch: dict[str, Any]) -> bool:
        args = list(batch["pysparkBatch"]["args"])
        assert args[args.index("--table") + 1] == self.settings.bq_table
        self.job.make_sink = lambda a: BigQuerySink(a.table, str(self.staging), client=self.bq)
        # the job's bucket calls, as the permission each needs (tests/deploy/test_terraform_permissions.py)
        roles = {self.raw.url: "raw", self.curated.url: "curated"}
        self.job.open_storage = lambda url: Recorder(
            "dataproc", roles[url], open_storage(url), self.job_calls
        )
        return bool(self.job.main([*args, "--master", "local[1]"]) == 0)

    def deployment_view(self) -> Deployment:
        return Deployment(self.settings, self.raw, self.loader.state, self.bq)


@pytest.fixture(scope="module")
def emulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    with strict_bigquery.emulator(PROJECT, tmp_path_factory.mktemp("bq") / "bqemulator.log") as c:
        c.create_dataset("gharchive", exists_ok=True)
        yield c


@pytest.fixture
def cloud(tmp_path: Path, emulator: Any) -> Iterator[Cloud]:
    standins.import_module("pyspark", "pip install -e '.[spark]' (make setup)")
    bq = StrictBigQuery(emulator)
    ensure_tables(bq, f"{PROJECT}.gharchive.events")
    for name in ("events", "hourly_stats", "daily_stats"):
        bq.query(f"DELETE FROM `{PROJECT}.gharchive.{name}` WHERE TRUE").result()
    with DataprocServer() as server:
        yield Cloud(tmp_path, server, bq)


def test_smoke_follows_one_hour_into_the_warehouse(cloud: Cloud) -> None:
    seen: list[list[str]] = []
    steps = run_smoke(
        HOUR,
        cloud.deployment_view(),
        cloud,
        timeout=timedelta(minutes=5),
        poll_s=0.5,
        on_change=lambda s: seen.append([f"{x.stage}:{x.state}" for x in s]),
    )
    assert [(s.stage, s.state) for s in steps] == [
        ("ingest", State.DONE),
        ("normalize", State.DONE),
        ("batch", State.DONE),
        ("bigquery", State.DONE),
    ], steps
    assert cloud.published == [hour_message(HOUR, "hour")]  # loaded on its own, whatever hourly_load says
    [batch] = cloud.server.batch_ids("SUCCEEDED")
    assert batch in steps[2].detail
    assert any("batch:waiting" in s for s in seen)  # the batch was followed while it ran
    # the strict layer validated the production path's jobs and refused none
    assert any(j.destination.endswith("$20110215") for j in cloud.bq.jobs), [
        j.destination for j in cloud.bq.jobs
    ]
    assert strict_bigquery.refusals(cloud.bq.jobs) == []
    # every bucket call of the Dataproc job is a row of the permissions table for its account
    assert {c.target for c in cloud.job_calls} == {"bucket:raw", "bucket:curated"}
    assert [c for c in cloud.job_calls if not in_table(c)] == []
    rows = int(steps[1].detail.split()[0])
    assert steps[3].detail.startswith(f"{rows} rows;") and rows > 0

    smoke_cmd.report(steps)  # prints, exits 0


def test_smoke_names_the_first_stuck_stage(cloud: Cloud, capsys: pytest.CaptureFixture[str]) -> None:
    cloud.server.run_job = lambda batch: False  # the batch fails (as a Spark error would)
    steps = run_smoke(HOUR, cloud.deployment_view(), cloud, timeout=timedelta(minutes=2), poll_s=0.2)
    assert [s.state for s in steps] == [State.DONE, State.DONE, State.FAILED]
    assert "FAILED" in steps[-1].detail
    with pytest.raises(SystemExit) as exit_:
        smoke_cmd.report(steps)
    assert exit_.value.code == 1
    err = capsys.readouterr().err
    assert "smoke failed: batch failed" in err and "gcloud dataproc batches describe" in err


def test_smoke_times_out_at_the_stage_that_waits(cloud: Cloud, capsys: pytest.CaptureFixture[str]) -> None:
    class Nowhere:  # a topic nobody subscribes to: nothing ever arrives
        def publish_hours(self, topic: str, hours: Any, *, on_published: Any = None, load: str = "") -> int:
            return len(list(hours))

    ticks = iter(range(100))
    steps = run_smoke(
        HOUR,
        cloud.deployment_view(),
        Nowhere(),
        timeout=timedelta(seconds=3),
        sleep=lambda _s: None,
        clock=lambda: next(ticks),
    )
    assert [(s.stage, s.state) for s in steps] == [("ingest", State.WAITING)]
    with pytest.raises(SystemExit):
        smoke_cmd.report(steps)
    err = capsys.readouterr().err
    assert "smoke failed: ingest did not finish in time" in err and "dead-letter" in err


def test_smoke_needs_a_deployment_file(tmp_path: Path) -> None:
    result = CliRunner().invoke(smoke_cmd.smoke_command, ["--deployment", str(tmp_path / "none.json")])
    assert result.exit_code != 0
    assert "terraform" in str(result.exception)


def test_deployment_settings_are_complete_for_smoke() -> None:
    got = settings_from_outputs(outputs_for("gs://r", "gs://c"))
    assert got.topic and got.bq_table and got.project and got.region


def test_smoke_command_prints_the_stages_and_exits_1_when_stuck(
    cloud: Cloud, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The command as an operator runs it; its cloud clients replaced by this stand-in cloud."""
    cloud.server.run_job = lambda batch: False
    monkeypatch.setattr(smoke_cmd, "_cloud", lambda settings: (cloud.deployment_view(), cloud))
    monkeypatch.setattr(smoke_cmd.time, "sleep", lambda _s: None)
    args = ["smoke", "--deployment", str(cloud.deployment), "--hour", HOUR.key, "--timeout", "2"]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 1, result.output
    assert f"smoke: {HOUR.key} -> projects/test-project/topics/gharchive-hours" in result.output
    for line in (
        "ingest     done",
        "normalize  done",
        "batch      failed",
        "bigquery   -        not reached",
    ):
        assert line in result.output, result.output
