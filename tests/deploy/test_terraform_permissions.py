"""The permissions table: every Google API call each service account's code makes, and the grant
(in terraform/, parsed) whose role allows it. A call that no grant allows fails, and so does a grant
that no call of ours uses unless it is a platform need listed below with its source.

Object names come from gharchive_pipeline.layout (the names the code writes), so a grant limited by
an IAM condition to prefixes is checked against the real names. What each role holds is read from
Google's predefined-roles reference (only the permissions used here are listed):
  storage  https://cloud.google.com/storage/docs/access-control/iam-roles
  bigquery https://cloud.google.com/bigquery/docs/access-control
  pubsub   https://cloud.google.com/pubsub/docs/access-control
  run      https://cloud.google.com/run/docs/reference/iam/roles
  eventarc https://cloud.google.com/eventarc/docs/access-control
  iam      https://cloud.google.com/iam/docs/service-account-permissions
Two Cloud Storage rules the table applies:
  - replacing an existing object needs storage.objects.delete besides .create
    (https://cloud.google.com/storage/docs/access-control/iam-permissions, objects.insert);
  - storage.objects.list is checked on the bucket, so a grant limited to object-name prefixes never
    allows a list (https://cloud.google.com/iam/docs/conditions-resource-attributes, resource.name
    of Cloud Storage: the bucket for bucket-level calls such as listing objects).
Not a call of the table: storage/gcs.py asks for the bucket (storage.buckets.get, which no role
here holds) only after an object was not found, to tell a missing bucket from a missing object; a
denial there means the bucket exists, so the object's absence is reported as such.
The operator's own commands (`gharchive load`, `smoke`, `status --raw`) run with the operator's
credentials, not a service account of the deployment, and are not in this table.
"""

from __future__ import annotations

import dataclasses
import shutil
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from gharchive_pipeline import layout, ledger
from gharchive_pipeline.hours import Hour
from tests.deploy.test_terraform import TF, Grant, Module, collect_grants

HOUR = Hour.parse("2015-01-01T15")
DAY = date(2015, 1, 1)
SOURCES_BUCKET = "gcf-v2-sources-<number>-<region>"

#: role -> the permissions of it that this table relies on (Google's predefined-roles reference).
ROLE_PERMISSIONS: dict[str, set[str]] = {
    "roles/storage.objectViewer": {"storage.objects.get", "storage.objects.list"},
    "roles/storage.objectCreator": {"storage.objects.create"},
    "roles/storage.objectUser": {
        "storage.objects.create",
        "storage.objects.delete",
        "storage.objects.get",
        "storage.objects.list",
        "storage.objects.update",
    },
    "roles/pubsub.publisher": {"pubsub.topics.publish"},
    "roles/pubsub.subscriber": {"pubsub.subscriptions.consume"},
    "roles/bigquery.jobUser": {"bigquery.jobs.create"},
    "roles/bigquery.dataEditor": {
        "bigquery.tables.create",
        "bigquery.tables.delete",
        "bigquery.tables.get",
        "bigquery.tables.getData",
        "bigquery.tables.updateData",
    },
    "roles/run.invoker": {"run.routes.invoke"},
    "roles/eventarc.eventReceiver": {"eventarc.events.receiveEvent"},
    "roles/iam.serviceAccountTokenCreator": {"iam.serviceAccounts.getOpenIdToken"},
}


@dataclass(frozen=True)
class Call:
    """One API call: who makes it, the permission Google checks, on what, and which code makes it."""

    who: str
    permission: str
    target: str  # "bucket:<name>", "project", "dataset:<name>", "topic:<name>", "service_account:<name>"
    name: str = ""  # the object, for object calls ("" for a list of the whole bucket)
    code: str = ""


def _storage(who: str, bucket: str, name: str, *verbs: str, code: str) -> list[Call]:
    return [Call(who, f"storage.objects.{v}", f"bucket:{bucket}", name, code) for v in verbs]


LEDGER = layout.ledger_object(HOUR)
BAD_LEDGER_KEPT = ledger.quarantine_name(HOUR, 7)
#: Rewriting a ledger: stat, read, write conditioned on the generation (replaces the object).
LEDGER_APPEND = ("get", "create", "delete")

CALLS: list[Call] = [
    # ingest (stages/ingest.py): is the hour there, store it once, quarantine a bad download, ledger
    *_storage(
        "ingest",
        "raw",
        layout.raw_object(HOUR),
        "get",
        "create",
        "delete",  # renormalize: stored again in place (Storage.rewrite replaces the object)
        code="ingest: stat, put if_generation_match=0, rewrite",
    ),
    *_storage(
        "ingest", "raw", layout.quarantine_object(HOUR), "create", "delete", code="ingest: quarantine again"
    ),
    *_storage("ingest", "raw", LEDGER, *LEDGER_APPEND, code="ledger.append_entry"),
    *_storage("ingest", "raw", BAD_LEDGER_KEPT, "create", code="ledger: keep an unreadable ledger"),
    Call("ingest", "pubsub.topics.publish", "topic:hours", code="ingest: fan a range out to hours"),
    # normalize (stages/normalize.py): read the raw hour, write curated, rejects and day markers
    *_storage("normalize", "raw", layout.raw_object(HOUR), "get", code="normalize: stat, open_read"),
    *_storage("normalize", "raw", LEDGER, *LEDGER_APPEND, code="ledger.append_entry"),
    *_storage("normalize", "raw", BAD_LEDGER_KEPT, "create", code="ledger: keep an unreadable ledger"),
    *_storage(
        "normalize",
        "curated",
        layout.curated_object(HOUR),
        "get",
        "create",
        "delete",
        code="normalize: put_file",
    ),
    *_storage(
        "normalize",
        "curated",
        layout.rejects_object(HOUR),
        "get",
        "create",
        "delete",
        code="normalize: rejects",
    ),
    *_storage(
        "normalize",
        "curated",
        layout.day_index_object(DAY, HOUR),
        "create",
        "delete",
        code="normalize: day index",
    ),
    # spark_trigger (stages/spark_trigger.py, load/dataproc.py): the hour's object, its day, ledgers, batches
    *_storage("spark_trigger", "curated", layout.curated_object(HOUR), "get", code="load: stat the hour"),
    *_storage("spark_trigger", "curated", "", "list", code="load.settle_day: the day's hours and markers"),
    *_storage("spark_trigger", "raw", LEDGER, *LEDGER_APPEND, code="ledger.append_entry, read_history"),
    *_storage("spark_trigger", "raw", BAD_LEDGER_KEPT, "create", code="ledger: keep an unreadable ledger"),
    Call("spark_trigger", "dataproc.batches.create", "project", code="dataproc.submit"),
    Call("spark_trigger", "dataproc.batches.get", "project", code="dataproc.submit: ALREADY_EXISTS, state"),
    Call(
        "spark_trigger",
        "iam.serviceAccounts.actAs",
        "service_account:dataproc",
        code="batch runs as dataproc",
    ),
    # the Dataproc batch (spark/load_events.py, load/): read curated and code, lock, ledgers, BigQuery
    *_storage(
        "dataproc", "code", "spark/load_events-0.py", "get", code="Dataproc fetches the job and py-files"
    ),
    *_storage(
        "dataproc", "curated", layout.curated_object(HOUR), "get", code="the job reads the day's hours"
    ),
    *_storage("dataproc", "curated", "", "list", code="the job lists the day's hours and markers"),
    *_storage(
        "dataproc", "curated", layout.lock_object(DAY), "get", "create", "delete", code="load/day_lock.py"
    ),
    *_storage("dataproc", "raw", LEDGER, *LEDGER_APPEND, code="ledger: loaded by batch X"),
    *_storage("dataproc", "raw", BAD_LEDGER_KEPT, "create", code="ledger: keep an unreadable ledger"),
    *_storage(
        "dataproc",
        "temp",
        "staging/x.parquet",
        "create",
        "get",
        "delete",
        code="bigquery_sink: staging parquet",
    ),
    *_storage("dataproc", "temp", "", "list", code="Spark staging"),
    Call("dataproc", "bigquery.jobs.create", "project", code="bigquery_sink: load and query jobs"),
    Call("dataproc", "bigquery.tables.updateData", "dataset:gharchive", code="load into events$YYYYMMDD"),
    Call("dataproc", "bigquery.tables.getData", "dataset:gharchive", code="stats refresh reads events"),
    Call("dataproc", "bigquery.tables.get", "dataset:gharchive", code="bigquery_sink.ensure_tables"),
    Call("dataproc", "bigquery.tables.create", "dataset:gharchive", code="ensure_tables (exists_ok)"),
    # the invoker: Pub/Sub push to ingest, Eventarc to normalize and spark_trigger
    Call("invoker", "run.routes.invoke", "cloud_run:functions", code="push and Eventarc deliveries"),
    Call("invoker", "eventarc.events.receiveEvent", "project", code="Eventarc triggers"),
    # the builder: the build's source fetch (Google copies the upload into gcf-v2-sources-...)
    *_storage(
        "builder", SOURCES_BUCKET, "ingest/function-source.zip", "get", code="Cloud Build source fetch"
    ),
]

#: Grants no call of our code uses, that the platform needs: (kind, target, role, member) -> source.
PLATFORM_NEEDS: dict[Grant, str] = {
    ("project", "project", "roles/dataproc.worker", "dataproc"): (
        "a custom Serverless batch account must hold Dataproc Worker: "
        "https://cloud.google.com/dataproc-serverless/docs/concepts/service-account"
    ),
    ("project", "project", "roles/logging.logWriter", "builder"): (
        "a custom build account writes the build logs: "
        "https://cloud.google.com/functions/docs/securing/build-custom-sa"
    ),
    ("project", "project", "roles/artifactregistry.writer", "builder"): (
        "a custom build account pushes the function image: "
        "https://cloud.google.com/functions/docs/securing/build-custom-sa"
    ),
    ("bucket", "code", "roles/storage.objectViewer", "builder"): (
        "storage_source names the code bucket; the custom build account page grants storage.objectViewer: "
        "https://cloud.google.com/functions/docs/securing/build-custom-sa"
    ),
    ("project", "project", "roles/pubsub.publisher", "gcs-agent"): (
        "Cloud Storage triggers: the Cloud Storage service agent publishes to Eventarc's topics: "
        "https://cloud.google.com/eventarc/docs/run/create-trigger-storage-gcloud#before-you-begin"
    ),
    ("service_account", "invoker", "roles/iam.serviceAccountTokenCreator", "pubsub-agent"): (
        "authenticated push: the Pub/Sub service agent mints the invoker's OIDC token: "
        "https://cloud.google.com/pubsub/docs/authenticate-push-subscriptions"
    ),
    ("topic", "hours_dead_letter", "roles/pubsub.publisher", "pubsub-agent"): (
        "dead-letter topics: the Pub/Sub service agent forwards undeliverable messages: "
        "https://cloud.google.com/pubsub/docs/handling-failures#grant_forwarding_permissions"
    ),
    ("subscription", "ingest", "roles/pubsub.subscriber", "pubsub-agent"): (
        "dead-letter topics: the Pub/Sub service agent acknowledges forwarded messages: "
        "https://cloud.google.com/pubsub/docs/handling-failures#grant_forwarding_permissions"
    ),
}


@pytest.fixture(scope="module")
def tf() -> Module:
    return Module(TF)


def _permissions(tf: Module, role: str) -> set[str]:
    if role.startswith("custom:"):
        body = tf.resource("google_project_iam_custom_role", role.removeprefix("custom:"))
        return set(body["permissions"])
    return ROLE_PERMISSIONS.get(role, set())


def allows(grant: Grant, call: Call, permissions: set[str]) -> bool:
    """Whether `grant` (holding `permissions`) allows `call`, its resource and condition included."""
    kind, target, _role, member = grant
    if member != call.who or call.permission not in permissions:
        return False
    family = call.target.partition(":")[0]
    if kind == "project":
        return family in ("project", "bucket", "dataset")  # a project grant reaches its resources
    if kind.startswith("project:"):  # a project grant limited to one bucket by its condition
        return call.target == f"bucket:{kind.removeprefix('project:')}"
    if kind == "bucket" or kind.startswith("bucket:"):
        if call.target != f"bucket:{target}":
            return False
        prefixes = kind.partition(":")[2].split(",") if ":" in kind else []
        if not prefixes:
            return True
        return (
            bool(call.name)
            and call.permission != "storage.objects.list"
            and call.name.startswith(tuple(prefixes))
        )
    return call.target == f"{kind}:{target}"


def test_every_call_is_allowed_by_a_grant(tf: Module) -> None:
    grants = collect_grants(tf)
    denied = [
        f"{c.who}: {c.permission} on {c.target}{'/' + c.name if c.name else ''} ({c.code})"
        for c in CALLS
        if not any(allows(g, c, _permissions(tf, g[2])) for g in grants)
    ]
    assert not denied, "calls no grant allows:\n" + "\n".join(denied)


def test_every_grant_is_used_by_a_call_or_is_a_listed_platform_need(tf: Module) -> None:
    unused = [
        g
        for g in collect_grants(tf)
        if g not in PLATFORM_NEEDS and not any(allows(g, c, _permissions(tf, g[2])) for c in CALLS)
    ]
    assert not unused, f"grants no call of ours uses (and no listed platform need): {unused}"
    stale = set(PLATFORM_NEEDS) - set(collect_grants(tf))
    assert not stale, f"platform needs listed for grants Terraform does not make: {stale}"


def test_the_table_refuses_what_google_refuses(tf: Module) -> None:
    """The rules of the module docstring, on made-up grants."""
    viewer = _permissions(tf, "roles/storage.objectViewer")
    user = _permissions(tf, "roles/storage.objectUser")
    ledger_only = ("bucket:ledger/", "raw", "roles/storage.objectUser", "normalize")
    write = Call("normalize", "storage.objects.create", "bucket:raw", LEDGER)
    assert allows(ledger_only, write, user)
    assert not allows(
        ledger_only, Call("normalize", "storage.objects.create", "bucket:raw", BAD_LEDGER_KEPT), user
    )
    assert not allows(ledger_only, Call("normalize", "storage.objects.list", "bucket:raw", LEDGER), user)
    assert not allows(("bucket", "raw", "roles/storage.objectViewer", "normalize"), write, viewer)
    assert not allows(("bucket", "curated", "roles/storage.objectUser", "normalize"), write, user)
    assert not allows(("bucket:ledger/", "raw", "roles/storage.objectUser", "ingest"), write, user)


# ---- the table against the code: the functions' own calls, recorded ----------------------------
class Recorder:
    """A Storage that records each call as the IAM permission Google checks for it, then delegates."""

    def __init__(self, who: str, bucket: str, inner: Any, seen: list[Call]) -> None:
        self.who, self.bucket, self.inner, self.seen = who, bucket, inner, seen
        self.url = inner.url

    def _note(self, name: str, *verbs: str) -> None:
        for verb in verbs:
            self.seen.append(
                Call(self.who, f"storage.objects.{verb}", f"bucket:{self.bucket}", name, "recorded")
            )

    def _put(self, name: str) -> None:  # an overwrite needs delete besides create
        self._note(name, "create", *(["delete"] if self.inner.stat(name) is not None else []))

    def stat(self, name: str) -> Any:
        self._note(name, "get")
        return self.inner.stat(name)

    def open_read(self, name: str) -> Any:
        self._note(name, "get")
        return self.inner.open_read(name)

    def read_bytes(self, name: str) -> bytes:
        self._note(name, "get")
        data: bytes = self.inner.read_bytes(name)
        return data

    def put_file(self, name: str, path: Any, **kw: Any) -> Any:
        self._put(name)
        return self.inner.put_file(name, path, **kw)

    def put_bytes(self, name: str, data: bytes, **kw: Any) -> Any:
        self._put(name)
        return self.inner.put_bytes(name, data, **kw)

    def rewrite(self, name: str, **kw: Any) -> Any:
        self._note(name, "get", "create", "delete")
        return self.inner.rewrite(name, **kw)

    def list(self, prefix: str = "") -> Any:
        self._note("", "list")
        return self.inner.list(prefix)

    def delete(self, name: str) -> None:
        self._note(name, "delete")
        self.inner.delete(name)


class Topic:
    def __init__(self, who: str, seen: list[Call]) -> None:
        self.who, self.seen = who, seen

    def publish_hours(self, topic: str, hours: Any, *, on_published: Any = None, load: str = "") -> int:
        self.seen.append(Call(self.who, "pubsub.topics.publish", "topic:hours", "", "recorded"))
        return len(list(hours))


#: Longest first: an object name's kind is the layout prefix it starts with.
_KINDS = sorted(
    (v for k, v in vars(layout).items() if k.endswith("_PREFIX") and isinstance(v, str)),
    key=len,
    reverse=True,
)


def _kind(name: str) -> str:
    return next((p for p in _KINDS if name.startswith(p)), name)


def in_table(call: Call) -> bool:
    return any(
        c.who == call.who
        and c.permission == call.permission
        and c.target == call.target
        and (call.permission == "storage.objects.list" or _kind(c.name) == _kind(call.name))
        for c in CALLS
    )


def test_the_functions_calls_are_all_in_the_table(tmp_path: Path) -> None:
    """ingest, normalize and spark_trigger run on a real hour (an hourly load, a deferred day, a range
    fanned out, an unreadable ledger replaced), each on its own recording storage: every call they
    make must be a row of CALLS for that account (so the table cannot miss a call the code makes)."""
    from gharchive_pipeline.cloud_events import StorageObjectEvent, bucket_name
    from gharchive_pipeline.context import cloud_context
    from gharchive_pipeline.load.dataproc import DataprocSubmitter
    from gharchive_pipeline.load.loader import DEFERRED
    from gharchive_pipeline.publish import hour_message
    from gharchive_pipeline.settings import settings_from_outputs
    from gharchive_pipeline.stages.ingest import handle_message
    from gharchive_pipeline.stages.normalize import handle_raw_finalized
    from gharchive_pipeline.stages.spark_trigger import handle_curated_finalized
    from gharchive_pipeline.storage import open_storage
    from tests.conftest import DATA
    from tests.deploy.test_terraform_deployment import outputs_for
    from tests.support.dataproc_server import DataprocServer

    hour = Hour.parse("2011-02-15T00")
    source = tmp_path / "source"
    source.mkdir()
    shutil.copy(DATA / hour.file_name, source / hour.file_name)
    raw, curated = open_storage(str(tmp_path / "raw")), open_storage(str(tmp_path / "curated"))
    seen: list[Call] = []
    with DataprocServer() as server:
        found = settings_from_outputs(outputs_for(raw.url, curated.url))
        settings = dataclasses.replace(found, source=str(source), dataproc_endpoint=server.endpoint)

        def ctx(who: str) -> Any:
            return cloud_context(
                settings,
                raw=Recorder(who, "raw", raw, seen),  # type: ignore[arg-type]
                curated=Recorder(who, "curated", curated, seen),  # type: ignore[arg-type]
                publisher=Topic(who, seen),
                loader=DataprocSubmitter(settings),
            )

        def event(storage: Any, name: str) -> StorageObjectEvent:
            info = storage.stat(name)
            assert info is not None, name
            return StorageObjectEvent(bucket_name(storage.url), name, info.generation, info.size)

        handle_message(b'{"start": "2011-02-15T00", "end": "2011-02-15T01"}', ctx("ingest"))  # fan-out

        def unreadable_ledger() -> None:  # the next appender replaces it, kept under quarantine/ledger/
            raw.put_bytes(layout.ledger_object(hour), b"{not a ledger")

        for load in ("", DEFERRED):
            unreadable_ledger()
            handle_message(hour_message(hour, load), ctx("ingest"))
            unreadable_ledger()
            handle_raw_finalized(event(raw, layout.raw_object(hour)), ctx("normalize"))
            unreadable_ledger()
            handle_curated_finalized(event(curated, layout.curated_object(hour)), ctx("spark_trigger"))
            if not load:  # the deferred pass needs a new raw generation to normalize again
                raw.delete(layout.raw_object(hour))
        assert server.batch_ids(), "spark_trigger submitted nothing"
    assert raw.stat(ledger.quarantine_name(hour, 1)) or list(raw.list(layout.LEDGER_QUARANTINE_PREFIX))
    missing = sorted(
        {f"{c.who}: {c.permission} on {c.target} {_kind(c.name)}" for c in seen if not in_table(c)}
    )
    assert not missing, "calls the code makes that the table lacks:\n" + "\n".join(missing)
    for who in ("ingest", "normalize", "spark_trigger"):
        assert any(c.who == who for c in seen), who
