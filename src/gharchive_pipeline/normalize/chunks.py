"""One chunk of lines -> one Arrow record batch plus its rejects: the unit of (parallel) work.

The same function runs in-process for small inputs and in worker processes for big ones; each
process keeps its own EventMapper (caches) and the run's constants (hour, ingest time, version).
"""

from __future__ import annotations

import gc
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import orjson
import pyarrow as pa

from .. import schema
from .eras import EventMapper, Row, RowError
from .pii import scrub_text
from .writer import to_batch

REJECT_TEXT_LIMIT = 2_000  # characters of an offending line kept in the rejects file


@dataclass(frozen=True)
class Constants:
    """Values every row of a run shares."""

    source_hour: datetime
    ingested_at: datetime
    version: str


@dataclass
class ChunkResult:
    batch: pa.RecordBatch | None
    lines: int  # non-blank lines seen
    rejects: list[tuple[int, str, str]] = field(default_factory=list)  # (line number, reason, text)
    eras: Counter[str] = field(default_factory=Counter)
    last_event_line: int = 0  # line number of the chunk's last good event (0: none)
    bytes_read: int = 0  # input bytes read when the chunk was done (progress of parallel runs)


def offending_text(raw: Any) -> str:
    """The offending text for the rejects file: e-mails hashed, then truncated."""
    text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else orjson.dumps(raw).decode()
    return scrub_text(text)[:REJECT_TEXT_LIMIT]


def process(items: list[Any], first_line_no: int, mapper: EventMapper, constants: Constants) -> ChunkResult:
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


def _process(items: list[Any], first_line_no: int, mapper: EventMapper, constants: Constants) -> ChunkResult:
    loads = orjson.loads
    map_event = mapper.map
    rows: list[Row] = []
    append = rows.append
    rejects: list[tuple[int, str, str]] = []
    lines = 0
    last_good = -1
    for offset, raw in enumerate(items):
        if isinstance(raw, bytes) and (not raw or raw.isspace()):
            continue
        lines += 1
        try:
            event = loads(raw) if isinstance(raw, bytes) else raw
            if not isinstance(event, dict):
                raise RowError(f"not a JSON object but a JSON {type(event).__name__}")
            append(map_event(event))
            last_good = offset
        except orjson.JSONDecodeError as exc:
            rejects.append((first_line_no + offset, f"not JSON: {exc}", offending_text(raw)))
        except (RowError, orjson.JSONEncodeError) as exc:
            rejects.append((first_line_no + offset, str(exc), offending_text(raw)))
    batch = None
    if rows:
        batch = to_batch(
            rows, schema.arrow_schema(), constants.source_hour, constants.ingested_at, constants.version
        )
    last_event_line = first_line_no + last_good if last_good >= 0 else 0
    return ChunkResult(batch, lines, rejects, Counter(row[-1] for row in rows), last_event_line)
