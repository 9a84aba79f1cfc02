"""The DuckDB fast path (normalize/fast.py) against the Python path: the same table, or a fallback.

Every Events-era input is normalized twice, `engine="auto"` (must take the fast path) and
`engine="python"`, and every column is compared (ingested_at aside: it is the run's clock).
Inputs the fast path cannot prove equivalent must fall back for the whole file, invisibly.
"""

from __future__ import annotations

import gzip
import json
import re
from pathlib import Path
from typing import Any

import orjson
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from gharchive_pipeline import schema
from gharchive_pipeline.hours import Hour
from gharchive_pipeline.normalize import CorruptInputError, NormalizeResult, normalize
from gharchive_pipeline.normalize.fast import fast_path_kind

from .conftest import DATA

HOUR = Hour.parse("2015-01-01T00")

EVENTS_ERA_FILES = [
    "2015-01-01-0.json.gz",
    "2015-01-01-1.json.gz",
    "variant-preobfuscation/2015-01-01-1.json.gz",
    "2015-01-01-3.json.gz",
    "2015-01-01-5.json.gz",
    "partial/2021-01-01-1.json.gz",
    "partial/2018-01-01-0.json",
]


def both(src: Path, tmp: Path, **kwargs: Any) -> tuple[NormalizeResult, pa.Table, NormalizeResult, pa.Table]:
    fast = normalize(src, tmp / "fast.parquet", engine="auto", **kwargs)
    slow = normalize(src, tmp / "python.parquet", engine="python", **kwargs)
    return fast, pq.read_table(fast.output), slow, pq.read_table(slow.output)


def assert_same_table(a: pa.Table, b: pa.Table) -> None:
    assert a.schema.equals(b.schema, check_metadata=True)
    assert a.schema.equals(schema.arrow_schema(), check_metadata=True)
    assert a.num_rows == b.num_rows
    for name in a.column_names:
        if name == "ingested_at":
            continue
        left, right = a.column(name).to_pylist(), b.column(name).to_pylist()
        if left != right:
            row = next(i for i, (x, y) in enumerate(zip(left, right, strict=True)) if x != y)
            pytest.fail(f"column {name} differs first at row {row}: {left[row]!r} != {right[row]!r}")


def write_lines(path: Path, events: list[Any], *, compress: bool = True) -> Path:
    data = b"".join(
        (e if isinstance(e, bytes) else json.dumps(e, separators=(",", ":"), ensure_ascii=False).encode())
        + b"\n"
        for e in events
    )
    path.write_bytes(gzip.compress(data, mtime=0) if compress else data)
    return path


def real_events(name: str = "2015-01-01-0.json.gz", n: int = 50) -> list[dict[str, Any]]:
    with gzip.open(DATA / name, "rb") as f:
        return [orjson.loads(line) for _, line in zip(range(n), f, strict=False)]


@pytest.mark.parametrize("name", EVENTS_ERA_FILES)
def test_fast_path_equals_python_path_on_real_hours(name: str, tmp_path: Path) -> None:
    fast, fast_table, slow, slow_table = both(DATA / name, tmp_path, hour=HOUR)
    assert fast.engine == "duckdb" and slow.engine == "python"
    assert (fast.events, fast.rejects, fast.era, fast.eras) == (
        slow.events,
        slow.rejects,
        slow.era,
        slow.eras,
    )
    assert fast.input_kind == slow.input_kind
    assert_same_table(fast_table, slow_table)
    assert pq.ParquetFile(fast.output).metadata.row_group(0).column(0).compression == "ZSTD"
    assert (
        pq.ParquetFile(fast.output).schema_arrow.metadata == pq.ParquetFile(slow.output).schema_arrow.metadata
    )


def test_fast_path_on_a_generated_big_hour_slice(tmp_path: Path) -> None:
    """Like bench's make_big_hour.py: real 2015 events, fresh ids, json.dumps (ASCII escapes)."""
    events: list[dict[str, Any]] = []
    for name in ("2015-01-01-0.json.gz", "2015-01-01-3.json.gz"):
        with gzip.open(DATA / name, "rb") as f:
            events.extend(orjson.loads(line) for line in f)
    with gzip.open(tmp_path / "big.json.gz", "wb", compresslevel=1) as out:
        for i in range(20_000):
            event = dict(events[i % len(events)], id=str(9_000_000_000 + i))
            out.write(json.dumps(event, separators=(",", ":")).encode() + b"\n")
    fast, fast_table, _slow, slow_table = both(tmp_path / "big.json.gz", tmp_path, hour=HOUR)
    assert fast.engine == "duckdb" and fast.events == 20_000
    assert_same_table(fast_table, slow_table)


def test_the_two_servings_agree_on_the_fast_path(tmp_path: Path) -> None:
    a = normalize(DATA / "2015-01-01-1.json.gz", tmp_path / "a.parquet", engine="auto")
    b = normalize(DATA / "variant-preobfuscation/2015-01-01-1.json.gz", tmp_path / "b.parquet", engine="auto")
    assert a.engine == b.engine == "duckdb"
    assert_same_table(pq.read_table(a.output), pq.read_table(b.output))


def test_no_raw_email_survives_the_fast_path(tmp_path: Path) -> None:
    src = DATA / "variant-preobfuscation/2015-01-01-1.json.gz"  # the serving with raw e-mails
    raw = {
        c["author"]["email"]
        for e in real_events("variant-preobfuscation/2015-01-01-1.json.gz", 100_000)
        if e["type"] == "PushEvent"
        for c in e["payload"].get("commits", [])
        if "@" in c["author"]["email"] and len(c["author"]["email"].split("@")[0]) != 40
    }
    assert raw
    result = normalize(src, tmp_path / "out.parquet", engine="auto")
    assert result.engine == "duckdb"
    text = "\n".join(p for p in pq.read_table(result.output).column("payload").to_pylist() if p)
    assert not raw & set(re.findall(r"[^\s\"'<>(),;:\\]+@[^\s\"'<>(),;:\\]+", text))


def push(commits: list[dict[str, Any]], **payload: Any) -> dict[str, Any]:
    event = real_events()[0]
    event = dict(event, type="PushEvent")
    n = len(commits)
    event["payload"] = {"push_id": 1, "size": n, "distinct_size": n, "ref": "refs/heads/x", "head": "a" * 40,
                        "before": "b" * 40, "commits": commits, **payload}  # fmt: skip
    return event


def commit(email: str, message: str = "fix", name: str = "Ann") -> dict[str, Any]:
    return {"sha": "c" * 40, "author": {"email": email, "name": name}, "message": message, "distinct": True,
            "url": "https://api.github.com/repos/a/b/commits/c"}  # fmt: skip


TRICKY_EVENTS: dict[str, list[Any]] = {
    "e-mail forms": [
        push([commit("ann@example.org"), commit("no-at-sign"), commit("a@b.edu@svn-uuid"), commit("")]),
        push([commit("d" * 40 + "@example.org"), commit("e" * 40), commit("git@github.com:x")]),
        push([commit("ann@example.org", "Signed-off-by: Ann <ann@example.org>\nsee bob@example.com")]),
        push([commit('we"ird\\@example.org'), commit("ünï@exämple.org", name="Ünï")]),
        push([commit("x@y.org", "pkg@1.2.3 trunk@17448 git@github.com:a/b.git")]),
        push([]),
    ],
    "numbers and escapes": [
        push([commit("a@b.org")], score=1.5, big=10**20, tiny=1e-7, huge=1e300),
        dict(real_events()[1], payload={"action": "started", "x": 100000000000000000000.0}),
        dict(real_events()[2], payload={"action": "opened", "text": "bell\u0007 nul\u0000 \u2028 é 😀 \\/"}),
        dict(real_events()[3], payload=None),
        dict(real_events()[4], payload=[1, 2, "x@y.org"]),
        dict(real_events()[5], payload="just text"),
    ],
    "curated edge cases": [
        dict(push([]), payload={"size": "3", "distinct_size": True, "ref": "refs/heads/x"}),
        dict(push([]), payload={"push_id": 1, "ref": "refs/heads/main", "head": "a" * 40}),  # 2025 drift
        dict(
            real_events()[6],
            type="PullRequestEvent",
            payload={"action": "closed", "number": 7, "pull_request": {"number": 8, "merged": True}},
        ),
        dict(
            real_events()[7],
            type="IssueCommentEvent",
            payload={"action": "created", "issue": {"number": "9"}, "pull_request": {"number": 10}},
        ),
        dict(real_events()[8], type="CreateEvent", payload={"ref": None, "ref_type": "tag", "action": 3}),
        dict(
            real_events()[9],
            type="FollowEvent",
            payload={"target": {"login": "bob", "email": "bob@example.org"}},
        ),
        dict(real_events()[10], public=None, org={"id": "5", "login": 7}),
        dict(real_events()[11], actor=dict(real_events()[11]["actor"], login="Renovate-Bot")),
        dict(real_events()[12], actor=dict(real_events()[12]["actor"], login="dependabot[bot]", id=True)),
        dict(real_events()[13], repo={"id": 1, "name": 'we"ird\\name', "url": "https://x"}),
    ],
}


@pytest.mark.parametrize("case", sorted(TRICKY_EVENTS))
def test_fast_path_equals_python_path_on_tricky_events(case: str, tmp_path: Path) -> None:
    src = write_lines(tmp_path / "2015-01-01-0.json.gz", TRICKY_EVENTS[case])
    fast, fast_table, _, slow_table = both(src, tmp_path)
    assert fast.engine == "duckdb"
    assert_same_table(fast_table, slow_table)


FALLBACKS: dict[str, list[Any]] = {
    "a garbage line": [*real_events(n=200), b"{not json", *real_events(n=5)],
    "a JSON array line": [*real_events(n=200), b"[1, 2]"],
    "a Timeline-era line": [
        *real_events(n=20),
        {
            "type": "WatchEvent",
            "actor": "bob",
            "created_at": "2014-02-15T00:00:00-08:00",
            "repository": {"id": 1, "owner": "a", "name": "b"},
            "payload": {},
            "public": True,
        },
    ],
    "an unknown top-level key": [*real_events(n=200), dict(real_events()[0], extra={"a": "x@y.org"})],
    "a duplicate top-level key": [
        *real_events(n=200),
        b'{"id":"1","id":"2","type":"X","actor":{},"created_at":"2015-01-01T00:00:00Z"}',
    ],
    "a missing id": [*real_events(n=200), {k: v for k, v in real_events()[0].items() if k != "id"}],
    "an integer id": [*real_events(n=200), dict(real_events()[0], id=12345)],
    "an odd created_at": [*real_events(n=200), dict(real_events()[0], created_at="2015-01-01T00:00:00.5Z")],
    "a lone surrogate": [
        *real_events(n=200),
        b'{"id":"1","type":"X","actor":{},"payload":"\\ud800","created_at":"2015-01-01T00:00:00Z"}',
    ],
    "a backfill repo": [
        *real_events(n=200),
        dict(real_events()[0], repo={"id": 1, "name": "a/b", "url": "https://api.github.dev/a/b"}),
    ],
    "a push sized by its commits": [*real_events(n=200), push([commit("a@b.org")], size="3")],
    "a push counted from commits": [
        *real_events(n=200),
        dict(push([commit("a@b.org")]), payload={"commits": [commit("a@b.org")], "ref": "refs/heads/x"}),
    ],
}


@pytest.mark.parametrize("case", sorted(FALLBACKS))
def test_unprovable_files_fall_back_to_the_python_path(case: str, tmp_path: Path) -> None:
    src = write_lines(tmp_path / "2015-01-01-0.json.gz", FALLBACKS[case])
    assert fast_path_kind(src) == "gzip"  # it looks like an Events-era hour at first
    fast = normalize(src, tmp_path / "fast.parquet", engine="auto")
    slow = normalize(src, tmp_path / "python.parquet", engine="python")
    assert fast.engine == "python"
    assert (fast.events, fast.rejects, fast.eras) == (slow.events, slow.rejects, slow.eras)
    assert_same_table(pq.read_table(fast.output), pq.read_table(slow.output))
    assert not list(tmp_path.glob(".*.tmp"))  # the aborted fast attempt left nothing behind


def test_damaged_gzip_gets_the_python_path_error_and_salvage(tmp_path: Path) -> None:
    data = (DATA / "2015-01-01-3.json.gz").read_bytes()
    src = tmp_path / "2015-01-01-3.json.gz"
    src.write_bytes(data[: len(data) // 2])
    with pytest.raises(CorruptInputError, match="truncated gzip"):
        normalize(src, tmp_path / "out.parquet", engine="auto")
    assert not (tmp_path / "out.parquet").exists()
    salvaged = normalize(src, tmp_path / "out.parquet", salvage=True, engine="auto")
    assert salvaged.engine == "python" and salvaged.salvaged and 0 < salvaged.events < 5971


def test_plain_ndjson_and_blank_lines(tmp_path: Path) -> None:
    events = real_events(n=30)
    src = write_lines(
        tmp_path / "2015-01-01-0.json", [*events[:10], b"", b"   ", *events[10:]], compress=False
    )
    fast, fast_table, slow, slow_table = both(src, tmp_path)
    assert fast.engine == "duckdb" and fast.input_kind == "ndjson" and fast.events == slow.events == 30
    assert fast.lines == slow.lines
    assert_same_table(fast_table, slow_table)


def test_other_eras_and_streams_never_try_the_fast_path(tmp_path: Path) -> None:
    assert fast_path_kind(DATA / "2014-02-15-0.json.gz") is None
    assert fast_path_kind(DATA / "2011-02-15-0.json.gz") is None
    assert fast_path_kind(DATA / "partial/push_event_post_drift_2025-12-15-0.json") is None  # a document
    with (DATA / "2015-01-01-5.json.gz").open("rb") as stream:
        result = normalize(stream, tmp_path / "out.parquet", hour=HOUR, engine="auto")
    assert result.engine == "python" and result.events == 5887


def test_the_python_path_is_the_default(tmp_path: Path) -> None:
    assert normalize(DATA / "2015-01-01-5.json.gz", tmp_path / "out.parquet").engine == "python"


def test_engine_must_be_known(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="engine"):
        normalize(DATA / "2015-01-01-5.json.gz", tmp_path / "out.parquet", engine="spark")
