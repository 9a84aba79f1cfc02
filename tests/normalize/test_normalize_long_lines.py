"""Long lines: memory is bounded by bytes, not only by a count of lines.

A gzip bomb of long lines (a few MB that inflate to GBs: 1,024 events with 1 MiB descriptions) once
made chunks of 8,192 lines whatever their size. Chunks are now cut at CHUNK_BYTES of text too, the
inflater never hands out more than reader.CHUNK bytes at once, and a line over reader.MAX_LINE is
skipped as it streams by (never held) and becomes a reject with its reason. Real hours as carriers.
"""

from __future__ import annotations

import gzip
from pathlib import Path

import orjson
import pyarrow.parquet as pq
import pytest

from gharchive_pipeline.normalize import CHUNK_BYTES, CHUNK_LINES, native, normalize
from gharchive_pipeline.normalize.parallel import chunked
from gharchive_pipeline.normalize.reader import CHUNK, MAX_LINE, LineReader

from ..conftest import DATA

HOUR = "2015-01-01-5.json.gz"


def _lines() -> list[bytes]:
    return gzip.decompress((DATA / HOUR).read_bytes()).splitlines()


def _with_description(line: bytes, size: int, prefix: str = "") -> bytes:
    event = orjson.loads(line)
    event = {"note": prefix, **event}
    event["payload"]["description"] = "x" * size
    return orjson.dumps(event)


def test_bomb_of_long_lines_is_chunked_by_bytes(tmp_path: Path) -> None:
    lines = _lines()
    long = _with_description(lines[0], 1 << 20)  # 1 MiB: a real-looking event, far below MAX_LINE
    src = tmp_path / HOUR
    src.write_bytes(gzip.compress(b"\n".join([long] * 200 + lines[1:]) + b"\n", compresslevel=1))
    for pieces in (True, False):
        sizes = []
        for items, _ in chunked(LineReader(src, HOUR, pieces=pieces), CHUNK_LINES, CHUNK_BYTES):
            texts = items.pieces if pieces else items
            sizes.append(sum(len(t) for t in texts))
        assert max(sizes) <= CHUNK_BYTES + (1 << 20) + CHUNK, sizes  # one line and one block past
        assert len(sizes) >= 200 * (1 << 20) // CHUNK_BYTES
    result = normalize(src, tmp_path / "out.parquet")
    assert (result.events, result.rejects) == (len(lines) + 199, 0)


@pytest.mark.parametrize("path", ["native", "python"])
def test_a_line_over_the_limit_is_one_reject(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, path: str
) -> None:
    if path == "python":
        monkeypatch.setattr(native, "_module", None)
        monkeypatch.setattr(native, "AVAILABLE", False)
    lines = _lines()
    # the head kept for the reject ends inside an address: that half address is not kept either
    too_long = _with_description(lines[7], MAX_LINE, prefix="a" * 1985 + " alice.smith@example.com")
    assert too_long[2000 - 5 : 2000 + 6] == b"alice.smith"
    at_limit = _with_description(lines[9], MAX_LINE - 2_000)
    assert MAX_LINE - 2_000 < len(at_limit) <= MAX_LINE
    body = [*lines[:7], too_long, lines[8], at_limit, *lines[10:]]
    src = tmp_path / HOUR
    src.write_bytes(gzip.compress(b"\n".join(body) + b"\n", compresslevel=1))
    result = normalize(src, tmp_path / "out.parquet")
    assert (result.events, result.rejects, result.lines) == (len(lines) - 1, 1, len(lines))
    assert result.rejects_path is not None
    reject = orjson.loads(result.rejects_path.read_bytes())
    assert reject["line"] == 8
    assert reject["reason"] == f"line of {len(too_long):,} bytes is longer than the 16 MiB a line may have"
    assert reject["text"].startswith('{"note":"aaa') and "alice" not in reject["text"]
    ids = pq.read_table(result.output, columns=["id"]).column("id").to_pylist()
    assert ids == [orjson.loads(line)["id"] for i, line in enumerate(lines) if i != 7]


def test_a_long_last_line_without_newline_is_a_reject(tmp_path: Path) -> None:
    lines = _lines()[:100]
    src = tmp_path / "2015-01-01-5.json"  # plain NDJSON: read in blocks of CHUNK too
    src.write_bytes(b"\n".join([*lines, _with_description(lines[0], MAX_LINE + 1)]))
    result = normalize(src, tmp_path / "out.parquet")
    assert (result.events, result.rejects) == (100, 1)
    assert result.rejects_path is not None
    assert orjson.loads(result.rejects_path.read_bytes())["line"] == 101


def test_a_document_is_mapped_in_chunks(tmp_path: Path) -> None:
    """A pretty-printed document is parsed whole (up to MAX_LINE) but mapped chunk_lines events at
    a time, so its rejects and rows never pile up for the whole document at once."""
    events = [orjson.loads(line) for line in _lines()[:2500]]
    src = tmp_path / "2015-01-01-5.json"
    src.write_bytes(orjson.dumps(events, option=orjson.OPT_INDENT_2))
    chunks = list(chunked(LineReader(src, src.name), 1000, CHUNK_BYTES))
    assert [(len(items), first) for items, first in chunks] == [(1000, 1), (1000, 1001), (500, 2001)]
    result = normalize(src, tmp_path / "out.parquet")
    assert (result.events, result.rejects, result.input_kind) == (2500, 0, "document")
