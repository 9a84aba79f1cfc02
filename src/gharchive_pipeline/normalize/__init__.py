"""The streaming normalizer: one GH Archive hour (any era, gzip or plain) -> one zstd parquet file.

    from gharchive_pipeline.normalize import normalize
    result = normalize(Path("2015-01-01-15.json.gz"), Path("events.parquet"))

Lines are parsed and mapped in chunks of CHUNK_LINES (in worker processes for big inputs) and
written in order as they come, so memory does not
grow with the size of the hour. Lines that are not usable events go to a rejects file beside the
output (`<dst>.rejects.ndjson` unless `rejects_path` is given); more than MAX_REJECT_SHARE of them
fails the run. Every failure leaves no output behind (see writer.py) and names the file.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import time
from collections import Counter, deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, BinaryIO

import orjson

from .. import PIPELINE_VERSION
from ..hours import Hour, HourError
from .chunks import ChunkResult, Constants, init_worker, process, process_blob
from .eras import EventMapper
from .errors import CorruptInputError, EmptyInputError, NormalizeError, TooManyRejectsError
from .reader import LineReader
from .writer import ParquetSink, RejectSink

__all__ = [
    "CHUNK_LINES",
    "MAX_REJECT_SHARE",
    "CorruptInputError",
    "EmptyInputError",
    "NormalizeError",
    "NormalizeResult",
    "TooManyRejectsError",
    "hour_from_name",
    "normalize",
]

log = logging.getLogger(__name__)

CHUNK_LINES = 16_384  # lines per unit of work and per parquet row group (bounds memory)
MAX_REJECT_SHARE = 0.01
PARALLEL_MIN_BYTES = 8 << 20  # inputs this big are worth worker processes


@dataclass(frozen=True)
class NormalizeResult:
    events: int
    rejects: int
    era: str  # the dominant era of the file
    seconds: float
    salvaged: bool
    output: Path
    rejects_path: Path | None
    hour: Hour
    lines: int = 0
    eras: dict[str, int] = field(default_factory=dict)
    input_kind: str = "gzip"  # gzip | ndjson | document
    damage: str | None = None  # what --salvage recovered from
    damaged_lines: int = 0  # garbage lines after the damage, dropped (salvage)


def hour_from_name(name: str) -> Hour | None:
    """The hour of a GH Archive file name (`2015-01-01-15.json.gz`, `.json`), else None."""
    base = Path(name).name
    for suffix in (".json.gz", ".json"):
        if base.endswith(suffix):
            try:
                return Hour.parse(base[: -len(suffix)])
            except HourError:
                return None
    return None


def normalize(
    src: Path | BinaryIO,
    dst: Path,
    *,
    hour: Hour | None = None,
    salvage: bool = False,
    rejects_path: Path | None = None,
    source_name: str | None = None,
    workers: int | None = None,
    progress: Callable[[int], None] | None = None,
) -> NormalizeResult:
    """Normalize one hour into `dst` (zstd parquet, exactly schema.arrow_schema()).

    `hour` defaults to the one in the file name. `workers`: processes that parse and map lines
    (default: up to 2 for inputs over PARALLEL_MIN_BYTES, else in-process). `progress(bytes_read)`
    is called after every chunk (for progress bars).
    """
    started = time.perf_counter()
    name = _source_name(src, source_name)
    if hour is None:
        hour = hour_from_name(name)
        if hour is None:
            raise NormalizeError(
                f"{name}: cannot tell the hour from the file name (expected YYYY-MM-DD-H.json.gz); "
                "give it explicitly (--hour YYYY-MM-DDTHH)"
            )
    dst = Path(dst)
    reader = LineReader(src, name, salvage=salvage)
    constants = Constants(hour.start, datetime.now(UTC), PIPELINE_VERSION)
    sink = ParquetSink(dst)
    rejects = RejectSink(rejects_path or dst.with_name(dst.name + ".rejects.ndjson"))
    try:
        lines, eras, last_event_line = _run(
            reader, sink, rejects, constants, _worker_count(src, workers), progress
        )
        damaged_lines = 0
        if reader.stats.damage is not None:  # salvaged: what inflated after the damage is garbage
            damaged_lines = rejects.drop_after(last_event_line)
            lines -= damaged_lines
        if lines == 0:
            raise EmptyInputError(f"{name}: holds no events (no non-blank line)")
        if rejects.count > lines * MAX_REJECT_SHARE:
            raise TooManyRejectsError(
                f"{name}: {rejects.count} of {lines} lines are not usable events "
                f"(over {MAX_REJECT_SHARE:.0%}; first: {rejects.first}); nothing was written"
            )
        sink.commit()
        written_rejects = rejects.commit()
    except BaseException:
        sink.abort()
        rejects.abort()
        raise
    result = NormalizeResult(
        events=sink.rows,
        rejects=rejects.count,
        era=eras.most_common(1)[0][0] if eras else "events",
        seconds=time.perf_counter() - started,
        salvaged=reader.stats.damage is not None,
        output=dst,
        rejects_path=written_rejects,
        hour=hour,
        lines=lines,
        eras=dict(eras),
        input_kind=reader.stats.kind,
        damage=reader.stats.damage,
        damaged_lines=damaged_lines,
    )
    _log_result(name, result)
    return result


def _source_name(src: Path | BinaryIO, source_name: str | None) -> str:
    if source_name:
        return source_name
    if isinstance(src, Path):
        return str(src)
    return str(getattr(src, "name", "<stream>"))


def _worker_count(src: Path | BinaryIO, workers: int | None) -> int:
    if workers is not None:
        return max(0, workers)
    if isinstance(src, Path):
        try:
            if src.stat().st_size >= PARALLEL_MIN_BYTES:
                return min(2, os.cpu_count() or 1)
        except OSError:
            pass
    return 0


def _log_result(name: str, r: NormalizeResult) -> None:
    log.info(
        "normalized %s (hour %s): %d events, %d rejects, era %s, %.2fs -> %s",
        name,
        r.hour.key,
        r.events,
        r.rejects,
        r.era,
        r.seconds,
        r.output,
    )
    if r.damage:
        log.warning(
            "salvaged %s (hour %s): %s; kept the %d events before the damage, dropped %d damaged lines",
            name,
            r.hour.key,
            r.damage,
            r.events,
            r.damaged_lines,
        )


def _line_chunks(reader: LineReader) -> Iterator[tuple[list[Any], int]]:
    """(items, first line number) of about CHUNK_LINES lines each, or the events of a document."""
    pending: list[bytes] = []
    first_line_no = 1
    for block in reader.chunks():
        if reader.stats.kind == "document":
            yield _document_events(block[0]), 1
            return
        pending.extend(block)
        if len(pending) >= CHUNK_LINES:
            yield pending, first_line_no
            first_line_no += len(pending)
            pending = []
    if pending:
        yield pending, first_line_no


def _document_events(data: bytes) -> list[Any]:
    """The events of a single JSON document (an object or an array of them)."""
    try:
        doc = orjson.loads(data)
    except orjson.JSONDecodeError:
        return [data]  # recorded as a reject by the line loop
    return doc if isinstance(doc, list) else [doc]


def _run(
    reader: LineReader,
    sink: ParquetSink,
    rejects: RejectSink,
    constants: Constants,
    workers: int,
    progress: Callable[[int], None] | None,
) -> tuple[int, Counter[str], int]:
    """Parse, map and write every line in order; returns (non-blank lines, events per era, line
    number of the last good event)."""
    totals = [0, 0]
    eras: Counter[str] = Counter()

    def collect(result: ChunkResult) -> None:
        totals[0] += result.lines
        totals[1] = max(totals[1], result.last_event_line)
        eras.update(result.eras)
        for line_no, reason, text in result.rejects:
            rejects.add(line_no, reason, text)
        if result.batch is not None:
            sink.write(result.batch)
        if progress is not None:
            progress(reader.stats.bytes_read)

    if workers <= 1:
        mapper = EventMapper()
        for items, first_line_no in _line_chunks(reader):
            collect(process(items, first_line_no, mapper, constants))
        return totals[0], eras, totals[1]

    context = multiprocessing.get_context("fork")
    with ProcessPoolExecutor(
        workers, mp_context=context, initializer=init_worker, initargs=(constants,)
    ) as pool:
        pending: deque[Future[ChunkResult]] = deque()
        try:
            for items, first_line_no in _line_chunks(reader):
                if items and not isinstance(items[0], bytes):  # a parsed document: small, do it here
                    collect(process(items, first_line_no, EventMapper(), constants))
                    continue
                pending.append(pool.submit(process_blob, b"\n".join(items), first_line_no))
                while len(pending) > workers:  # bounded: memory does not grow with the hour
                    collect(pending.popleft().result())
            while pending:
                collect(pending.popleft().result())
        except BaseException:
            for future in pending:
                future.cancel()
            raise
    return totals[0], eras, totals[1]
