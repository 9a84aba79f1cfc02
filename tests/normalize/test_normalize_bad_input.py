"""Bad input: damaged gzip, empty files, garbage lines, salvage; nothing partial is ever visible."""

from __future__ import annotations

import gzip
import io
from pathlib import Path

import orjson
import pyarrow.parquet as pq
import pytest

from gharchive_pipeline import schema
from gharchive_pipeline.hours import Hour
from gharchive_pipeline.normalize import (
    CorruptInputError,
    EmptyInputError,
    NormalizeError,
    TooManyRejectsError,
    normalize,
)
from gharchive_pipeline.normalize.writer import ParquetSink

from ..conftest import DATA

HOUR = "2015-01-01-5.json.gz"  # 5887 events


@pytest.fixture(scope="module")
def source() -> tuple[bytes, list[bytes]]:
    raw = (DATA / HOUR).read_bytes()
    return raw, gzip.decompress(raw).splitlines()


def assert_nothing_written(folder: Path) -> None:
    assert list(folder.iterdir()) == [], "no output, rejects or temp file may remain"


def ids_of(path: Path) -> list[str]:
    return pq.read_table(path, columns=["id"]).column("id").to_pylist()


def raw_ids(lines: list[bytes]) -> list[str]:
    return [orjson.loads(line)["id"] for line in lines]


def test_truncated_gzip_fails_and_names_the_file(source: tuple[bytes, list[bytes]], tmp_path: Path) -> None:
    src = tmp_path / "in" / HOUR
    src.parent.mkdir()
    src.write_bytes(source[0][: len(source[0]) // 2])
    out = tmp_path / "out"
    with pytest.raises(CorruptInputError, match=rf"{HOUR}.*truncated gzip.*--salvage"):
        normalize(src, out / "events.parquet")
    assert_nothing_written(out)


def test_truncated_gzip_salvage_keeps_the_complete_lines(
    source: tuple[bytes, list[bytes]], tmp_path: Path
) -> None:
    src = tmp_path / HOUR
    src.write_bytes(source[0][: len(source[0]) // 2])
    result = normalize(src, tmp_path / "out" / "events.parquet", salvage=True)
    assert result.salvaged and result.damage is not None and "truncated" in result.damage
    assert 1000 < result.events < 5887 and result.rejects == 0
    assert ids_of(result.output) == raw_ids(source[1][: result.events])


def test_corrupt_gzip_header_fails(source: tuple[bytes, list[bytes]], tmp_path: Path) -> None:
    # like intersimone999/gh-archive's 2015-01-01-11.json.gz: first bytes overwritten
    src = tmp_path / "in" / "2015-01-01-11.json.gz"
    src.parent.mkdir()
    src.write_bytes(b"AASDSADSDFFSD" + source[0][13:])
    out = tmp_path / "out"
    with pytest.raises(CorruptInputError, match=r"2015-01-01-11\.json\.gz: neither gzip"):
        normalize(src, out / "events.parquet")
    assert_nothing_written(out)


def test_corrupt_gzip_data_fails_even_with_salvage(source: tuple[bytes, list[bytes]], tmp_path: Path) -> None:
    """Zeroed bytes in the middle inflate to garbage that only the CRC at the end reveals: no line
    of such a stream can be shown intact, so --salvage refuses it too."""
    data = bytearray(source[0])
    middle = len(data) // 2
    data[middle : middle + 2000] = bytes(2000)
    src = tmp_path / "in" / HOUR
    src.parent.mkdir()
    src.write_bytes(bytes(data))
    out = tmp_path / "out"
    for salvage in (False, True):
        with pytest.raises(CorruptInputError, match=rf"{HOUR}: corrupt gzip data.*none is kept"):
            normalize(src, out / "events.parquet", salvage=salvage)
        assert_nothing_written(out)


@pytest.mark.parametrize("where", [0.1, 0.5, 0.9])
def test_one_flipped_bit_is_refused_not_salvaged(
    source: tuple[bytes, list[bytes]], tmp_path: Path, where: float
) -> None:
    """One flipped bit in the deflate data alters the lines after it and shows only at the CRC (or
    as an inflate error later on): salvaging "the lines before the damage" kept altered rows."""
    data = bytearray(source[0])
    at = int(len(data) * where)
    data[at] ^= 0x10
    src = _write(tmp_path / HOUR, bytes(data))
    stream = io.BytesIO(bytes(data))
    for given in (src, stream):
        with pytest.raises(CorruptInputError, match="corrupt gzip data"):
            normalize(given, tmp_path / "out" / "events.parquet", salvage=True, source_name=HOUR)
        assert not (tmp_path / "out" / "events.parquet").exists()


def test_trailing_garbage_after_a_whole_stream_is_salvaged(
    source: tuple[bytes, list[bytes]], tmp_path: Path
) -> None:
    """Bytes after a stream whose CRC matched: every line is intact, so --salvage keeps them all."""
    src = _write(tmp_path / HOUR, source[0] + b"garbage")
    with pytest.raises(CorruptInputError, match=r"trailing bytes after the gzip stream.*--salvage"):
        normalize(src, tmp_path / "a.parquet")
    result = normalize(src, tmp_path / "b.parquet", salvage=True)
    assert result.salvaged and result.events == len(source[1])
    assert ids_of(result.output) == raw_ids(source[1])


def _write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def test_zero_byte_file(tmp_path: Path) -> None:
    src = tmp_path / "in" / HOUR
    src.parent.mkdir()
    src.write_bytes(b"")
    out = tmp_path / "out"
    with pytest.raises(EmptyInputError, match=rf"{HOUR}: file is empty \(0 bytes\)"):
        normalize(src, out / "events.parquet")
    assert_nothing_written(out)


def test_empty_gzip_stream_is_a_valid_empty_hour(tmp_path: Path) -> None:
    """A real GH Archive hour (2012-03-10-15) is a 20-byte valid, empty gzip: data, not damage."""
    src = tmp_path / "in" / "2012-03-10-15.json.gz"
    src.parent.mkdir()
    src.write_bytes(gzip.compress(b""))
    out = tmp_path / "out" / "events.parquet"
    result = normalize(src, out)
    assert (result.events, result.rejects, result.era, result.salvaged) == (0, 0, "empty", False)
    table = pq.read_table(out)
    assert table.num_rows == 0
    assert table.schema.equals(schema.arrow_schema(), check_metadata=False)


GARBAGE = [
    b"this is not json, mail me at jane.roe@example.com",
    b'["an", "array"]',
    b'{"type": "PushEvent"}',
    b'{"created_at": "2015-01-01T05:00:00Z"}',
    b'{"type": "PushEvent", "created_at": "yesterday", "actor": {"login": "x"}}',
    b'{"id": "1", "type": "PushEvent", "created_at": "2015-01-01T05:00:00Z", "payload": {"a": [1,',
    b"\xff\xfe binary",
]


def with_garbage(lines: list[bytes], count: int) -> bytes:
    out = list(lines)
    for i in range(count):
        out.insert(10 + i * 50, GARBAGE[i % len(GARBAGE)])
    return b"\n".join(out) + b"\n"


def test_garbage_lines_under_one_percent_go_to_rejects(
    source: tuple[bytes, list[bytes]], tmp_path: Path
) -> None:
    src = tmp_path / HOUR
    src.write_bytes(gzip.compress(with_garbage(source[1], 56)))
    result = normalize(src, tmp_path / "out" / "events.parquet")
    assert (result.events, result.rejects, result.lines) == (5887, 56, 5943)
    assert result.rejects_path == tmp_path / "out" / "events.parquet.rejects.ndjson"
    rejects = [orjson.loads(line) for line in result.rejects_path.read_bytes().splitlines()]
    assert [r["line"] for r in rejects[:3]] == [11, 61, 111]
    reasons = [r["reason"] for r in rejects[: len(GARBAGE)]]
    assert reasons[0].startswith("not JSON") and reasons[1] == "not a JSON object but a JSON list"
    assert reasons[2] == "missing 'created_at'" and reasons[3] == "missing or non-string 'type'"
    assert "'yesterday' is not a timestamp" in reasons[4] and reasons[5].startswith("not JSON")
    assert "jane.roe@example.com" not in result.rejects_path.read_text()
    assert rejects[0]["text"].startswith("this is not json")
    assert ids_of(result.output) == raw_ids(source[1])


def test_garbage_lines_over_one_percent_fail(source: tuple[bytes, list[bytes]], tmp_path: Path) -> None:
    src = tmp_path / HOUR
    src.write_bytes(gzip.compress(with_garbage(source[1], 70)))
    out = tmp_path / "out"
    with pytest.raises(TooManyRejectsError, match=rf"{HOUR}: 70 of 5957 lines.*first: line 11: not JSON"):
        normalize(src, out / "events.parquet")
    assert_nothing_written(out)


def test_truncated_last_line_is_one_reject(source: tuple[bytes, list[bytes]], tmp_path: Path) -> None:
    src = tmp_path / "2015-01-01-5.json"
    src.write_bytes(b"\n".join(source[1])[:-100])  # plain NDJSON, last line cut, no final newline
    result = normalize(src, tmp_path / "out" / "events.parquet")
    assert (result.events, result.rejects, result.input_kind) == (5886, 1, "ndjson")
    assert result.rejects_path is not None
    reject = orjson.loads(result.rejects_path.read_bytes())
    assert reject["line"] == 5887 and reject["reason"].startswith("not JSON")


def test_hour_is_needed_when_the_name_has_none(tmp_path: Path) -> None:
    src = tmp_path / "events.json"
    src.write_bytes((DATA / "partial" / "2018-01-01-0.json").read_bytes())
    with pytest.raises(NormalizeError, match=r"events\.json: cannot tell the hour.*--hour"):
        normalize(src, tmp_path / "out.parquet")
    result = normalize(src, tmp_path / "out.parquet", hour=Hour.parse("2018-01-01T00"))
    assert result.events == 10


def test_binary_stream_input(source: tuple[bytes, list[bytes]], tmp_path: Path) -> None:
    result = normalize(io.BytesIO(source[0]), tmp_path / "out.parquet", source_name=f"gs://raw/{HOUR}")
    assert result.events == 5887 and result.hour == Hour.parse("2015-01-01T05")
    truncated = io.BytesIO(source[0][:100_000])
    with pytest.raises(CorruptInputError, match=rf"gs://raw/{HOUR}: truncated"):
        normalize(truncated, tmp_path / "out2.parquet", source_name=f"gs://raw/{HOUR}")


def test_parallel_workers_give_the_same_table(
    source: tuple[bytes, list[bytes]], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import gharchive_pipeline.normalize.hour as normalize_module

    monkeypatch.setattr(normalize_module, "CHUNK_LINES", 1000)
    monkeypatch.setattr(ParquetSink, "ROW_GROUP_ROWS", 1000)  # a row group per chunk or so
    src = tmp_path / HOUR
    src.write_bytes(gzip.compress(with_garbage(source[1], 20)))
    serial = normalize(src, tmp_path / "serial.parquet", workers=0)
    parallel = normalize(src, tmp_path / "parallel.parquet", workers=2)
    assert (parallel.events, parallel.rejects, parallel.eras) == (serial.events, serial.rejects, serial.eras)
    a = pq.read_table(serial.output).drop_columns(["ingested_at"])
    b = pq.read_table(parallel.output).drop_columns(["ingested_at"])
    assert a.equals(b)
    assert pq.ParquetFile(parallel.output).metadata.num_row_groups > 1
    assert serial.rejects_path is not None and parallel.rejects_path is not None
    assert serial.rejects_path.read_bytes() == parallel.rejects_path.read_bytes()
