"""What Eventarc does with a GCS notification pushed by Pub/Sub, for the cloud-chain test's shim.

Test-only: the pipeline never builds events from notifications (Eventarc does, in the cloud).
"""

from __future__ import annotations

import hashlib

from cloudevents.http import CloudEvent

from gharchive_pipeline.cloud_events import GCS_FINALIZED, GCS_SOURCE_PREFIX, EventError, PubSubMessage


def event_from_notification(message: PubSubMessage) -> CloudEvent | None:
    """A GCS Pub/Sub notification (payload JSON_API_V1) as the finalize CloudEvent Eventarc sends.

    None for other notification types (delete, metadata update), which the pipeline does not use.
    """
    attrs = message.attributes
    if attrs.get("eventType") != "OBJECT_FINALIZE":
        return None
    resource = message.json()
    if not isinstance(resource, dict):
        raise EventError(f"GCS notification {message.message_id} has no object resource")
    bucket = str(resource.get("bucket") or attrs.get("bucketId", ""))
    name = str(resource.get("name") or attrs.get("objectId", ""))
    resource = {"bucket": bucket, "name": name, "generation": attrs.get("objectGeneration"), **resource}
    attributes = {
        "type": GCS_FINALIZED,
        "source": f"{GCS_SOURCE_PREFIX}{bucket}",
        "subject": f"objects/{name}",
        "id": message.message_id or hashlib.sha256(f"{bucket}\n{name}".encode()).hexdigest()[:20],
    }
    if attrs.get("eventTime"):
        attributes["time"] = attrs["eventTime"]
    return CloudEvent(attributes, resource)
