# Every hour, an empty message on the hours topic: ingest reads an empty body or an empty JSON
# object as "the latest complete hour" (hours.latest_complete_hour with
# GHARCHIVE_PUBLICATION_LAG_MINUTES). The body is `{}` rather than zero bytes because a push
# delivery omits an empty `data` field and functions-framework then refuses the request (400, so
# retried until dead-lettered); tests/test_terraform.py checks both.

resource "google_cloud_scheduler_job" "hourly" {
  name        = "${var.name_prefix}-hourly"
  description = "Ask the ingest function for the latest complete GH Archive hour."
  region      = var.region
  schedule    = var.schedule
  time_zone   = "Etc/UTC"

  retry_config {
    retry_count = 3
  }

  pubsub_target {
    topic_name = google_pubsub_topic.hours.id
    data       = base64encode("{}")
    attributes = {
      origin = "cloud-scheduler"
    }
  }

  depends_on = [google_project_service.apis]
}
