"""A day's kept rows, out of its curated hour files into the day partition's parquet files.

Which rows a day drops (the losing copies, the rows of other days) is decided before, by file row
number (duckdb_days.py). A row group that drops none, from a file with the table's schema, is copied
as its bytes (parquet_splice.py): no decoding, no encoding. The kept rows of the other row groups are
read (READ_ROWS at a time), gathered to about ROW_GROUP_ROWS rows (fewer when they hold
ROW_GROUP_BYTES), encoded with pyarrow as the normalizer encodes and copied in. Why not DuckDB's
COPY: re-encoding the bench day (1.2M events, 56 columns) that way cost ~15 s of CPU.

The files are cut into `threads` runs of consecutive hours of about equal size (at least PART_BYTES
each: a small day is one file); each run is written by its own thread into its own part file, in
hour order. Memory stays near threads x (one read batch + one gathered group), whatever the day's
size. A curated file written before a column existed gives that column as nulls; the parts have
exactly schema.arrow_schema().
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from ..normalize import arrow_columns
from ..row_groups import RowGroup
from ..schema import arrow_schema
from .parquet_splice import SpliceWriter, encoded, read_footer, target_footer

__all__ = ["ROW_GROUP_BYTES", "ROW_GROUP_ROWS", "SourceFile", "write_parts"]

ROW_GROUP_ROWS = 32_768
ROW_GROUP_BYTES = 64 << 20
#: Rows read at a time: decoding a row group whole grows its text buffers by doubling (each growth a
#: copy into fresh, zeroed pages: a quarter of the step's time with 32k-row groups).
READ_ROWS = 8_192
#: Curated bytes a part file is cut at the least: a small day is one file, whatever the threads.
PART_BYTES = 64 << 20
#: Kept runs of rows sliced (no copy) out of a read batch; more than this, and the batch is filtered.
MAX_SLICES = 64


@dataclass(frozen=True)
class SourceFile:
    """A curated hour file and the row numbers (0-based, ascending) none of whose rows are kept."""

    path: Path
    dropped: np.ndarray  # int64

    @property
    def size(self) -> int:
        return self.path.stat().st_size


def write_parts(sources: Sequence[SourceFile], directory: Path, threads: int) -> int:
    """Write the kept rows of `sources` (in hour order) as part-<i>.parquet files in `directory`;
    returns the rows written."""
    sizes = [s.size for s in sources]
    count = max(min(threads, sum(sizes) // PART_BYTES), 1)
    runs = [run for run in _runs(sources, sizes, count) if run]
    if len(runs) <= 1:
        return _write_part(runs[0] if runs else [], directory / "part-0.parquet")
    with ThreadPoolExecutor(len(runs), thread_name_prefix="day-part") as pool:
        parts = [(run, directory / f"part-{i}.parquet") for i, run in enumerate(runs)]
        futures = [pool.submit(_write_part, run, part) for run, part in parts]
        return sum(f.result() for f in futures)


def _runs(sources: Sequence[SourceFile], sizes: list[int], count: int) -> list[list[SourceFile]]:
    """`count` runs of consecutive files, each about the same number of bytes (`sizes`)."""
    total = sum(sizes) or 1
    runs: list[list[SourceFile]] = [[] for _ in range(count)]
    done = 0
    for source, size in zip(sources, sizes, strict=True):
        middle = done + size / 2
        runs[min(int(middle * count / total), count - 1)].append(source)
        done += size
    return runs


def _write_part(sources: Sequence[SourceFile], destination: Path) -> int:
    """One part file: a row group that keeps every row and has the table's schema is copied as it
    is (parquet_splice.py); the kept rows of the others are gathered, encoded and copied in."""
    schema = arrow_schema()
    target = target_footer(schema)
    pending: RowGroup[pa.Table] = RowGroup(ROW_GROUP_ROWS, ROW_GROUP_BYTES)
    with SpliceWriter(destination, target) as out:
        for source in sources:
            footer = read_footer(source.path)
            same = footer.schema_key == target.schema_key
            parquet: pq.ParquetFile | None = None
            first = 0
            copies: list[int] = []  # consecutive whole row groups: one open of the file for them
            for i in range(len(footer.row_groups)):
                n = footer.rows(i)
                lo, hi = np.searchsorted(source.dropped, [first, first + n])
                if same and hi == lo:
                    _flush(pending, out, schema)  # rows stay in file order
                    copies.append(i)
                else:
                    if copies:
                        out.copy_file(source.path, footer, copies)
                        copies = []
                    parquet = parquet or pq.ParquetFile(source.path)
                    for table in _read(parquet, i, source.dropped[lo:hi] - first):
                        if pending.add(_conformed(table, schema)):
                            _flush(pending, out, schema)
                first += n
            if copies:
                out.copy_file(source.path, footer, copies)
        _flush(pending, out, schema)
    return out.rows


def _flush(pending: RowGroup[pa.Table], out: SpliceWriter, schema: pa.Schema) -> None:
    """Encode the gathered kept rows as one row group of the part file."""
    if tables := pending.take():
        out.copy_bytes(encoded(pa.concat_tables(tables), schema))


def _read(parquet: pq.ParquetFile, group: int, dropped: np.ndarray) -> Iterator[pa.Table]:
    """The kept rows of one row group (`dropped`: row numbers in it), a batch of rows at a time."""
    first = 0
    for batch in parquet.iter_batches(batch_size=READ_ROWS, row_groups=[group], use_threads=False):
        n = batch.num_rows
        table = pa.Table.from_batches([batch])
        lo, hi = np.searchsorted(dropped, [first, first + n])
        if hi > lo:
            table = _without(table, dropped[lo:hi] - first)
        first += n
        yield table


def _without(table: pa.Table, rows: np.ndarray) -> pa.Table:
    """`table` less `rows` (ascending): slices of the runs kept between them, no copy, where they
    are few (dropped copies come in runs: an hour repeating the end of the one before), else a filter."""
    keep = np.ones(table.num_rows, dtype=np.bool_)
    keep[rows] = False
    edges = np.flatnonzero(np.diff(np.concatenate(([False], keep, [False])).astype(np.int8)))
    if len(edges) > 2 * MAX_SLICES:
        return table.filter(arrow_columns.bool_array(keep))
    starts, ends = edges[0::2].tolist(), edges[1::2].tolist()
    return pa.concat_tables(
        [table.slice(a, b - a) for a, b in zip(starts, ends, strict=True)] or [table.slice(0, 0)]
    )


def _conformed(table: pa.Table, schema: pa.Schema) -> pa.Table:
    """`table` with exactly `schema`'s columns: a column an older file lacks is null."""
    if table.schema.equals(schema, check_metadata=False):
        return pa.Table.from_arrays(table.columns, schema=schema)  # no copy
    columns = []
    for field in schema:
        if field.name in table.column_names:
            column = table.column(field.name)
            columns.append(column if column.type == field.type else column.cast(field.type))
        else:
            columns.append(pa.nulls(table.num_rows, field.type))
    return pa.Table.from_arrays(columns, schema=schema)
