"""Rows -> Arrow record batches -> one zstd parquet file, and the rejects file; both atomic.

Files are written under a temporary name in the destination directory and renamed into place only
by `commit()`, so a failed run never leaves a partial parquet (or rejects file) visible. A run killed
outright (kill -9) leaves its temp file behind: `remove_leftovers` deletes those of a path on the next
run. Each temp file is locked (flock) while its run lives, so a concurrent run's file is never taken
for a leftover; the lock dies with the process. Files get the ordinary mode (0666 less the umask).
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
from collections import deque
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import IO

import numpy as np
import orjson
import pyarrow as pa
import pyarrow.parquet as pq

from .. import locked_temp, schema
from ..row_groups import RowGroup
from . import arrow_columns
from .curated import Curated
from .eras import Envelope, Row

_TS = pa.timestamp("us", tz="UTC")
log = logging.getLogger(__name__)


def check_row_contract() -> None:
    """The typed row and the schema name the same columns in the same order, or nothing imports:
    a column added to one and not the other must never shift values into a neighbour's column."""
    for part, fields in (("envelope", Envelope._fields), ("curated", Curated._fields)):
        wanted = schema.names(part)  # type: ignore[arg-type]
        if fields != wanted:
            raise RuntimeError(f"normalize: the {part} row fields {fields} are not schema.py's {wanted}")
    if "schema_era" not in schema.names("lineage"):
        raise RuntimeError("normalize: schema.py has no schema_era lineage column")


check_row_contract()


def _temp_name(final: Path) -> str:
    return f".{final.name}.{locked_temp.tag()}.tmp"


def _is_temp_of(final: Path, name: str) -> bool:
    prefix, suffix = f".{final.name}.", ".tmp"
    return (
        name.startswith(prefix)
        and name.endswith(suffix)
        and _TEMP_TAG.fullmatch(name[len(prefix) : -len(suffix)]) is not None
    )


#: temp names are `.<final name>.<tag>.tmp` (the form tempfile.mkstemp gave them before)
_TEMP_TAG = re.compile(r"[a-z0-9_]{8}")


def remove_leftovers(final: Path, *, keep: Path | None = None) -> int:
    """Delete the temp files of `final` that killed runs left (never a live run's: it holds the
    lock, nor `keep`, the input, however it is named); returns how many. Only names of exactly our
    temp form are touched."""
    return locked_temp.remove_unlocked(final.parent, lambda name: _is_temp_of(final, name), keep=keep)


class _AtomicFile:
    """A locked temp file beside `final` that becomes `final` on commit, or disappears on abort."""

    def __init__(self, final: Path) -> None:
        self.final = final
        try:
            final.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:  # named by the file asked for
            raise OSError(exc.errno, exc.strerror, str(final)) from None
        try:
            fd, temp = locked_temp.create_locked(lambda: final.parent / _temp_name(final))
        except OSError as exc:  # named by the file asked for, not by a temp name
            raise OSError(exc.errno, exc.strerror, str(final)) from None
        self._lock: int | None = fd
        self.temp = temp

    def _unlock(self) -> None:
        if self._lock is not None:
            os.close(self._lock)
            self._lock = None

    def commit(self) -> None:
        try:
            os.replace(self.temp, self.final)
        finally:
            self._unlock()

    def abort(self) -> None:
        """Idempotent; after a commit it leaves the committed file alone."""
        try:
            if self._lock is not None:
                self.temp.unlink(missing_ok=True)
        finally:
            self._unlock()


class ParquetSink:
    """Streams record batches into one parquet file with exactly `schema.arrow_schema()`.

    Batches are gathered into row groups of about ROW_GROUP_ROWS rows (fewer when they hold
    ROW_GROUP_BYTES): one group per 8,192-line chunk made many small pages, each a compressor set-up
    (a quarter more writing time than 32k-row groups); much larger groups make the day rebuild
    encode more, as it copies only the row groups that lose no row (load/kept_rows.py). Encoding and
    compressing a group runs in a background thread (pyarrow releases the GIL there) while the caller
    maps the next chunks; at most IN_FLIGHT groups wait for it, so memory stays bounded.
    """

    ROW_GROUP_ROWS = 16_384
    ROW_GROUP_BYTES = 64 << 20  # Arrow bytes: chunks of long lines make a group each, as before
    IN_FLIGHT = 2  # one group queued behind the one being written: the mapper rarely waits

    def __init__(self, dst: Path, hour_start: datetime | None = None) -> None:
        self.schema = schema.arrow_schema()
        self._file = _AtomicFile(dst)
        try:
            self._writer = pq.ParquetWriter(self._file.temp, self.schema, **schema.parquet_write_options())
        except BaseException:
            self._file.abort()
            raise
        self._thread = ThreadPoolExecutor(1, thread_name_prefix="parquet-writer")
        self._pending: deque[Future[None]] = deque()
        self._hour = None if hour_start is None else arrow_columns.micros(hour_start)
        # by when rows were created: before (-1), in (0) and after (1) the hour
        self._groups: dict[int, RowGroup[pa.RecordBatch]] = {}
        self.rows = 0
        self._days: set[int] = set()  # UTC days of created_at, as days since the epoch

    def write(self, rows: pa.RecordBatch | pa.Table) -> None:
        if not rows.num_rows:
            return
        for batch in rows.to_batches() if isinstance(rows, pa.Table) else [rows]:
            micros = arrow_columns.int64_values(batch.column(_CREATED_AT))
            self._days.update(_utc_days(micros))
            for when, part in self._by_hour(batch, micros):
                group = self._groups.get(when)
                if group is None:
                    group = self._groups[when] = RowGroup(self.ROW_GROUP_ROWS, self.ROW_GROUP_BYTES)
                if group.add(part):
                    self._flush(group)
            if sum(g.nbytes for g in self._groups.values()) >= self.ROW_GROUP_BYTES:
                for group in self._groups.values():  # memory: ROW_GROUP_BYTES gathered in all
                    self._flush(group)
        self.rows += rows.num_rows

    def _by_hour(self, batch: pa.RecordBatch, micros: np.ndarray) -> list[tuple[int, pa.RecordBatch]]:
        """The batch's rows created before the file's hour (-1: late events, the ones a later
        hour repeats), in it (0) and after it (1), as slices: each kind gets row groups of its own,
        so that the day rebuild, which drops repeats and rows of other days, can copy the others
        whole. Rows of many alternating runs (an hour crawled late) stay together, uncopied."""
        if self._hour is None:
            return [(0, batch)]
        when = (micros >= self._hour).astype(np.int8) + (micros >= self._hour + _HOUR_MICROS) - 1
        edges = np.flatnonzero(np.diff(when)) + 1
        if not len(edges):
            return [(int(when[0]), batch)]
        if len(edges) > _MAX_RUNS:
            return [(0, batch)]
        starts = [0, *edges.tolist()]
        ends = [*edges.tolist(), len(when)]
        return [(int(when[a]), batch.slice(a, b - a)) for a, b in zip(starts, ends, strict=True)]

    @property
    def days(self) -> tuple[date, ...]:
        """The UTC days the written rows were created on, in order (the load needs them; reading
        them back from the file cost a tenth of an hour's normalize)."""
        return tuple(_EPOCH_DAY + timedelta(days=d) for d in sorted(self._days))

    def _flush(self, group: RowGroup[pa.RecordBatch]) -> None:
        batches = group.take()
        if not batches:
            return
        while len(self._pending) >= self.IN_FLIGHT:
            self._pending.popleft().result()
        table = pa.Table.from_batches(batches, schema=self.schema)
        self._pending.append(self._thread.submit(self._writer.write_table, table, table.num_rows))

    def _wait(self) -> None:
        while self._pending:
            self._pending.popleft().result()

    def commit(self) -> None:
        for when in sorted(self._groups, key=abs):  # the hour's own rows first
            self._flush(self._groups[when])
        self._wait()
        self._thread.shutdown()
        self._writer.close()
        self._file.commit()

    def abort(self) -> None:
        try:
            self._groups = {}
            with contextlib.suppress(Exception):
                self._wait()
            self._thread.shutdown()
            self._writer.close()
        finally:
            self._file.abort()


_CREATED_AT = schema.arrow_schema().get_field_index("created_at")
_EPOCH_DAY = date(1970, 1, 1)
_DAY_MICROS = 86_400_000_000
_HOUR_MICROS = 3_600_000_000
#: More runs than this of rows from other hours in one batch: they are not split off (slices).
_MAX_RUNS = 64


def _utc_days(micros: np.ndarray) -> list[int]:
    """The distinct days (since the epoch) of microseconds since the epoch."""
    if not len(micros):
        return []
    first, last = int(micros.min()) // _DAY_MICROS, int(micros.max()) // _DAY_MICROS
    if first == last:
        return [first]
    return np.unique(micros // _DAY_MICROS).tolist()


def to_batch(
    rows: Sequence[Row], arrow_schema: pa.Schema, source_hour: datetime, ingested_at: datetime, version: str
) -> pa.RecordBatch:
    """Column-wise conversion with explicit types (no per-value type inference), by column name."""
    arrays: dict[str, pa.Array] = {}
    for part, names in ((0, Envelope._fields), (1, Curated._fields)):
        values = list(zip(*(row[part] for row in rows), strict=True)) or [() for _ in names]
        for name, column in zip(names, values, strict=True):
            arrays[name] = arrow_columns.column(column, arrow_schema.field(name).type)
    era_array = arrow_columns.column([row.schema_era for row in rows], pa.string())
    return with_lineage(arrays, era_array, arrow_schema, source_hour, ingested_at, version)


def with_lineage(
    arrays: dict[str, pa.Array], era: pa.Array, arrow_schema: pa.Schema, source_hour: datetime,
    ingested_at: datetime, version: str,
) -> pa.RecordBatch:  # fmt: skip
    """The mapped columns (by name) plus the lineage columns (`era` per row; hour, time and version
    constant), in table order; a column missing from `arrays` raises KeyError."""
    n = len(era)
    lineage = {
        "source_hour": arrow_columns.constant(source_hour, _TS, n),
        "schema_era": era,
        "ingested_at": arrow_columns.constant(ingested_at, _TS, n),
        "pipeline_version": arrow_columns.constant(version, pa.string(), n),
    }
    columns = [arrays[name] if name in arrays else lineage[name] for name in arrow_schema.names]
    return pa.RecordBatch.from_arrays(columns, schema=arrow_schema)


class RejectSink:
    """NDJSON of refused lines: {"line", "reason", "text"}; text is e-mail-scrubbed and truncated."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._file: _AtomicFile | None = None
        self._handle: IO[bytes] | None = None
        self.count = 0
        self.first = ""  # "line N: reason" of the first reject, for messages
        self.first_line = 0

    def add(self, line_no: int, reason: str, text: str) -> None:
        if not self.first or line_no < self.first_line:
            self.first, self.first_line = f"line {line_no}: {reason}", line_no
        if self._handle is None:
            self._file = _AtomicFile(self.path)
            self._handle = self._file.temp.open("wb")
        self._handle.write(orjson.dumps({"line": line_no, "reason": reason, "text": text}) + b"\n")
        self.count += 1

    def drop_after(self, line_no: int) -> int:
        """Forget the rejects past `line_no` (the garbage a salvaged, damaged stream ends with);
        returns how many were dropped."""
        if self._handle is None or self._file is None:
            return 0
        self._handle.close()
        kept = [r for r in self._file.temp.read_bytes().splitlines() if orjson.loads(r)["line"] <= line_no]
        dropped = self.count - len(kept)
        self._file.temp.write_bytes(b"".join(r + b"\n" for r in kept))
        self._handle = self._file.temp.open("ab")
        self.count = len(kept)
        if not kept:
            self.abort()
            self._handle = self._file = None
        return dropped

    def commit(self) -> Path | None:
        if self._handle is None or self._file is None:
            return None
        self._handle.close()
        self._file.commit()
        return self.path

    def abort(self) -> None:
        if self._handle is not None and self._file is not None:
            self._handle.close()
            self._file.abort()
