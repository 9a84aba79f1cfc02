# Shared values and the APIs the pipeline uses. Resources are grouped by service in the other files:
# storage.tf, pubsub.tf, scheduler.tf, iam.tf, functions.tf, spark.tf, bigquery.tf.

data "google_project" "this" {
  project_id = var.project_id
}

# The Cloud Storage service agent publishes object events to Pub/Sub for Eventarc (see iam.tf).
data "google_storage_project_service_account" "gcs" {
  project = var.project_id

  depends_on = [google_project_service.apis]
}

locals {
  apis = toset([
    "artifactregistry.googleapis.com",
    "bigquery.googleapis.com",
    "cloudbuild.googleapis.com",
    "cloudfunctions.googleapis.com",
    "cloudscheduler.googleapis.com",
    "compute.googleapis.com",
    "dataproc.googleapis.com",
    "eventarc.googleapis.com",
    "iam.googleapis.com",
    "logging.googleapis.com",
    "pubsub.googleapis.com",
    "run.googleapis.com",
    "storage.googleapis.com",
  ])

  bucket_names = {
    raw     = "${var.project_id}-${var.name_prefix}-raw"
    curated = "${var.project_id}-${var.name_prefix}-curated"
    code    = "${var.project_id}-${var.name_prefix}-code"
    temp    = "${var.project_id}-${var.name_prefix}-temp"
  }

  pubsub_service_agent = "service-${data.google_project.this.number}@gcp-sa-pubsub.iam.gserviceaccount.com"
  bq_table             = "${var.project_id}.${google_bigquery_dataset.gharchive.dataset_id}.${google_bigquery_table.events.table_id}"
}

resource "google_project_service" "apis" {
  for_each = local.apis

  project            = var.project_id
  service            = each.value
  disable_on_destroy = false
}
