"""Deterministic object names: everything the pipeline stores is named from the hour alone.

Raw bucket:      hours/2015/01/01/2015-01-01-15.json.gz   (the GH Archive file, unchanged)
                 quarantine/2015/01/01/2015-01-01-15.json.gz   (corrupt downloads, kept for inspection)
                 ledger/2015/01/01/2015-01-01T15.json      (what happened to the hour, every stage)
Curated bucket:  events/date=2015-01-01/hour=15/events.parquet   (hive-style partitions)
                 rejects/date=2015-01-01/hour=15/rejects.ndjson  (lines the normalizer refused)
"""

from __future__ import annotations

import re

from .hours import Hour

RAW_PREFIX = "hours/"
QUARANTINE_PREFIX = "quarantine/"
LEDGER_PREFIX = "ledger/"
CURATED_PREFIX = "events/"
REJECTS_PREFIX = "rejects/"

_RAW_RE = re.compile(r"^hours/\d{4}/\d{2}/\d{2}/(\d{4}-\d{2}-\d{2}-\d{1,2})\.json\.gz$")
_CURATED_RE = re.compile(r"^events/date=(\d{4}-\d{2}-\d{2})/hour=(\d{2})/events\.parquet$")


def _dated(hour: Hour) -> str:
    return hour.start.strftime("%Y/%m/%d")


def _hive(hour: Hour) -> str:
    return f"date={hour.date}/hour={hour.start:%H}"


def raw_object(hour: Hour) -> str:
    return f"{RAW_PREFIX}{_dated(hour)}/{hour.file_name}"


def quarantine_object(hour: Hour) -> str:
    return f"{QUARANTINE_PREFIX}{_dated(hour)}/{hour.file_name}"


def ledger_object(hour: Hour) -> str:
    return f"{LEDGER_PREFIX}{_dated(hour)}/{hour.key}.json"


def curated_object(hour: Hour) -> str:
    return f"{CURATED_PREFIX}{_hive(hour)}/events.parquet"


def rejects_object(hour: Hour) -> str:
    return f"{REJECTS_PREFIX}{_hive(hour)}/rejects.ndjson"


def hour_of_raw_object(name: str) -> Hour | None:
    """The hour a raw object holds, or None for anything else (ledger, quarantine, foreign files)."""
    m = _RAW_RE.match(name)
    return Hour.parse(m.group(1)) if m else None


def hour_of_curated_object(name: str) -> Hour | None:
    m = _CURATED_RE.match(name)
    return Hour.parse(f"{m.group(1)}T{m.group(2)}") if m else None
