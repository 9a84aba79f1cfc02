"""One chunk of lines -> one Arrow record batch plus its rejects: the unit of (parallel) work.

The same function runs in-process for small inputs and in worker processes for big ones; each
process keeps its own EventMapper (caches) and the run's constants (hour, ingest time, version).
"""

from __future__ import annotations

import gc
import re
from collections import Counter
from collections.abc import Iterable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import numpy as np
import orjson
import pyarrow as pa

from .. import schema
from . import arrow_columns, native, numbers
from .eras import EVENTS, EventMapper, Row, RowError
from .pii import scrub_text
from .timestamps import BIGQUERY_RANGE
from .writer import to_batch, with_lineage

REJECT_TEXT_LIMIT = 2_000  # characters of an offending line kept in the rejects file


@dataclass(frozen=True)
class Constants:
    """Values every row of a run shares."""

    source_hour: datetime
    ingested_at: datetime
    version: str
    window: tuple[int, int] = BIGQUERY_RANGE  # created_at a row may have (timestamps.py)


@dataclass(frozen=True)
class TextChunk:
    """Complete lines as a few big blocks (`lines` in all): what the native mapper reads."""

    pieces: list[bytes | memoryview]
    lines: int


@dataclass
class ChunkResult:
    batch: pa.RecordBatch | pa.Table | None  # a table where Python rows sit between native ones
    lines: int  # non-blank lines seen
    rejects: list[tuple[int, str, str]] = field(default_factory=list)  # (line number, reason, text)
    eras: Counter[str] = field(default_factory=Counter)
    last_event_line: int = 0  # line number of the chunk's last good event (0: none)
    bytes_read: int = 0  # input bytes read when the chunk was done (progress of parallel runs)
    native_rows: int = 0  # rows mapped by the native fast path


def offending_text(raw: Any, event: Any = None) -> str:
    """The offending text for the rejects file: e-mails hashed, then truncated.

    A line that parsed is written as orjson gives it back (`event`): non-ASCII as UTF-8 rather than
    `\\u` escapes, so the scrub sees (and hashes) a whole non-ASCII local part."""
    if event is not None:
        with suppress(orjson.JSONEncodeError):  # nested deeper than orjson writes: the line as it came
            raw = numbers.dumps(event)
    text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else orjson.dumps(raw).decode()
    if "\\u" in text:  # a line that did not parse may still spell characters as escapes
        text = _ESCAPE.sub(_unescape, text)
    return scrub_text(text)[:REJECT_TEXT_LIMIT]  # scrubbed whole, then cut: never half an address


#: `\u0040`- and `\u00f6`-style escapes: the scrub must see `alice\u0040example.com` as an address
_ESCAPE = re.compile(r"(?<!\\)\\u([0-9a-fA-F]{4})")


def _unescape(m: re.Match[str]) -> str:
    """The character an escape spells, as orjson would write it: raw, or `\\"` and `\\\\` for the
    quote and the backslash (`\\u0022doe, john\\u0022@x.org` is a quoted local part); control
    characters and surrogates stay escapes."""
    code = int(m.group(1), 16)
    if code < 0x20 or 0xD800 <= code <= 0xDFFF:
        return m.group(0)
    return _QUOTE_ESCAPES.get(code) or chr(code)


_QUOTE_ESCAPES = {0x22: '\\"', 0x5C: "\\\\"}


def reason_of(exc: Exception) -> str:
    """A reject's reason, e-mails hashed: reasons may quote a value of the line."""
    text = str(exc)
    return scrub_text(text) if "@" in text or "%" in text else text


def process(items: Any, first_line_no: int, mapper: EventMapper, constants: Constants) -> ChunkResult:
    """Parse (when bytes) and map every item; line numbers start at `first_line_no`."""
    with gc_paused():
        return _process(items, first_line_no, mapper, constants)


@contextmanager
def gc_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector: a chunk allocates ~10^6 acyclic containers, and the
    collector would rescan them over and over (measured: a third of the parse and map time)."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def _process(items: Any, first_line_no: int, mapper: EventMapper, constants: Constants) -> ChunkResult:
    fast = None
    if isinstance(items, TextChunk):
        fast = native.map_lines(items.pieces, constants.window)
    elif items and type(items[0]) is bytes:
        fast = native.map_lines(items, constants.window)
    if fast is None:
        part = _map_in_python(enumerate(items), first_line_no, mapper)
        batch = _python_batch(part.rows, constants) if part.rows else None
        return ChunkResult(batch, part.lines, part.rejects, part.eras, part.last_event_line)
    part = _map_in_python(fast.fallback, first_line_no, mapper)
    era = arrow_columns.constant(EVENTS, pa.string(), fast.rows)
    batch = with_lineage(fast.columns, era, schema.arrow_schema(), *_lineage(constants))
    if part.rows:  # lines the native path left to Python: merged back in line order
        batch = in_line_order(batch, fast.row_offsets, _python_batch(part.rows, constants), part.offsets)
    last_native = first_line_no + fast.row_offsets[-1].as_py() if fast.rows else 0
    part.eras[EVENTS] += fast.rows
    return ChunkResult(
        batch if batch.num_rows else None,
        fast.lines,
        part.rejects,
        part.eras,
        max(last_native, part.last_event_line),
        native_rows=fast.rows,
    )


def in_line_order(
    native_rows: pa.RecordBatch,
    native_offsets: pa.Array,
    python_rows: pa.RecordBatch,
    python_offsets: list[int],
) -> pa.Table:
    """Both mappers' rows as one table in line order, without copying a value: slices of the
    native batch with the Python rows between them (each side is already in line order). A take
    over the merged rows copied the whole chunk, a fifth of the normalizer's time."""
    cuts = np.searchsorted(arrow_columns.int64_values(native_offsets), python_offsets).tolist()
    pieces: list[pa.RecordBatch] = []
    start = 0
    for i, cut in enumerate(cuts):
        if cut > start:
            pieces.append(native_rows.slice(start, cut - start))
        pieces.append(python_rows.slice(i, 1))
        start = cut
    if start < native_rows.num_rows:
        pieces.append(native_rows.slice(start))
    return pa.Table.from_batches(pieces, schema=native_rows.schema)


@dataclass
class _PythonPart:
    rows: list[Row] = field(default_factory=list)
    offsets: list[int] = field(default_factory=list)  # each row's offset in the chunk
    rejects: list[tuple[int, str, str]] = field(default_factory=list)
    lines: int = 0  # non-blank lines seen
    last_event_line: int = 0
    eras: Counter[str] = field(default_factory=Counter)


def _map_in_python(items: Iterable[tuple[int, Any]], first_line_no: int, mapper: EventMapper) -> _PythonPart:
    """Parse (when bytes) and map `(offset in the chunk, line or parsed event)` items in Python."""
    loads = numbers.loads
    map_event = mapper.map
    part = _PythonPart()
    append, keep_offset = part.rows.append, part.offsets.append
    rejects = part.rejects
    for offset, raw in items:
        if isinstance(raw, bytes) and (not raw or raw.isspace()):
            continue
        part.lines += 1
        event = None
        try:
            event = loads(raw) if isinstance(raw, bytes) else raw
            if not isinstance(event, dict):
                raise RowError(f"not a JSON object but a JSON {type(event).__name__}")
            append(map_event(event))
            keep_offset(offset)
        except orjson.JSONDecodeError as exc:
            rejects.append((first_line_no + offset, f"not JSON: {reason_of(exc)}", offending_text(raw)))
        except (RowError, orjson.JSONEncodeError) as exc:
            rejects.append((first_line_no + offset, reason_of(exc), offending_text(raw, event)))
    if part.offsets:
        part.last_event_line = first_line_no + part.offsets[-1]
    part.eras.update(row.schema_era for row in part.rows)
    return part


def _lineage(constants: Constants) -> tuple[datetime, datetime, str]:
    return constants.source_hour, constants.ingested_at, constants.version


def _python_batch(rows: list[Row], constants: Constants) -> pa.RecordBatch:
    return to_batch(rows, schema.arrow_schema(), *_lineage(constants))
