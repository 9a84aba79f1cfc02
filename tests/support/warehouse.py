"""Helpers shared by the warehouse/Spark/stats tests: real hours -> curated parquet, raw-file counts.

Curated files come from the real normalizer; raw-file figures are computed here with gzip + json only.
"""

from __future__ import annotations

import gzip
import json
import shutil
import tempfile
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from gharchive_pipeline import layout
from gharchive_pipeline.hours import Hour
from gharchive_pipeline.normalize import normalize
from gharchive_pipeline.schema import arrow_schema

from ..conftest import DATA

#: the real 2015 hours the tests load (hour 0 and 1: ~15k events)
HOUR0 = Hour.parse("2015-01-01T00")
HOUR1 = Hour.parse("2015-01-01T01")


def raw_events(path: Path) -> list[dict[str, Any]]:
    with gzip.open(path, "rt", encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


def _ts(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC)


def write_rows(rows: list[dict[str, Any]], dst: Path) -> Path:
    dst.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.Table.from_pylist(rows, schema=arrow_schema()), dst, compression="zstd")
    return dst


def curated_rows(src: Path, hour: Hour) -> list[dict[str, Any]]:
    """Curated rows of a real hour file, made by the real normalizer."""
    with tempfile.TemporaryDirectory() as tmp:
        dst = Path(tmp) / "events.parquet"
        normalize(src, dst, hour=hour)
        return pq.read_table(dst).to_pylist()


_CACHE: dict[tuple[str, str], list[dict[str, Any]]] = {}


def cached_rows(name: str, hour: Hour) -> list[dict[str, Any]]:
    key = (name, hour.key)
    if key not in _CACHE:
        _CACHE[key] = curated_rows(DATA / name, hour)
    return _CACHE[key]


def put_curated(curated: Path, hour: Hour, rows: list[dict[str, Any]]) -> Path:
    """Write rows as the curated object of `hour` under the curated dir."""
    return write_rows(rows, curated / layout.curated_object(hour))


def reset(path: Path) -> Path:
    shutil.rmtree(path, ignore_errors=True)
    path.mkdir(parents=True)
    return path


def raw_counts(names: list[str]) -> dict[str, Any]:
    """Figures computed straight from the raw gzip NDJSON: the independent check of `gharchive stats`."""
    seen: set[tuple[str, str]] = set()
    by_type: Counter[str] = Counter()
    actors: set[str] = set()
    repos: set[str] = set()
    commits = pushes = merged = merged_additions = 0
    for name in names:
        for e in raw_events(DATA / name):
            key = (str(e["id"]), _ts(e["created_at"]).isoformat())
            if key in seen:
                continue
            seen.add(key)
            by_type[e["type"]] += 1
            actors.add(e["actor"]["login"])
            repos.add(e["repo"]["name"])
            if e["type"] == "PushEvent":
                pushes += 1
                commits += e["payload"]["size"]
            pr = e["payload"].get("pull_request")
            if e["type"] == "PullRequestEvent" and e["payload"].get("action") == "closed" and pr["merged"]:
                merged += 1
                merged_additions += pr["additions"]
    return {
        "events": sum(by_type.values()),
        "by_type": dict(by_type),
        "actors": len(actors),
        "repos": len(repos),
        "pushes": pushes,
        "commits": commits,
        "merged_prs": merged,
        "merged_pr_additions": merged_additions,
    }
