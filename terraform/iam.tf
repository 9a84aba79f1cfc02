# Least privilege: one service account per function, one for Dataproc batches, one that only invokes
# the functions (Pub/Sub push and Eventarc), one that only builds them. Every grant is listed here,
# on the narrowest resource that works; no primitive roles, nothing for allUsers.
# tests/test_terraform.py holds the same list and fails on any grant not in it.

resource "google_service_account" "fn" {
  for_each = toset(["ingest", "normalize", "spark_trigger"])

  account_id   = "${var.name_prefix}-${replace(each.key, "_", "-")}"
  display_name = "gharchive ${each.key} function"
  description  = "Runtime identity of the ${each.key} Cloud Function."

  depends_on = [google_project_service.apis]
}

resource "google_service_account" "dataproc" {
  account_id   = "${var.name_prefix}-dataproc"
  display_name = "gharchive Dataproc batches"
  description  = "Runtime identity of the Dataproc Serverless batches loading curated hours into BigQuery."

  depends_on = [google_project_service.apis]
}

resource "google_service_account" "invoker" {
  account_id   = "${var.name_prefix}-invoker"
  display_name = "gharchive function invoker"
  description  = "Identity Pub/Sub push and Eventarc use to call the functions; can do nothing else."

  depends_on = [google_project_service.apis]
}

resource "google_service_account" "builder" {
  account_id   = "${var.name_prefix}-builder"
  display_name = "gharchive function builder"
  description  = "Cloud Build identity for the function images (instead of the default compute account)."

  depends_on = [google_project_service.apis]
}

# Custom roles where every predefined role grants more than the pipeline uses. roles/dataproc.editor
# (what spark_trigger had) also deletes and cancels batches and manages clusters, jobs and workflow
# templates in the whole project; the submitter needs to create a batch and read one back by its
# deterministic id (ALREADY_EXISTS, the state of a day's batch). Listing is not needed: ids are
# computed, never searched for (load/dataproc.py); the `gharchive load` sweep runs as its operator.
# Custom roles are soft-deleted: an apply within 7 days of a destroy undeletes the role, but from 7 to
# 37 days after it the role id cannot be used at all (apply with another name_prefix meanwhile).
resource "google_project_iam_custom_role" "batch_submitter" {
  project     = var.project_id
  role_id     = "${replace(var.name_prefix, "-", "_")}_batch_submitter"
  title       = "gharchive Dataproc batch submitter"
  description = "Create Dataproc Serverless batches and read one by id; nothing else (no list, delete, cancel, clusters or jobs)."
  permissions = ["dataproc.batches.create", "dataproc.batches.get"]
  stage       = "GA"

  depends_on = [google_project_service.apis]
}

resource "google_project_iam_custom_role" "act_as" {
  project     = var.project_id
  role_id     = "${replace(var.name_prefix, "-", "_")}_act_as"
  title       = "gharchive act as a service account"
  description = "Run a workload as the service account this role is granted on (iam.serviceAccounts.actAs only)."
  permissions = ["iam.serviceAccounts.actAs"]
  stage       = "GA"

  depends_on = [google_project_service.apis]
}

locals {
  bucket_ids = {
    raw     = google_storage_bucket.raw.name
    curated = google_storage_bucket.curated.name
    code    = google_storage_bucket.code.name
    temp    = google_storage_bucket.temp.name
  }

  members = {
    ingest        = google_service_account.fn["ingest"].member
    normalize     = google_service_account.fn["normalize"].member
    spark_trigger = google_service_account.fn["spark_trigger"].member
    dataproc      = google_service_account.dataproc.member
    builder       = google_service_account.builder.member
  }

  # Where Cloud Functions (2nd gen) keeps the sources its builds fetch (see builder_function_sources).
  function_sources_bucket = "gcf-v2-sources-${data.google_project.this.number}-${var.region}"

  # key => who, which bucket, which role, and (optionally) the object prefixes it is limited to
  # (an IAM condition on the object name). Raw hour files are created once (if_generation_match=0);
  # ingest overwrites one only for `gharchive renormalize` (the same bytes stored again in place, so
  # its finalize re-runs normalize), which needs storage.objects.delete besides create
  # (https://cloud.google.com/storage/docs/access-control/iam-permissions); ledger objects are
  # rewritten on every append, quarantine files when ingest quarantines a download again.
  bucket_grants = {
    "ingest-raw-read"       = { who = "ingest", bucket = "raw", role = "roles/storage.objectViewer", prefixes = [] }
    "ingest-raw-rewrite"    = { who = "ingest", bucket = "raw", role = "roles/storage.objectUser", prefixes = ["hours/", "ledger/", "quarantine/"] }
    "normalize-raw-read"    = { who = "normalize", bucket = "raw", role = "roles/storage.objectViewer", prefixes = [] }
    "normalize-raw-rewrite" = { who = "normalize", bucket = "raw", role = "roles/storage.objectUser", prefixes = ["ledger/"] }
    # every ledger appender keeps an unreadable ledger under quarantine/ledger/ (create once, never rewrite)
    "normalize-raw-ledger-quarantine" = { who = "normalize", bucket = "raw", role = "roles/storage.objectCreator", prefixes = ["quarantine/ledger/"] }
    "normalize-curated-write"         = { who = "normalize", bucket = "curated", role = "roles/storage.objectUser", prefixes = ["events/", "rejects/", "days/"] }
    # spark_trigger reads curated metadata (generation, load mode) and lists a day's hours; in raw it
    # reads and appends to the ledgers (a day is settled when every hour's ledger says so), nothing else.
    "spark_trigger-raw-ledger"            = { who = "spark_trigger", bucket = "raw", role = "roles/storage.objectUser", prefixes = ["ledger/"] }
    "spark_trigger-raw-ledger-quarantine" = { who = "spark_trigger", bucket = "raw", role = "roles/storage.objectCreator", prefixes = ["quarantine/ledger/"] }
    "spark_trigger-curated"               = { who = "spark_trigger", bucket = "curated", role = "roles/storage.objectViewer", prefixes = [] }
    # Dataproc batches read curated (listing a day: hours and day-index markers), hold the day's lock,
    # record "loaded by batch X" in the hours' ledgers, and stage files in temp (Spark staging, BigQuery load files).
    "dataproc-curated-read"          = { who = "dataproc", bucket = "curated", role = "roles/storage.objectViewer", prefixes = [] }
    "dataproc-curated-locks"         = { who = "dataproc", bucket = "curated", role = "roles/storage.objectUser", prefixes = ["locks/"] }
    "dataproc-raw-ledger"            = { who = "dataproc", bucket = "raw", role = "roles/storage.objectUser", prefixes = ["ledger/"] }
    "dataproc-raw-ledger-quarantine" = { who = "dataproc", bucket = "raw", role = "roles/storage.objectCreator", prefixes = ["quarantine/ledger/"] }
    "dataproc-code-read"             = { who = "dataproc", bucket = "code", role = "roles/storage.objectViewer", prefixes = [] }
    "dataproc-temp-write"            = { who = "dataproc", bucket = "temp", role = "roles/storage.objectUser", prefixes = [] }
    "builder-code-read"              = { who = "builder", bucket = "code", role = "roles/storage.objectViewer", prefixes = [] }
  }

  # key => who and which project-level role (roles that have no narrower resource to bind to).
  # Dataproc batches are project resources: the submitter's custom role cannot be bound any lower.
  project_grants = {
    "spark_trigger-batch-submitter" = { who = "spark_trigger", role = google_project_iam_custom_role.batch_submitter.name }
    "dataproc-worker"               = { who = "dataproc", role = "roles/dataproc.worker" }
    "dataproc-bq-job-user"          = { who = "dataproc", role = "roles/bigquery.jobUser" }
    "builder-log-writer"            = { who = "builder", role = "roles/logging.logWriter" }
    "builder-artifact-writer"       = { who = "builder", role = "roles/artifactregistry.writer" }
  }
}

resource "google_storage_bucket_iam_member" "grants" {
  for_each = local.bucket_grants

  bucket = local.bucket_ids[each.value.bucket]
  role   = each.value.role
  member = local.members[each.value.who]

  dynamic "condition" {
    for_each = length(each.value.prefixes) > 0 ? [each.value.prefixes] : []
    content {
      title       = "only-${join("-", [for p in condition.value : trimsuffix(p, "/")])}"
      description = "Objects under ${join(", ", condition.value)} only"
      expression = join(" || ", [
        for p in condition.value : "resource.name.startsWith(\"projects/_/buckets/${local.bucket_ids[each.value.bucket]}/objects/${p}\")"
      ])
    }
  }
}

# Cloud Functions (2nd gen) copies each uploaded source into a bucket Google creates on the first
# deploy, gcf-v2-sources-<project number>-<region>, and the build fetches it from THERE as the build
# account: reading our code bucket is not enough ("failed to Fetch: ... Access to bucket
# gcf-v2-sources-...-us-central1 denied. You must grant Storage Object Viewer permission to <build
# account>", https://github.com/hashicorp/terraform-provider-google/issues/20571; bucket name:
# https://cloud.google.com/functions/docs/building). That bucket does not exist at apply time, so no
# bucket-level grant can be made; Google's example grants a project-level storage role
# (cloudfunctions2_basic_builder in GoogleCloudPlatform/magic-modules:
# mmv1/templates/terraform/examples/cloudfunctions2_basic_builder.tf.tmpl, roles/storage.objectAdmin).
# Narrower here: objectViewer (what the error asks for), on the project, with an IAM condition that
# limits it to that one bucket and its objects (predefined roles may carry conditions).
resource "google_project_iam_member" "builder_function_sources" {
  project = var.project_id
  role    = "roles/storage.objectViewer"
  member  = local.members.builder

  condition {
    title       = "only-gcf-v2-sources"
    description = "The Cloud Functions source bucket of this project and region only"
    expression  = "resource.name == \"projects/_/buckets/${local.function_sources_bucket}\" || resource.name.startsWith(\"projects/_/buckets/${local.function_sources_bucket}/objects/\")"
  }
}

resource "google_project_iam_member" "grants" {
  for_each = local.project_grants

  project = var.project_id
  role    = each.value.role
  member  = local.members[each.value.who]
}

# The ingest function fans ranges out into single-hour messages on the hours topic.
resource "google_pubsub_topic_iam_member" "ingest_publisher" {
  topic  = google_pubsub_topic.hours.id
  role   = "roles/pubsub.publisher"
  member = local.members.ingest
}

# spark_trigger may start batches as the Dataproc account, and as no other account: actAs alone,
# granted on that one account (roles/iam.serviceAccountUser would add get/list of accounts).
resource "google_service_account_iam_member" "spark_trigger_acts_as_dataproc" {
  service_account_id = google_service_account.dataproc.name
  role               = google_project_iam_custom_role.act_as.name
  member             = local.members.spark_trigger
}

# The Dataproc batches write the events table; they cannot touch other datasets.
resource "google_bigquery_dataset_iam_member" "dataproc_editor" {
  dataset_id = google_bigquery_dataset.gharchive.dataset_id
  role       = "roles/bigquery.dataEditor"
  member     = local.members.dataproc
}

# The invoker may call the three functions and receive Eventarc events, nothing else.
resource "google_cloud_run_service_iam_member" "invoker" {
  for_each = local.function_services

  location = var.region
  service  = each.value
  role     = "roles/run.invoker"
  member   = google_service_account.invoker.member
}

resource "google_project_iam_member" "invoker_event_receiver" {
  project = var.project_id
  role    = "roles/eventarc.eventReceiver"
  member  = google_service_account.invoker.member
}

# Eventarc's Cloud Storage triggers: the GCS service agent publishes object events to Pub/Sub
# (topics Eventarc creates, hence the project level).
resource "google_project_iam_member" "gcs_agent_publisher" {
  project = var.project_id
  role    = "roles/pubsub.publisher"
  member  = "serviceAccount:${data.google_storage_project_service_account.gcs.email_address}"
}

# The Pub/Sub service agent: mints the OIDC token of push deliveries, forwards undeliverable
# messages to the dead-letter topic and acknowledges them on the source subscription.
resource "google_service_account_iam_member" "pubsub_agent_token_creator" {
  service_account_id = google_service_account.invoker.name
  role               = "roles/iam.serviceAccountTokenCreator"
  member             = "serviceAccount:${local.pubsub_service_agent}"
}

resource "google_pubsub_topic_iam_member" "dead_letter_publisher" {
  topic  = google_pubsub_topic.hours_dead_letter.id
  role   = "roles/pubsub.publisher"
  member = "serviceAccount:${local.pubsub_service_agent}"
}

resource "google_pubsub_subscription_iam_member" "dead_letter_subscriber" {
  subscription = google_pubsub_subscription.ingest.id
  role         = "roles/pubsub.subscriber"
  member       = "serviceAccount:${local.pubsub_service_agent}"
}
