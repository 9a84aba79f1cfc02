"""One GH Archive hour (any era, gzip or plain) through the normalizer -> one zstd parquet file.

Lines are parsed and mapped in chunks of about CHUNK_LINES and written in order as they come, so
memory does not grow with the size of the hour. Events-era lines (2015 on) go through the native fast
path (`native.py`, C) when it is built; every other line, and every line it cannot prove it maps
exactly alike, goes through the Python mapper (`eras.py`), which defines the rules.

Lines that are not usable events go to a rejects file beside the
output (`<dst>.rejects.ndjson` unless `rejects_path` is given); more than MAX_REJECT_SHARE of them
fails the run. Every failure leaves no output behind (see writer.py) and names the file; temp
files a killed run left are removed first. Paths that coincide (the source given as the output,
the rejects file as either) are refused before anything is written.
"""

from __future__ import annotations

import logging
import os
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import BinaryIO

from .. import PIPELINE_VERSION
from ..hours import Hour, HourError
from . import native
from .chunks import ChunkResult, Constants, gc_paused, offending_text, process
from .eras import EventMapper
from .errors import (
    EmptyInputError,
    NormalizeError,
    SamePathError,
    TooManyRejectsError,
)
from .parallel import chunked, run_parallel
from .prefetch import prefetched
from .reader import LineReader, ReadStats
from .timestamps import plausible_window
from .writer import ParquetSink, RejectSink, remove_leftovers

log = logging.getLogger(__name__)

CHUNK_LINES = 8_192  # lines per unit of work and per parquet row group (bounds memory) ...
CHUNK_BYTES = 32 << 20  # ... or fewer: as many as hold this much text (lines may be long)
MAX_REJECT_SHARE = 0.01


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
    native_events: int = 0  # events mapped by the native fast path (the rest: the Python mapper)
    days: tuple[date, ...] = ()  # the UTC days of the events' created_at, in order


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
    workers: int = 0,
    progress: Callable[[int], None] | None = None,
    rejects_name: str | None = None,
) -> NormalizeResult:
    """Normalize one hour into `dst` (zstd parquet, exactly schema.arrow_schema()).

    `hour` defaults to the one in the file name. The default `workers=0` works in-process: the native
    fast path (native.py) maps Events-era lines without the GIL while a reader thread inflates and a
    writer thread encodes. `workers` >= 2 parses and maps in that many processes (parallel.py): only
    worth it where the native module is not built (measured slower than in-process with it).
    `progress(bytes_read)` is called after every chunk (for progress bars). `rejects_name` is how
    the log names the rejects file when `rejects_path` is a temp file the caller moves elsewhere.
    """
    started = time.perf_counter()
    name = _source_name(src, source_name)
    hour = hour or _hour_of(name)
    dst = Path(dst)
    rejects_path = rejects_path or dst.with_name(dst.name + ".rejects.ndjson")
    check_paths(src, dst, rejects_path)
    for path in (dst, rejects_path):
        remove_leftovers(path, keep=src if isinstance(src, Path) else None)
    now = datetime.now(UTC)
    constants = Constants(hour.start, now, PIPELINE_VERSION, plausible_window(now))
    reader = LineReader(src, name, salvage=salvage, pieces=native.AVAILABLE)
    sink = ParquetSink(dst, hour.start)
    rejects = RejectSink(rejects_path)
    try:
        with gc_paused(), _quick_gil_handoff():  # gc: the reader thread allocates too
            totals, stats = _run(reader, sink, rejects, constants, workers, progress)
        for long_line in stats.too_long:  # skipped by the reader, never held: a reject each
            rejects.add(long_line.line_no, long_line.reason, offending_text(long_line.head))
            totals.lines += 1
        lines, damaged_lines = _judge(name, hour, totals, stats, rejects)
        eras = totals.eras
        sink.commit()
        written_rejects = rejects.commit()
    except BaseException:
        sink.abort()
        rejects.abort()
        raise
    result = NormalizeResult(
        events=sink.rows,
        rejects=rejects.count,
        era=eras.most_common(1)[0][0] if eras else "empty",
        seconds=time.perf_counter() - started,
        salvaged=stats.damage is not None,
        output=dst,
        rejects_path=written_rejects,
        hour=hour,
        lines=lines,
        eras=dict(eras),
        input_kind=stats.kind,
        damage=stats.damage,
        damaged_lines=damaged_lines,
        native_events=totals.native_rows,
        days=sink.days,
    )
    _log_result(name, result, rejects_name)
    return result


@contextmanager
def _quick_gil_handoff() -> Iterator[None]:
    """Hand the GIL between threads every 1 ms instead of 5. The mapper (this thread) gives the GIL
    up for each chunk's C mapping and needs it back only briefly, while the reader thread mostly
    holds it: waiting up to 5 ms each time made a 200k-event hour ~8 % slower (alternating runs)."""
    before = sys.getswitchinterval()
    sys.setswitchinterval(min(before, 0.001))
    try:
        yield
    finally:
        sys.setswitchinterval(before)


def _hour_of(name: str) -> Hour:
    hour = hour_from_name(name)
    if hour is None:
        raise NormalizeError(
            f"{name}: cannot tell the hour from the file name (expected YYYY-MM-DD-H.json.gz); "
            "give it explicitly (--hour YYYY-MM-DDTHH)"
        )
    return hour


def _judge(name: str, hour: Hour, totals: _Totals, stats: ReadStats, rejects: RejectSink) -> tuple[int, int]:
    """(lines, damaged lines) of a read hour, or the error that refuses it: nothing before the
    damage of a salvaged file, or too many rejects. What inflated after the damage is garbage."""
    lines, damaged_lines = totals.lines, 0
    if stats.damage is not None:
        damaged_lines = rejects.drop_after(totals.last_event_line)
        lines -= damaged_lines
    if lines == 0 and stats.damage is not None:
        raise EmptyInputError(f"{name}: nothing to salvage before the damage ({stats.damage})")
    if lines == 0:  # a valid, empty gzip: GH Archive has such hours (2012-03-10-15)
        log.warning("%s (hour %s): a valid file with no events; writing an empty hour", name, hour.key)
    if rejects.count > lines * MAX_REJECT_SHARE:
        raise TooManyRejectsError(
            f"{name}: {rejects.count} of {lines} lines are not usable events "
            f"(over {MAX_REJECT_SHARE:.0%}; first: {rejects.first}); nothing was written"
        )
    return lines, damaged_lines


def check_paths(src: Path | BinaryIO, dst: Path, rejects_path: Path) -> None:
    """Refuse paths that coincide (the same name, a symlink to it, or a hard link: the same
    inode): writing would replace the source hour or one output with another."""
    named = [("DST", dst), ("the rejects file", rejects_path)]
    if isinstance(src, Path):
        named.insert(0, ("SRC", src))
    for i, (what, path) in enumerate(named):
        for other, other_path in named[i + 1 :]:
            if _same_file(path, other_path):
                raise SamePathError(
                    f"{what} {path} and {other} {other_path} are the same file; nothing was written"
                )


def _same_file(a: Path, b: Path) -> bool:
    if a.resolve() == b.resolve():
        return True
    try:
        return os.path.samefile(a, b)
    except OSError:  # one does not exist (yet): only a name could coincide, checked above
        return False


def _source_name(src: Path | BinaryIO, source_name: str | None) -> str:
    if source_name:
        return source_name
    if isinstance(src, Path):
        return str(src)
    return str(getattr(src, "name", "<stream>"))


def _log_result(name: str, r: NormalizeResult, rejects_name: str | None) -> None:
    """One line per hour saying what happened (never event content: reasons only)."""
    log.info(
        "normalized %s (hour %s): %d events (%d by the native mapper), %d rejects, era %s, %.2fs -> %s",
        name, r.hour.key, r.events, r.native_events, r.rejects, r.era, r.seconds, r.output,
    )  # fmt: skip
    if r.rejects:
        log.warning(
            "%s (hour %s): %d of %d lines rejected, see %s",
            name,
            r.hour.key,
            r.rejects,
            r.lines,
            rejects_name or r.rejects_path,
        )
    if r.damage:
        log.warning(
            "salvaged %s (hour %s): %s; kept the %d events before the damage, dropped %d damaged lines",
            name, r.hour.key, r.damage, r.events, r.damaged_lines,
        )  # fmt: skip


@dataclass
class _Totals:
    lines: int = 0  # non-blank lines
    last_event_line: int = 0  # line number of the last good event
    native_rows: int = 0  # events mapped by the native fast path
    eras: Counter[str] = field(default_factory=Counter)  # events per era


def _run(
    reader: LineReader,
    sink: ParquetSink,
    rejects: RejectSink,
    constants: Constants,
    workers: int,
    progress: Callable[[int], None] | None,
) -> tuple[_Totals, ReadStats]:
    """Parse, map and write every line in order; returns the run's totals and what the reader saw."""
    totals = _Totals()

    def collect(result: ChunkResult) -> None:
        totals.lines += result.lines
        totals.last_event_line = max(totals.last_event_line, result.last_event_line)
        totals.native_rows += result.native_rows
        totals.eras.update(result.eras)
        for line_no, reason, text in result.rejects:
            rejects.add(line_no, reason, text)
        if result.batch is not None:
            sink.write(result.batch)
        if progress is not None:
            progress(result.bytes_read or reader.stats.bytes_read)

    if workers > 1 and isinstance(reader.src, Path):
        stats = run_parallel(
            reader.src, reader.name, reader.salvage, constants, workers, CHUNK_LINES, CHUNK_BYTES, collect
        )
        return totals, stats
    mapper = EventMapper(constants.window)
    for items, first_line_no in prefetched(
        chunked(reader, CHUNK_LINES, CHUNK_BYTES), name="normalize-reader"
    ):
        collect(process(items, first_line_no, mapper, constants))
    return totals, reader.stats
