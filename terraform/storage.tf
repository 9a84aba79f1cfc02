# Four buckets, all private (uniform bucket-level access, public access prevention enforced):
#   raw      the immutable archive of GH Archive hour files + quarantine + the per-hour ledger
#   curated  one parquet file per hour (and rejects); re-derivable from raw
#   code     function sources and the Spark job (written only by Terraform)
#   temp     Dataproc staging and BigQuery-connector temporary files (deleted after a few days)

resource "google_storage_bucket" "raw" {
  # checkov:skip=CKV_GCP_62: access logs are Cloud Audit Logs (see docs/deploy.md); a second log bucket adds cost, not insight
  name                        = local.bucket_names.raw
  location                    = var.region
  storage_class               = "STANDARD"
  uniform_bucket_level_access = true
  public_access_prevention    = "enforced"
  force_destroy               = var.force_destroy_buckets

  # Not a retention policy: the ledger objects in this bucket are rewritten as an hour moves through
  # the stages. Versioning keeps every overwritten or deleted raw file recoverable instead, and the
  # function service accounts cannot overwrite hours/ at all (iam.tf).
  versioning {
    enabled = true
  }

  soft_delete_policy {
    retention_duration_seconds = 604800
  }

  lifecycle_rule {
    condition {
      age                   = var.raw_nearline_after_days
      matches_prefix        = ["hours/", "quarantine/"]
      matches_storage_class = ["STANDARD"]
    }
    action {
      type          = "SetStorageClass"
      storage_class = "NEARLINE"
    }
  }

  lifecycle_rule {
    condition {
      age                   = var.raw_coldline_after_days
      matches_prefix        = ["hours/", "quarantine/"]
      matches_storage_class = ["NEARLINE"]
    }
    action {
      type          = "SetStorageClass"
      storage_class = "COLDLINE"
    }
  }

  lifecycle_rule {
    condition {
      days_since_noncurrent_time = var.noncurrent_version_days
      with_state                 = "ARCHIVED"
    }
    action {
      type = "Delete"
    }
  }

  depends_on = [google_project_service.apis]
}

resource "google_storage_bucket" "curated" {
  # checkov:skip=CKV_GCP_62: access logs are Cloud Audit Logs (see docs/deploy.md)
  name                        = local.bucket_names.curated
  location                    = var.region
  storage_class               = "STANDARD"
  uniform_bucket_level_access = true
  public_access_prevention    = "enforced"
  force_destroy               = var.force_destroy_buckets

  versioning {
    enabled = true
  }

  lifecycle_rule {
    condition {
      days_since_noncurrent_time = var.noncurrent_version_days
      with_state                 = "ARCHIVED"
    }
    action {
      type = "Delete"
    }
  }

  depends_on = [google_project_service.apis]
}

resource "google_storage_bucket" "code" {
  # checkov:skip=CKV_GCP_62: access logs are Cloud Audit Logs (see docs/deploy.md)
  name                        = local.bucket_names.code
  location                    = var.region
  storage_class               = "STANDARD"
  uniform_bucket_level_access = true
  public_access_prevention    = "enforced"
  force_destroy               = true # holds only what Terraform uploads from build/

  versioning {
    enabled = true
  }

  lifecycle_rule {
    condition {
      days_since_noncurrent_time = var.noncurrent_version_days
      with_state                 = "ARCHIVED"
    }
    action {
      type = "Delete"
    }
  }

  depends_on = [google_project_service.apis]
}

resource "google_storage_bucket" "temp" {
  # checkov:skip=CKV_GCP_62: access logs are Cloud Audit Logs (see docs/deploy.md)
  # checkov:skip=CKV_GCP_78: scratch space for Spark/BigQuery temporary files, deleted after temp_object_days; versions would only keep garbage
  name                        = local.bucket_names.temp
  location                    = var.region
  storage_class               = "STANDARD"
  uniform_bucket_level_access = true
  public_access_prevention    = "enforced"
  force_destroy               = true

  lifecycle_rule {
    condition {
      age = var.temp_object_days
    }
    action {
      type = "Delete"
    }
  }

  depends_on = [google_project_service.apis]
}
