# The events table (schema generated from gharchive_pipeline.schema by
# tools/generate_terraform_inputs.py), the materialized statistics tables (schemas generated from
# gharchive_pipeline.stats.sql; the load job replaces their day partitions) and the events_unique
# view (SQL from gharchive_pipeline.stats.views, with the dataset as a placeholder filled in here).

locals {
  dataset_ref = "${var.project_id}.${var.dataset_id}"
  view_levels = fileexists("${path.module}/generated/views.json") ? jsondecode(file("${path.module}/generated/views.json")) : {}
  view_sql = {
    for name, level in local.view_levels :
    name => replace(file("${path.module}/generated/views/${name}.sql"), "__GHARCHIVE_DATASET__", local.dataset_ref)
  }
  # statistics table -> its schema; the first column (hour or day) is its partition column
  stats_schemas = {
    for f in fileset("${path.module}/generated/stats_tables", "*.json") :
    trimsuffix(f, ".json") => file("${path.module}/generated/stats_tables/${f}")
  }
}

resource "google_bigquery_dataset" "gharchive" {
  # checkov:skip=CKV_GCP_81: public GitHub event data; Google-managed encryption suffices and CMEK would add a KMS key to run
  dataset_id                 = var.dataset_id
  friendly_name              = "GH Archive events"
  description                = "GitHub events from GH Archive, one row per event and source hour, plus statistics views."
  location                   = var.bq_location
  delete_contents_on_destroy = false

  depends_on = [google_project_service.apis]
}

resource "google_bigquery_table" "events" {
  # checkov:skip=CKV_GCP_80: public GitHub event data; Google-managed encryption suffices (as for the dataset, CKV_GCP_81)
  dataset_id          = google_bigquery_dataset.gharchive.dataset_id
  table_id            = "events"
  description         = "One row per GitHub event (id, created_at): the load job rebuilds each day partition deduplicated (docs/warehouse.md)."
  deletion_protection = true
  schema              = file("${path.module}/generated/events_schema.json")
  clustering          = ["type", "repo_name", "actor_login"]

  time_partitioning {
    type  = "DAY"
    field = "created_at"
    # no expiration_ms: partitions never expire (the table is the history)
  }
}

# hourly_stats and daily_stats: one row per (hour or day, type), DAY-partitioned on that column and
# refreshed by the load job for exactly the days it rebuilt, so a dashboard reads kilobytes.
resource "google_bigquery_table" "stats" {
  # checkov:skip=CKV_GCP_80: public GitHub event data; Google-managed encryption suffices (as for the dataset, CKV_GCP_81)
  for_each = local.stats_schemas

  dataset_id          = google_bigquery_dataset.gharchive.dataset_id
  table_id            = each.key
  description         = "Statistics per ${jsondecode(each.value)[0].name} and event type, computed from events; partitions refreshed by each load."
  deletion_protection = true
  schema              = each.value
  clustering          = ["type"]

  time_partitioning {
    type  = "DAY"
    field = jsondecode(each.value)[0].name
  }
}

# Views in dependency order: level 0 reads tables, level 1 reads level-0 views, level 2 reads level 1.
resource "google_bigquery_table" "views_level0" {
  # checkov:skip=CKV_GCP_80: views store no data, so there is nothing for a CMEK to encrypt
  # checkov:skip=CKV_GCP_121: views hold no data and are regenerated from the code; protection would block removing or renaming one
  for_each = { for name, level in local.view_levels : name => local.view_sql[name] if level == 0 }

  dataset_id          = google_bigquery_dataset.gharchive.dataset_id
  table_id            = each.key
  deletion_protection = false

  view {
    query          = each.value
    use_legacy_sql = false
  }

  depends_on = [google_bigquery_table.events]
}

resource "google_bigquery_table" "views_level1" {
  # checkov:skip=CKV_GCP_80: views store no data, so there is nothing for a CMEK to encrypt
  # checkov:skip=CKV_GCP_121: views hold no data and are regenerated from the code; protection would block removing or renaming one
  for_each = { for name, level in local.view_levels : name => local.view_sql[name] if level == 1 }

  dataset_id          = google_bigquery_dataset.gharchive.dataset_id
  table_id            = each.key
  deletion_protection = false

  view {
    query          = each.value
    use_legacy_sql = false
  }

  depends_on = [google_bigquery_table.views_level0]
}

resource "google_bigquery_table" "views_level2" {
  # checkov:skip=CKV_GCP_80: views store no data, so there is nothing for a CMEK to encrypt
  # checkov:skip=CKV_GCP_121: views hold no data and are regenerated from the code; protection would block removing or renaming one
  for_each = { for name, level in local.view_levels : name => local.view_sql[name] if level == 2 }

  dataset_id          = google_bigquery_dataset.gharchive.dataset_id
  table_id            = each.key
  deletion_protection = false

  view {
    query          = each.value
    use_legacy_sql = false
  }

  depends_on = [google_bigquery_table.views_level1]
}
