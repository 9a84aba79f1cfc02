# The hours topic: Cloud Scheduler publishes an empty message every hour ("ingest the latest complete
# hour"), `gharchive backfill`-style messages ask for a range, and ingest fans ranges out into
# single-hour messages on the same topic. Ingest is fed by a push subscription (not an Eventarc
# trigger) because only a subscription we own can carry a dead-letter policy and a retry backoff.

resource "google_pubsub_topic" "hours" {
  # checkov:skip=CKV_GCP_83: messages are hour keys, not sensitive; Google-managed encryption suffices and CMEK would add a KMS key to run
  name                       = "${var.name_prefix}-hours"
  message_retention_duration = var.message_retention

  depends_on = [google_project_service.apis]
}

resource "google_pubsub_topic" "hours_dead_letter" {
  # checkov:skip=CKV_GCP_83: dead letters are hour keys too, not sensitive; Google-managed encryption suffices
  name                       = "${var.name_prefix}-hours-dead-letter"
  message_retention_duration = var.message_retention

  depends_on = [google_project_service.apis]
}

resource "google_pubsub_subscription" "ingest" {
  name                       = "${var.name_prefix}-hours-ingest"
  topic                      = google_pubsub_topic.hours.id
  ack_deadline_seconds       = 600 # longer than the function timeout (540 s)
  message_retention_duration = var.message_retention
  retain_acked_messages      = false

  push_config {
    push_endpoint = google_cloudfunctions2_function.ingest.service_config[0].uri

    oidc_token {
      service_account_email = google_service_account.invoker.email
      audience              = google_cloudfunctions2_function.ingest.service_config[0].uri
    }
  }

  # Retry on failure with backoff; after max_delivery_attempts the message is parked, not lost.
  retry_policy {
    minimum_backoff = "10s"
    maximum_backoff = "600s"
  }

  dead_letter_policy {
    dead_letter_topic     = google_pubsub_topic.hours_dead_letter.id
    max_delivery_attempts = var.ingest_max_delivery_attempts
  }

  expiration_policy {
    ttl = "" # never expire
  }

  depends_on = [
    google_pubsub_topic_iam_member.dead_letter_publisher,
    google_cloud_run_service_iam_member.invoker,
  ]
}

# Keeps dead letters for inspection: `gcloud pubsub subscriptions pull <name> --auto-ack=false`.
resource "google_pubsub_subscription" "hours_dead_letter" {
  name                       = "${var.name_prefix}-hours-dead-letter"
  topic                      = google_pubsub_topic.hours_dead_letter.id
  message_retention_duration = var.message_retention
  retain_acked_messages      = true
  ack_deadline_seconds       = 60

  expiration_policy {
    ttl = ""
  }
}
