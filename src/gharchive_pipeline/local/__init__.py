"""The embedded pipeline on one machine: the local bus (Pub/Sub + Eventarc in process), the runner
(`gharchive run`), the follower (`--follow`) and the status table, over a home's `local_context`."""

#: What other packages may import.
__all__ = ["bus", "follow", "renormalize", "runner", "status", "stopping"]
