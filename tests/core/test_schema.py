"""The one schema: every derived form agrees with FIELDS, and the normalizer writes exactly it."""

from __future__ import annotations

import json

import pyarrow as pa
import pytest

from gharchive_pipeline import schema
from gharchive_pipeline.normalize.eras import EventMapper


def test_columns_and_types() -> None:
    arrow = schema.arrow_schema()
    assert arrow.names == list(schema.COLUMN_NAMES)
    assert len(set(arrow.names)) == len(arrow.names)
    assert arrow.field("created_at").type == pa.timestamp("us", tz="UTC")
    assert arrow.field("payload").type == pa.string() and arrow.field("other").type == pa.string()
    assert {f.name for f in arrow if not f.nullable} == {
        "id", "type", "created_at", "source_hour", "schema_era", "ingested_at", "pipeline_version",
    }  # fmt: skip
    assert all(f.metadata and f.metadata[b"description"] for f in arrow)


def test_keys_are_columns() -> None:
    assert set(schema.DEDUP_KEY) <= set(schema.COLUMN_NAMES)
    assert set(schema.CLUSTERING_FIELDS) <= set(schema.COLUMN_NAMES)
    assert schema.PARTITION_FIELD == "created_at"


def test_bigquery_duckdb_and_render_agree() -> None:
    bq = schema.bigquery_schema()
    assert [c["name"] for c in bq] == list(schema.COLUMN_NAMES)
    kinds = {c["name"]: (c["type"], c["mode"]) for c in bq}
    assert kinds["is_bot"] == ("BOOLEAN", "NULLABLE") and kinds["id"] == ("STRING", "REQUIRED")
    assert kinds["created_at"] == ("TIMESTAMP", "REQUIRED") and kinds["push_size"] == ("INT64", "NULLABLE")
    assert list(schema.duckdb_columns()) == list(schema.COLUMN_NAMES)
    assert json.loads(schema.render("bigquery")) == bq
    assert [c["name"] for c in json.loads(schema.render("json"))] == list(schema.COLUMN_NAMES)
    assert "created_at: timestamp[us, tz=UTC] not null" in schema.render("arrow")
    with pytest.raises(ValueError, match="unknown schema format"):
        schema.render("xml")


def test_mapper_rows_fill_every_column_but_the_run_constants() -> None:
    event = {"id": "1", "type": "WatchEvent", "created_at": "2015-01-01T00:00:00Z", "public": True}
    event |= {"actor": {"id": 1, "login": "a"}, "repo": {"id": 2, "name": "a/b"}, "payload": {"action": "x"}}
    columns = EventMapper().map(event).columns()
    # the row holds every envelope and curated column and schema_era; source_hour, ingested_at and
    # pipeline_version are per-run constants added by the writer
    assert set(columns) == set(schema.COLUMN_NAMES) - {"source_hour", "ingested_at", "pipeline_version"}
    assert columns["schema_era"] == "events" and columns["is_bot"] is False
