"""gharchive-pipeline: GH Archive hours -> a clean events table and hourly statistics."""

__version__ = "0.2.0"
PIPELINE_VERSION = __version__
