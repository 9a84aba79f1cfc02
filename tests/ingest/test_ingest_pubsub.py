"""Fan-out through the real Pub/Sub emulator: `backfill --topic` and the ingest function's range messages."""

from __future__ import annotations

import base64
import json
import os
import shutil
import signal
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from gharchive_pipeline import settings as S
from gharchive_pipeline.cli import cli
from tests.conftest import DATA
from tests.support import standins
from tests.support.ports import free_port

pytestmark = pytest.mark.slow
PROJECT = "gharchive-test"


@pytest.fixture(scope="module")
def pubsub_emulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """`gcloud beta emulators pubsub start` on a free port; PUBSUB_EMULATOR_HOST set while it runs."""
    if shutil.which("gcloud") is None:
        standins.missing("Pub/Sub emulator (gcloud)", "apt-get install google-cloud-cli-pubsub-emulator")
    port = free_port()
    host = f"127.0.0.1:{port}"
    log = tmp_path_factory.mktemp("pubsub") / "emulator.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            ["gcloud", "beta", "emulators", "pubsub", "start", f"--host-port={host}", f"--project={PROJECT}",
             f"--data-dir={log.parent}"],
            stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
    try:
        deadline = time.monotonic() + 90
        while b"Server started" not in log.read_bytes():
            if proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"Pub/Sub emulator did not start:\n{log.read_text()[-2000:]}")
            time.sleep(0.2)
        with pytest.MonkeyPatch.context() as mp:
            mp.setenv("PUBSUB_EMULATOR_HOST", host)
            yield host
    finally:
        os.killpg(proc.pid, signal.SIGTERM)  # the gcloud wrapper and its java child
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


@pytest.fixture
def topic_and_subscription(pubsub_emulator: str) -> tuple[str, str]:
    from google.cloud import pubsub_v1

    suffix = uuid.uuid4().hex[:8]
    topic = f"projects/{PROJECT}/topics/ingest-{suffix}"
    subscription = f"projects/{PROJECT}/subscriptions/ingest-sub-{suffix}"
    pubsub_v1.PublisherClient().create_topic(name=topic)
    with pubsub_v1.SubscriberClient() as sub:
        sub.create_subscription(name=subscription, topic=topic)
    return topic, subscription


def pull_all(subscription: str, expected: int) -> list[Any]:
    from google.cloud import pubsub_v1

    received: list[Any] = []
    deadline = time.monotonic() + 30
    with pubsub_v1.SubscriberClient() as sub:
        while len(received) < expected and time.monotonic() < deadline:
            resp = sub.pull(subscription=subscription, max_messages=100, timeout=10)
            if resp.received_messages:
                sub.acknowledge(subscription=subscription, ack_ids=[m.ack_id for m in resp.received_messages])
                received.extend(m.message for m in resp.received_messages)
    return received


def test_backfill_topic_publishes_one_message_per_hour(topic_and_subscription: tuple[str, str]) -> None:
    topic, subscription = topic_and_subscription
    result = CliRunner().invoke(cli, ["backfill", "2015-12-31T22", "2016-01-01T01", "--topic", topic])
    assert result.exit_code == 0, result.output
    assert f"published 4 hour messages (2015-12-31T22..2016-01-01T01) to {topic}" in result.output
    messages = pull_all(subscription, 4)
    assert sorted(json.loads(m.data)["hour"] for m in messages) == [
        "2015-12-31T22",
        "2015-12-31T23",
        "2016-01-01T00",
        "2016-01-01T01",
    ]
    assert all(m.attributes["hour"] == json.loads(m.data)["hour"] for m in messages)


def test_backfill_rejects_a_bad_topic(pubsub_emulator: str) -> None:
    result = CliRunner().invoke(cli, ["backfill", "2015-01-01T00", "2015-01-01T01", "--topic", "ingest"])
    assert result.exit_code == 2 and "projects/PROJECT/topics/TOPIC" in result.output


def test_function_range_message_fans_out_and_each_hour_ingests(
    topic_and_subscription: tuple[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from functions_framework import create_app

    from tests.ingest.test_ingest_function import SOURCE, post, pubsub_event

    topic, subscription = topic_and_subscription
    monkeypatch.setenv(S.ENV_TOPIC, topic)
    monkeypatch.setenv(S.ENV_RAW_BUCKET, str(tmp_path / "raw"))
    monkeypatch.setenv(S.ENV_SOURCE, str(DATA))
    client = create_app(target="ingest", source=str(SOURCE), signature_type="cloudevent").test_client()

    resp = post(client, pubsub_event(b'{"start": "2015-01-01T00", "end": "2015-01-01T05"}'))
    assert resp.status_code == 200
    messages = pull_all(subscription, 6)
    assert sorted(json.loads(m.data)["hour"] for m in messages) == [f"2015-01-01T0{i}" for i in range(6)]

    # each fanned-out message is a valid ingest message: deliver them back to the function
    for m in messages:
        event = pubsub_event(None, message_id=m.message_id)
        event["data"]["message"]["data"] = base64.b64encode(m.data).decode()
        assert post(client, event).status_code == 200  # stored or missing: both acknowledged
    stored = sorted(p.name for p in (tmp_path / "raw" / "hours/2015/01/01").iterdir())
    assert stored == [
        "2015-01-01-0.json.gz",
        "2015-01-01-1.json.gz",
        "2015-01-01-3.json.gz",
        "2015-01-01-5.json.gz",
    ]
