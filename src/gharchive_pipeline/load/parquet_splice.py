"""One parquet file made of whole row groups of others, their bytes copied as they are.

Why: a day rebuild keeps almost every row of its hour files; decoding and encoding the row groups
that lose no row cost most of the rebuild's time (zstd, dictionary and statistics, again) for bytes
that come out the same. A row group's column chunks hold no file position, only the footer does, so
a row group moves between files with the same schema by copying its chunks (copy_file_range: no
trip through Python) and writing a footer whose offsets point at the new places.

Refused (SpliceError) rather than guessed: a file whose schema differs from the target's (its rows
go through the decoder instead), an encrypted footer, a footer that does not parse. Page indexes and
bloom filters are not copied (their offsets are dropped from the footer; our writers make none).
"""

from __future__ import annotations

import os
import struct
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import IO

import pyarrow as pa
import pyarrow.parquet as pq

from ..schema import parquet_write_options
from .thrift_compact import I16, I64, LIST, ThriftError, ThriftList, ThriftStruct, read_struct

__all__ = ["Footer", "SpliceError", "SpliceWriter", "encoded", "read_footer", "target_footer"]

MAGIC = b"PAR1"
# parquet.thrift field ids
_FMD_SCHEMA, _FMD_NUM_ROWS, _FMD_ROW_GROUPS, _FMD_ENCRYPTION = 2, 3, 4, 8
_RG_COLUMNS, _RG_NUM_ROWS, _RG_FILE_OFFSET, _RG_ORDINAL = 1, 3, 5, 7
_CC_FILE_PATH, _CC_FILE_OFFSET, _CC_META, _CC_CRYPTO, _CC_ENCRYPTED_META = 1, 2, 3, 8, 9
_CC_INDEXES = (4, 5, 6, 7)  # offset/column index offsets and lengths
_CM_COMPRESSED, _CM_DATA_PAGE, _CM_INDEX_PAGE, _CM_DICT_PAGE = 7, 9, 10, 11
_CM_BLOOM = (14, 15)


class SpliceError(ValueError):
    """A file whose row groups cannot be copied as they are."""


@dataclass(frozen=True)
class Footer:
    meta: ThriftStruct  # FileMetaData
    schema_key: bytes  # its schema, serialized: files splice together when these are equal

    @property
    def row_groups(self) -> list[ThriftStruct]:
        groups = self.meta.get(_FMD_ROW_GROUPS)
        return groups.items if groups is not None else []

    def rows(self, index: int) -> int:
        return int(self.row_groups[index].get(_RG_NUM_ROWS))


def _footer_bytes(data: bytes) -> bytes:
    if len(data) < 12 or data[:4] != MAGIC or data[-4:] != MAGIC:
        raise SpliceError("not a parquet file (no PAR1 at both ends)")
    size = struct.unpack("<I", data[-8:-4])[0]
    if size + 12 > len(data):
        raise SpliceError("parquet footer longer than the file")
    return data[-8 - size : -8]


def _parse(footer: bytes) -> Footer:
    try:
        meta, end = read_struct(footer)
    except ThriftError as exc:
        raise SpliceError(f"parquet footer does not parse: {exc}") from None
    if end != len(footer):
        raise SpliceError("parquet footer has bytes after its metadata")
    if meta.get(_FMD_ENCRYPTION) is not None:
        raise SpliceError("encrypted parquet footer")
    schema = meta.get(_FMD_SCHEMA)
    return Footer(meta, ThriftStruct([[_FMD_SCHEMA, LIST, schema]]).to_bytes())


def read_footer(path: Path) -> Footer:
    """The footer of a parquet file (only its tail is read)."""
    with open(path, "rb") as f:
        f.seek(0, os.SEEK_END)
        size = f.tell()
        if size < 12:
            raise SpliceError(f"{path}: not a parquet file ({size} bytes)")
        f.seek(size - 8)
        tail = f.read(8)
        length = struct.unpack("<I", tail[:4])[0]
        if tail[4:] != MAGIC or length + 12 > size:
            raise SpliceError(f"{path}: not a parquet file (no PAR1 at its end)")
        f.seek(size - 8 - length)
        return _parse(f.read(length))


def encoded(table: pa.Table, schema: pa.Schema) -> bytes:
    """`table` as a parquet file in memory (one row group), written as our writers write."""
    sink = pa.BufferOutputStream()
    with pq.ParquetWriter(sink, schema, **parquet_write_options()) as writer:
        if table.num_rows:
            writer.write_table(table, row_group_size=table.num_rows)
    return sink.getvalue().to_pybytes()


def target_footer(schema: pa.Schema) -> Footer:
    """The footer our writer gives a file of `schema`: what a spliced file carries (its schema, its
    key-value metadata with the Arrow schema, its writer's name)."""
    return _parse(_footer_bytes(encoded(schema.empty_table(), schema)))


class SpliceWriter:
    """Writes `destination` from row groups of files (or in-memory files) whose schema is the
    target's, in the order they are added."""

    def __init__(self, destination: Path, target: Footer) -> None:
        self.target = target
        self._out: IO[bytes] = open(destination, "wb")  # noqa: SIM115 - closed by close()
        self._out.write(MAGIC)
        self._pos = len(MAGIC)
        self._groups: list[ThriftStruct] = []
        self.rows = 0

    def __enter__(self) -> SpliceWriter:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if kind is None:
            self.close()
        else:
            self._out.close()

    def copy_file(self, path: Path, footer: Footer, indexes: list[int]) -> None:
        """Copy row groups `indexes` of the parquet file at `path` (its `footer`)."""
        self._check(footer, str(path))
        with open(path, "rb") as src:
            for i in indexes:
                self._copy_group(footer.row_groups[i], lambda start, size: self._copy_range(src, start, size))

    def copy_bytes(self, data: bytes) -> None:
        """Copy every row group of a parquet file held in memory (encoded())."""
        footer = _parse(_footer_bytes(data))
        self._check(footer, "an encoded row group")
        view = memoryview(data)
        for group in footer.row_groups:
            self._copy_group(group, lambda start, size: self._write(view[start : start + size]))

    def _check(self, footer: Footer, what: str) -> None:
        if footer.schema_key != self.target.schema_key:
            raise SpliceError(f"{what}: its parquet schema is not the target's")

    def _write(self, data: bytes | memoryview) -> None:
        self._out.write(data)
        self._pos += len(data)

    def _copy_range(self, src: IO[bytes], start: int, size: int) -> None:
        self._out.flush()
        done = 0
        try:
            while done < size:  # the kernel copies; short copies go on where they stopped
                n = os.copy_file_range(src.fileno(), self._out.fileno(), size - done, start + done)
                if n <= 0:
                    raise SpliceError(f"copy of {size} bytes from offset {start} ended early")
                done += n
        except OSError:  # a file system (or pair) without it: copy through memory instead
            self._out.seek(0, os.SEEK_END)
            while done < size:
                data = os.pread(src.fileno(), min(size - done, 8 << 20), start + done)
                if not data:
                    raise SpliceError(f"copy of {size} bytes from offset {start} ended early") from None
                self._out.write(data)
                done += len(data)
        self._out.seek(0, os.SEEK_END)
        self._pos += size

    def _copy_group(self, group: ThriftStruct, copy: object) -> None:
        new = ThriftStruct([list(f) for f in group.fields])
        columns = []
        first_start = None
        for chunk in group.get(_RG_COLUMNS).items:
            if chunk.get(_CC_FILE_PATH) is not None or chunk.get(_CC_CRYPTO) is not None:
                raise SpliceError("column chunk in another file, or encrypted")
            meta = chunk.get(_CC_META)
            if meta is None or chunk.get(_CC_ENCRYPTED_META) is not None:
                raise SpliceError("column chunk without plain metadata")
            data_page = int(meta.get(_CM_DATA_PAGE))
            dict_page = meta.get(_CM_DICT_PAGE)
            start = min(data_page, int(dict_page)) if dict_page is not None and dict_page > 0 else data_page
            size = int(meta.get(_CM_COMPRESSED))
            shift = self._pos - start
            copy(start, size)  # type: ignore[operator]
            new_meta = ThriftStruct([list(f) for f in meta.fields])
            for fid in (_CM_DATA_PAGE, _CM_INDEX_PAGE, _CM_DICT_PAGE):
                value = new_meta.get(fid)
                if value is not None and value > 0:
                    new_meta.set(fid, I64, value + shift)
            new_meta.drop(*_CM_BLOOM)
            new_chunk = ThriftStruct([list(f) for f in chunk.fields])
            new_chunk.set(_CC_META, 12, new_meta)
            offset = new_chunk.get(_CC_FILE_OFFSET)
            if offset:
                new_chunk.set(_CC_FILE_OFFSET, I64, offset + shift)
            new_chunk.drop(*_CC_INDEXES)
            columns.append(new_chunk)
            first_start = start + shift if first_start is None else first_start
        new.set(_RG_COLUMNS, LIST, ThriftList(12, columns))
        if new.get(_RG_FILE_OFFSET) is not None and first_start is not None:
            new.set(_RG_FILE_OFFSET, I64, first_start)
        if new.get(_RG_ORDINAL) is not None:
            new.set(_RG_ORDINAL, I16, len(self._groups))
        self._groups.append(new)
        self.rows += int(group.get(_RG_NUM_ROWS))

    def close(self) -> None:
        meta = ThriftStruct([list(f) for f in self.target.meta.fields])
        meta.set(_FMD_NUM_ROWS, I64, self.rows)
        meta.set(_FMD_ROW_GROUPS, LIST, ThriftList(12, self._groups))
        footer = meta.to_bytes()
        self._out.write(footer + struct.pack("<I", len(footer)) + MAGIC)
        self._out.close()
