"""gharchive-pipeline: GH Archive hours -> a clean events table and hourly statistics."""

__version__ = "0.1.0"
PIPELINE_VERSION = __version__
