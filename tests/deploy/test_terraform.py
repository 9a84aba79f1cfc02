"""Offline checks of terraform/: the HCL is parsed (python-hcl2) and its wiring asserted.

No provider can be downloaded here, so `terraform validate/plan` cannot run; instead these tests
check what a plan would get wrong silently: references to resources that do not exist, env vars the
function code reads but Terraform does not set, IAM grants beyond the listed ones, and a table
schema that drifted from gharchive_pipeline.schema.
"""

from __future__ import annotations

import ast
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import hcl2
import pytest
from click.testing import CliRunner
from hcl2 import SerializationOptions

from gharchive_pipeline import schema, settings
from gharchive_pipeline.cli import cli
from tools import generate_terraform_inputs as gen

ROOT = Path(__file__).resolve().parents[2]
TF = ROOT / "terraform"
FUNCTIONS = ("ingest", "normalize", "spark_trigger")

#: What each function reads, as the lead specified; used only where main.py has no ENV_VARS yet.
EXPECTED_ENV: dict[str, set[str]] = {
    "ingest": {
        "GHARCHIVE_RAW_BUCKET",
        "GHARCHIVE_SOURCE",
        "GHARCHIVE_TOPIC",
        "GHARCHIVE_MAX_RANGE_HOURS",
        "GHARCHIVE_PUBLICATION_LAG_MINUTES",
    },
    "normalize": {"GHARCHIVE_RAW_BUCKET", "GHARCHIVE_CURATED_BUCKET"},
    "spark_trigger": {
        "GHARCHIVE_PROJECT",
        "GHARCHIVE_REGION",
        "GHARCHIVE_DATAPROC_SERVICE_ACCOUNT",
        "GHARCHIVE_DATAPROC_RUNTIME_VERSION",
        "GHARCHIVE_SPARK_JOB_URI",
        "GHARCHIVE_SPARK_PY_FILES",
        "GHARCHIVE_BQ_TABLE",
        "GHARCHIVE_SPARK_TEMP_BUCKET",
        "GHARCHIVE_HOURLY_LOAD",
        "GHARCHIVE_RAW_BUCKET",
        "GHARCHIVE_CURATED_BUCKET",
    },
}

# The whole IAM policy of the deployment: (kind, target, role, member). Any grant Terraform makes
# that is not here, or any listed grant it lost, fails test_iam_grants_are_exactly_the_listed_ones.
Grant = tuple[str, str, str, str]
EXPECTED_GRANTS: set[Grant] = {
    # ingest: read raw, write raw hour files (renormalize stores one again in place), ledger/ and
    # quarantine/, publish fan-out
    ("bucket", "raw", "roles/storage.objectViewer", "ingest"),
    ("bucket:hours/,ledger/,quarantine/", "raw", "roles/storage.objectUser", "ingest"),
    ("topic", "hours", "roles/pubsub.publisher", "ingest"),
    # normalize: read raw, rewrite the ledger, write curated parquet, rejects (which it may delete) and
    # day-index markers, and nothing else in curated (not the loaders' locks/)
    ("bucket", "raw", "roles/storage.objectViewer", "normalize"),
    ("bucket:ledger/", "raw", "roles/storage.objectUser", "normalize"),
    ("bucket:quarantine/ledger/", "raw", "roles/storage.objectCreator", "normalize"),
    ("bucket:events/,rejects/,days/", "curated", "roles/storage.objectUser", "normalize"),
    # spark_trigger: ledgers (nothing else in raw), curated metadata and listing, create and get
    # batches, run them as the Dataproc account only
    ("bucket:ledger/", "raw", "roles/storage.objectUser", "spark_trigger"),
    ("bucket:quarantine/ledger/", "raw", "roles/storage.objectCreator", "spark_trigger"),
    ("bucket", "curated", "roles/storage.objectViewer", "spark_trigger"),
    ("project", "project", "custom:batch_submitter", "spark_trigger"),
    ("service_account", "dataproc", "custom:act_as", "spark_trigger"),
    # Dataproc batches: read curated and code, hold a day's lock, append to ledgers, scratch in temp,
    # write the dataset (events and the statistics tables), run jobs
    ("bucket", "curated", "roles/storage.objectViewer", "dataproc"),
    ("bucket:locks/", "curated", "roles/storage.objectUser", "dataproc"),
    ("bucket:ledger/", "raw", "roles/storage.objectUser", "dataproc"),
    ("bucket:quarantine/ledger/", "raw", "roles/storage.objectCreator", "dataproc"),
    ("bucket", "code", "roles/storage.objectViewer", "dataproc"),
    ("bucket", "temp", "roles/storage.objectUser", "dataproc"),
    ("project", "project", "roles/dataproc.worker", "dataproc"),
    ("project", "project", "roles/bigquery.jobUser", "dataproc"),
    ("dataset", "gharchive", "roles/bigquery.dataEditor", "dataproc"),
    # invoker: call the three functions, receive Eventarc events
    ("cloud_run", "functions", "roles/run.invoker", "invoker"),
    ("project", "project", "roles/eventarc.eventReceiver", "invoker"),
    # builder: Cloud Build for the function images; the build fetches the source from Google's
    # gcf-v2-sources-<number>-<region> bucket (a conditional project grant: see below)
    ("bucket", "code", "roles/storage.objectViewer", "builder"),
    ("project:gcf-v2-sources-<number>-<region>", "project", "roles/storage.objectViewer", "builder"),
    ("project", "project", "roles/logging.logWriter", "builder"),
    ("project", "project", "roles/artifactregistry.writer", "builder"),
    # Google service agents: GCS -> Pub/Sub for Eventarc; Pub/Sub push tokens and dead letters
    ("project", "project", "roles/pubsub.publisher", "gcs-agent"),
    ("service_account", "invoker", "roles/iam.serviceAccountTokenCreator", "pubsub-agent"),
    ("topic", "hours_dead_letter", "roles/pubsub.publisher", "pubsub-agent"),
    ("subscription", "ingest", "roles/pubsub.subscriber", "pubsub-agent"),
}


# ---- parsing ------------------------------------------------------------------------------------
def _load(path: Path, *, comments: bool = False) -> dict[str, Any]:
    opts = SerializationOptions(strip_string_quotes=True, with_comments=comments)
    with path.open() as f:
        return hcl2.load(f, serialization_options=opts)


class Module:
    """All .tf files of terraform/ merged: resources, data sources, variables, locals, outputs."""

    def __init__(self, root: Path) -> None:
        self.files = {p.name: _load(p) for p in sorted(root.glob("*.tf"))}
        self.resources: dict[tuple[str, str], dict[str, Any]] = {}
        self.data: dict[tuple[str, str], dict[str, Any]] = {}
        self.variables: dict[str, dict[str, Any]] = {}
        self.locals: dict[str, Any] = {}
        self.outputs: dict[str, dict[str, Any]] = {}
        for doc in self.files.values():
            for kind, store in (("resource", self.resources), ("data", self.data)):
                for block in doc.get(kind, []):
                    for rtype, named in block.items():
                        for name, body in named.items():
                            assert (rtype, name) not in store, f"{rtype}.{name} declared twice"
                            store[(rtype, name)] = body
            for block in doc.get("variable", []):
                self.variables.update(block)
            for block in doc.get("locals", []):
                self.locals.update(block)
            for block in doc.get("output", []):
                self.outputs.update(block)

    def resource(self, rtype: str, name: str) -> dict[str, Any]:
        assert (rtype, name) in self.resources, f"missing resource {rtype}.{name}"
        return self.resources[(rtype, name)]

    def of_type(self, rtype: str) -> dict[str, dict[str, Any]]:
        return {name: body for (t, name), body in self.resources.items() if t == rtype}


def block(body: dict[str, Any], name: str) -> dict[str, Any]:
    """The single nested block `name` of a resource body."""
    blocks = body.get(name)
    assert isinstance(blocks, list) and len(blocks) == 1, f"expected one {name} block, got {blocks!r}"
    return blocks[0]


def ref(text: str) -> str:
    """`${google_x.y.z}` -> `google_x.y.z`."""
    m = re.fullmatch(r"\$\{(.+)\}", text)
    assert m, f"expected a single reference, got {text!r}"
    return m.group(1)


@pytest.fixture(scope="module")
def tf() -> Module:
    return Module(TF)


# ---- references ----------------------------------------------------------------------------------
def _walk_strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for k, v in value.items():
            yield from _walk_strings(k)
            yield from _walk_strings(v)
    elif isinstance(value, list):
        for v in value:
            yield from _walk_strings(v)


_RESOURCE_REF = re.compile(r"(?<![\w.])(google_[a-z0-9_]+)\.([a-z0-9_]+)")
_DATA_REF = re.compile(r"(?<![\w.])data\.(google_[a-z0-9_]+)\.([a-z0-9_]+)")
_VAR_REF = re.compile(r"(?<![\w.])var\.([a-z0-9_]+)")
_LOCAL_REF = re.compile(r"(?<![\w.])local\.([a-z0-9_]+)")


def test_every_reference_resolves(tf: Module) -> None:
    missing: set[str] = set()
    for text in _walk_strings([tf.files[name] for name in tf.files]):
        for expr in re.findall(r"\$\{.*\}", text):
            without_data = _DATA_REF.sub("", expr)
            missing |= {f"data.{t}.{n}" for t, n in _DATA_REF.findall(expr) if (t, n) not in tf.data}
            refs = _RESOURCE_REF.findall(without_data)
            missing |= {f"{t}.{n}" for t, n in refs if (t, n) not in tf.resources}
            missing |= {f"var.{v}" for v in _VAR_REF.findall(expr) if v not in tf.variables}
            missing |= {f"local.{v}" for v in _LOCAL_REF.findall(expr) if v not in tf.locals}
    assert not missing, f"references to undeclared objects: {sorted(missing)}"


def test_every_member_and_bucket_key_in_grants_exists(tf: Module) -> None:
    for key, grant in {**tf.locals["bucket_grants"], **tf.locals["project_grants"]}.items():
        assert grant["who"] in tf.locals["members"], f"{key}: unknown member {grant['who']}"
        if "bucket" in grant:
            assert grant["bucket"] in tf.locals["bucket_ids"], f"{key}: unknown bucket {grant['bucket']}"


# ---- functions and triggers ----------------------------------------------------------------------
def _function(tf: Module, name: str) -> dict[str, Any]:
    return tf.resource("google_cloudfunctions2_function", name)


def _main_py(name: str) -> ast.Module:
    return ast.parse((ROOT / "functions" / name / "main.py").read_text())


def _env_vars_read(name: str) -> set[str]:
    """ENV_VARS of functions/<name>/main.py (names resolved via settings.py), else the lead's list."""
    for node in _main_py(name).body:
        target = node.target if isinstance(node, ast.AnnAssign) else None
        if isinstance(node, ast.Assign) and len(node.targets) == 1:
            target = node.targets[0]
        if isinstance(target, ast.Name) and target.id == "ENV_VARS" and node.value is not None:
            assert isinstance(node.value, ast.Tuple), f"{name}: ENV_VARS must be a tuple literal"
            names: set[str] = set()
            for elt in node.value.elts:
                if isinstance(elt, ast.Constant):
                    names.add(str(elt.value))
                else:
                    assert isinstance(elt, ast.Name), f"{name}: ENV_VARS entry {ast.dump(elt)}"
                    names.add(getattr(settings, elt.id))
            return names
    return EXPECTED_ENV[name]


@pytest.mark.parametrize("name", FUNCTIONS)
def test_function_is_built_from_its_package(tf: Module, name: str) -> None:
    fn = _function(tf, name)
    build = block(fn, "build_config")
    assert build["entry_point"] == name
    defined = {n.name for n in _main_py(name).body if isinstance(n, ast.FunctionDef)}
    assert name in defined, f"functions/{name}/main.py defines no function {name!r}"
    source = block(block(build, "source"), "storage_source")
    assert ref(source["bucket"]) == "google_storage_bucket.code.name"
    assert ref(source["object"]) == f'google_storage_bucket_object.function_source["{name}"].name'
    assert re.fullmatch(r"\$\{var\.functions_runtime\}", build["runtime"])
    runtimes = tf.variables["functions_runtime"]
    assert re.fullmatch(r"python3(1[1-9])", runtimes["default"]), runtimes["default"]
    assert tf.locals["function_zip"], "function_zip local missing"
    assert name in tf.locals["function_names"]


@pytest.mark.parametrize("name", FUNCTIONS)
def test_function_limits_and_exposure_are_explicit(tf: Module, name: str) -> None:
    svc = block(_function(tf, name), "service_config")
    assert svc["timeout_seconds"] == 540
    assert svc["available_memory"] == f"${{var.function_settings.{name}.memory}}"
    assert svc["max_instance_count"] == f"${{var.function_settings.{name}.max_instances}}"
    assert svc["ingress_settings"] == "ALLOW_INTERNAL_ONLY"
    assert ref(svc["service_account_email"]) == f'google_service_account.fn["{name}"].email'
    defaults = tf.variables["function_settings"]["default"]
    assert set(defaults) == set(FUNCTIONS)


@pytest.mark.parametrize("name", FUNCTIONS)
def test_env_vars_match_what_the_function_reads(tf: Module, name: str) -> None:
    env = block(_function(tf, name), "service_config")["environment_variables"]
    known = {v for k, v in vars(settings).items() if k.startswith("ENV_")}
    reads = _env_vars_read(name)
    assert reads <= set(env), f"{name} reads {sorted(reads - set(env))} but Terraform does not set them"
    assert set(env) <= known, f"{name}: Terraform sets {sorted(set(env) - known)}, not in settings.py"
    assert settings.ENV_DATAPROC_ENDPOINT not in env, "the test-only Dataproc endpoint must not be set"
    for key, value in env.items():
        if key.endswith("_BUCKET"):
            local = re.fullmatch(r"\$\{local\.(\w+)\}", value)
            value = tf.locals[local.group(1)] if local else value
            assert value.startswith("gs://"), f"{name}: {key} must be a gs:// URL, got {value!r}"


def test_env_var_values_point_at_the_right_resources(tf: Module) -> None:
    ingest = block(_function(tf, "ingest"), "service_config")["environment_variables"]
    assert ingest["GHARCHIVE_TOPIC"] == "${google_pubsub_topic.hours.id}"
    assert "google_storage_bucket.raw" in tf.locals["raw_url"]
    assert "google_storage_bucket.curated" in tf.locals["curated_url"]
    spark = block(_function(tf, "spark_trigger"), "service_config")["environment_variables"]
    assert "google_storage_bucket_object.spark_job" in spark["GHARCHIVE_SPARK_JOB_URI"]
    assert "google_storage_bucket_object.spark_py_files" in spark["GHARCHIVE_SPARK_PY_FILES"]
    assert "google_storage_bucket.temp" in spark["GHARCHIVE_SPARK_TEMP_BUCKET"]
    assert ref(spark["GHARCHIVE_DATAPROC_SERVICE_ACCOUNT"]) == "google_service_account.dataproc.email"
    assert ref(spark["GHARCHIVE_BQ_TABLE"]) == "local.bq_table"
    assert "google_bigquery_table.events" in tf.locals["bq_table"]


@pytest.mark.parametrize(("name", "bucket"), [("normalize", "raw"), ("spark_trigger", "curated")])
def test_storage_functions_fire_on_finalize_of_their_bucket(tf: Module, name: str, bucket: str) -> None:
    trigger = block(_function(tf, name), "event_trigger")
    assert trigger["event_type"] == "google.cloud.storage.object.v1.finalized"
    assert trigger["retry_policy"] == "RETRY_POLICY_RETRY"
    assert ref(trigger["service_account_email"]) == "google_service_account.invoker.email"
    assert block(trigger, "event_filters") == {
        "attribute": "bucket",
        "value": f"${{google_storage_bucket.{bucket}.name}}",
        "__is_block__": True,
    }


def test_ingest_is_fed_by_the_hours_topic_with_retries_and_dead_letters(tf: Module) -> None:
    assert "event_trigger" not in _function(tf, "ingest"), "ingest is pushed to by its own subscription"
    sub = tf.resource("google_pubsub_subscription", "ingest")
    assert ref(sub["topic"]) == "google_pubsub_topic.hours.id"
    push = block(sub, "push_config")
    assert ref(push["push_endpoint"]) == "google_cloudfunctions2_function.ingest.service_config[0].uri"
    assert ref(block(push, "oidc_token")["service_account_email"]) == "google_service_account.invoker.email"
    assert sub["ack_deadline_seconds"] >= 540
    assert block(sub, "retry_policy")["minimum_backoff"]
    dead = block(sub, "dead_letter_policy")
    assert ref(dead["dead_letter_topic"]) == "google_pubsub_topic.hours_dead_letter.id"
    for name in ("hours", "hours_dead_letter"):
        assert tf.resource("google_pubsub_topic", name)["message_retention_duration"]
    assert tf.resource("google_pubsub_subscription", "hours_dead_letter")["message_retention_duration"]


def test_scheduler_publishes_an_empty_message_hourly_in_utc(tf: Module) -> None:
    job = tf.resource("google_cloud_scheduler_job", "hourly")
    assert job["time_zone"] == "Etc/UTC"
    assert ref(job["schedule"]) == "var.schedule"
    minute, hour, *rest = tf.variables["schedule"]["default"].split()
    assert minute.isdigit() and hour == "*" and rest == ["*", "*", "*"], "must run once an hour"
    target = block(job, "pubsub_target")
    assert ref(target["topic_name"]) == "google_pubsub_topic.hours.id"
    # an empty JSON object: "the latest complete hour" (zero bytes would not survive push delivery)
    assert target["data"] == '${base64encode("{}")}'


def test_push_delivery_reaches_ingest_as_a_pubsub_cloudevent(tmp_path: Path) -> None:
    """The push subscription posts a raw Pub/Sub body; functions-framework must hand ingest the
    same CloudEvent data an Eventarc trigger would (stages.ingest.pubsub_payload reads it)."""
    import base64

    from functions_framework import create_app

    out = tmp_path / "seen.json"
    main = tmp_path / "main.py"
    main.write_text(
        "import json, functions_framework\n"
        "from gharchive_pipeline.stages.ingest import pubsub_payload\n"
        "@functions_framework.cloud_event\n"
        "def ingest(event):\n"
        f"    open({str(out)!r}, 'w').write(json.dumps([event['type'], "
        "pubsub_payload(event.get_data()).decode()]))\n"
    )
    client = create_app(target="ingest", source=str(main)).test_client()

    def push(message: dict[str, Any]) -> int:
        message = {"attributes": {"origin": "cloud-scheduler"}, "messageId": "7", **message}
        body = {"message": message, "subscription": "projects/p/subscriptions/s"}
        return int(client.post("/", json=body).status_code)

    for text in ("{}", '{"start": "2015-01-01T00", "end": "2015-01-01T05"}'):
        assert push({"data": base64.b64encode(text.encode()).decode()}) == 200
        assert json.loads(out.read_text()) == ["google.cloud.pubsub.topic.v1.messagePublished", text]
    # why the scheduler sends `{}`: push JSON omits an empty body and the framework then answers 400
    assert push({}) == 400


# ---- buckets ---------------------------------------------------------------------------------------
def test_buckets_are_private_and_uniform(tf: Module) -> None:
    buckets = tf.of_type("google_storage_bucket")
    assert set(buckets) == {"raw", "curated", "code", "temp"}
    for name, body in buckets.items():
        assert body["uniform_bucket_level_access"] is True, name
        assert body["public_access_prevention"] == "enforced", name


def test_raw_bucket_is_an_archive(tf: Module) -> None:
    raw = tf.resource("google_storage_bucket", "raw")
    assert block(raw, "versioning")["enabled"] is True
    classes = [
        block(rule, "action").get("storage_class")
        for rule in raw["lifecycle_rule"]
        if block(rule, "action")["type"] == "SetStorageClass"
    ]
    assert classes == ["NEARLINE", "COLDLINE"]
    for rule in raw["lifecycle_rule"]:
        cond = block(rule, "condition")
        if block(rule, "action")["type"] == "SetStorageClass":
            assert "ledger/" not in cond["matches_prefix"], "ledger objects are rewritten: keep them STANDARD"
        else:  # the only deletion: old noncurrent versions
            assert cond["with_state"] == "ARCHIVED"


# ---- IAM -----------------------------------------------------------------------------------------
_MEMBERS = {
    '${google_service_account.fn["ingest"].member}': "ingest",
    '${google_service_account.fn["normalize"].member}': "normalize",
    '${google_service_account.fn["spark_trigger"].member}': "spark_trigger",
    "${google_service_account.dataproc.member}": "dataproc",
    "${google_service_account.invoker.member}": "invoker",
    "${google_service_account.builder.member}": "builder",
    "serviceAccount:${data.google_storage_project_service_account.gcs.email_address}": "gcs-agent",
    "serviceAccount:${local.pubsub_service_agent}": "pubsub-agent",
}


def _member(tf: Module, expr: str) -> str:
    m = re.fullmatch(r"\$\{local\.members\.(\w+)\}", expr)
    if m:
        expr = tf.locals["members"][m.group(1)]
    assert expr in _MEMBERS, f"unexpected IAM member {expr!r}"
    return _MEMBERS[expr]


def _target(expr: str) -> str:
    """`${google_pubsub_topic.hours.id}` -> `hours`."""
    return ref(expr).split(".")[1]


_CUSTOM_ROLE = re.compile(r"\$\{google_project_iam_custom_role\.(\w+)\.name\}")


def _role(expr: str) -> str:
    """`roles/x.y` as is; a reference to a custom role of this module -> `custom:<name>`."""
    m = _CUSTOM_ROLE.fullmatch(expr)
    if m:
        return f"custom:{m.group(1)}"
    assert expr.startswith("roles/"), f"unexpected role expression {expr!r}"
    return expr


def _condition_bucket(tf: Module, condition: dict[str, Any]) -> str:
    """The one bucket a conditional project grant is limited to, locals resolved and the project
    number and region written as <number> and <region>."""
    text = re.sub(r"\$\{local\.(\w+)\}", lambda m: tf.locals[m.group(1)], condition["expression"])
    text = text.replace("${data.google_project.this.number}", "<number>").replace("${var.region}", "<region>")
    buckets = set(re.findall(r"projects/_/buckets/([^/\"]+)", text))
    assert len(buckets) == 1, f"a conditional project grant must name exactly one bucket: {text}"
    return buckets.pop()


def collect_grants(tf: Module) -> list[Grant]:
    grants: list[Grant] = []
    for key, g in tf.locals["bucket_grants"].items():
        kind = "bucket:" + ",".join(g["prefixes"]) if g["prefixes"] else "bucket"
        grants.append((kind, g["bucket"], _role(g["role"]), _member(tf, tf.locals["members"][g["who"]])))
        assert key.startswith(g["who"]), f"bucket_grants key {key} does not name its member {g['who']}"
    for g in tf.locals["project_grants"].values():
        grants.append(("project", "project", _role(g["role"]), _member(tf, tf.locals["members"][g["who"]])))
    for (rtype, name), body in tf.resources.items():
        if not rtype.endswith("_iam_member") or name == "grants":
            continue
        role, member = _role(body["role"]), _member(tf, body["member"])
        if rtype == "google_project_iam_member":
            conditions = body.get("condition", [])
            kind = f"project:{_condition_bucket(tf, conditions[0])}" if conditions else "project"
            grants.append((kind, "project", role, member))
        elif rtype == "google_pubsub_topic_iam_member":
            grants.append(("topic", _target(body["topic"]), role, member))
        elif rtype == "google_pubsub_subscription_iam_member":
            grants.append(("subscription", _target(body["subscription"]), role, member))
        elif rtype == "google_service_account_iam_member":
            grants.append(("service_account", _target(body["service_account_id"]), role, member))
        elif rtype == "google_bigquery_dataset_iam_member":
            grants.append(("dataset", _target(body["dataset_id"]), role, member))
        elif rtype == "google_cloud_run_service_iam_member":
            assert body["for_each"] == "${local.function_services}"
            grants.append(("cloud_run", "functions", role, member))
        else:
            raise AssertionError(f"unexpected IAM resource type {rtype}.{name}")
    return grants


def test_iam_grants_are_exactly_the_listed_ones(tf: Module) -> None:
    grants = collect_grants(tf)
    assert len(grants) == len(set(grants)), "a grant is declared twice"
    extra, lost = set(grants) - EXPECTED_GRANTS, EXPECTED_GRANTS - set(grants)
    assert not extra and not lost, f"unexpected grants: {sorted(extra)}; missing grants: {sorted(lost)}"


def test_no_public_members_primitive_roles_or_authoritative_iam(tf: Module) -> None:
    text = json.dumps([_load(p) for p in TF.glob("*.tf")])  # code only, not comments
    assert "allUsers" not in text and "allAuthenticatedUsers" not in text
    assert not re.search(r"roles/(owner|editor|viewer)\b", text), "primitive roles are not allowed"
    authoritative = [f"{t}.{n}" for t, n in tf.resources if t.endswith(("_iam_binding", "_iam_policy"))]
    assert not authoritative, f"authoritative IAM would remove grants made outside Terraform: {authoritative}"


def test_conditional_grants_limit_to_their_prefixes(tf: Module) -> None:
    res = tf.resource("google_storage_bucket_iam_member", "grants")
    cond = res["dynamic"][0]["condition"]["content"][0]
    assert "resource.name.startsWith" in cond["expression"]
    assert "/objects/${p}" in cond["expression"]


def test_function_builds_can_fetch_their_source(tf: Module) -> None:
    """Gen2 builds fetch the uploaded source from Google's gcf-v2-sources-<project number>-<region>
    bucket (https://cloud.google.com/functions/docs/building), and a custom build account without
    Storage Object Viewer there fails with "failed to Fetch ... Access to bucket gcf-v2-sources-...
    denied" (https://github.com/hashicorp/terraform-provider-google/issues/20571). The bucket is made
    by Google on the first deploy, so the grant is project-level (as Google's cloudfunctions2_basic_builder
    example), limited by a condition to that bucket, and every function waits for it."""
    grant = tf.resource("google_project_iam_member", "builder_function_sources")
    assert grant["role"] == "roles/storage.objectViewer"  # read only; the example's objectAdmin is wider
    assert _member(tf, grant["member"]) == "builder"
    number, region = "${data.google_project.this.number}", "${var.region}"
    assert tf.locals["function_sources_bucket"] == f"gcf-v2-sources-{number}-{region}"
    [condition] = grant["condition"]
    bucket = "projects/_/buckets/${local.function_sources_bucket}"
    assert condition["expression"] == (
        f'resource.name == "{bucket}" || resource.name.startsWith("{bucket}/objects/")'
    )
    for name in FUNCTIONS:
        body = _function(tf, name)
        assert block(body, "build_config")["service_account"] == "${google_service_account.builder.id}"
        assert "${google_project_iam_member.builder_function_sources}" in body["depends_on"], name


#: The custom roles and their exact permissions: each is what a predefined role minus the rest is.
CUSTOM_ROLES: dict[str, set[str]] = {
    # instead of roles/dataproc.editor (delete/cancel batches, clusters, jobs, workflow templates...)
    "batch_submitter": {"dataproc.batches.create", "dataproc.batches.get"},
    # instead of roles/iam.serviceAccountUser (also get/list service accounts and projects)
    "act_as": {"iam.serviceAccounts.actAs"},
}


def test_custom_roles_hold_exactly_their_permissions(tf: Module) -> None:
    roles = tf.of_type("google_project_iam_custom_role")
    assert set(roles) == set(CUSTOM_ROLES)
    ids = set()
    for name, body in roles.items():
        assert set(body["permissions"]) == CUSTOM_ROLES[name], name
        assert body["title"] and body["description"], name
        assert body["project"] == "${var.project_id}"
        # role ids allow [a-zA-Z0-9_.] only: the prefix's hyphens are replaced
        assert body["role_id"] == f'${{replace(var.name_prefix, "-", "_")}}_{name}', body["role_id"]
        ids.add(body["role_id"])
    assert len(ids) == len(roles)


def test_spark_trigger_has_no_project_wide_dataproc_or_act_as(tf: Module) -> None:
    """The two grants issue 13 found too wide stay narrow: no Dataproc editor/admin anywhere, and
    acting as a service account only on the Dataproc runtime account, never project-wide."""
    grants = collect_grants(tf)
    roles = {role for _, _, role, _ in grants}
    assert not {r for r in roles if re.fullmatch(r"roles/dataproc\.(editor|admin|serverlessEditor)", r)}
    project_roles = {role for kind, _, role, _ in grants if kind == "project"}
    act_as = {"custom:act_as", "roles/iam.serviceAccountUser", "roles/iam.serviceAccountTokenCreator"}
    assert not project_roles & act_as, "acting as service accounts must be granted per account"
    assert [(k, t, m) for k, t, r, m in grants if r == "custom:act_as"] == [
        ("service_account", "dataproc", "spark_trigger")
    ]


def test_write_grants_on_data_buckets_are_confined_to_layout_prefixes(tf: Module) -> None:
    """Writing raw or curated objects is limited, by an IAM condition, to prefixes that
    gharchive_pipeline.layout names; only ingest may write raw hour files (create, and store one
    again in place for renormalize)."""
    from gharchive_pipeline import layout

    known = {v for k, v in vars(layout).items() if k.endswith("_PREFIX") and isinstance(v, str)}
    writers = {"roles/storage.objectUser", "roles/storage.objectAdmin", "roles/storage.objectCreator"}
    by_grant: dict[tuple[str, str], set[str]] = {}
    for key, g in tf.locals["bucket_grants"].items():
        if g["bucket"] not in ("raw", "curated") or g["role"] not in writers:
            continue
        assert g["prefixes"], f"{key}: {g['role']} on the whole {g['bucket']} bucket"
        if g["role"] == "roles/storage.objectCreator":
            # create only: the appenders' copies of an unreadable ledger
            created = (g["who"], [layout.LEDGER_QUARANTINE_PREFIX])
            assert (g["who"], g["bucket"], g["prefixes"]) == (created[0], "raw", created[1]), key
            continue
        assert set(g["prefixes"]) <= known, f"{key}: {set(g['prefixes']) - known} is not a layout prefix"
        assert all(p.endswith("/") for p in g["prefixes"]), f"{key}: a prefix must end in / to be a folder"
        by_grant[(g["who"], g["bucket"])] = set(g["prefixes"])
    assert by_grant[("normalize", "curated")] == {
        layout.CURATED_PREFIX,
        layout.REJECTS_PREFIX,
        layout.DAY_INDEX_PREFIX,
    }
    assert by_grant[("dataproc", "curated")] == {layout.LOCKS_PREFIX}
    for who in ("normalize", "spark_trigger", "dataproc"):
        assert by_grant[(who, "raw")] == {layout.LEDGER_PREFIX}, who
    assert by_grant[("ingest", "raw")] == {layout.RAW_PREFIX, layout.LEDGER_PREFIX, layout.QUARANTINE_PREFIX}


def test_service_accounts_one_per_role(tf: Module) -> None:
    fn = tf.resource("google_service_account", "fn")
    assert fn["for_each"] == '${toset(["ingest", "normalize", "spark_trigger"])}'
    assert set(tf.of_type("google_service_account")) == {"fn", "dataproc", "invoker", "builder"}


# ---- BigQuery ----------------------------------------------------------------------------------------
def test_events_table_schema_is_the_project_schema(tf: Module) -> None:
    table = tf.resource("google_bigquery_table", "events")
    assert table["schema"] == '${file("${path.module}/generated/events_schema.json")}'
    result = CliRunner().invoke(cli, ["schema", "--format", "bigquery"])
    assert result.exit_code == 0, result.output
    generated = json.loads((TF / "generated" / "events_schema.json").read_text())
    assert generated == json.loads(result.output)


def test_events_table_layout(tf: Module) -> None:
    table = tf.resource("google_bigquery_table", "events")
    part = block(table, "time_partitioning")
    assert part["type"] == "DAY" and part["field"] == schema.PARTITION_FIELD
    assert "expiration_ms" not in part, "partition expiration must stay off"
    assert table["clustering"] == list(schema.CLUSTERING_FIELDS)
    assert table["deletion_protection"] is True


def test_generated_inputs_are_fresh() -> None:
    stale = gen.stale()
    assert not stale, f"stale terraform/generated files {stale}: run tools/generate_terraform_inputs.py"


def test_views_are_the_stats_views_in_dependency_order(tf: Module) -> None:
    from gharchive_pipeline.stats.views import bigquery_views

    levels = json.loads((TF / "generated" / "views.json").read_text())
    views = bigquery_views(gen.DATASET_PLACEHOLDER)
    assert set(levels) == set(views)
    for name, sql in views.items():
        for other in views:
            if f"`{gen.DATASET_PLACEHOLDER}.{other}`" in sql:
                assert levels[other] < levels[name], f"view {name} reads {other} but is not created after it"
    for level in range(gen.MAX_VIEW_LEVEL + 1):
        res = tf.resource("google_bigquery_table", f"views_level{level}")
        assert f"if level == {level}" in res["for_each"]
        if level:
            assert res["depends_on"] == [f"${{google_bigquery_table.views_level{level - 1}}}"]
    assert gen.DATASET_PLACEHOLDER in tf.locals["view_sql"]


def test_view_levels_detect_nesting_and_cycles() -> None:
    p = "X"
    assert gen.view_levels({"a": "FROM `X.events`", "b": "FROM `X.a`", "c": "FROM `X.b` JOIN `X.a`"}, p) == {
        "a": 0,
        "b": 1,
        "c": 2,
    }
    with pytest.raises(ValueError, match="cycle"):
        gen.view_levels({"a": "FROM `X.b`", "b": "FROM `X.a`"}, p)
    with pytest.raises(ValueError, match="deeper"):
        gen.view_levels({"a": "x", "b": "`X.a`", "c": "`X.b`", "d": "`X.c`"}, p)


def test_scale_plan_uses_the_configured_function_limits(tf: Module) -> None:
    """docs/scale.md computes wall times from the max instances: they must be the deployed ones."""
    defaults = tf.variables["function_settings"]["default"]
    limits = ", ".join(f"{name} {defaults[name]['max_instances']}" for name in FUNCTIONS)
    text = " ".join((ROOT / "docs" / "scale.md").read_text().split())
    assert f"`function_settings`: {limits})" in text, f"docs/scale.md does not use {limits}"


# ---- variables, outputs, APIs --------------------------------------------------------------------
def test_variables_are_described_and_validated(tf: Module) -> None:
    for name, var in tf.variables.items():
        assert var.get("description"), f"variable {name} has no description"
        if var.get("type") not in ("bool", "${bool}"):
            assert var.get("validation"), f"variable {name} has no validation"


def test_outputs_are_described(tf: Module) -> None:
    assert tf.outputs
    for name, out in tf.outputs.items():
        assert out.get("description"), f"output {name} has no description"


def test_tfvars_example_sets_only_known_and_all_required_variables(tf: Module) -> None:
    example = _load(TF / "terraform.tfvars.example")
    unknown = set(example) - set(tf.variables)
    assert not unknown, f"terraform.tfvars.example sets undeclared variables {unknown}"
    required = {n for n, v in tf.variables.items() if "default" not in v}
    assert required <= set(example), f"terraform.tfvars.example lacks required {required - set(example)}"


def test_required_apis_are_enabled(tf: Module) -> None:
    apis = set(
        tf.locals["apis"]
        .removeprefix("${toset(")
        .removesuffix(")}")
        .strip("[]")
        .replace('"', "")
        .replace(",", " ")
        .split()
    )
    needed = {
        "cloudfunctions",
        "run",
        "cloudbuild",
        "artifactregistry",
        "eventarc",
        "pubsub",
        "cloudscheduler",
        "storage",
        "bigquery",
        "dataproc",
        "iam",
    }
    assert {f"{a}.googleapis.com" for a in needed} <= apis


def test_provider_versions_are_pinned(tf: Module) -> None:
    terraform = tf.files["versions.tf"]["terraform"][0]
    google = terraform["required_providers"][0]["google"]
    assert google["source"] == "hashicorp/google"
    assert re.fullmatch(r"~> \d+\.\d+", google["version"]), google["version"]
    assert terraform["required_version"]
