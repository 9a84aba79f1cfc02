# Every hour, an empty message on the hours topic: ingest reads "no body" as "the latest complete
# hour" (gharchive_pipeline.hours.latest_complete_hour with GHARCHIVE_PUBLICATION_LAG_MINUTES).
# Pub/Sub messages need data or an attribute, so the body stays empty and one attribute says who sent it.

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
    attributes = {
      origin = "cloud-scheduler"
    }
  }

  depends_on = [google_project_service.apis]
}
