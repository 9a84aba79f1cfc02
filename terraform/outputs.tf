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
