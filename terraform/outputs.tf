output "raw_bucket" {
  description = "Raw bucket URL (GH Archive files, quarantine, per-hour ledger); use with `gharchive status --raw`."
  value       = "gs://${google_storage_bucket.raw.name}"
}

output "curated_bucket" {
  description = "Curated bucket URL (one parquet file per hour)."
  value       = "gs://${google_storage_bucket.curated.name}"
}

output "code_bucket" {
  description = "Bucket holding the function sources and the Spark job."
  value       = "gs://${google_storage_bucket.code.name}"
}

output "temp_bucket" {
  description = "Spark staging / BigQuery connector temporary bucket."
  value       = "gs://${google_storage_bucket.temp.name}"
}

output "hours_topic" {
  description = "Pub/Sub topic to publish hour or range requests to (backfills)."
  value       = google_pubsub_topic.hours.id
}

output "dead_letter_subscription" {
  description = "Subscription holding hour messages ingest failed on after every retry."
  value       = google_pubsub_subscription.hours_dead_letter.id
}

output "events_table" {
  description = "BigQuery events table (project.dataset.table)."
  value       = local.bq_table
}

output "views" {
  description = "BigQuery statistics views (project.dataset.view)."
  value       = [for name in keys(local.view_levels) : "${local.dataset_ref}.${name}"]
}

output "functions" {
  description = "Cloud Function names by role."
  value       = local.function_services
}

output "service_accounts" {
  description = "Service account e-mails by role."
  value = {
    ingest        = google_service_account.fn["ingest"].email
    normalize     = google_service_account.fn["normalize"].email
    spark_trigger = google_service_account.fn["spark_trigger"].email
    dataproc      = google_service_account.dataproc.email
    invoker       = google_service_account.invoker.email
    builder       = google_service_account.builder.email
  }
}

output "scheduler_job" {
  description = "Cloud Scheduler job publishing the hourly message."
  value       = google_cloud_scheduler_job.hourly.id
}

# The settings `gharchive load`, `backfill` and `smoke` read from the saved `terraform output -json`
# (--deployment FILE): each is the value the spark_trigger function gets as a GHARCHIVE_* variable
# (gharchive_pipeline.settings.DEPLOYMENT_OUTPUTS; tests/deploy check they agree).
output "project" {
  description = "Google Cloud project of the deployment (GHARCHIVE_PROJECT)."
  value       = var.project_id
}

output "region" {
  description = "Region of the functions and the Dataproc batches (GHARCHIVE_REGION)."
  value       = var.region
}

output "spark_job_uri" {
  description = "The Spark load job the batches run (GHARCHIVE_SPARK_JOB_URI)."
  value       = "gs://${google_storage_bucket.code.name}/${google_storage_bucket_object.spark_job.name}"
}

output "spark_py_files" {
  description = "The core package zip the batches import (GHARCHIVE_SPARK_PY_FILES)."
  value       = "gs://${google_storage_bucket.code.name}/${google_storage_bucket_object.spark_py_files.name}"
}

output "dataproc_service_account" {
  description = "Service account the Dataproc batches run as (GHARCHIVE_DATAPROC_SERVICE_ACCOUNT)."
  value       = google_service_account.dataproc.email
}

output "dataproc_runtime_version" {
  description = "Dataproc Serverless runtime of the batches (GHARCHIVE_DATAPROC_RUNTIME_VERSION)."
  value       = var.dataproc_runtime_version
}

output "hourly_load" {
  description = "How the scheduler's hours are loaded, \"hour\" or \"day\" (GHARCHIVE_HOURLY_LOAD)."
  value       = var.hourly_load
}
