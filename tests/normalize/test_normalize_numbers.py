"""Numbers in the payload keep their digits: `123456789012345678901234567890` is not written back as
`1.2345678901234568e+29`, and a fraction or exponent keeps its spelling (`1.0E+10`, `1e400`).

Each case is a real event of a real hour with a number spliced into its payload (as JSON text: no
Python value spells these), normalized on the native and the pure-Python path.
"""

from __future__ import annotations

import gzip
from pathlib import Path

import orjson
import pyarrow.parquet as pq
import pytest

from gharchive_pipeline.hours import Hour
from gharchive_pipeline.normalize import native, normalize
from gharchive_pipeline.normalize.eras import EventMapper
from gharchive_pipeline.normalize.ids import DERIVED_PREFIX
from gharchive_pipeline.normalize.numbers import dumps, loads

from ..conftest import DATA

EVENTS_HOUR = "2015-01-01-5.json.gz"
TIMELINE_HOUR = "2012-10-13-0.json.gz"

#: numbers as written in a line; each must come out exactly so
NUMBERS = [
    "123456789012345678901234567890",
    "-123456789012345678901234567890",
    "18446744073709551616",  # 2^64: one past what orjson keeps as an integer
    "-9223372036854775809",  # -2^63 - 1
    "1.0E+10",
    "1e400",  # past a double: orjson refuses the line outright
    "-1e-400",
    "0.30000000000000004",
    "1.50",
    "3.141592653589793238462643383279",
]
#: numbers orjson already gives back as written: unchanged
PLAIN = ["18446744073709551615", "-9223372036854775808", "0", "42"]


def _splice(line: bytes, text: str) -> bytes:
    """The event with `"probe": <text>` first in its payload and in a nested list."""
    assert line.count(b'"payload":{') == 1
    return line.replace(
        b'"payload":{', b'"payload":{"probe":' + text.encode() + b',"list":[' + text.encode() + b"],"
    )


def _normalized(src: Path, out: Path, monkeypatch: pytest.MonkeyPatch, path: str) -> list[dict[str, object]]:
    if path == "python":
        monkeypatch.setattr(native, "_module", None)
        monkeypatch.setattr(native, "AVAILABLE", False)
    result = normalize(src, out, hour=Hour.parse(src.name.split(".")[0]))
    assert result.rejects == 0
    return pq.read_table(out).to_pylist()


def test_payload_numbers_keep_their_digits(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    lines = gzip.decompress((DATA / EVENTS_HOUR).read_bytes()).splitlines()
    spliced = [_splice(lines[i], text) for i, text in enumerate(NUMBERS + PLAIN)]
    src = tmp_path / EVENTS_HOUR
    src.write_bytes(gzip.compress(b"\n".join(spliced + lines[len(spliced) :]) + b"\n"))
    outputs = []
    for path in ("native", "python"):
        rows = _normalized(src, tmp_path / path / "out.parquet", monkeypatch, path)
        assert len(rows) == len(lines)
        for row, text in zip(rows, NUMBERS + PLAIN, strict=False):
            payload = str(row["payload"])
            assert payload.startswith(f'{{"probe":{text},"list":[{text}],'), payload[:80]
        outputs.append([{k: v for k, v in row.items() if k != "ingested_at"} for row in rows])
    assert outputs[0] == outputs[1], "native and Python rows differ"


def test_other_column_keeps_digits_and_derived_ids_do_not_change(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Timeline events have no id: it is derived from the event as orjson read it before numbers
    kept their text (a rerun of an hour normalized earlier gives the same ids)."""
    lines = gzip.decompress((DATA / TIMELINE_HOUR).read_bytes()).splitlines()
    line = lines[0].replace(b'{"', b'{"probe":123456789012345678901234567890,"ratio":1.50,"', 1)
    assert line != lines[0]
    src = tmp_path / TIMELINE_HOUR
    src.write_bytes(gzip.compress(b"\n".join([line, *lines[1:]]) + b"\n"))
    rows = _normalized(src, tmp_path / "out.parquet", monkeypatch, "python")
    assert '"probe":123456789012345678901234567890' in str(rows[0]["other"])
    assert '"ratio":1.50' in str(rows[0]["other"])
    old_style = orjson.loads(line)  # what orjson alone reads: the big integer as a float
    assert isinstance(old_style["probe"], float)
    assert rows[0]["id"] == EventMapper().map(old_style)[0].id and rows[0]["id"].startswith(DERIVED_PREFIX)


def test_loads_keeps_text_and_typed_values() -> None:
    value = loads(b'{"a":123456789012345678901234567890,"b":1.0E+10,"c":5,"d":"x 1.5"}')
    assert value["a"] == 123456789012345678901234567890 and value["b"] == 1e10 and type(value["c"]) is int
    assert dumps(value) == b'{"a":123456789012345678901234567890,"b":1.0E+10,"c":5,"d":"x 1.5"}'
    for bad in (b'{"a":1e400,"b":NaN}', b'{"a":1e400', b'{"a":1e400} x'):
        with pytest.raises(orjson.JSONDecodeError):
            loads(bad)


@pytest.mark.parametrize(
    ("field", "text", "reason"),
    [
        ("actor", "123456789012345678901234567890", "actor.id is a number past 64 bits"),
        ("repo", "1.0E+10", "repo.id is a number with a fraction or exponent"),
    ],
)
def test_typed_columns_still_refuse_such_numbers(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, field: str, text: str, reason: str
) -> None:
    lines = gzip.decompress((DATA / EVENTS_HOUR).read_bytes()).splitlines()
    event = orjson.loads(lines[0])
    bad = orjson.dumps(event).replace(
        f'"{field}":{{"id":{event[field]["id"]}'.encode(), f'"{field}":{{"id":{text}'.encode()
    )
    assert bad != orjson.dumps(event)
    src = tmp_path / EVENTS_HOUR
    src.write_bytes(gzip.compress(b"\n".join([bad, *lines[1:]]) + b"\n"))
    for path in ("native", "python"):
        if path == "python":
            monkeypatch.setattr(native, "_module", None)
            monkeypatch.setattr(native, "AVAILABLE", False)
        result = normalize(src, tmp_path / path / "out.parquet")
        assert result.rejects == 1 and result.rejects_path is not None
        reject = orjson.loads(result.rejects_path.read_bytes())
        assert reason in reject["reason"] and text in reject["text"]


@pytest.mark.skipif(not native.AVAILABLE, reason="compares the native scanner with the patterns")
def test_the_patterns_take_every_line_the_native_scanner_takes() -> None:
    """Without the native module, patterns decide which lines are read again: they must take every
    line that needs it (taking more only costs time). Real lines, and each of them with a number."""
    scan = native.numbers_scanner()
    assert scan is not None
    lines = gzip.decompress((DATA / EVENTS_HOUR).read_bytes()).splitlines()[:2000]
    lines += [_splice(line, text) for line in lines[:50] for text in NUMBERS + PLAIN]
    lines += [line.replace(b":", b": ").replace(b",", b" ,\t") for line in lines[-200:]]
    for line in lines:
        if scan(line):
            assert at_risk_by_patterns(line), line[:200]
    assert sum(map(scan, lines)) >= 50 * (len(NUMBERS) + 1)


def at_risk_by_patterns(line: bytes) -> bool:
    from gharchive_pipeline.normalize import numbers

    return bool(
        numbers._AFTER_COLON.search(line)
        or numbers._AFTER_COMMA.search(line)
        or numbers._AFTER_BRACKET.search(line)
    )
