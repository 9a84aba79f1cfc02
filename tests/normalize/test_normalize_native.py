"""The native fast path (`normalize/_fastpath.c`) against the pure-Python mapper.

Contract: every line the C module takes gives EXACTLY the row `eras.EventMapper().map` gives for it
(payload bytes included); everything else is handed back as fallback, never a wrong row. Checked on
every bundled real file, on edge cases built from real Events-era events, on random events
(hypothesis) and through `chunks.process` with the native path on and off.
"""

from __future__ import annotations

import copy
import gzip
import json
import os
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import Any

import orjson
import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gharchive_pipeline.normalize import chunks, native
from gharchive_pipeline.normalize.eras import EVENTS, EventMapper, RowError, detect_era

from ..conftest import DATA
from ..support.native_rule import column_holds_at

pytestmark = pytest.mark.skipif(
    not native.AVAILABLE,
    reason="native fast path not in use (C extension not built, or GHARCHIVE_NATIVE=0)",
)

# ---- comparing the two paths ----------------------------------------------------------------------

NATIVE, FALLBACK, EITHER = "native", "fallback", "either"


@dataclass(frozen=True)
class Outcome:
    taken: frozenset[int]  # offsets of the lines the native path made rows of
    fallback: frozenset[int]  # offsets of the lines it handed back


def _column_values(name: str, column: pa.Array) -> list[Any]:
    column.validate(full=True)  # offsets, bitmaps and UTF-8 of what C built by hand
    if pa.types.is_timestamp(column.type):
        return column.cast(pa.int64()).to_pylist()  # exact micros (no float round trip)
    if name in ("payload", "other"):
        return column.cast(pa.binary()).to_pylist()  # the exact bytes, as the Python path has them
    return column.to_pylist()


def _python_row(mapper: EventMapper, line: bytes) -> dict[str, Any] | str:
    """The Python path's row for `line`, or why it has none."""
    try:
        event = orjson.loads(line)
    except orjson.JSONDecodeError as exc:
        return f"Python: not JSON ({exc})"
    if not isinstance(event, dict):
        return "Python: not an object"
    try:
        return mapper.map(event).columns()
    except (RowError, orjson.JSONEncodeError) as exc:
        return f"Python: rejected ({exc})"


def _describe(native_row: dict[str, Any], expected: dict[str, Any] | str) -> str:
    if isinstance(expected, str):
        return expected
    assert native_row.keys() == expected.keys()
    return "; ".join(
        f"{name}: native={native_row[name]!r:.300} python={expected[name]!r:.300}"
        for name in native_row
        if native_row[name] != expected[name]
    )


def compare(lines: list[bytes]) -> Outcome:
    """Map `lines` natively and check every taken line against the Python mapper.

    Also checks the bookkeeping: every non-blank line is either a row or fallback (never both),
    blank lines are neither and are not counted.
    """
    chunk = native.map_lines(lines)
    assert chunk is not None
    offsets = chunk.row_offsets.to_pylist()
    assert offsets == sorted(set(offsets)), "rows out of line order"
    fallback: list[int] = []
    for offset, text in chunk.fallback:
        assert bytes(text) == lines[offset]
        fallback.append(offset)
    nonblank = [i for i, line in enumerate(lines) if line and not line.isspace()]
    assert chunk.lines == len(nonblank)
    assert chunk.rows == len(offsets)
    assert sorted(offsets + fallback) == nonblank, "a line is both or neither row and fallback"
    assert list(chunk.columns) == list(native.NATIVE_COLUMNS)
    columns = {name: _column_values(name, column) for name, column in chunk.columns.items()}
    assert all(len(c) == len(offsets) for c in columns.values())

    mapper = EventMapper()
    mismatches = []
    for r, offset in enumerate(offsets):
        native_row = {name: column[r] for name, column in columns.items()} | {"schema_era": EVENTS}
        expected = _python_row(mapper, lines[offset])
        if native_row != expected:
            mismatches.append(f"line {offset} {lines[offset][:200]!r}: {_describe(native_row, expected)}")
    assert not mismatches, f"{len(mismatches)} native rows differ from the Python mapper:\n" + "\n".join(
        mismatches[:5]
    )
    return Outcome(frozenset(offsets), frozenset(fallback))


def check_one(line: bytes, expect: str) -> None:
    outcome = compare([line])
    if expect == NATIVE:
        assert outcome.taken == {0}, f"expected the native path to take {line[:300]!r}"
    elif expect == FALLBACK:
        assert outcome.fallback == {0}, f"expected a fallback for {line[:300]!r}"


# ---- 1. every real file ------------------------------------------------------------------------------


def _read(path: Path) -> bytes:
    raw = path.read_bytes()
    return gzip.decompress(raw) if raw[:2] == b"\x1f\x8b" else raw


REAL_FILES = sorted(p for p in DATA.rglob("*.json*") if p.is_file())
#: single events pretty-printed over many lines (not NDJSON)
PRETTY = {"push_event_pre_drift_2024-05-21-0.json", "push_event_post_drift_2025-12-15-0.json"}
#: files whose every line is an Events-era event (2015 on)
EVENTS_FILES = {
    "2015-01-01-0.json.gz",
    "2015-01-01-1.json.gz",
    "2015-01-01-3.json.gz",
    "2015-01-01-5.json.gz",
    "variant-preobfuscation/2015-01-01-1.json.gz",
    "partial/2021-01-01-1.json.gz",
    "partial/2018-01-01-0.json",
}


def _era(line: bytes) -> str | None:
    try:
        event = orjson.loads(line)
    except orjson.JSONDecodeError:
        return None
    return detect_era(event) if isinstance(event, dict) else None


def test_real_files_are_all_covered() -> None:
    names = {p.relative_to(DATA).as_posix() for p in REAL_FILES}
    assert EVENTS_FILES.issubset(names)
    assert {f"partial/{n}" for n in PRETTY} <= names
    assert len(names) >= 15


@pytest.mark.parametrize("path", REAL_FILES, ids=lambda p: p.relative_to(DATA).as_posix())
def test_real_file_matches_python_mapper(path: Path) -> None:
    lines = _read(path).split(b"\n")
    outcome = compare(lines)
    name = path.relative_to(DATA).as_posix()
    if path.name in PRETTY:  # fragments of one document: none is an event
        assert not outcome.taken
        return
    if name in EVENTS_FILES:  # the only Events-era lines left to Python: an '@' in a column value
        unexplained = [o for o in outcome.fallback if not column_holds_at(lines[o])]
        assert not unexplained, f"{len(unexplained)} Events-era lines left to Python: {unexplained[:5]}"
        assert len(outcome.fallback) <= len(outcome.taken) // 100
    # per line: Events-era lines are taken, Timeline/backfill lines all fall back
    for offset in outcome.taken | outcome.fallback:
        era = _era(lines[offset])
        if era == EVENTS:
            assert offset in outcome.taken or column_holds_at(lines[offset]), (
                f"{name}:{offset} Events-era line not taken"
            )
        else:
            assert offset in outcome.fallback, f"{name}:{offset} {era} line taken natively"
    if name.startswith(("2011", "2012", "2014")):
        assert not outcome.taken and outcome.fallback


@pytest.mark.parametrize("name", sorted(PRETTY))
def test_pretty_printed_document_as_one_line(name: str) -> None:
    """The whole document on one line (newlines turned into other JSON whitespace) is an event."""
    text = _read(DATA / "partial" / name).replace(b"\n", b" ")
    check_one(text, NATIVE)
    check_one(text.replace(b"  ", b"\t"), NATIVE)


# ---- 2. edge cases built from real Events-era events ---------------------------------------------------


@cache
def _templates() -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = {}
    for line in _read(DATA / "2015-01-01-0.json.gz").split(b"\n"):
        if not line:
            continue
        event = orjson.loads(line)
        kind = event["type"]
        if kind == "PushEvent" and len(event["payload"]["commits"]) < 3:
            continue
        if kind == "PullRequestEvent" and "org" not in event:
            continue
        found.setdefault(kind, event)
    follow = copy.deepcopy(found["WatchEvent"])  # the Events API of 2015 no longer serves FollowEvents
    follow["type"] = "FollowEvent"
    follow["payload"] = {"target": {"login": "octocat", "id": 583231, "email": "octo.cat@github.com"}}
    found["FollowEvent"] = follow
    return found


def ev(kind: str) -> dict[str, Any]:
    """A fresh copy of a real event of that type (FollowEvent: a WatchEvent made into one)."""
    return copy.deepcopy(_templates()[kind])


_HOLE = "__native_test_placeholder__"


def _put(event: dict[str, Any], path: tuple[Any, ...], value: Any) -> dict[str, Any]:
    node = event
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    return event


def _drop(event: dict[str, Any], path: tuple[Any, ...]) -> dict[str, Any]:
    node = event
    for key in path[:-1]:
        node = node[key]
    del node[path[-1]]
    return event


def raw(event: dict[str, Any], path: tuple[Any, ...], text: bytes | str) -> bytes:
    """`event` serialized with the value at `path` written as the raw JSON text `text`."""
    line = orjson.dumps(_put(event, path, _HOLE))
    hole = f'"{_HOLE}"'.encode()
    assert line.count(hole) == 1
    return line.replace(hole, text.encode() if isinstance(text, str) else text)


def dumps(event: dict[str, Any]) -> bytes:
    return orjson.dumps(event)


def with_value(kind: str, path: tuple[Any, ...], value: Any) -> bytes:
    return dumps(_put(ev(kind), path, value))


def without(kind: str, *paths: tuple[Any, ...]) -> bytes:
    event = ev(kind)
    for path in paths:
        _drop(event, path)
    return dumps(event)


def reorder(kind: str, keys: list[str]) -> bytes:
    event = ev(kind)
    return dumps({k: event[k] for k in keys} | event)


MESSAGE = ("payload", "commits", 0, "message")
EMAIL = ("payload", "commits", 0, "author", "email")
HEX40 = "0123456789abcdef0123456789abcdef01234567"

Case = tuple[str, Callable[[], bytes], str]

#: JSON string escapes and raw characters the native path must reproduce as orjson does
STRING_SPELLINGS: list[tuple[str, bytes]] = [
    ("newline", rb'"a\nb"'),
    ("quote", rb'"a\"b"'),
    ("backslash", rb'"a\\b"'),
    ("solidus", rb'"a\/b"'),
    ("tab", rb'"a\tb"'),
    ("b-f-r", rb'"\b\f\r"'),
    ("u00e9", rb'"caf\u00e9"'),
    ("u0001", rb'"x\u0001y"'),
    ("u001F upper hex", rb'"x\u001Fy"'),
    ("u0000", rb'"\u0000"'),
    ("u007f", rb'"\u007f"'),
    ("u0041 ascii", rb'"\u0041\u0062"'),
    ("u2028 escaped", rb'"\u2028\u2029"'),
    ("uFFFF", rb'"\uffff"'),
    ("surrogate pair", rb'"\ud83d\ude00"'),
    ("surrogate pair upper hex", rb'"\uD83D\uDE00!"'),
    ("raw 2-byte", '"café"'.encode()),
    ("raw 3-byte", '"日本語"'.encode()),
    ("raw 4-byte emoji", '"a😀b"'.encode()),
    ("raw U+2028", '"a\u2028b\u2029"'.encode()),
    ("raw DEL", b'"a\x7fb"'),
    ("raw U+FEFF", '"\ufeff"'.encode()),
    ("empty", b'""'),
    ("escapes and raw mixed", '"é\\n😀\\u00e9\\\\\\"x"'.encode()),
    ("long escaped", ('"' + "a\\n\\u00e9" * 500 + '"').encode()),
]

#: string spellings the Python path rejects or orjson cannot reproduce: always fallback
BAD_STRINGS: list[tuple[str, bytes]] = [
    ("lone high surrogate", rb'"\ud83d"'),
    ("lone low surrogate", rb'"\ude00"'),
    ("high surrogate then non-low", rb'"\ud83d\u0041"'),
    ("high surrogate then text", rb'"\ud83dxyz"'),
    ("two high surrogates", rb'"\ud83d\ud83d"'),
    ("invalid byte ff", b'"a\xffb"'),
    ("continuation byte alone", b'"a\x80b"'),
    ("truncated 2-byte", b'"a\xc3"'),
    ("overlong 2-byte", b'"\xc0\xaf"'),
    ("overlong 3-byte", b'"\xe0\x80\xaf"'),
    ("utf-8 encoded surrogate", b'"\xed\xa0\x80"'),
    ("beyond U+10FFFF", b'"\xf4\x90\x80\x80"'),
    ("f5 lead byte", b'"\xf5\x80\x80\x80"'),
    ("raw control char", b'"a\x01b"'),
    ("raw tab", b'"a\tb"'),
    ("raw carriage return", b'"a\rb"'),
    ("unknown escape", rb'"\x41"'),
    ("short unicode escape", rb'"\u00e"'),
    ("bad hex in escape", rb'"\u00g0"'),
    ("unterminated", b'"abc'),
]


def _string_cases() -> list[Case]:
    cases: list[Case] = []
    for name, text in STRING_SPELLINGS:
        cases += [
            (f"commit message {name}", lambda t=text: raw(ev("PushEvent"), MESSAGE, t), NATIVE),
            (
                f"issue body {name}",
                lambda t=text: raw(ev("IssuesEvent"), ("payload", "issue", "body"), t),
                NATIVE,
            ),
            (
                f"payload key {name}",
                lambda t=text: raw(ev("CreateEvent"), ("payload",), b"{%s:1}" % t),
                NATIVE,
            ),
            (f"repo name {name}", lambda t=text: raw(ev("CreateEvent"), ("repo", "name"), t), NATIVE),
            (f"ref {name}", lambda t=text: raw(ev("CreateEvent"), ("payload", "ref"), t), NATIVE),
        ]
    for name, text in BAD_STRINGS:
        cases += [
            (f"commit message {name}", lambda t=text: raw(ev("PushEvent"), MESSAGE, t), FALLBACK),
            (
                f"payload key {name}",
                lambda t=text: raw(ev("CreateEvent"), ("payload",), b"{%s:1}" % t),
                FALLBACK,
            ),
            (f"org login {name}", lambda t=text: raw(ev("IssuesEvent"), ("org", "login"), t), FALLBACK),
        ]
    cases += [
        ("escaped type", lambda: raw(ev("PushEvent"), ("type",), rb'"Push\u0045vent"'), NATIVE),
        ("escaped id", lambda: raw(ev("PushEvent"), ("id",), rb'"\u0031234"'), NATIVE),
        (
            "escaped created_at",
            lambda: raw(ev("PushEvent"), ("created_at",), rb'"2015-01-01T00:00:00\u005a"'),
            NATIVE,
        ),
        (
            "escaped actor login (ASCII)",
            lambda: raw(ev("PushEvent"), ("actor", "login"), rb'"\u0061lice"'),
            NATIVE,
        ),
        (
            "escaped action key",
            lambda: raw(ev("IssuesEvent"), ("payload",), rb'{"\u0061ction":"opened"}'),
            NATIVE,
        ),
        (
            "escaped top-level key",
            lambda: ev_line_replace("IssuesEvent", b'"public":', rb'"pub\u006cic":'),
            NATIVE,
        ),
        ("escaped number key", lambda: raw(ev("IssuesEvent"), ("payload",), rb'{"\u006eumber":7}'), NATIVE),
        (
            "escaped email key",
            lambda: raw(
                ev("PushEvent"),
                ("payload", "commits", 0, "author"),
                rb'{"\u0065mail":"a.b@example.org","name":"A"}',
            ),
            NATIVE,
        ),
        ("escaped shas key", lambda: raw(ev("PushEvent"), ("payload",), rb'{"\u0073has":[]}'), FALLBACK),
    ]
    return cases


def ev_line_replace(kind: str, old: bytes, new: bytes) -> bytes:
    line = dumps(ev(kind))
    assert line.count(old) == 1
    return line.replace(old, new)


def _nested(depth: int, opener: str, closer: str) -> bytes:
    return (opener * depth + "1" + closer * depth).encode()


def _whitespace_cases() -> list[Case]:
    return [
        ("json.dumps separators", lambda: json.dumps(ev("PushEvent")).encode(), NATIVE),
        (
            "json.dumps ascii",
            lambda: json.dumps(_put(ev("PushEvent"), MESSAGE, "é😀\u2028")).encode(),
            NATIVE,
        ),
        (
            "spaces around tokens",
            lambda: json.dumps(ev("PullRequestEvent"), separators=(" , ", " : ")).encode(),
            NATIVE,
        ),
        (
            "indented on one line",
            lambda: json.dumps(ev("PushEvent"), indent="\t").replace("\n", "\r").encode(),
            NATIVE,
        ),
        ("CRLF line ending", lambda: dumps(ev("PushEvent")) + b"\r", NATIVE),
        ("leading spaces", lambda: b"   " + dumps(ev("PushEvent")), NATIVE),
        ("leading tab trailing spaces", lambda: b"\t" + dumps(ev("IssuesEvent")) + b" \t ", NATIVE),
        (
            "whitespace inside empty containers",
            lambda: raw(ev("CreateEvent"), ("payload", "x"), b"[ { } , [ ] , {\t} ]"),
            NATIVE,
        ),
        ("vertical tab before", lambda: b"\x0b" + dumps(ev("PushEvent")), FALLBACK),
        (
            "form feed between tokens",
            lambda: ev_line_replace("CreateEvent", b'"public":', b'\x0c"public":'),
            FALLBACK,
        ),
        (
            "nbsp between tokens",
            lambda: ev_line_replace("CreateEvent", b'"public":', '\u00a0"public":'.encode()),
            FALLBACK,
        ),
        ("BOM before", lambda: b"\xef\xbb\xbf" + dumps(ev("PushEvent")), FALLBACK),
    ]


def _structure_cases() -> list[Case]:
    P = ("payload", "x")
    return [
        ("nested arrays depth 60", lambda: raw(ev("CreateEvent"), P, _nested(60, "[", "]")), NATIVE),
        ("nested objects depth 60", lambda: raw(ev("CreateEvent"), P, _nested(60, '{"a":', "}")), NATIVE),
        ("nested arrays depth 400", lambda: raw(ev("CreateEvent"), P, _nested(400, "[", "]")), EITHER),
        (
            "empty object and array",
            lambda: with_value("CreateEvent", P, {"a": {}, "b": [], "c": [{}, []]}),
            NATIVE,
        ),
        ("payload empty object", lambda: with_value("PushEvent", ("payload",), {}), NATIVE),
        (
            "all scalar kinds",
            lambda: with_value("CreateEvent", P, [0, -1, "s", None, True, False, {}, []]),
            NATIVE,
        ),
        (
            "same key in sibling objects",
            lambda: raw(ev("CreateEvent"), P, b'{"a":{"a":1},"b":{"a":2}}'),
            NATIVE,
        ),
        ("many keys", lambda: with_value("CreateEvent", P, {f"k{i}": i for i in range(300)}), NATIVE),
        ("long key in payload", lambda: with_value("CreateEvent", P, {"k" * 100: 1, "é" * 40: 2}), NATIVE),
        ("trailing comma object", lambda: raw(ev("CreateEvent"), P, b'{"a":1,}'), FALLBACK),
        ("trailing comma array", lambda: raw(ev("CreateEvent"), P, b"[1,]"), FALLBACK),
        ("missing colon", lambda: raw(ev("CreateEvent"), P, b'{"a" 1}'), FALLBACK),
        ("unquoted key", lambda: raw(ev("CreateEvent"), P, b"{a:1}"), FALLBACK),
        ("single quotes", lambda: raw(ev("CreateEvent"), P, b"'a'"), FALLBACK),
        ("truncated literal", lambda: raw(ev("CreateEvent"), P, b"tru"), FALLBACK),
        ("literal with suffix", lambda: raw(ev("CreateEvent"), P, b"nullx"), FALLBACK),
        ("capitalized literal", lambda: raw(ev("CreateEvent"), P, b"True"), FALLBACK),
    ]


def _number_cases() -> list[Case]:
    P = ("payload", "x")
    cases: list[Case] = []
    for text, expect in [
        (b"0", NATIVE),
        (b"-1", NATIVE),
        (b"123456789012345678", NATIVE),  # 18 digits
        (b"-123456789012345678", NATIVE),
        (b"1234567890123456789", FALLBACK),  # 19 digits
        (b"-1234567890123456789", FALLBACK),
        (b"18446744073709551616", FALLBACK),
        (b"1.5", FALLBACK),
        (b"1.0", FALLBACK),
        (b"1e5", FALLBACK),
        (b"1E+2", FALLBACK),
        (b"2e-3", FALLBACK),
        (b"-0", FALLBACK),
        (b"-0.0", FALLBACK),
        (b"01", FALLBACK),
        (b"+1", FALLBACK),
        (b".5", FALLBACK),
        (b"1.", FALLBACK),
        (b"-", FALLBACK),
        (b"NaN", FALLBACK),
        (b"Infinity", FALLBACK),
        (b"-Infinity", FALLBACK),
    ]:
        cases.append((f"payload number {text.decode()}", lambda t=text: raw(ev("CreateEvent"), P, t), expect))
    cases += [
        ("size float", lambda: raw(ev("PushEvent"), ("payload", "size"), b"3.0"), FALLBACK),
        ("actor id float", lambda: raw(ev("PushEvent"), ("actor", "id"), b"66577.0"), FALLBACK),
        (
            "actor id 19 digits",
            lambda: raw(ev("PushEvent"), ("actor", "id"), b"1234567890123456789"),
            FALLBACK,
        ),
        ("repo id negative", lambda: raw(ev("PushEvent"), ("repo", "id"), b"-5"), NATIVE),
        ("org id zero", lambda: raw(ev("IssuesEvent"), ("org", "id"), b"0"), NATIVE),
    ]
    return cases


def _duplicate_cases() -> list[Case]:
    return [
        ("duplicate top-level key", lambda: dumps(ev("PushEvent"))[:-1] + b',"public":false}', FALLBACK),
        (
            "duplicate top-level type",
            lambda: dumps(ev("PushEvent"))[:-1] + b',"type":"IssuesEvent"}',
            FALLBACK,
        ),
        (
            "duplicate escaped top-level key",
            lambda: dumps(ev("PushEvent"))[:-1] + rb',"publi\u0063":true}',
            FALLBACK,
        ),
        (
            "duplicate payload key",
            lambda: raw(ev("PushEvent"), ("payload", "ref"), b'"a","ref":"b"'),
            FALLBACK,
        ),
        (
            "duplicate payload size",
            lambda: raw(ev("PushEvent"), ("payload", "size"), b'1,"size":2'),
            FALLBACK,
        ),
        (
            "duplicate nested key",
            lambda: raw(ev("PushEvent"), ("payload", "commits", 0, "author", "name"), b'"a","name":"b"'),
            FALLBACK,
        ),
        (
            "duplicate email key",
            lambda: raw(ev("PushEvent"), EMAIL, b'"a@b.org","email":"c@d.org"'),
            FALLBACK,
        ),
        (
            "duplicate deep key",
            lambda: raw(ev("CreateEvent"), ("payload", "x"), b'[[{"k":{"a":1,"a":2}}]]'),
            FALLBACK,
        ),
        (
            "duplicate actor key",
            lambda: raw(ev("PushEvent"), ("actor", "login"), b'"a","login":"b"'),
            FALLBACK,
        ),
    ]


def _envelope_cases() -> list[Case]:
    return [
        # top-level fields
        ("extra top-level key", lambda: dumps(ev("PushEvent") | {"foo": 1}), FALLBACK),
        ("extra repository key", lambda: dumps(ev("PushEvent") | {"repository": {"id": 1}}), FALLBACK),
        ("extra 32-byte key", lambda: dumps(ev("PushEvent") | {"k" * 32: 1}), FALLBACK),
        ("payload null", lambda: with_value("PushEvent", ("payload",), None), NATIVE),
        ("payload missing", lambda: without("PullRequestEvent", ("payload",)), NATIVE),
        ("payload array", lambda: with_value("PushEvent", ("payload",), [1]), FALLBACK),
        ("payload string", lambda: with_value("PushEvent", ("payload",), "x"), FALLBACK),
        ("payload number", lambda: with_value("PushEvent", ("payload",), 1), FALLBACK),
        ("payload true", lambda: with_value("PushEvent", ("payload",), True), FALLBACK),
        ("payload before type", lambda: reorder("PushEvent", ["id", "payload"]), FALLBACK),
        ("payload first", lambda: reorder("FollowEvent", ["payload"]), FALLBACK),
        ("type first", lambda: reorder("PushEvent", ["type", "created_at", "public"]), NATIVE),
        (
            "created_at and public before payload",
            lambda: reorder("PushEvent", ["type", "created_at", "public", "payload"]),
            NATIVE,
        ),
        ("org first", lambda: reorder("IssuesEvent", ["org"]), NATIVE),
        # id
        ("id int", lambda: with_value("PushEvent", ("id",), 2489368095), NATIVE),
        ("id negative int", lambda: with_value("PushEvent", ("id",), -7), NATIVE),
        ("id zero", lambda: with_value("PushEvent", ("id",), 0), NATIVE),
        ("id empty string", lambda: with_value("PushEvent", ("id",), ""), FALLBACK),
        ("id null", lambda: with_value("PushEvent", ("id",), None), FALLBACK),
        ("id true", lambda: with_value("PushEvent", ("id",), True), FALLBACK),
        ("id object", lambda: with_value("PushEvent", ("id",), {"a": 1}), FALLBACK),
        ("id missing", lambda: without("PushEvent", ("id",)), FALLBACK),
        ("id non-digit string", lambda: with_value("PushEvent", ("id",), "abc é"), NATIVE),
        # type
        ("type missing", lambda: without("PushEvent", ("type",)), FALLBACK),
        ("type empty", lambda: with_value("PushEvent", ("type",), ""), FALLBACK),
        ("type int", lambda: with_value("PushEvent", ("type",), 5), FALLBACK),
        ("type null", lambda: with_value("PushEvent", ("type",), None), FALLBACK),
        ("type unknown", lambda: with_value("CreateEvent", ("type",), "SponsorshipEvent"), NATIVE),
        ("type non-ASCII", lambda: with_value("CreateEvent", ("type",), "Événement"), NATIVE),
        # created_at
        (
            "created_at offset",
            lambda: with_value("PushEvent", ("created_at",), "2015-01-01T00:00:00+00:00"),
            FALLBACK,
        ),
        (
            "created_at pacific",
            lambda: with_value("PushEvent", ("created_at",), "2015-01-01T00:00:00-08:00"),
            FALLBACK,
        ),
        (
            "created_at fraction",
            lambda: with_value("PushEvent", ("created_at",), "2015-01-01T00:00:00.5Z"),
            FALLBACK,
        ),
        (
            "created_at no zone",
            lambda: with_value("PushEvent", ("created_at",), "2015-01-01T00:00:00"),
            FALLBACK,
        ),
        (
            "created_at lowercase z",
            lambda: with_value("PushEvent", ("created_at",), "2015-01-01T00:00:00z"),
            FALLBACK,
        ),
        (
            "created_at space",
            lambda: with_value("PushEvent", ("created_at",), "2015-01-01 00:00:00Z"),
            FALLBACK,
        ),
        (
            "created_at slashes",
            lambda: with_value("PushEvent", ("created_at",), "2015/01/01 00:00:00 -0800"),
            FALLBACK,
        ),
        (
            "created_at Feb 30",
            lambda: with_value("PushEvent", ("created_at",), "2015-02-30T00:00:00Z"),
            FALLBACK,
        ),
        (
            "created_at Feb 29 non-leap",
            lambda: with_value("PushEvent", ("created_at",), "2015-02-29T00:00:00Z"),
            FALLBACK,
        ),
        (
            "created_at Feb 29 1900",
            lambda: with_value("PushEvent", ("created_at",), "1900-02-29T00:00:00Z"),
            FALLBACK,
        ),
        (
            "created_at month 13",
            lambda: with_value("PushEvent", ("created_at",), "2015-13-01T00:00:00Z"),
            FALLBACK,
        ),
        (
            "created_at hour 24",
            lambda: with_value("PushEvent", ("created_at",), "2015-01-01T24:00:00Z"),
            FALLBACK,
        ),
        (
            "created_at second 60",
            lambda: with_value("PushEvent", ("created_at",), "2015-06-30T23:59:60Z"),
            FALLBACK,
        ),
        (
            "created_at year 0",
            lambda: with_value("PushEvent", ("created_at",), "0000-01-01T00:00:00Z"),
            FALLBACK,
        ),
        ("created_at int", lambda: with_value("PushEvent", ("created_at",), 1420070400), FALLBACK),
        ("created_at null", lambda: with_value("PushEvent", ("created_at",), None), FALLBACK),
        ("created_at missing", lambda: without("PushEvent", ("created_at",)), FALLBACK),
        ("created_at empty", lambda: with_value("PushEvent", ("created_at",), ""), FALLBACK),
        (
            "created_at Feb 29 2016",
            lambda: with_value("PushEvent", ("created_at",), "2016-02-29T12:34:56Z"),
            NATIVE,
        ),
        (
            "created_at Feb 29 2000",
            lambda: with_value("PushEvent", ("created_at",), "2000-02-29T00:00:00Z"),
            NATIVE,
        ),
        (
            "created_at end of year",
            lambda: with_value("PushEvent", ("created_at",), "2015-12-31T23:59:59Z"),
            NATIVE,
        ),
        (
            "created_at before epoch",
            lambda: with_value("PushEvent", ("created_at",), "1969-12-31T23:59:59Z"),
            NATIVE,
        ),
        (
            "created_at year 1",
            lambda: with_value("PushEvent", ("created_at",), "0001-01-01T00:00:00Z"),
            NATIVE,
        ),
        (
            "created_at year 9999",
            lambda: with_value("PushEvent", ("created_at",), "9999-12-31T23:59:59Z"),
            NATIVE,
        ),
        # public
        ("public false", lambda: with_value("PushEvent", ("public",), False), NATIVE),
        ("public string", lambda: with_value("PushEvent", ("public",), "true"), FALLBACK),
        ("public int", lambda: with_value("PushEvent", ("public",), 1), FALLBACK),
        ("public null", lambda: with_value("PushEvent", ("public",), None), NATIVE),
        ("public object", lambda: with_value("PushEvent", ("public",), {"a": [True]}), FALLBACK),
        ("public missing", lambda: without("PushEvent", ("public",)), NATIVE),
        # actor
        ("actor login non-ASCII", lambda: with_value("PushEvent", ("actor", "login"), "jörg"), FALLBACK),
        (
            "actor login escaped non-ASCII",
            lambda: raw(ev("PushEvent"), ("actor", "login"), rb'"j\u00f6rg"'),
            FALLBACK,
        ),
        ("actor login [BOT]", lambda: with_value("PushEvent", ("actor", "login"), "dependabot[BOT]"), NATIVE),
        ("actor login [bot]", lambda: with_value("PushEvent", ("actor", "login"), "dependabot[bot]"), NATIVE),
        ("actor login -bot", lambda: with_value("PushEvent", ("actor", "login"), "renovate-bot"), NATIVE),
        ("actor login _Bot", lambda: with_value("PushEvent", ("actor", "login"), "ci_Bot"), NATIVE),
        ("actor login exactly -bot", lambda: with_value("PushEvent", ("actor", "login"), "-bot"), NATIVE),
        ("actor login bot", lambda: with_value("PushEvent", ("actor", "login"), "bot"), NATIVE),
        ("actor login abbott", lambda: with_value("PushEvent", ("actor", "login"), "abbott"), NATIVE),
        ("actor login robot-s", lambda: with_value("PushEvent", ("actor", "login"), "robot-s"), NATIVE),
        ("actor login empty", lambda: with_value("PushEvent", ("actor", "login"), ""), NATIVE),
        ("actor login null", lambda: with_value("PushEvent", ("actor", "login"), None), NATIVE),
        ("actor login int", lambda: with_value("PushEvent", ("actor", "login"), 5), FALLBACK),
        ("actor login missing", lambda: without("PushEvent", ("actor", "login")), NATIVE),
        ("actor id string", lambda: with_value("PushEvent", ("actor", "id"), "66577"), FALLBACK),
        ("actor id bool", lambda: with_value("PushEvent", ("actor", "id"), True), FALLBACK),
        ("actor id null", lambda: with_value("PushEvent", ("actor", "id"), None), NATIVE),
        ("actor empty object", lambda: with_value("PushEvent", ("actor",), {}), NATIVE),
        ("actor string (Timeline)", lambda: with_value("PushEvent", ("actor",), "octocat"), FALLBACK),
        ("actor null", lambda: with_value("PushEvent", ("actor",), None), FALLBACK),
        ("actor array", lambda: with_value("PushEvent", ("actor",), []), FALLBACK),
        ("actor missing", lambda: without("PushEvent", ("actor",)), FALLBACK),
        # org / repo
        ("org null", lambda: with_value("IssuesEvent", ("org",), None), NATIVE),
        ("org missing", lambda: without("IssuesEvent", ("org",)), NATIVE),
        ("org empty", lambda: with_value("IssuesEvent", ("org",), {}), NATIVE),
        ("org string", lambda: with_value("IssuesEvent", ("org",), "acme"), FALLBACK),
        ("org login non-ASCII", lambda: with_value("IssuesEvent", ("org", "login"), "açme"), NATIVE),
        ("org id string", lambda: with_value("IssuesEvent", ("org", "id"), "1"), FALLBACK),
        ("repo null", lambda: with_value("PushEvent", ("repo",), None), NATIVE),
        ("repo missing", lambda: without("PushEvent", ("repo",)), NATIVE),
        ("repo array", lambda: with_value("PushEvent", ("repo",), [1, 2]), FALLBACK),
        ("repo name int", lambda: with_value("PushEvent", ("repo", "name"), 5), FALLBACK),
        ("repo url int", lambda: with_value("PushEvent", ("repo", "url"), 5), NATIVE),
        ("repo url missing", lambda: without("PushEvent", ("repo", "url")), NATIVE),
        (
            "repo url github.com",
            lambda: with_value("PushEvent", ("repo", "url"), "https://github.com/a/b"),
            NATIVE,
        ),
        (
            "repo url api.github.dev (backfill)",
            lambda: with_value("PushEvent", ("repo", "url"), "https://api.github.dev/repos/a/b"),
            FALLBACK,
        ),
        (
            "repo url escaped api.github.dev",
            lambda: raw(ev("PushEvent"), ("repo", "url"), rb'"https://api.github\u002edev/x"'),
            FALLBACK,
        ),
    ]


def _email_cases() -> list[Case]:
    def push_email(value: Any) -> Callable[[], bytes]:
        return lambda: with_value("PushEvent", EMAIL, value)

    def push_message(value: str) -> Callable[[], bytes]:
        return lambda: with_value("PushEvent", MESSAGE, value)

    def push_all_emails(value: str) -> bytes:
        event = ev("PushEvent")
        for commit in event["payload"]["commits"]:
            commit["author"]["email"] = value
        return dumps(event)

    def issue_body(value: str) -> Callable[[], bytes]:
        return lambda: with_value("IssuesEvent", ("payload", "issue", "body"), value)

    return [
        # commit author e-mail fields (hashed as fields)
        ("email normal", push_email("a.b@example.org"), NATIVE),
        ("email without @", push_email("nobody"), NATIVE),
        ("email with two @", push_email("a@b.edu@svn-uuid"), NATIVE),
        ("email with three @", push_email("a@b@c@d"), NATIVE),
        ("email local 40 hex", push_email(f"{HEX40}@example.org"), NATIVE),
        ("email local 40 hex two @", push_email(f"{HEX40}@example.org@x"), NATIVE),
        ("email local 40 upper hex", push_email(f"{HEX40.upper()}@example.org"), NATIVE),
        ("email local 39 hex", push_email(f"{HEX40[:39]}@example.org"), NATIVE),
        ("email whole value 40 hex", push_email(HEX40), NATIVE),
        ("email empty", push_email(""), NATIVE),
        ("email empty local", push_email("@example.org"), NATIVE),
        ("email empty domain", push_email("a@"), NATIVE),
        ("email only @", push_email("@"), NATIVE),
        ("email non-ASCII", push_email("jörg@exämple.org"), NATIVE),
        ("email emoji", push_email("😀@x.org"), NATIVE),
        ("email with quote and newline", push_email('a"b\n@x.org\t'), NATIVE),
        ("email null", push_email(None), NATIVE),
        ("email int", push_email(5), NATIVE),
        ("email object", push_email({"a": "b@c.org"}), NATIVE),
        ("email escaped", lambda: raw(ev("PushEvent"), EMAIL, rb'"a\u002eb@ex\u0061mple.org"'), NATIVE),
        ("email escaped quote", lambda: raw(ev("PushEvent"), EMAIL, rb'"a\"b@x.org"'), NATIVE),
        ("email escaped @", lambda: raw(ev("PushEvent"), EMAIL, rb'"a\u0040b.org"'), NATIVE),
        ("same email in every commit", lambda: push_all_emails("jw@squareup.com"), NATIVE),
        (
            "author not an object",
            lambda: with_value("PushEvent", ("payload", "commits", 0, "author"), "A <a@b.org>"),
            NATIVE,
        ),
        ("author missing email", lambda: without("PushEvent", EMAIL), NATIVE),
        (
            "email key nested deeper",
            lambda: with_value("PushEvent", ("payload", "commits", 0, "author"), {"x": {"email": "a@b.org"}}),
            NATIVE,
        ),
        (
            "committer email (not a field)",
            lambda: with_value("PushEvent", ("payload", "commits", 0, "committer"), {"email": "c@d.org"}),
            NATIVE,
        ),
        # free text (scrubbed)
        ("signed-off-by", push_message("Fix\n\nSigned-off-by: A <a.b@example.org>"), NATIVE),
        ("two addresses", push_message("a@x.org, b@y.org"), NATIVE),
        # local parts longer than pii.scrub's 128-byte window are hashed whole on both paths
        ("local part of 128", push_message("x" * 128 + "@x.org"), NATIVE),
        ("local part of 129", push_message("see " + "y" * 129 + "@x.org"), NATIVE),
        ("local part of 5000", push_message("z" * 4990 + ".secret@x.org"), NATIVE),
        ("long non-ASCII local part", push_message("é" * 100 + "@x.org"), NATIVE),
        ("long local part after escape", push_message("a\n" + "w" * 300 + "@x.org"), NATIVE),
        ("long local parts chained", push_message("@".join("k" * 200 for _ in range(50)) + "@x.org"), NATIVE),
        ("long local part, digit domain", push_message("q" * 300 + "@1.2.3"), NATIVE),
        ("long local part in body", issue_body("u" * 200 + "@example.org"), NATIVE),
        ("escaped newline before address", push_message("line\nfoo@x.org"), NATIVE),
        ("escaped quote before address", push_message('say "foo@x.org"'), NATIVE),
        ("backslash before address", push_message("C:\\dir\\foo@bar.org"), NATIVE),
        ("double backslash before address", push_message("\\\\foo@bar.org"), NATIVE),
        ("ssh url in message", push_message("git@github.com:o/r.git"), NATIVE),
        ("xgit ssh-like url", push_message("xgit@github.com:o/r.git"), NATIVE),
        ("git@ other host", push_message("git@gitlab.com:o/r.git"), NATIVE),
        ("pkg@1.2.3", push_message("bump pkg@1.2.3"), NATIVE),
        ("trunk@17448", push_message("svn trunk@17448"), NATIVE),
        ("domain with letter after digits", push_message("v@1.2.3a"), NATIVE),
        ("@ at start", push_message("@mention here"), NATIVE),
        ("@ at end", push_message("trailing@"), NATIVE),
        ("@@", push_message("a@@b.org"), NATIVE),
        ("domain starting with hyphen", push_message("a@-b.org"), NATIVE),
        ("label ending with hyphen", push_message("a@b-.org"), NATIVE),
        ("double dot domain", push_message("a@b..org"), NATIVE),
        ("dot then hyphen", push_message("a@b.-org"), NATIVE),
        ("trailing dot", push_message("mail a@b.org."), NATIVE),
        ("hyphen inside labels", push_message("a@b-c.d--e.org"), NATIVE),
        ("local dots and plus", push_message("first.last+tag%x_y-z@mail.example.co.uk"), NATIVE),
        ("local part 200 chars", push_message("x" * 200 + "@example.org"), NATIVE),
        ("local part 128 chars", push_message("y" * 128 + "@example.org"), NATIVE),
        ("local part 129 chars", push_message("z" * 129 + "@example.org"), NATIVE),
        ("hex40 local in text", push_message(f"{HEX40}@example.org"), NATIVE),
        ("addresses sharing text", push_message("a@b.org@c.org d@e"), NATIVE),
        ("non-ASCII before address", push_message("é@x.org ü.a@y.org"), NATIVE),
        # issue 13: whole non-ASCII local parts, quoted and %40 addresses, addresses in column values
        ("non-ASCII local part", push_message("Jörg.Müller@example.de"), NATIVE),
        ("non-ASCII local past 128 bytes", push_message("é" * 100 + "@example.org"), NATIVE),
        ("CJK local part", push_message("联系日本@example.jp"), NATIVE),
        ("backslash then non-ASCII local", push_message("C:\\é@x.org \\\u0080@A"), NATIVE),
        ("quoted local part", push_message('to "john doe"@example.com'), FALLBACK),
        ("quoted mention (no address)", push_message('error("@printf: x") "a" and "@types/node"'), NATIVE),
        ("quoted attribute (no address)", push_message('android:text="@string/eula" id="@+id/a"'), NATIVE),
        ("%40 address", push_message("mailto:alice%40example.com"), FALLBACK),
        ("%40 after a slash (no address)", push_message("https://x.org/labels/%40low"), NATIVE),
        ("%40 at the end", push_message("x%40"), NATIVE),
        (
            "address in ref",
            lambda: with_value("CreateEvent", ("payload", "ref"), "alice@example.com"),
            FALLBACK,
        ),
        ("%40 in ref", lambda: with_value("CreateEvent", ("payload", "ref"), "a%40b.org"), FALLBACK),
        ("@ in action", lambda: with_value("IssuesEvent", ("payload", "action"), "x@y"), FALLBACK),
        ("@ in actor login", lambda: with_value("PushEvent", ("actor", "login"), "a@b.org"), FALLBACK),
        ("@ in repo name", lambda: with_value("PushEvent", ("repo", "name"), "a@b.org/r"), FALLBACK),
        ("@ in org login", lambda: with_value("IssuesEvent", ("org", "login"), "a@b.org"), FALLBACK),
        ("@ in id", lambda: with_value("PushEvent", ("id",), "1@b.org"), FALLBACK),
        ("@ in type", lambda: with_value("PushEvent", ("type",), "Push@b.org"), FALLBACK),
        ("address then non-ASCII domain", push_message("a@éx.org"), NATIVE),
        (
            "address in author name",
            lambda: with_value("PushEvent", ("payload", "commits", 0, "author", "name"), "Foo <foo@bar.org>"),
            NATIVE,
        ),
        ("address in key", lambda: with_value("PushEvent", ("payload", "x"), {"foo@bar.org": 1}), NATIVE),
        (
            "hashed email and message address",
            lambda: dumps(_put(_put(ev("PushEvent"), EMAIL, "a@b.org"), MESSAGE, "cc a@b.org")),
            NATIVE,
        ),
        (
            "hex email and text address",
            lambda: dumps(_put(_put(ev("PushEvent"), EMAIL, f"{HEX40}@b.org"), MESSAGE, "c@d.org")),
            NATIVE,
        ),
        (
            "ssh url and email only",
            lambda: dumps(_put(ev("PushEvent"), ("payload", "ssh_url"), "git@github.com:o/r.git")),
            NATIVE,
        ),
        (
            "ssh url, email and text address",
            lambda: dumps(
                _put(
                    _put(ev("PushEvent"), ("payload", "ssh_url"), "git@github.com:o/r.git"),
                    MESSAGE,
                    "x@y.org",
                )
            ),
            NATIVE,
        ),
        # non-Push events: e-mails are scrubbed as text, not hashed as fields
        ("issue body address", issue_body("contact me at a.b@example.org please"), NATIVE),
        ("issue body pkg@version", issue_body("npm i pkg@1.2.3"), NATIVE),
        ("issue body mention", issue_body("@octocat look"), NATIVE),
        ("PR ssh urls", lambda: dumps(ev("PullRequestEvent")), NATIVE),
        (
            "PR body address",
            lambda: with_value("PullRequestEvent", ("payload", "pull_request", "body"), "by a@b.org"),
            NATIVE,
        ),
        (
            "non-Push commits with email",
            lambda: with_value("IssuesEvent", ("payload", "commits"), [{"author": {"email": "a@b.org"}}]),
            NATIVE,
        ),
        (
            "non-Push commits email no @",
            lambda: with_value("IssuesEvent", ("payload", "commits"), [{"author": {"email": "plain"}}]),
            NATIVE,
        ),
        (
            "non-Follow target email",
            lambda: with_value("CreateEvent", ("payload", "target"), {"email": "a@b.org"}),
            NATIVE,
        ),
        (
            "create description email",
            lambda: with_value("CreateEvent", ("payload", "description"), "mail x@y.io"),
            NATIVE,
        ),
        # FollowEvent target e-mail field
        ("follow target email", lambda: dumps(ev("FollowEvent")), NATIVE),
        (
            "follow target email no @",
            lambda: with_value("FollowEvent", ("payload", "target", "email"), "octocat"),
            NATIVE,
        ),
        (
            "follow target email hex",
            lambda: with_value("FollowEvent", ("payload", "target", "email"), f"{HEX40}@x.org"),
            NATIVE,
        ),
        (
            "follow target email null",
            lambda: with_value("FollowEvent", ("payload", "target", "email"), None),
            NATIVE,
        ),
        (
            "follow target not object",
            lambda: with_value("FollowEvent", ("payload", "target"), "a@b.org"),
            NATIVE,
        ),
        (
            "follow commits email",
            lambda: with_value("FollowEvent", ("payload", "commits"), [{"author": {"email": "a@b.org"}}]),
            NATIVE,
        ),
        (
            "follow target and text",
            lambda: with_value("FollowEvent", ("payload", "note"), "ping a@b.org"),
            NATIVE,
        ),
        # backfill form
        (
            "shas in payload",
            lambda: with_value("PushEvent", ("payload", "shas"), [["abc", "a@b.org", "m", "n", True]]),
            FALLBACK,
        ),
        ("shas in non-Push payload", lambda: with_value("CreateEvent", ("payload", "shas"), []), FALLBACK),
    ]


def _curated_cases() -> list[Case]:
    C = ("payload", "commits")

    def push(
        *edits: tuple[tuple[Any, ...], Any], drop: tuple[tuple[Any, ...], ...] = ()
    ) -> Callable[[], bytes]:
        def build() -> bytes:
            event = ev("PushEvent")
            for path in drop:
                _drop(event, path)
            for path, value in edits:
                _put(event, path, value)
            return dumps(event)

        return build

    def no_distinct_keys() -> bytes:
        event = ev("PushEvent")
        del event["payload"]["size"], event["payload"]["distinct_size"]
        for commit in event["payload"]["commits"]:
            del commit["distinct"]
        return dumps(event)

    def one_without_distinct() -> bytes:
        event = ev("PushEvent")
        del event["payload"]["distinct_size"]
        del event["payload"]["commits"][1]["distinct"]
        return dumps(event)

    def payload(kind: str, value: dict[str, Any]) -> Callable[[], bytes]:
        return lambda: with_value(kind, ("payload",), value)

    sizes = (("payload", "size"), ("payload", "distinct_size"))
    commits = [
        {"distinct": True},
        {"distinct": False},
        {"distinct": True},
        {"distinct": "yes"},
        {"distinct": 1},
    ]
    return [
        ("push real", push(), NATIVE),
        ("push without size", push(drop=(("payload", "size"),)), NATIVE),
        ("push without sizes", push(drop=sizes), NATIVE),
        ("push commits lacking distinct", no_distinct_keys, NATIVE),
        ("push one commit lacking distinct", one_without_distinct, NATIVE),
        ("push commit non-object", push((C, [{"distinct": True}, 5]), drop=sizes), NATIVE),
        ("push commit null", push((C, [None]), drop=sizes), NATIVE),
        ("push commit list", push((C, [[{"distinct": True}]]), drop=sizes), NATIVE),
        ("push size, no distinct_size", push(drop=(("payload", "distinct_size"),)), NATIVE),
        ("push distinct_size, no size", push(drop=(("payload", "size"),)), NATIVE),
        ("push distinct values mixed", push((C, commits), drop=sizes), NATIVE),
        ("push empty commits", push((C, []), drop=sizes), NATIVE),
        ("push commits object", push((C, {"a": 1}), drop=sizes), NATIVE),
        ("push commits null", push((C, None), drop=sizes), NATIVE),
        ("push no commits no sizes", push(drop=(*sizes, C)), NATIVE),
        ("push size bool", push((("payload", "size"), True)), FALLBACK),
        (
            "push size string",
            push((("payload", "size"), "3"), drop=(("payload", "distinct_size"),)),
            FALLBACK,
        ),
        ("push size null", push((("payload", "size"), None)), NATIVE),
        ("push size negative", push((("payload", "size"), -1)), NATIVE),
        ("push size huge", push((("payload", "size"), 10**17)), NATIVE),
        ("push distinct_size bool", push((("payload", "distinct_size"), False)), FALLBACK),
        ("push payload.number", push((("payload", "number"), 5)), NATIVE),
        ("push ref null", push((("payload", "ref"), None)), NATIVE),
        ("push ref int", push((("payload", "ref"), 5)), FALLBACK),
        ("push payload null", lambda: with_value("PushEvent", ("payload",), None), NATIVE),
        # pull requests
        (
            "pr merged true",
            lambda: with_value("PullRequestEvent", ("payload", "pull_request", "merged"), True),
            NATIVE,
        ),
        (
            "pr merged false",
            lambda: with_value("PullRequestEvent", ("payload", "pull_request", "merged"), False),
            NATIVE,
        ),
        (
            "pr merged null",
            lambda: with_value("PullRequestEvent", ("payload", "pull_request", "merged"), None),
            NATIVE,
        ),
        (
            "pr merged string",
            lambda: with_value("PullRequestEvent", ("payload", "pull_request", "merged"), "true"),
            FALLBACK,
        ),
        (
            "pr merged missing",
            lambda: without("PullRequestEvent", ("payload", "pull_request", "merged")),
            NATIVE,
        ),
        ("pr without number key", lambda: without("PullRequestEvent", ("payload", "number")), NATIVE),
        ("pr number string", lambda: with_value("PullRequestEvent", ("payload", "number"), "617"), FALLBACK),
        (
            "pr number null, no pr number",
            lambda: dumps(
                _drop(
                    _put(ev("PullRequestEvent"), ("payload", "number"), None),
                    ("payload", "pull_request", "number"),
                )
            ),
            NATIVE,
        ),
        (
            "pr pull_request not object",
            lambda: with_value("PullRequestEvent", ("payload", "pull_request"), "x"),
            NATIVE,
        ),
        (
            "pr pull_request null",
            lambda: with_value("PullRequestEvent", ("payload", "pull_request"), None),
            NATIVE,
        ),
        (
            "merged outside PullRequestEvent",
            payload("IssuesEvent", {"pull_request": {"number": 3, "merged": True}}),
            NATIVE,
        ),
        (
            "merged nested deeper",
            payload("PullRequestEvent", {"pull_request": {"x": {"merged": True}}}),
            NATIVE,
        ),
        ("review comment event", lambda: dumps(ev("PullRequestReviewCommentEvent")), NATIVE),
        # number precedence
        ("issue number", lambda: dumps(ev("IssuesEvent")), NATIVE),
        ("payload.number beats issue", payload("IssuesEvent", {"number": 1, "issue": {"number": 2}}), NATIVE),
        (
            "issue beats pull_request",
            payload("IssuesEvent", {"pull_request": {"number": 3}, "issue": {"number": 2}}),
            NATIVE,
        ),
        (
            "pull_request when issue has none",
            payload("IssuesEvent", {"issue": {"title": "x"}, "pull_request": {"number": 3}}),
            NATIVE,
        ),
        (
            "issue number string",
            payload("IssuesEvent", {"issue": {"number": "2"}, "pull_request": {"number": 3}}),
            FALLBACK,
        ),
        ("payload.number string", payload("IssuesEvent", {"number": "1", "issue": {"number": 2}}), FALLBACK),
        ("payload.number bool", payload("IssuesEvent", {"number": True}), FALLBACK),
        ("issue not object", payload("IssuesEvent", {"issue": 5}), NATIVE),
        ("number key only, null", payload("WatchEvent", {"number": None}), NATIVE),
        ("watch with number", payload("WatchEvent", {"action": "started", "number": 9}), NATIVE),
        ("number nested deeper", payload("IssuesEvent", {"issue": {"x": {"number": 4}}}), NATIVE),
        ("issue comment", lambda: dumps(ev("IssueCommentEvent")), NATIVE),
        # action / ref / ref_type
        ("action int", payload("IssuesEvent", {"action": 5}), FALLBACK),
        ("action null", payload("IssuesEvent", {"action": None}), NATIVE),
        ("action empty", payload("IssuesEvent", {"action": ""}), NATIVE),
        ("ref_type object", payload("CreateEvent", {"ref": "x", "ref_type": {"a": 1}}), FALLBACK),
        ("create real", lambda: dumps(ev("CreateEvent")), NATIVE),
        ("delete real", lambda: dumps(ev("DeleteEvent")), NATIVE),
        ("gollum real", lambda: dumps(ev("GollumEvent")), NATIVE),
        ("release real", lambda: dumps(ev("ReleaseEvent")), NATIVE),
        ("public event real", lambda: dumps(ev("PublicEvent")), NATIVE),
    ]


def _not_an_event_cases() -> list[Case]:
    return [
        ("not JSON", lambda: b"not json", FALLBACK),
        ("open brace", lambda: b"{", FALLBACK),
        ("empty object", lambda: b"{}", FALLBACK),
        ("array", lambda: b"[]", FALLBACK),
        ("null", lambda: b"null", FALLBACK),
        ("number", lambda: b"42", FALLBACK),
        ("string", lambda: b'"x"', FALLBACK),
        ("two objects", lambda: dumps(ev("PushEvent")) * 2, FALLBACK),
        ("trailing garbage", lambda: dumps(ev("PushEvent")) + b"x", FALLBACK),
        ("truncated line", lambda: dumps(ev("PushEvent"))[:-1], FALLBACK),
        ("truncated mid-string", lambda: dumps(ev("PushEvent"))[:200], FALLBACK),
        ("NUL byte after", lambda: dumps(ev("PushEvent")) + b"\x00", FALLBACK),
    ]


def _all_cases() -> list[Case]:
    return [
        *_string_cases(),
        *_whitespace_cases(),
        *_structure_cases(),
        *_number_cases(),
        *_duplicate_cases(),
        *_envelope_cases(),
        *_email_cases(),
        *_curated_cases(),
        *_not_an_event_cases(),
    ]


CASES = _all_cases()


def test_case_names_are_unique() -> None:
    names = [name for name, _, _ in CASES]
    assert len(names) == len(set(names))


@pytest.mark.parametrize(("build", "expect"), [pytest.param(b, e, id=n) for n, b, e in CASES])
def test_edge_case(build: Callable[[], bytes], expect: str) -> None:
    check_one(build(), expect)


def test_edge_cases_in_one_chunk() -> None:
    """All edge cases (and blank lines) in one call: no state leaks from one line to the next."""
    lines: list[bytes] = []
    expected: dict[int, str] = {}
    for blank in (b"", b" ", b"\t\r", b"\x0b\x0c "):
        lines.append(blank)
    for _, build, expect in CASES:
        expected[len(lines)] = expect
        lines.append(build())
        lines.append(b"")
    outcome = compare(lines)
    for offset, expect in expected.items():
        if expect == NATIVE:
            assert offset in outcome.taken, lines[offset][:200]
        elif expect == FALLBACK:
            assert offset in outcome.fallback, lines[offset][:200]


@pytest.mark.parametrize("blank", [b"", b" ", b"\t", b"\r", b" \x0b\x0c\t ", b"\x0b"])
def test_blank_lines_are_neither_rows_nor_fallback(blank: bytes) -> None:
    event = dumps(ev("PushEvent"))
    lines = [blank, event, blank, blank, event, blank]
    outcome = compare(lines)
    assert outcome.taken == {1, 4} and not outcome.fallback
    chunk = native.map_lines(lines)
    assert chunk is not None and chunk.lines == 2


def test_empty_input() -> None:
    chunk = native.map_lines([])
    assert chunk is not None
    assert chunk.rows == 0 and chunk.lines == 0 and not chunk.fallback
    assert all(len(column) == 0 for column in chunk.columns.values())


@pytest.mark.parametrize("key", ["k" * 33, "x" * 100, "é" * 17])
def test_long_extra_top_level_key_falls_back(key: str) -> None:
    check_one(dumps(ev("WatchEvent") | {key: 1}), FALLBACK)


# ---- 3. random events -----------------------------------------------------------------------------------

_LOCAL_CHARS = "abcXYZ01249._%+-"
_emailish = st.builds(
    lambda local, sep, domain, tld: f"{local}{sep}{domain}{tld}",
    st.text(alphabet=_LOCAL_CHARS + '\\"é\n ', max_size=8),
    st.sampled_from(["@", "@", "@", "@@", ""]),
    st.text(alphabet="abz09-.", max_size=8),
    st.sampled_from([".org", ".com", ".1", "", ".co.uk", "-", "."]),
)
_special = st.sampled_from(
    [
        "git@github.com:o/r.git",
        "\n",
        "\\",
        '"',
        "/",
        "\u2028",
        "\x7f",
        "\x00",
        "\x1f",
        "😀",
        "é",
        "\ufeff",
        HEX40,
        f"{HEX40}@x.org",
        "pkg@1.2.3",
        "Signed-off-by: A <a.b@example.org>",
        '"john doe"@example.com',  # issue 13: quoted, %40 and non-ASCII local parts
        "alice%40example.com",
        "%40",
        "Jörg.Müller@example.de",
        "é" * 70 + "@x.org",
    ]
)
_text = st.one_of(
    st.text(max_size=12),
    _emailish,
    _special,
    st.lists(st.one_of(st.text(max_size=6), _emailish, _special), max_size=4).map("".join),
)
_keys = st.one_of(
    st.sampled_from(
        [
            "action", "ref", "ref_type", "size", "distinct_size", "commits", "number", "issue",
            "pull_request", "merged", "target", "email", "author", "distinct", "message", "id", "login",
        ]
    ),
    _text,
)  # fmt: skip


def _mostly(
    good: st.SearchStrategy[Any], bad: st.SearchStrategy[Any], one_in: int = 10
) -> st.SearchStrategy[Any]:
    """`good`, except one time in `one_in` `bad` (shrinks towards `good`): random events are mostly
    takeable, so the native path is really compared, and sometimes not, so fallbacks are seen too."""
    return st.integers(0, one_in - 1).flatmap(lambda n: bad if n == one_in - 1 else good)


_plain = st.one_of(  # scalars the native path reproduces
    st.none(),
    st.booleans(),
    st.integers(-1000, 1000),
    st.integers(-(10**18) + 1, 10**18 - 1),
    _text,
)
_odd = st.one_of(  # scalars it leaves to Python
    st.floats(allow_nan=False, allow_infinity=False),
    st.just(-0.0),
    st.integers(10**18, 10**20),
    st.integers(-(10**20), -(10**18)),
)
_scalars = _mostly(_plain, _odd, one_in=25)
_json = st.recursive(
    _scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(_keys, inner, max_size=4),
    max_leaves=12,
)
_maybe_int = _mostly(st.integers(-5, 10**12), _scalars, one_in=4)
_commit = st.fixed_dictionaries(
    {},
    optional={
        "sha": st.just("ec572201658b566373845657a8aca7bc6d6214a4"),
        "author": _mostly(
            st.fixed_dictionaries({}, optional={"email": _text | _scalars, "name": _text}), _scalars
        ),
        "message": _text,
        "distinct": _mostly(st.booleans(), _scalars, one_in=4),
    },
)
_push_payload = st.fixed_dictionaries(
    {},
    optional={
        "push_id": st.integers(0, 10**9),
        "size": _maybe_int,
        "distinct_size": _maybe_int,
        "ref": _text | _scalars,
        "commits": _mostly(st.lists(_mostly(_commit, _scalars), max_size=4), _scalars),
        "ssh_url": st.just("git@github.com:o/r.git"),
        "x": _json,
    },
)
_issue_payload = st.fixed_dictionaries(
    {},
    optional={
        "action": _text | _scalars,
        "number": _maybe_int,
        "issue": _mostly(st.fixed_dictionaries({}, optional={"number": _maybe_int, "body": _text}), _scalars),
        "pull_request": _mostly(
            st.fixed_dictionaries(
                {}, optional={"number": _maybe_int, "merged": st.booleans() | _scalars, "body": _text}
            ),
            _scalars,
        ),
        "target": _mostly(
            st.fixed_dictionaries({}, optional={"email": _text | _scalars, "login": _text}), _scalars
        ),
        "ref_type": _text | _scalars,
    },
)
_payload = _mostly(
    st.one_of(_push_payload, _issue_payload, st.dictionaries(_keys, _json, max_size=5)), _json | st.none()
)
_created = _mostly(
    st.datetimes(datetime(1, 1, 1), datetime(9999, 12, 31, 23, 59, 59)).map(
        lambda d: f"{d.year:04d}-{d:%m-%dT%H:%M:%S}Z"  # (strftime's %Y does not pad years < 1000)
    ),
    st.sampled_from(["2015-02-30T00:00:00Z", "2015-01-01T00:00:00+01:00", "2015-01-01T00:00:00.5Z", "", "x"])
    | _scalars,
)
_login = _mostly(
    st.sampled_from(["octocat", "dependabot[bot]", "renovate-BOT", "ci_bot", "abbott", "", "x-bot "])
    | st.text(alphabet=st.characters(max_codepoint=127), max_size=12),
    st.sampled_from(["jörg", "ünïcode-bot"]) | _text | _scalars,
)
_owner = _mostly(
    st.fixed_dictionaries({}, optional={"id": _maybe_int, "login": _login, "url": _text}), _scalars
)
_repo = _mostly(
    st.fixed_dictionaries(
        {},
        optional={
            "id": _maybe_int,
            "name": _text | _scalars,
            "url": _mostly(
                st.just("https://api.github.com/repos/a/b"), st.just("https://api.github.dev/a/b") | _text
            ),
        },
    ),
    _scalars,
)
_TYPES = ["PushEvent", "FollowEvent", "PullRequestEvent", "IssuesEvent", "CreateEvent", "WatchEvent"]
_MAPPED = ("id", "type", "actor", "repo", "org", "payload", "public", "created_at")
_extra_key = st.text(max_size=48).filter(lambda k: k not in _MAPPED)


@st.composite
def _events(draw: st.DrawFn) -> dict[str, Any]:
    """A random Events-like event, mostly one the native path can take."""
    fields = draw(
        st.fixed_dictionaries(
            {
                "id": _mostly(st.integers(0, 10**10).map(str) | st.integers(0, 10**12), _scalars),
                "type": _mostly(st.sampled_from(_TYPES), _text | _scalars),
                "actor": _owner,
                "created_at": _created,
            },
            optional={
                "repo": _repo,
                "payload": _payload,
                "public": st.booleans() | _scalars,
                "org": _owner,
            },
        )
    )
    for key in list(fields):
        if draw(st.integers(0, 29)) == 29:
            del fields[key]
    if draw(st.integers(0, 9)) == 9:
        fields[draw(_extra_key)] = draw(_json)
    keys = list(fields)
    if draw(st.integers(0, 3)) == 3:
        keys = draw(st.permutations(keys))
    elif "type" in keys:  # the real order: type before payload
        keys.remove("type")
        keys.insert(0, "type")
    return {k: fields[k] for k in keys}


_SERIALIZERS: dict[str, Callable[[dict[str, Any]], bytes]] = {
    "orjson": orjson.dumps,
    "json ascii": lambda e: json.dumps(e).encode(),
    "json utf-8": lambda e: json.dumps(e, ensure_ascii=False).encode(),
    "json compact utf-8": lambda e: json.dumps(e, ensure_ascii=False, separators=(",", ":")).encode(),
    "json compact ascii": lambda e: json.dumps(e, separators=(",", ":")).encode(),
}


def _serialize(event: dict[str, Any], how: str) -> bytes:
    try:
        return _SERIALIZERS[how](event)
    except TypeError:  # orjson: ints beyond 64 bits
        return json.dumps(event).encode()


@settings(
    max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large]
)
@given(st.lists(st.tuples(_events(), st.sampled_from(sorted(_SERIALIZERS))), min_size=1, max_size=4))
def test_random_events_match_python_mapper(events: list[tuple[dict[str, Any], str]]) -> None:
    compare([_serialize(event, how) for event, how in events])


@settings(max_examples=100, deadline=None)
@given(_text, _text, st.sampled_from(["PushEvent", "FollowEvent", "IssuesEvent"]))
def test_random_email_text_is_taken_and_matches(email: str, message: str, kind: str) -> None:
    """Any string in e-mail fields and free text (no lone surrogates) is taken natively, except
    where it may hold a quoted or `%40` address (those are left to Python); it always matches."""
    event = ev("PushEvent")
    event["type"] = kind
    event["payload"]["commits"][0]["author"]["email"] = email
    event["payload"]["commits"][1]["message"] = message
    event["payload"]["target"] = {"email": message}
    maybe_left = any('"@' in text or "%40" in text for text in (email, message))
    for how in sorted(_SERIALIZERS):
        check_one(_serialize(event, how), EITHER if maybe_left else NATIVE)


# ---- 4. chunks.process with and without the native path ------------------------------------------------


def _sample_lines(name: str, count: int) -> list[bytes]:
    return [line for line in _read(DATA / name).split(b"\n") if line][:count]


def _mixed_chunk() -> list[bytes]:
    events = _sample_lines("2015-01-01-0.json.gz", 30)
    timeline = _sample_lines("2014-02-15-0.json.gz", 6)
    backfill = _sample_lines("2011-02-15-0.json.gz", 3)
    odd = [
        b"{not json",
        b"[1, 2]",
        b"",
        b"   ",
        with_value("PushEvent", ("created_at",), "2015-02-30T00:00:00Z"),  # falls back, then rejected
        without("PushEvent", ("type",)),  # rejected
        dumps(ev("PushEvent") | {"foo": 1}),  # falls back, becomes a row with `other`
        with_value("PushEvent", ("payload", "x"), 1.5),  # falls back, becomes a row
        with_value("PushEvent", ("id",), ""),  # falls back, derived id
        raw(ev("PushEvent"), MESSAGE, rb'"\ud800"'),  # lone surrogate
        b"\t\r",
    ]
    lines: list[bytes] = []
    pools = [events[:10], timeline[:3], odd[:4], events[10:20], backfill, odd[4:], timeline[3:], events[20:]]
    for pool in pools:
        lines.extend(pool)
        lines.append(b"")
    return lines


def _compare_process(items: list[bytes], monkeypatch: pytest.MonkeyPatch) -> None:
    constants = chunks.Constants(
        source_hour=datetime(2015, 1, 1, tzinfo=UTC),
        ingested_at=datetime(2024, 1, 1, 12, tzinfo=UTC),
        version="test",
    )
    fast = chunks.process(list(items), 7, EventMapper(), constants)
    monkeypatch.setattr(native, "_module", None)
    assert native.map_lines(items) is None
    slow = chunks.process(list(items), 7, EventMapper(), constants)
    assert fast.lines == slow.lines
    assert fast.rejects == slow.rejects
    assert fast.eras == slow.eras
    assert fast.last_event_line == slow.last_event_line
    if slow.batch is None:
        assert fast.batch is None
        return
    assert fast.batch is not None
    a, b = fast.batch.drop_columns(["ingested_at"]), slow.batch.drop_columns(["ingested_at"])
    assert a.schema == b.schema
    assert a.num_rows == b.num_rows
    for name in a.schema.names:
        assert a.column(name).to_pylist() == b.column(name).to_pylist(), name


def test_process_mixed_chunk_same_with_and_without_native(monkeypatch: pytest.MonkeyPatch) -> None:
    items = _mixed_chunk()
    outcome = compare(items)
    assert outcome.taken and outcome.fallback  # both paths are exercised and merged
    _compare_process(items, monkeypatch)


@pytest.mark.parametrize(
    "which",
    ["events only", "timeline only", "blank only", "rejects only", "one event"],
)
def test_process_uniform_chunks_same_with_and_without_native(
    which: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    items = {
        "events only": lambda: _sample_lines("2015-01-01-1.json.gz", 50),
        "timeline only": lambda: _sample_lines("2012-06-14-15.json.gz", 20),
        "blank only": lambda: [b"", b" ", b"\r"],
        "rejects only": lambda: [b"{", b"", b"[]", without("PushEvent", ("type",))],
        "one event": lambda: [dumps(ev("PushEvent"))],
    }[which]()
    _compare_process(items, monkeypatch)


def test_environment_switch_turns_native_off() -> None:
    code = (
        "from gharchive_pipeline.normalize import native; print(native.AVAILABLE, native.map_lines([b'{}']))"
    )
    env = {**os.environ, "GHARCHIVE_NATIVE": "0"}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "None"]


def _maps_pieces() -> bool:
    """Whether this build splits each list item into lines (the chunked reader's form)."""
    chunk = native.map_lines([b"{}\n{}"])
    return chunk is not None and chunk.lines == 2


def test_lines_joined_into_pieces_map_alike() -> None:
    if not _maps_pieces():
        pytest.skip("this build maps one line per list item")
    lines = _mixed_chunk()
    assert not any(b"\n" in line for line in lines)
    single = native.map_lines(lines)
    assert single is not None
    joined = b"\n".join(lines)
    half = len(lines) // 2
    for pieces in (
        [joined],
        [memoryview(joined)],
        [b"\n".join(lines[:half]), b"\n".join(lines[half:])],
        [memoryview(b"\n".join(lines[:5])), b"\n".join(lines[5:])],
    ):
        chunk = native.map_lines(pieces)
        assert chunk is not None
        assert chunk.lines == single.lines
        assert chunk.row_offsets.to_pylist() == single.row_offsets.to_pylist()
        assert [(o, bytes(t)) for o, t in chunk.fallback] == [(o, bytes(t)) for o, t in single.fallback]
        for a, b in zip(chunk.columns.values(), single.columns.values(), strict=True):
            assert a.equals(b)


# ---- 5. what a run reports ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "native_events"),
    [
        ("2015-01-01-3.json.gz", 5971),
        ("2012-06-14-15.json.gz", 0),
        ("partial/sample.small.json", 1162),
    ],
)
def test_each_run_says_how_many_events_the_native_mapper_took(
    tmp_path: Path, name: str, native_events: int
) -> None:
    """A drop in this share (format drift) costs ~3.5x the time: the result, the log line, the CLI and
    the ledger say it every run."""
    from gharchive_pipeline.cli.normalize_cmd import summary
    from gharchive_pipeline.hours import Hour
    from gharchive_pipeline.normalize import normalize

    result = normalize(DATA / name, tmp_path / "out.parquet", hour=Hour.parse("2015-01-01T03"))
    assert result.native_events == native_events
    assert f"mapper: native C for {native_events} of {result.events} events" in summary(result)
