# The three Cloud Functions (2nd gen). Sources are the zips `make package` builds (function main.py +
# requirements.txt + the core package); the object name carries the zip's MD5, so a changed source
# is a new object and a new revision, and an unchanged one is no change at all.
#
#   ingest         hours topic (push subscription, pubsub.tf) -> raw bucket (+ fan-out to the topic)
#   normalize      raw object finalized (Eventarc)             -> curated bucket
#   spark_trigger  curated object finalized (Eventarc)         -> Dataproc Serverless batch (spark.tf)
#
# Environment variable names are the contract of gharchive_pipeline/settings.py; each function's
# main.py lists what it reads in ENV_VARS and tests/test_terraform.py checks both agree.

locals {
  function_names = {
    ingest        = "${var.name_prefix}-ingest"
    normalize     = "${var.name_prefix}-normalize"
    spark_trigger = "${var.name_prefix}-spark-trigger"
  }

  function_services = {
    ingest        = google_cloudfunctions2_function.ingest.name
    normalize     = google_cloudfunctions2_function.normalize.name
    spark_trigger = google_cloudfunctions2_function.spark_trigger.name
  }

  function_zip = { for name in keys(local.function_names) : name => "${path.module}/${var.build_dir}/functions/${name}.zip" }

  raw_url     = "gs://${google_storage_bucket.raw.name}"
  curated_url = "gs://${google_storage_bucket.curated.name}"
}

resource "google_storage_bucket_object" "function_source" {
  for_each = local.function_zip

  bucket       = google_storage_bucket.code.name
  name         = "functions/${each.key}-${filemd5(each.value)}.zip"
  source       = each.value
  content_type = "application/zip"
}

resource "google_cloudfunctions2_function" "ingest" {
  name        = local.function_names.ingest
  location    = var.region
  description = "Downloads GH Archive hours into the raw bucket; fans ranges out to single hours."

  build_config {
    runtime         = var.functions_runtime
    entry_point     = "ingest"
    service_account = google_service_account.builder.id
    source {
      storage_source {
        bucket = google_storage_bucket.code.name
        object = google_storage_bucket_object.function_source["ingest"].name
      }
    }
  }

  service_config {
    available_memory                 = var.function_settings.ingest.memory
    available_cpu                    = var.function_settings.ingest.cpu
    timeout_seconds                  = 540
    min_instance_count               = 0
    max_instance_count               = var.function_settings.ingest.max_instances
    max_instance_request_concurrency = 1
    ingress_settings                 = "ALLOW_INTERNAL_ONLY"
    all_traffic_on_latest_revision   = true
    service_account_email            = google_service_account.fn["ingest"].email
    environment_variables = {
      GHARCHIVE_RAW_BUCKET              = local.raw_url
      GHARCHIVE_SOURCE                  = var.gharchive_base_url
      GHARCHIVE_TOPIC                   = google_pubsub_topic.hours.id
      GHARCHIVE_MAX_RANGE_HOURS         = tostring(var.max_range_hours)
      GHARCHIVE_PUBLICATION_LAG_MINUTES = tostring(var.publication_lag_minutes)
    }
  }

  depends_on = [
    google_project_iam_member.grants,
    google_storage_bucket_iam_member.grants,
    google_project_iam_member.builder_function_sources,
  ]
}

resource "google_cloudfunctions2_function" "normalize" {
  name        = local.function_names.normalize
  location    = var.region
  description = "Normalizes a raw hour file into one curated parquet file."

  build_config {
    runtime         = var.functions_runtime
    entry_point     = "normalize"
    service_account = google_service_account.builder.id
    source {
      storage_source {
        bucket = google_storage_bucket.code.name
        object = google_storage_bucket_object.function_source["normalize"].name
      }
    }
  }

  service_config {
    available_memory                 = var.function_settings.normalize.memory
    available_cpu                    = var.function_settings.normalize.cpu
    timeout_seconds                  = 540
    min_instance_count               = 0
    max_instance_count               = var.function_settings.normalize.max_instances
    max_instance_request_concurrency = 1
    ingress_settings                 = "ALLOW_INTERNAL_ONLY"
    all_traffic_on_latest_revision   = true
    service_account_email            = google_service_account.fn["normalize"].email
    environment_variables = {
      GHARCHIVE_RAW_BUCKET     = local.raw_url
      GHARCHIVE_CURATED_BUCKET = local.curated_url
    }
  }

  event_trigger {
    trigger_region        = var.region
    event_type            = "google.cloud.storage.object.v1.finalized"
    retry_policy          = "RETRY_POLICY_RETRY"
    service_account_email = google_service_account.invoker.email
    event_filters {
      attribute = "bucket"
      value     = google_storage_bucket.raw.name
    }
  }

  depends_on = [
    google_project_iam_member.grants,
    google_storage_bucket_iam_member.grants,
    google_project_iam_member.builder_function_sources,
    google_project_iam_member.gcs_agent_publisher,
    google_project_iam_member.invoker_event_receiver,
  ]
}

resource "google_cloudfunctions2_function" "spark_trigger" {
  name        = local.function_names.spark_trigger
  location    = var.region
  description = "Submits a Dataproc Serverless batch loading a curated hour into BigQuery."

  build_config {
    runtime         = var.functions_runtime
    entry_point     = "spark_trigger"
    service_account = google_service_account.builder.id
    source {
      storage_source {
        bucket = google_storage_bucket.code.name
        object = google_storage_bucket_object.function_source["spark_trigger"].name
      }
    }
  }

  service_config {
    available_memory                 = var.function_settings.spark_trigger.memory
    available_cpu                    = var.function_settings.spark_trigger.cpu
    timeout_seconds                  = 540
    min_instance_count               = 0
    max_instance_count               = var.function_settings.spark_trigger.max_instances
    max_instance_request_concurrency = 1
    ingress_settings                 = "ALLOW_INTERNAL_ONLY"
    all_traffic_on_latest_revision   = true
    service_account_email            = google_service_account.fn["spark_trigger"].email
    environment_variables = {
      GHARCHIVE_RAW_BUCKET               = local.raw_url
      GHARCHIVE_CURATED_BUCKET           = local.curated_url
      GHARCHIVE_PROJECT                  = var.project_id
      GHARCHIVE_REGION                   = var.region
      GHARCHIVE_DATAPROC_SERVICE_ACCOUNT = google_service_account.dataproc.email
      GHARCHIVE_DATAPROC_RUNTIME_VERSION = var.dataproc_runtime_version
      GHARCHIVE_SPARK_JOB_URI            = "gs://${google_storage_bucket.code.name}/${google_storage_bucket_object.spark_job.name}"
      GHARCHIVE_SPARK_PY_FILES           = "gs://${google_storage_bucket.code.name}/${google_storage_bucket_object.spark_py_files.name}"
      GHARCHIVE_BQ_TABLE                 = local.bq_table
      GHARCHIVE_SPARK_TEMP_BUCKET        = "gs://${google_storage_bucket.temp.name}"
      GHARCHIVE_HOURLY_LOAD              = var.hourly_load
    }
  }

  event_trigger {
    trigger_region        = var.region
    event_type            = "google.cloud.storage.object.v1.finalized"
    retry_policy          = "RETRY_POLICY_RETRY"
    service_account_email = google_service_account.invoker.email
    event_filters {
      attribute = "bucket"
      value     = google_storage_bucket.curated.name
    }
  }

  depends_on = [
    google_project_iam_member.grants,
    google_storage_bucket_iam_member.grants,
    google_service_account_iam_member.spark_trigger_acts_as_dataproc,
    google_project_iam_member.builder_function_sources,
    google_project_iam_member.gcs_agent_publisher,
    google_project_iam_member.invoker_event_receiver,
  ]
}
