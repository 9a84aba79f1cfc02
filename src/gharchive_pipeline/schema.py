"""The one definition of the events table.

Arrow (parquet), BigQuery (JSON schema for Terraform and load jobs) and Spark schemas are all
derived from `FIELDS`, so a column is added or changed in exactly one place.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Literal

import pyarrow as pa

Kind = Literal["STRING", "INT64", "BOOL", "TIMESTAMP"]


@dataclass(frozen=True)
class Field:
    name: str
    kind: Kind
    required: bool
    description: str


FIELDS: tuple[Field, ...] = (
    # envelope
    Field("id", "STRING", True, "GitHub event id; before 2015 derived from the event content"),
    Field("type", "STRING", True, "Event type, e.g. PushEvent"),
    Field("public", "BOOL", False, "Whether the event is public"),
    Field("created_at", "TIMESTAMP", True, "When GitHub created the event, converted to UTC"),
    Field("actor_id", "INT64", False, "Actor user id (null in the Timeline era, which has only the login)"),
    Field("actor_login", "STRING", False, "Actor login (null for anonymous gists)"),
    Field("repo_id", "INT64", False, "Repository id"),
    Field("repo_name", "STRING", False, "Repository as owner/name in every era"),
    Field("org_id", "INT64", False, "Organization id"),
    Field("org_login", "STRING", False, "Organization login"),
    Field("payload", "STRING", False, "Event payload as JSON text, commit e-mails hashed"),
    Field("other", "STRING", False, "Top-level fields not mapped to a column, as JSON text (e-mails hashed)"),
    # curated
    Field("action", "STRING", False, "payload.action (opened, closed, started, ...)"),
    Field("ref", "STRING", False, "Git ref of Push/Create/Delete events"),
    Field("ref_type", "STRING", False, "branch, tag or repository for Create/Delete events"),
    Field("push_size", "INT64", False, "Commits in a push: size, len(commits) or len(shas); null if unknown"),
    Field("push_distinct_size", "INT64", False, "Distinct commits in a push; null if unknown"),
    Field("number", "INT64", False, "Issue or pull request number"),
    Field("pr_merged", "BOOL", False, "Whether the pull request was merged (PullRequestEvent)"),
    Field("is_bot", "BOOL", False, "Actor looks like a bot ([bot] suffix or -bot login)"),
    # lineage
    Field("source_hour", "TIMESTAMP", True, "Start of the GH Archive file hour the event came from"),
    Field("schema_era", "STRING", True, "Source format: backfill, timeline or events"),
    Field("ingested_at", "TIMESTAMP", True, "When the pipeline normalized the event"),
    Field("pipeline_version", "STRING", True, "gharchive-pipeline version that wrote the row"),
)

COLUMN_NAMES: tuple[str, ...] = tuple(f.name for f in FIELDS)
ERAS: tuple[str, ...] = ("backfill", "timeline", "events")

#: BigQuery / warehouse physical layout (see README: why these keys).
PARTITION_FIELD = "created_at"
CLUSTERING_FIELDS: tuple[str, ...] = ("type", "repo_name", "actor_login")
#: Events are unique on this key (GitHub reset ids in 2025-10, so id alone is not enough).
DEDUP_KEY: tuple[str, ...] = ("id", "created_at")

_ARROW_TYPES: dict[Kind, pa.DataType] = {
    "STRING": pa.string(),
    "INT64": pa.int64(),
    "BOOL": pa.bool_(),
    "TIMESTAMP": pa.timestamp("us", tz="UTC"),
}


def arrow_schema() -> pa.Schema:
    return pa.schema(
        [
            pa.field(
                f.name, _ARROW_TYPES[f.kind], nullable=not f.required, metadata={"description": f.description}
            )
            for f in FIELDS
        ]
    )


def bigquery_schema() -> list[dict[str, str]]:
    """BigQuery JSON schema (what `bq mk --schema` and Terraform's `schema` take)."""
    return [
        {
            "name": f.name,
            "type": "BOOLEAN" if f.kind == "BOOL" else f.kind,
            "mode": "REQUIRED" if f.required else "NULLABLE",
            "description": f.description,
        }
        for f in FIELDS
    ]


def spark_schema() -> Any:
    """pyspark StructType; imported lazily so the core does not need pyspark installed."""
    from pyspark.sql import types as T

    kinds = {
        "STRING": T.StringType(),
        "INT64": T.LongType(),
        "BOOL": T.BooleanType(),
        "TIMESTAMP": T.TimestampType(),
    }
    return T.StructType([T.StructField(f.name, kinds[f.kind], not f.required) for f in FIELDS])


def duckdb_columns() -> dict[str, str]:
    kinds = {"STRING": "VARCHAR", "INT64": "BIGINT", "BOOL": "BOOLEAN", "TIMESTAMP": "TIMESTAMPTZ"}
    return {f.name: kinds[f.kind] for f in FIELDS}


def render(fmt: str) -> str:
    """Text for `gharchive schema --format arrow|bigquery|json`."""
    if fmt == "bigquery":
        return json.dumps(bigquery_schema(), indent=2)
    if fmt == "json":
        return json.dumps(
            [
                {"name": f.name, "type": f.kind, "required": f.required, "description": f.description}
                for f in FIELDS
            ],
            indent=2,
        )
    if fmt == "arrow":
        return arrow_schema().to_string(show_field_metadata=False)
    raise ValueError(f"unknown schema format {fmt!r} (arrow, bigquery, json)")
