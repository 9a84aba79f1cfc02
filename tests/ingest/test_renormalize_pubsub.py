"""`gharchive renormalize --topic` through the real Pub/Sub emulator: whole UTC days, and with
`--curated` only the hours another pipeline version curated."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from gharchive_pipeline import PIPELINE_VERSION, layout
from gharchive_pipeline.cli import cli
from gharchive_pipeline.hours import Hour
from gharchive_pipeline.storage import open_storage
from tests.deploy.test_terraform_deployment import outputs_for
from tests.ingest.test_ingest_pubsub import pubsub_emulator, pull_all, topic_and_subscription  # noqa: F401

pytestmark = pytest.mark.slow


def test_renormalize_topic_sends_the_older_hours_of_whole_days(
    topic_and_subscription: tuple[str, str],  # noqa: F811 - the fixture
    tmp_path: Path,
) -> None:
    topic, subscription = topic_and_subscription
    curated = open_storage(str(tmp_path / "curated"))
    older, current = Hour.parse("2015-03-10T05"), Hour.parse("2015-03-10T06")
    curated.put_bytes(layout.curated_object(older), b"PAR1", metadata={"pipeline_version": "0.0.1"})
    curated.put_bytes(
        layout.curated_object(current), b"PAR1", metadata={"pipeline_version": PIPELINE_VERSION}
    )
    legacy = Hour.parse("2015-03-11T00")  # written before curated objects recorded their version
    curated.put_bytes(layout.curated_object(legacy), b"PAR1", metadata={})

    args = ["renormalize", "2015-03-10T05", "2015-03-11T01", "--topic", topic]
    result = CliRunner().invoke(cli, [*args, "--curated", curated.url])
    assert result.exit_code == 0, result.output
    assert "published 2 renormalize messages (2015-03-10..2015-03-11)" in result.output
    bodies = sorted((json.loads(m.data) for m in pull_all(subscription, 2)), key=lambda b: b["hour"])
    assert bodies == [
        {"hour": older.key, "load": "deferred", "renormalize": True},
        {"hour": legacy.key, "load": "deferred", "renormalize": True},
    ]

    # without the curated bucket: every hour of the two days (the function skips what is current)
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    assert len(pull_all(subscription, 48)) == 48


def test_renormalize_deployment_file_names_the_topic_and_the_curated_bucket(
    topic_and_subscription: tuple[str, str],  # noqa: F811 - the fixture
    tmp_path: Path,
) -> None:
    topic, subscription = topic_and_subscription
    curated = open_storage(str(tmp_path / "curated"))
    older = Hour.parse("2015-03-10T05")
    curated.put_bytes(layout.curated_object(older), b"PAR1", metadata={"pipeline_version": "0.0.1"})
    deployment = tmp_path / "deployment.json"
    outputs = {**outputs_for("gs://raw", curated.url), "hours_topic": topic}
    deployment.write_text(json.dumps({k: {"value": v} for k, v in outputs.items()}))
    args = ["renormalize", older.key, older.key, "--deployment", str(deployment)]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    assert "published 1 renormalize messages" in result.output
    assert [json.loads(m.data)["hour"] for m in pull_all(subscription, 1)] == [older.key]
