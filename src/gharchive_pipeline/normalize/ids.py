"""Deterministic ids for events that have none (the Timeline era, before 2015).

The id is derived from the SANITIZED event (e-mails already hashed) as canonical JSON (sorted keys),
so the original and the 2016 re-issued serving of an hour give the same ids, and a line repeated
verbatim gets the same id (the warehouse's dedup on (id, created_at) then removes it).
"""

from __future__ import annotations

import hashlib
from typing import Any

import orjson

from .numbers import dumps_as_orjson

#: GitHub ids are decimal digits; this prefix can never be mistaken for one.
DERIVED_PREFIX = "gha-"


def derived_id(event: dict[str, Any]) -> str:
    canonical = dumps_as_orjson(event, option=orjson.OPT_SORT_KEYS)  # ids stay as they were
    return DERIVED_PREFIX + hashlib.sha1(canonical).hexdigest()[:32]
