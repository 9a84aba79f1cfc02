variable "project_id" {
  description = "Google Cloud project that holds the whole pipeline."
  type        = string

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{4,28}[a-z0-9]$", var.project_id))
    error_message = "project_id must be a project ID (6-30 characters: lowercase letters, digits, hyphens)."
  }
}

variable "region" {
  description = "Region for the functions, Eventarc triggers, Cloud Scheduler, Dataproc batches and buckets."
  type        = string
  default     = "us-central1"

  validation {
    condition     = can(regex("^[a-z]+-[a-z]+[0-9]$", var.region))
    error_message = "region must be a Google Cloud region such as us-central1 (not a multi-region or zone)."
  }
}

variable "name_prefix" {
  description = "Prefix of every resource name; bucket names are <project_id>-<name_prefix>-<role>."
  type        = string
  default     = "gharchive"

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{1,14}$", var.name_prefix))
    error_message = "name_prefix must be 2-15 characters: lowercase letters, digits and hyphens, starting with a letter."
  }
}

variable "bq_location" {
  description = "BigQuery dataset location; must contain the region of the buckets (e.g. US for us-central1)."
  type        = string
  default     = "US"

  validation {
    condition     = length(var.bq_location) > 1
    error_message = "bq_location must be a BigQuery location such as US, EU or us-central1."
  }
}

variable "dataset_id" {
  description = "BigQuery dataset holding the events table and the statistics views."
  type        = string
  default     = "gharchive"

  validation {
    condition     = can(regex("^[A-Za-z_][A-Za-z0-9_]{0,1023}$", var.dataset_id))
    error_message = "dataset_id may contain only letters, digits and underscores."
  }
}

variable "gharchive_base_url" {
  description = "Where the ingest function downloads hour files from (GHARCHIVE_SOURCE)."
  type        = string
  default     = "https://data.gharchive.org"

  validation {
    condition     = can(regex("^https://", var.gharchive_base_url))
    error_message = "gharchive_base_url must be an https:// URL."
  }
}

variable "schedule" {
  description = "Cron schedule (UTC) of the hourly ingest message; at minute 40 the previous hour is past the 30-minute publication lag."
  type        = string
  default     = "40 * * * *"

  validation {
    condition     = length(split(" ", trimspace(var.schedule))) == 5
    error_message = "schedule must be a 5-field cron expression, e.g. \"40 * * * *\"."
  }
}

variable "publication_lag_minutes" {
  description = "How long after an hour ends GH Archive is expected to have published it (GHARCHIVE_PUBLICATION_LAG_MINUTES)."
  type        = number
  default     = 30

  validation {
    condition     = var.publication_lag_minutes >= 0 && var.publication_lag_minutes <= 1440
    error_message = "publication_lag_minutes must be between 0 and 1440."
  }
}

variable "max_range_hours" {
  description = "Largest range one backfill message may ask for (GHARCHIVE_MAX_RANGE_HOURS); bigger ranges are refused."
  type        = number
  default     = 744

  validation {
    condition     = var.max_range_hours >= 1 && var.max_range_hours <= 100000
    error_message = "max_range_hours must be between 1 and 100000."
  }
}

variable "functions_runtime" {
  description = "Cloud Functions (2nd gen) Python runtime."
  type        = string
  default     = "python312"

  validation {
    condition     = contains(["python311", "python312", "python313"], var.functions_runtime)
    error_message = "functions_runtime must be python311, python312 or python313."
  }
}

variable "function_settings" {
  description = "Memory, CPU and max instances per function (timeouts are fixed at 540 s, the event-function maximum)."
  type = map(object({
    memory        = string
    cpu           = string
    max_instances = number
  }))
  default = {
    ingest        = { memory = "2Gi", cpu = "1", max_instances = 10 }
    normalize     = { memory = "4Gi", cpu = "2", max_instances = 20 }
    spark_trigger = { memory = "512Mi", cpu = "1", max_instances = 5 }
  }

  validation {
    condition     = length(setsubtract(["ingest", "normalize", "spark_trigger"], keys(var.function_settings))) == 0
    error_message = "function_settings must have entries for ingest, normalize and spark_trigger."
  }

  validation {
    condition     = alltrue([for s in values(var.function_settings) : s.max_instances >= 1 && s.max_instances <= 100])
    error_message = "max_instances must be between 1 and 100 for every function."
  }
}

variable "ingest_max_delivery_attempts" {
  description = "Deliveries of one hours-topic message to ingest before it goes to the dead-letter topic."
  type        = number
  default     = 10

  validation {
    condition     = var.ingest_max_delivery_attempts >= 5 && var.ingest_max_delivery_attempts <= 100
    error_message = "ingest_max_delivery_attempts must be between 5 and 100 (Pub/Sub's limits)."
  }
}

variable "message_retention" {
  description = "How long the hours topic, its subscription and the dead-letter subscription keep messages."
  type        = string
  default     = "604800s"

  validation {
    condition     = can(regex("^[0-9]+s$", var.message_retention))
    error_message = "message_retention must be a duration in seconds such as 604800s."
  }
}

variable "dataproc_runtime_version" {
  description = "Dataproc Serverless runtime for the load batches (GHARCHIVE_DATAPROC_RUNTIME_VERSION)."
  type        = string
  default     = "2.2"

  validation {
    condition     = can(regex("^[0-9]+\\.[0-9]+$", var.dataproc_runtime_version))
    error_message = "dataproc_runtime_version must look like 2.2."
  }
}

variable "raw_nearline_after_days" {
  description = "Days after which raw hour files move to NEARLINE (they are read again only for reprocessing)."
  type        = number
  default     = 30

  validation {
    condition     = var.raw_nearline_after_days >= 1
    error_message = "raw_nearline_after_days must be at least 1."
  }
}

variable "raw_coldline_after_days" {
  description = "Days after which raw hour files move to COLDLINE."
  type        = number
  default     = 365

  validation {
    condition     = var.raw_coldline_after_days >= 90
    error_message = "raw_coldline_after_days must be at least 90 (NEARLINE's 30-day minimum plus margin)."
  }
}

variable "noncurrent_version_days" {
  description = "Days an overwritten or deleted object version is kept (versioned buckets: raw, curated, code)."
  type        = number
  default     = 30

  validation {
    condition     = var.noncurrent_version_days >= 1
    error_message = "noncurrent_version_days must be at least 1."
  }
}

variable "temp_object_days" {
  description = "Days after which objects in the Spark temp/staging bucket are deleted."
  type        = number
  default     = 2

  validation {
    condition     = var.temp_object_days >= 1
    error_message = "temp_object_days must be at least 1."
  }
}

variable "force_destroy_buckets" {
  description = "Allow terraform destroy to delete non-empty buckets (keep false in production: raw is the archive)."
  type        = bool
  default     = false
}

variable "build_dir" {
  description = "Directory holding `make package` outputs (functions/*.zip, spark/*), relative to this module."
  type        = string
  default     = "../build"

  validation {
    condition     = length(trimspace(var.build_dir)) > 0
    error_message = "build_dir must name the directory `make package` writes (default ../build)."
  }
}

variable "hourly_load" {
  description = "How the scheduler's hours are loaded (GHARCHIVE_HOURLY_LOAD): \"hour\", one Dataproc batch per hour within minutes; \"day\", one batch per UTC day once the day is settled (about 1/18 of the Dataproc cost, docs/scale.md; the day's rows arrive after its last hour)."
  type        = string
  default     = "hour"

  validation {
    condition     = contains(["hour", "day"], var.hourly_load)
    error_message = "hourly_load must be \"hour\" or \"day\"."
  }
}
