"""The native fast path for Events-era hours (2015 on): DuckDB parses and maps, Python writes.

DuckDB reads the gzip/NDJSON file on every core and computes every column in SQL, mirroring the
Python mapper (eras.py, curated.py) and the e-mail rules (pii.py) exactly. It is used only where it
is provably equivalent; anything else makes `run_fast` raise FastPathUnavailable before a byte is
committed, and the caller redoes the WHOLE file with the Python path (which owns rejects, salvage,
error messages and the older eras):

- any DuckDB error: an invalid JSON line, invalid UTF-8, a lone surrogate escape, a damaged gzip,
  an integer too big for BIGINT;
- any row flagged by the `bad` column: not an object, a duplicate or unknown top-level key (the
  Python path puts those in `other`), a non-string or empty id/type, a created_at that is not
  `YYYY-MM-DDTHH:MM:SSZ`, an actor that is not an object (Timeline era), a backfill repo URL, a
  PushEvent whose sizes would need counting `commits`/`shas`.

Payload text is DuckDB's (yyjson) re-serialization, equal to orjson's except for floats,
control-character escapes and integers of 20+ digits. SQL leaves some payloads to Python
(`Payloads`, run in the main thread while DuckDB's threads map the next rows): those that may
hold such a spelling, FollowEvents (target.email), payloads needing the free-text e-mail scrub
(the same '@' count test as eras.py), and PushEvents, whose `"author":{"email":"..."` values are
hashed in the text when that is provably what the Python path does.
Known gap: DuckDB does not check the gzip
CRC, so a file whose only damage is its 4-byte CRC trailer is accepted (no data is lost).
"""

from __future__ import annotations

import logging
import re
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import duckdb
import orjson
import pyarrow as pa
import pyarrow.compute as pc

from .. import schema
from .chunks import Constants
from .eras import EVENTS, EventMapper
from .reader import GZIP_MAGIC

log = logging.getLogger(__name__)

BATCH_ROWS = 2_048  # rows per record batch and parquet row group (bigger ones cost DuckDB memory)
MEMORY_LIMIT = "300MB"
THREADS = 2
PEEK_BYTES = 1 << 20  # (inflated) bytes read to see the first line

_TS = pa.timestamp("us", tz="UTC")
_EVENT_KEYS = ("id", "type", "public", "created_at", "actor", "repo", "org", "payload")


class FastPathUnavailable(Exception):
    """The fast path cannot prove equivalence for this file; use the Python path."""


#: the JSON paths read from each line, in one parse; `v[i]` below is the JSON text of path i
_PATHS = (
    "id", "type", "public", "created_at", "actor", "actor.id", "actor.login",
    "repo.id", "repo.name", "repo.url", "org.id", "org.login", "payload",
    "payload.action", "payload.ref", "payload.ref_type", "payload.size", "payload.distinct_size",
    "payload.number", "payload.issue.number", "payload.pull_request.number",
    "payload.pull_request.merged",
)  # fmt: skip


def _v(path: str) -> str:
    return f"v[{_PATHS.index(path) + 1}]"


def _int(path: str) -> str:
    """A JSON integer as BIGINT, else NULL (the type is read off the JSON text: no re-parse)."""
    x = _v(path)
    return f"CASE WHEN regexp_full_match({x}, '-?[0-9]+') THEN {x}::BIGINT END"


def _str(path: str) -> str:
    """A JSON string's value, else NULL; unescaped by DuckDB only when it holds an escape."""
    x = _v(path)
    return (
        f"CASE WHEN starts_with({x}, '\"') THEN "
        f"(CASE WHEN contains({x}, '\\') THEN json_extract_string({x}, '$') ELSE {x}[2:-2] END) END"
    )


def _count(text: str, needle: str) -> str:
    return f"((length({text}) - length(replace({text}, '{needle}', ''))) // {len(needle)})"


_AUTHOR_RE = re.compile(r'"author":\{"email":"([^"\\]*)"')
#: numbers that DuckDB (yyjson) may spell unlike orjson: floats and integers of 20+ digits
_ODD_NUMBER = r"[:\[,]-?[0-9]+[.eE]|[:\[,]-?[0-9]{20}|^-?[0-9]"
_CREATED = r'"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-5][0-9]Z"'

_QUERY = f"""
WITH raw AS (
  SELECT json_extract(j, {["$." + p for p in _PATHS]!r})::VARCHAR[] AS v, json_keys(j) AS keys
  FROM read_json_objects(@SRC@, format = 'newline_delimited', compression = @COMPRESSION@,
                         maximum_object_size = 4194304) t(j)
), cols AS (
  SELECT v, {_str("type")} AS type,
    CASE WHEN {_v("payload")} <> 'null' THEN {_v("payload")} END AS pt,
    coalesce(
      len(keys) <> len(list_distinct(keys))
      OR NOT list_has_all({list(_EVENT_KEYS)!r}, keys)
      OR NOT starts_with({_v("id")}, '"') OR {_v("id")} = '""'
      OR NOT starts_with({_v("type")}, '"') OR {_v("type")} = '""'
      OR NOT regexp_full_match({_v("created_at")}, '{_CREATED}')
      OR try_strptime({_v("created_at")}, '"%Y-%m-%dT%H:%M:%SZ"') IS NULL
      OR NOT starts_with({_v("actor")}, '{{')
      OR coalesce(starts_with({_v("repo.url")}, '"') AND contains({_v("repo.url")}, 'api.github.dev'), false),
      true) AS bad
  FROM raw
), routed AS (
  SELECT *,
    CASE
      WHEN pt IS NULL THEN 'none'
      WHEN type = 'FollowEvent' OR contains(pt, '\\u00') OR regexp_matches(pt, '{_ODD_NUMBER}')
        THEN 'python'
      WHEN type = 'PushEvent' THEN 'push'
      WHEN contains(pt, '@') AND {_count("pt", "@")} > {_count("pt", '"git@github.com:')} THEN 'python'
      ELSE 'plain'
    END AS final_route
  FROM cols
)
SELECT
  {_str("id")} AS id,
  type,
  CASE {_v("public")} WHEN 'true' THEN true WHEN 'false' THEN false END AS public,
  try_strptime({_v("created_at")}, '"%Y-%m-%dT%H:%M:%SZ"') AS created_at,
  {_int("actor.id")} AS actor_id,
  {_str("actor.login")} AS actor_login,
  {_int("repo.id")} AS repo_id,
  {_str("repo.name")} AS repo_name,
  {_int("org.id")} AS org_id,
  {_str("org.login")} AS org_login,
  CASE WHEN final_route = 'plain' THEN pt END AS payload,
  NULL::VARCHAR AS other,
  {_str("payload.action")} AS action,
  {_str("payload.ref")} AS ref,
  {_str("payload.ref_type")} AS ref_type,
  CASE WHEN type = 'PushEvent' THEN {_int("payload.size")} END AS push_size,
  CASE WHEN type = 'PushEvent' THEN {_int("payload.distinct_size")} END AS push_distinct_size,
  CASE WHEN type <> 'PushEvent' THEN coalesce({_int("payload.number")},
    {_int("payload.issue.number")}, {_int("payload.pull_request.number")}) END AS number,
  CASE WHEN type = 'PullRequestEvent' THEN (CASE {_v("payload.pull_request.merged")}
    WHEN 'true' THEN true WHEN 'false' THEN false END) END AS pr_merged,
  CASE WHEN starts_with({_v("actor.login")}, '"') THEN
    regexp_matches(lower({_v("actor.login")}), '(\\[bot\\]|-bot|_bot)"$') END AS is_bot,
  bad OR coalesce(type = 'PushEvent'
    AND NOT coalesce(regexp_full_match({_v("payload.size")}, '-?[0-9]+')
                     AND regexp_full_match({_v("payload.distinct_size")}, '-?[0-9]+'), false)
    AND coalesce(contains(pt, '"commits":') OR contains(pt, '"shas":'), false), true) AS bad,
  CASE WHEN final_route IN ('python', 'push') THEN final_route END AS route,
  CASE WHEN final_route IN ('python', 'push') THEN pt END AS raw_payload
FROM routed
"""


class Payloads:
    """The payloads SQL leaves to Python (route `push` or `python`), done in the main thread
    while DuckDB's threads map the next rows: exactly the Python path's payload handling."""

    def __init__(self) -> None:
        self.mapper = EventMapper()
        self.hash_email = self.mapper.hash_email

    def full(self, event_type: str, payload: str) -> str | None:
        data = self.mapper._dump_payload(event_type, orjson.loads(payload))
        return None if data is None else data.decode()

    def push(self, payload: str) -> str | None:
        """A PushEvent payload: its `"author":{"email":"..."` values hashed in the text when that
        is provably what the Python path does, else the Python path's own handling.

        `split` gives [text, email, text, email, ..., text] in one regex pass. When every
        `"email":` key is such an author e-mail with at most one '@', hashing keeps the '@' count,
        so the scrub test (as eras.py) can count on the input text."""
        if '"shas":' not in payload and '"git@github.com:' not in payload:
            parts = _AUTHOR_RE.split(payload)
            emails = parts[1::2]
            if payload.count('"email":') == len(emails) and all(e.count("@") <= 1 for e in emails):
                known = sum("@" in e for e in emails)
                if payload.count("@") <= known:
                    hash_email = self.hash_email
                    for i in range(1, len(parts), 2):
                        parts[i] = f'"author":{{"email":"{hash_email(parts[i])}"'
                    return "".join(parts)
        return self.full("PushEvent", payload)

    def fill(self, batch: pa.RecordBatch) -> pa.Array:
        """The batch's payload column with the routed rows filled in."""
        payload = batch.column("payload")
        routes = batch.column("route")
        if routes.null_count == len(routes):
            return payload
        mask = pc.is_valid(routes)
        picked = pc.filter(batch.column("raw_payload"), mask).to_pylist()
        kinds = pc.filter(routes, mask).to_pylist()
        types = pc.filter(batch.column("type"), mask).to_pylist()
        values = [
            self.push(text) if kind == "push" else self.full(event_type, text)
            for text, kind, event_type in zip(picked, kinds, types, strict=True)
        ]
        return pc.replace_with_mask(payload, mask, pa.array(values, type=pa.string()))


def _connect() -> duckdb.DuckDBPyConnection:
    con = duckdb.connect(config={"threads": THREADS, "memory_limit": MEMORY_LIMIT})
    con.execute("SET TimeZone = 'UTC'")
    con.execute("SET preserve_insertion_order = true")  # rows in file order, as the Python path
    return con


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def batches(src: Path, compressed: bool) -> Iterator[pa.RecordBatch]:
    """The mapped rows as DuckDB record batches (with the `bad` flag column last)."""
    con = _connect()
    try:
        try:
            query = _QUERY.replace("@SRC@", _literal(str(src))).replace(
                "@COMPRESSION@", _literal("gzip" if compressed else "none")
            )
            reader = con.sql(query).to_arrow_reader(BATCH_ROWS)
            yield from reader
        except (duckdb.Error, OSError) as exc:  # OSError: pyarrow's wrapping of a DuckDB error
            raise FastPathUnavailable(f"DuckDB: {str(exc).splitlines()[0][:200]}") from None
    finally:
        con.close()


def to_table_batch(batch: pa.RecordBatch, constants: Constants, payloads: Payloads) -> pa.RecordBatch:
    """A DuckDB batch -> a batch with exactly schema.arrow_schema(); raises FastPathUnavailable
    when any row is flagged."""
    if pc.any(batch.column("bad")).as_py():
        raise FastPathUnavailable("a row needs the Python mapper (other era, odd keys or values)")
    target = schema.arrow_schema()
    n = batch.num_rows
    arrays: list[Any] = []
    for field in target:
        if field.name == "source_hour":
            break
        column = payloads.fill(batch) if field.name == "payload" else batch.column(field.name)
        arrays.append(column.cast(field.type))
    arrays.append(pa.repeat(pa.scalar(constants.source_hour, type=_TS), n))
    arrays.append(pa.repeat(pa.scalar(EVENTS), n))
    arrays.append(pa.repeat(pa.scalar(constants.ingested_at, type=_TS), n))
    arrays.append(pa.repeat(pa.scalar(constants.version), n))
    return pa.RecordBatch.from_arrays(arrays, schema=target)


def run_fast(
    src: Path, compressed: bool, constants: Constants, write: Callable[[pa.RecordBatch], None]
) -> int:
    """Map the whole file and pass each batch to `write`; returns the number of events.

    Raises FastPathUnavailable (possibly after some batches were written: the caller aborts its
    sink and starts over with the Python path)."""
    rows = 0
    payloads = Payloads()
    for batch in batches(src, compressed):
        if batch.num_rows:
            write(to_table_batch(batch, constants, payloads))
            rows += batch.num_rows
    return rows


def fast_path_kind(src: Path) -> str | None:
    """Returns "gzip" or "ndjson" when the first line of `src` is an Events-era event, else None."""
    try:
        with src.open("rb") as stream:
            head = stream.read(PEEK_BYTES)
    except OSError:
        return None
    kind = "ndjson"
    if head[:2] == GZIP_MAGIC:
        kind = "gzip"
        try:
            head = zlib.decompressobj(wbits=31).decompress(head, PEEK_BYTES)
        except zlib.error:
            return None
    line = next((x for x in head.split(b"\n")[:-1] if x.strip()), None)
    return kind if line is not None and looks_like_events(line) else None


def looks_like_events(first_line: bytes) -> bool:
    """Whether a file whose first event line is `first_line` is worth trying on the fast path."""
    try:
        event = orjson.loads(first_line)
    except orjson.JSONDecodeError:
        return False
    if not isinstance(event, dict):
        return False
    repo = event.get("repo")
    return (
        isinstance(event.get("actor"), dict)
        and not (isinstance(repo, dict) and "api.github.dev" in str(repo.get("url")))
        and isinstance(event.get("id"), str)
        and event.keys() <= set(_EVENT_KEYS)
    )
