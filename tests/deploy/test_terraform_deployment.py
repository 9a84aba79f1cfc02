"""The deployment as the operator's commands see it: Terraform outputs -> settings -> commands.

`gharchive load` and `gharchive backfill` take every setting from the saved `terraform output -json`
(--deployment FILE); each output the commands read is the very value the spark_trigger function gets
as a GHARCHIVE_* variable (checked on the HCL). The sweep runs on local buckets against the Dataproc
REST stand-in with no GHARCHIVE_* variable but the stand-in's endpoint (a test-only override). Then
`hourly_load = "day"`: the scheduler's hours wait for one batch per settled day.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import hcl2
import pytest
from click.testing import CliRunner
from hcl2 import SerializationOptions

from gharchive_pipeline import layout, settings
from gharchive_pipeline.cli import cli, ingest_cmd
from gharchive_pipeline.cli.errors import user_error
from gharchive_pipeline.cloud_events import StorageObjectEvent, bucket_name
from gharchive_pipeline.context import cloud_context
from gharchive_pipeline.errors import UserError
from gharchive_pipeline.hours import Hour, hour_range
from gharchive_pipeline.ledger import read_ledger
from gharchive_pipeline.load.dataproc import DataprocSubmitter
from gharchive_pipeline.load.loader import DEFERRED, HOURLY, LOAD_MODE
from gharchive_pipeline.outcome import LoadOutcome
from gharchive_pipeline.settings import HourlyLoad, Settings
from gharchive_pipeline.stages.ingest import parse_message
from gharchive_pipeline.stages.spark_trigger import handle_curated_finalized
from gharchive_pipeline.storage import ObjectInfo, Storage, open_storage
from tests.support.dataproc_server import DataprocServer

ROOT = Path(__file__).resolve().parents[2]
TF = ROOT / "terraform"
DAY = date(2015, 3, 10)


def _load(path: Path) -> dict[str, Any]:
    with path.open() as f:
        doc: dict[str, Any] = hcl2.load(
            f, serialization_options=SerializationOptions(strip_string_quotes=True)
        )
    return doc


@pytest.fixture(scope="module")
def hcl() -> dict[str, Any]:
    outputs: dict[str, Any] = {}
    locals_: dict[str, Any] = {}
    env: dict[str, str] = {}
    for path in sorted(TF.glob("*.tf")):
        doc = _load(path)
        for block in doc.get("output", []):
            outputs.update(block)
        for block in doc.get("locals", []):
            locals_.update(block)
        for block in doc.get("resource", []):
            fn = block.get("google_cloudfunctions2_function", {}).get("spark_trigger")
            if fn:
                env = fn["service_config"][0]["environment_variables"]
    return {"outputs": outputs, "locals": locals_, "env": env}


def _resolved(expr: Any, locals_: dict[str, Any]) -> str:
    """`${local.x}` replaced by the local's own expression, so equal values compare equal."""
    text = str(expr)
    whole = re.fullmatch(r"\$\{local\.(\w+)\}", text)
    return _resolved(locals_[whole.group(1)], locals_) if whole else text


def test_outputs_are_the_values_the_functions_get(hcl: dict[str, Any]) -> None:
    """Every setting the commands read is a Terraform output equal to the function's variable."""
    for output, (field, env_name) in settings.DEPLOYMENT_OUTPUTS.items():
        assert output in hcl["outputs"], f"terraform/outputs.tf lacks output {output!r} ({field})"
        value = _resolved(hcl["outputs"][output]["value"], hcl["locals"])
        if env_name == settings.ENV_TOPIC:  # ingest gets the topic; spark_trigger does not
            assert value == "${google_pubsub_topic.hours.id}"
            continue
        assert env_name in hcl["env"], f"spark_trigger does not get {env_name}"
        assert value == _resolved(hcl["env"][env_name], hcl["locals"]), f"output {output} != {env_name}"


def _output_json(values: dict[str, Any]) -> str:
    """What `terraform output -json` prints: {name: {"sensitive", "type", "value"}}."""
    return json.dumps(
        {name: {"sensitive": False, "type": "string", "value": value} for name, value in values.items()},
        indent=2,
    )


def outputs_for(raw: str, curated: str, **extra: Any) -> dict[str, Any]:
    return {
        "project": "test-project",
        "region": "europe-west1",
        "raw_bucket": raw,
        "curated_bucket": curated,
        "code_bucket": "gs://test-project-gharchive-code",  # outputs the commands do not read
        "views": ["test-project.gharchive.daily_stats"],
        "service_accounts": {"dataproc": "gharchive-dataproc@test-project.iam.gserviceaccount.com"},
        "hours_topic": "projects/test-project/topics/gharchive-hours",
        "events_table": "test-project.gharchive.events",
        "temp_bucket": "gs://test-project-gharchive-temp",
        "spark_job_uri": "gs://test-project-gharchive-code/spark/load_events-0123.py",
        "spark_py_files": "gs://test-project-gharchive-code/spark/gharchive_pipeline-0123.zip",
        "dataproc_service_account": "gharchive-dataproc@test-project.iam.gserviceaccount.com",
        "dataproc_runtime_version": "2.2",
        "hourly_load": "hour",
        **extra,
    }


def test_deployment_file_gives_every_setting(tmp_path: Path) -> None:
    path = tmp_path / "deployment.json"
    path.write_text(_output_json(outputs_for("gs://r", "gs://c", hourly_load="day")))
    got = Settings.from_deployment(path)
    assert got.project == "test-project" and got.region == "europe-west1"
    assert (got.raw_bucket, got.curated_bucket, got.bq_table) == (
        "gs://r",
        "gs://c",
        "test-project.gharchive.events",
    )
    assert got.topic == "projects/test-project/topics/gharchive-hours"
    assert got.spark_py_files == ("gs://test-project-gharchive-code/spark/gharchive_pipeline-0123.zip",)
    assert got.hourly_load is HourlyLoad.DAY
    # a plain {name: value} settings file with the same names reads the same
    plain = tmp_path / "settings.json"
    plain.write_text(json.dumps(outputs_for("gs://r", "gs://c", hourly_load="day")))
    assert Settings.from_deployment(plain) == got


@pytest.fixture(scope="module")
def server() -> Iterator[DataprocServer]:
    with DataprocServer() as running:
        yield running


@pytest.fixture
def buckets(tmp_path: Path, server: DataprocServer) -> tuple[Storage, Storage]:
    server.reset()
    return open_storage(str(tmp_path / "raw")), open_storage(str(tmp_path / "curated"))


@pytest.fixture
def no_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """No GHARCHIVE_* variable at all (the operator's shell)."""
    import os

    for name in list(os.environ):
        if name.startswith("GHARCHIVE_"):
            monkeypatch.delenv(name)


def put_curated(curated: Storage, hour: Hour, mode: str = "") -> ObjectInfo:
    meta = {"raw_generation": "1", **({LOAD_MODE: mode} if mode else {})}
    return curated.put_bytes(layout.curated_object(hour), b"PAR1", metadata=meta)


def day_hours(day: date) -> list[Hour]:
    first = Hour.parse(f"{day.isoformat()}T00")
    return list(hour_range(first, first + 23))


def test_sweep_runs_from_the_deployment_file_alone(
    tmp_path: Path,
    buckets: tuple[Storage, Storage],
    server: DataprocServer,
    no_env: None,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The documented sweep with --deployment and nothing else (it failed with "GHARCHIVE_SPARK_JOB_URI,
    GHARCHIVE_BQ_TABLE not set" when its settings came only from the functions' variables)."""
    raw, curated = buckets
    for hour in day_hours(DAY):
        put_curated(curated, hour, DEFERRED)
    path = tmp_path / "deployment.json"
    path.write_text(_output_json(outputs_for(raw.url, curated.url)))
    monkeypatch.setenv(settings.ENV_DATAPROC_ENDPOINT, server.endpoint)  # the stand-in, not Google
    result = CliRunner().invoke(cli, ["load", DAY.isoformat(), "--deployment", str(path)])
    assert result.exit_code == 0, result.output
    [batch] = server.batch_ids()
    assert f"{DAY}: submitted {batch} (24 pending hour(s), 24 covered)" in result.output
    [call] = [c for c in server.calls if c.status == 200]
    sent = json.dumps(call.body)
    for value in ("load_events-0123.py", "gharchive_pipeline-0123.zip", "test-project.gharchive.events"):
        assert value in sent, f"{value} not in the submitted batch"
    assert "gharchive-dataproc@test-project.iam.gserviceaccount.com" in sent


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "deployment file"),
        ("{not json", "is not JSON"),
        ("[]", "not a JSON object"),
        (json.dumps({"raw_bucket": {"value": "gs://r"}}), "lacks the Terraform output(s)"),
    ],
)
def test_a_bad_deployment_file_is_one_line(
    tmp_path: Path, content: str | None, message: str, no_env: None
) -> None:
    path = tmp_path / "deployment.json"
    if content is not None:
        path.write_text(content)
    for args in (
        ["load", "2015-03-10", "--deployment", str(path)],
        ["backfill", "2015-03-10T00", "2015-03-10T01", "--deployment", str(path)],
    ):
        result = CliRunner().invoke(cli, args)
        assert result.exit_code != 0
        line = user_error(result.exception) or ""  # what `gharchive` prints (cli/errors.py), one line
        assert message in line and "terraform" in line, line  # says how to make one


def test_backfill_publishes_to_the_deployments_topic(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, no_env: None
) -> None:
    """A recording publisher replaces Pub/Sub here (the emulator's path is tested in tests/chain)."""
    sent: list[tuple[str, list[str], str]] = []

    class Recorder:
        def publish_hours(self, topic: str, hours: Any, *, on_published: Any = None, load: str = "") -> int:
            keys = [h.key for h in hours]
            sent.append((topic, keys, load))
            return len(keys)

    monkeypatch.setattr(ingest_cmd, "PubSubPublisher", Recorder)
    path = tmp_path / "deployment.json"
    path.write_text(_output_json(outputs_for("gs://r", "gs://c")))
    result = CliRunner().invoke(
        cli, ["backfill", "2015-03-10T00", "2015-03-10T23", "--deployment", str(path)]
    )
    assert result.exit_code == 0, result.output
    one = CliRunner().invoke(cli, ["backfill", "2015-03-10T05", "2015-03-10T05", "--deployment", str(path)])
    assert one.exit_code == 0, one.output
    topic = "projects/test-project/topics/gharchive-hours"
    assert sent == [(topic, [h.key for h in day_hours(DAY)], DEFERRED), (topic, ["2015-03-10T05"], HOURLY)]


# ---- hourly_load --------------------------------------------------------------------------------
def _trigger(
    settings_: Settings, curated: Storage, raw: Storage, loader: DataprocSubmitter, info: ObjectInfo
) -> LoadOutcome:
    event = StorageObjectEvent(bucket_name(curated.url), info.name, info.generation, info.size)
    ctx = cloud_context(settings_, raw=raw, curated=curated, loader=loader)
    return handle_curated_finalized(event, ctx).outcome


def _settings(raw: Storage, curated: Storage, server: DataprocServer, hourly_load: HourlyLoad) -> Settings:
    outputs = outputs_for(raw.url, curated.url, hourly_load=hourly_load.value)
    return Settings(**{**vars(settings.settings_from_outputs(outputs)), "dataproc_endpoint": server.endpoint})


def test_hourly_load_day_loads_the_schedulers_hours_by_one_day_batch(
    buckets: tuple[Storage, Storage], server: DataprocServer
) -> None:
    raw, curated = buckets
    day = _settings(raw, curated, server, HourlyLoad.DAY)
    loader = DataprocSubmitter(day)
    hours = day_hours(DAY)
    outcomes = [
        _trigger(day, curated, raw, loader, put_curated(curated, h)) for h in hours
    ]  # no mode: scheduled
    assert outcomes[:-1] == [LoadOutcome.DEFERRED] * 23, "an hour of an unsettled day was submitted"
    assert outcomes[-1] == LoadOutcome.SUBMITTED
    [batch] = server.batch_ids()
    assert "--day" in server.args(batch) and DAY.isoformat() in server.args(batch)
    assert all(any(e.details.get("batch_id") == batch for e in read_ledger(raw, h)) for h in hours)

    # an hour asked for on its own (a one-hour backfill, `gharchive smoke`) is loaded on its own
    other = Hour.parse("2015-03-11T05")
    assert _trigger(day, curated, raw, loader, put_curated(curated, other, HOURLY)) == LoadOutcome.SUBMITTED
    assert server.args(server.batch_ids()[-1])[:2] == ["--hour", other.key]


def test_hourly_load_hour_submits_each_scheduled_hour(
    buckets: tuple[Storage, Storage], server: DataprocServer
) -> None:
    raw, curated = buckets
    hourly = _settings(raw, curated, server, HourlyLoad.HOUR)
    loader = DataprocSubmitter(hourly)
    hours = day_hours(DAY)[:2]
    assert [_trigger(hourly, curated, raw, loader, put_curated(curated, h)) for h in hours] == [
        LoadOutcome.SUBMITTED
    ] * 2
    assert len(server.batch_ids()) == 2


def test_hourly_load_setting_is_checked(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(settings.ENV_HOURLY_LOAD, "day")
    assert Settings.from_env().hourly_load is HourlyLoad.DAY
    monkeypatch.setenv(settings.ENV_HOURLY_LOAD, "weekly")
    with pytest.raises(UserError, match="hourly_load must be one of 'hour', 'day'"):
        Settings.from_env()
    monkeypatch.delenv(settings.ENV_HOURLY_LOAD)
    assert Settings.from_env().hourly_load is HourlyLoad.HOUR


def test_messages_may_ask_for_an_hour_on_its_own() -> None:
    now = datetime(2026, 1, 1, tzinfo=UTC)
    body = b'{"hour": "2015-03-01T05", "load": "hour"}'
    assert parse_message(body, now=now, lag=timedelta(minutes=30), max_range_hours=744).load == HOURLY
