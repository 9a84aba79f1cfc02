"""Buckets: Google Cloud Storage or a local directory behind one small interface."""

from .base import ObjectInfo, PreconditionFailed, Storage, StorageError, object_url, open_storage

__all__ = [
    "ObjectInfo",
    "PreconditionFailed",
    "Storage",
    "StorageError",
    "base",
    "object_url",
    "open_storage",
]
