# The Spark load job and the core package it imports, uploaded from `make package` outputs. Batches
# are created at run time by spark_trigger (gharchive_pipeline.stages.dataproc), not by Terraform.
# Dataproc Serverless runs in the region's `default` VPC subnetwork, which needs Private Google
# Access (docs/deploy.md).

locals {
  spark_job_file      = "${path.module}/${var.build_dir}/spark/load_events.py"
  spark_py_files_file = "${path.module}/${var.build_dir}/spark/gharchive_pipeline.zip"
}

resource "google_storage_bucket_object" "spark_job" {
  bucket       = google_storage_bucket.code.name
  name         = "spark/load_events-${filemd5(local.spark_job_file)}.py"
  source       = local.spark_job_file
  content_type = "text/x-python"
}

resource "google_storage_bucket_object" "spark_py_files" {
  bucket       = google_storage_bucket.code.name
  name         = "spark/gharchive_pipeline-${filemd5(local.spark_py_files_file)}.zip"
  source       = local.spark_py_files_file
  content_type = "application/zip"
}
