#!/usr/bin/env python3
"""BigQuery logical bytes of curated hours, by BigQuery's published size rules
(docs.cloud.google.com/bigquery/docs/data-types): STRING 2 + UTF-8 bytes, INT64/TIMESTAMP 8, BOOL 1,
NULL 0. Nothing here runs a BigQuery query: the figures are what BigQuery would count (table storage,
and the bytes an on-demand query scans: every referenced column of the scanned rows).

Per file: logical bytes per event over the first schema's 24 columns and over all of today's; and
what "merged pull requests per repository for a day" scans, with the typed columns
(`type, action, pr_merged, repo_name, created_at`) or through `payload` (`JSON_VALUE(payload,
'$.pull_request.merged')`, so `type, payload, repo_name, created_at`), over the whole day partition
and, with the table clustered by `type`, over the PullRequestEvent rows only (the best clustering
can prune to).

usage: logical_bytes.py FILE.parquet [...]   (curated parquet, e.g. from `gharchive normalize`)
"""

from __future__ import annotations

import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from gharchive_pipeline import schema

FIRST_SCHEMA = schema.COLUMN_NAMES[: schema.COLUMN_NAMES.index("pipeline_version") + 1]
TYPED_QUERY = ("type", "action", "pr_merged", "repo_name", "created_at")
PAYLOAD_QUERY = ("type", "payload", "repo_name", "created_at")
_FIXED = {"INT64": 8, "TIMESTAMP": 8, "BOOL": 1}


def column_bytes(column: pa.ChunkedArray, kind: str) -> int:
    valid = len(column) - column.null_count
    if kind == "STRING":
        lengths = pc.binary_length(column)
        return 2 * valid + int(pc.sum(lengths).as_py() or 0)
    return _FIXED[kind] * valid


def main(paths: list[str]) -> None:
    kinds = {f.name: f.kind for f in schema.FIELDS}
    print(f"{'file':<28}{'events':>9}{'B/event 24 cols':>17}{'B/event all':>13}"
          f"{'typed query':>13}{'payload query':>15}{'typed, PRs':>12}{'payload, PRs':>14}")  # fmt: skip
    for path in paths:
        table = pq.read_table(path)
        n = table.num_rows
        size = {c: column_bytes(table[c], kinds[c]) for c in table.column_names}
        prs = table.filter(pc.equal(table["type"], "PullRequestEvent"))
        pr_size = {c: column_bytes(prs[c], kinds[c]) for c in set(TYPED_QUERY) | set(PAYLOAD_QUERY)}
        first = sum(size[c] for c in FIRST_SCHEMA)
        typed, payload = (sum(size[c] for c in q) for q in (TYPED_QUERY, PAYLOAD_QUERY))
        typed_pr, payload_pr = (sum(pr_size[c] for c in q) for q in (TYPED_QUERY, PAYLOAD_QUERY))
        print(f"{Path(path).name:<28}{n:>9,}{first / n:>17,.0f}{sum(size.values()) / n:>13,.0f}"
              f"{typed / n:>13,.1f}{payload / n:>15,.0f}{typed_pr / n:>12,.2f}"
              f"{payload_pr / n:>14,.1f}")  # fmt: skip
    print("query columns: bytes per event of the whole table, i.e. scanned per event of the day")


if __name__ == "__main__":
    main(sys.argv[1:])
