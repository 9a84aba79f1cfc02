"""Row groups copied between parquet files as bytes (load/parquet_splice.py, load/thrift_compact.py).

On curated files the real normalizer makes from bundled hours, on a file DuckDB writes, and on the
curated files of an older pipeline version: footers survive a read and write unchanged, a spliced
file reads back (pyarrow and DuckDB) as exactly the row groups it was made of, with their statistics,
and what cannot be copied is refused. Then a whole day rebuild that copies some row groups and
encodes the rest gives the rows a plain SQL deduplication gives.
"""

from __future__ import annotations

import gzip
import struct
from datetime import date
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from gharchive_pipeline.load import kept_rows
from gharchive_pipeline.load.kept_rows import SourceFile, write_parts
from gharchive_pipeline.load.local_load import LocalDayLoader
from gharchive_pipeline.load.local_warehouse import EVENTS, day_dir
from gharchive_pipeline.load.parquet_splice import (
    SpliceError,
    SpliceWriter,
    encoded,
    read_footer,
    target_footer,
)
from gharchive_pipeline.load.thrift_compact import ThriftError, read_struct
from gharchive_pipeline.normalize import hour as normalize_module
from gharchive_pipeline.normalize import normalize
from gharchive_pipeline.normalize.writer import ParquetSink
from gharchive_pipeline.schema import COLUMN_NAMES, arrow_schema
from gharchive_pipeline.stats.sql import dedup_sql

from ..conftest import DATA
from ..support.warehouse import HOUR0, HOUR1, cached_rows, put_curated, reset

V0 = Path(__file__).resolve().parent.parent / "data" / "curated_v0"
HOURS = ["2015-01-01-0.json.gz", "2015-01-01-1.json.gz", "2015-01-01-3.json.gz"]


@pytest.fixture(scope="module")
def curated(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """Curated files of real hours, in row groups of 1,000 rows."""
    out = tmp_path_factory.mktemp("curated")
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(ParquetSink, "ROW_GROUP_ROWS", 1000)
        mp.setattr(normalize_module, "CHUNK_LINES", 1000)
        return [normalize(DATA / name, out / f"{name}.parquet").output for name in HOURS]


def _footer_of(path: Path) -> bytes:
    data = path.read_bytes()
    size = struct.unpack("<I", data[-8:-4])[0]
    return data[-8 - size : -8]


def test_footers_are_written_back_byte_for_byte(curated: list[Path], tmp_path: Path) -> None:
    duck = tmp_path / "duck.parquet"
    duckdb.sql(f"COPY (SELECT * FROM read_parquet('{curated[0]}')) TO '{duck}' (FORMAT parquet)")
    for path in [*curated, duck, *sorted(V0.glob("*.parquet"))]:
        footer = _footer_of(path)
        meta, end = read_struct(footer)
        assert end == len(footer) and meta.to_bytes() == footer, path


def test_a_spliced_file_is_its_row_groups(curated: list[Path], tmp_path: Path) -> None:
    schema = arrow_schema()
    picks = [(curated[0], [0, 2]), (curated[1], [1]), (curated[2], [0, 3, 4])]
    extra = pq.read_table(curated[1]).slice(10, 20)  # encoded rows, between copied ones
    out = tmp_path / "spliced.parquet"
    with SpliceWriter(out, target_footer(schema)) as writer:
        writer.copy_file(picks[0][0], read_footer(picks[0][0]), picks[0][1])
        writer.copy_bytes(encoded(extra, schema))
        for path, groups in picks[1:]:
            writer.copy_file(path, read_footer(path), groups)
    sources = [pq.ParquetFile(picks[0][0]).read_row_groups(picks[0][1]), extra] + [
        pq.ParquetFile(p).read_row_groups(g) for p, g in picks[1:]
    ]
    expected = pa.concat_tables([t.cast(schema) for t in sources])
    got = pq.read_table(out)
    assert got.schema.equals(schema) and got.equals(expected)
    by_duckdb = duckdb.sql(f"SELECT * FROM read_parquet('{out}')").to_arrow_table()
    assert by_duckdb.num_rows == expected.num_rows
    assert by_duckdb.column("payload").to_pylist() == expected.column("payload").to_pylist()
    spliced = pq.ParquetFile(out).metadata
    source = pq.ParquetFile(curated[2]).metadata
    assert spliced.num_row_groups == 7
    assert spliced.row_group(6).column(3).statistics == source.row_group(4).column(3).statistics


def test_what_cannot_be_copied_is_refused(curated: list[Path], tmp_path: Path) -> None:
    target = target_footer(arrow_schema())
    old = sorted(V0.glob("*.parquet"))[0]  # an older pipeline's columns: its rows go the decoding way
    with SpliceWriter(tmp_path / "a.parquet", target) as writer, pytest.raises(SpliceError, match="schema"):
        writer.copy_file(old, read_footer(old), [0])
    (tmp_path / "junk.parquet").write_bytes(b"PAR1" + b"\xff" * 40 + struct.pack("<I", 20) + b"PAR1")
    with pytest.raises(SpliceError, match="does not parse"):
        read_footer(tmp_path / "junk.parquet")
    (tmp_path / "short.parquet").write_bytes(curated[0].read_bytes()[:-3])
    with pytest.raises(SpliceError, match="not a parquet file"):
        read_footer(tmp_path / "short.parquet")
    with pytest.raises(ThriftError):
        read_struct(_footer_of(curated[0])[:100])


def test_kept_rows_copy_untouched_row_groups_and_encode_the_rest(curated: list[Path], tmp_path: Path) -> None:
    """Rows dropped from some row groups, a file of an older version, two part files: the parts hold
    exactly the kept rows, as the table's schema."""
    dropped = {0: np.array([0, 1, 2, 1500, 4999]), 1: np.array([], dtype=np.int64), 2: np.arange(100, 2100)}
    sources = [SourceFile(p, dropped[i].astype(np.int64)) for i, p in enumerate(curated)]
    old = sorted(V0.glob("*.parquet"))[-1]
    sources.append(SourceFile(old, np.array([0], dtype=np.int64)))
    out = reset(tmp_path / "parts")
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(kept_rows, "PART_BYTES", 1)
        rows = write_parts(sources, out, threads=2)
    got = pq.read_table(out)
    expected = []
    for source in sources:
        table = pq.read_table(source.path)
        keep = np.ones(table.num_rows, dtype=bool)
        keep[source.dropped] = False
        expected.append(kept_rows._conformed(table.filter(pa.array(keep)), arrow_schema()))
    want = pa.concat_tables(expected)
    assert rows == got.num_rows == want.num_rows
    assert sorted(out.glob("*.parquet")) == [out / "part-0.parquet", out / "part-1.parquet"]
    assert got.sort_by([("id", "ascending")]).equals(want.sort_by([("id", "ascending")]))


def test_a_day_rebuild_gives_what_sql_deduplication_gives(tmp_path: Path) -> None:
    home = reset(tmp_path / "home")
    h0, h1 = cached_rows(HOURS[0], HOUR0), cached_rows(HOURS[1], HOUR1)
    spill = [{**r, "source_hour": HOUR1.start} for r in h0[2000:2025]]  # hour 0's events again
    put_curated(home / "curated", HOUR0, h0 + h0[-10:])
    put_curated(home / "curated", HOUR1, spill + h1)
    LocalDayLoader(home).rebuild(date(2015, 1, 1))
    got = pq.read_table(day_dir(home / "warehouse", EVENTS, date(2015, 1, 1)))
    files = sorted(str(p) for p in (home / "curated").rglob("events.parquet"))
    cols = ", ".join(COLUMN_NAMES)
    want = duckdb.sql(f"SELECT {cols} FROM ({dedup_sql(f'read_parquet({files!r})')})").to_arrow_table()
    assert got.num_rows == want.num_rows == len(h0) + len(h1)
    order = [("id", "ascending"), ("created_at", "ascending")]
    assert got.select(list(COLUMN_NAMES)).sort_by(order).equals(want.cast(got.schema).sort_by(order))


def test_repeated_late_events_cost_the_rebuild_no_encoding(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """GH Archive repeats some of an hour's events at the start of the next hour's file. The
    normalizer gives rows created before the file's hour row groups of their own, so the rebuild
    drops the repeats by leaving out whole row groups, and copies every other one."""
    lines0 = gzip.decompress((DATA / HOURS[0]).read_bytes()).splitlines()
    lines1 = gzip.decompress((DATA / HOURS[1]).read_bytes()).splitlines()
    src0, src1 = tmp_path / "2015-01-01-0.json.gz", tmp_path / "2015-01-01-1.json.gz"
    src0.write_bytes(gzip.compress(b"\n".join(lines0) + b"\n"))
    src1.write_bytes(gzip.compress(b"\n".join(lines0[-30:] + lines1) + b"\n"))
    monkeypatch.setattr(ParquetSink, "ROW_GROUP_ROWS", 1000)
    monkeypatch.setattr(normalize_module, "CHUNK_LINES", 1000)
    out0 = normalize(src0, tmp_path / "h0.parquet").output
    out1 = normalize(src1, tmp_path / "h1.parquet").output
    parquet = pq.ParquetFile(out1)
    first_created = [
        parquet.read_row_group(i, columns=["created_at"]).column(0)[0].as_py()
        for i in range(parquet.metadata.num_row_groups)
    ]
    late = [i for i, t in enumerate(first_created) if t < HOUR1.start]
    assert [parquet.metadata.row_group(i).num_rows for i in late] == [30]
    table1 = pq.read_table(out1)
    repeated = set(pq.read_table(out0, columns=["id"]).column("id").to_pylist())
    dropped = [i for i, v in enumerate(table1.column("id").to_pylist()) if v in repeated]
    assert len(dropped) == 30
    calls: list[int] = []
    monkeypatch.setattr(kept_rows, "encoded", lambda table, schema: calls.append(1) or encoded(table, schema))
    none = np.array([], dtype=np.int64)
    sources = [SourceFile(out0, none), SourceFile(out1, np.array(dropped, dtype=np.int64))]
    written = write_parts(sources, reset(tmp_path / "day"), threads=1)
    assert written == len(lines0) + len(lines1) and not calls


def test_where_the_kernel_cannot_copy_bytes_go_through_memory(
    curated: list[Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """copy_file_range fails on some file systems (EXDEV, EOPNOTSUPP): the same file comes out."""
    import errno
    import os

    def refuse(*_: object) -> int:
        raise OSError(errno.EXDEV, "Invalid cross-device link")

    by_kernel, by_memory = tmp_path / "kernel.parquet", tmp_path / "memory.parquet"
    target = target_footer(arrow_schema())
    with SpliceWriter(by_kernel, target) as writer:
        writer.copy_file(curated[0], read_footer(curated[0]), [0, 1])
    monkeypatch.setattr(os, "copy_file_range", refuse)
    with SpliceWriter(by_memory, target) as writer:
        writer.copy_file(curated[0], read_footer(curated[0]), [0, 1])
    assert by_memory.read_bytes() == by_kernel.read_bytes()
    assert pq.read_table(by_memory).equals(pq.ParquetFile(curated[0]).read_row_groups([0, 1]))
