"""Parallel normalizing of a big file: W worker processes each inflate the whole file and parse
and map every W-th chunk of lines; the parent writes their record batches in order.

Inflating is cheap next to parsing, so inflating twice costs less than shipping every line from
one reader to the workers. Queues are bounded: a worker is at most one chunk ahead of the writer,
so memory does not grow with the hour. Any worker error (damaged input, ...) is raised here.
"""

from __future__ import annotations

import multiprocessing
import queue
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from . import native
from .chunks import ChunkResult, Constants, TextChunk, process
from .eras import EventMapper
from .numbers import loads
from .reader import LineReader, ReadStats

_POLL_SECONDS = 1.0


def chunked(reader: LineReader, chunk_lines: int, chunk_bytes: int) -> Iterator[tuple[Any, int]]:
    """(items, first line number) of about `chunk_lines` lines or `chunk_bytes` bytes each, which
    comes first (long lines make few lines a lot of memory): a list of lines, a TextChunk (when the
    reader yields pieces), or the events of a document."""
    pending: list[Any] = []
    pending_lines = pending_bytes = 0
    first_line_no = 1
    for block in reader.chunks():
        if reader.stats.kind == "document":  # its events, chunk_lines at a time (bounded rejects)
            events = document_events(block[0])
            for start in range(0, len(events), chunk_lines):
                yield events[start : start + chunk_lines], start + 1
            return
        pending.extend(block)
        if reader.pieces:
            pending_lines += sum(n for _, n in block)
            pending_bytes += sum(len(text) for text, _ in block)
        else:
            pending_lines = len(pending)
            pending_bytes += sum(map(len, block))
        if pending_lines >= chunk_lines or pending_bytes >= chunk_bytes:
            yield _chunk(pending, pending_lines, reader.pieces), first_line_no
            first_line_no += pending_lines
            pending, pending_lines, pending_bytes = [], 0, 0
    if pending:
        yield _chunk(pending, pending_lines, reader.pieces), first_line_no


def _chunk(pending: list[Any], lines: int, pieces: bool) -> Any:
    return TextChunk([text for text, _ in pending], lines) if pieces else pending


def document_events(data: bytes) -> list[Any]:
    """The events of a single JSON document (an object or an array of them)."""
    import orjson

    try:
        doc = loads(data)
    except orjson.JSONDecodeError:
        return [data]  # recorded as a reject by the line loop
    return doc if isinstance(doc, list) else [doc]


def _worker(
    index: int, workers: int, path: Path, name: str, salvage: bool, constants: Constants,
    chunk_lines: int, chunk_bytes: int, out: Any,
) -> None:  # fmt: skip
    number = 0
    try:
        reader = LineReader(path, name, salvage=salvage, pieces=native.AVAILABLE)
        mapper = EventMapper(constants.window)
        for items, first_line_no in chunked(reader, chunk_lines, chunk_bytes):
            if number % workers == index:
                result = process(items, first_line_no, mapper, constants)
                result.bytes_read = reader.stats.bytes_read
                out.put(("chunk", number, result))
            number += 1
        out.put(("done", number, reader.stats))
    except BaseException as exc:
        out.put(("error", number, exc))


def run_parallel(
    path: Path, name: str, salvage: bool, constants: Constants, workers: int, chunk_lines: int,
    chunk_bytes: int, collect: Callable[[ChunkResult], None],
) -> ReadStats:  # fmt: skip
    """Normalize `path` with `workers` processes, calling `collect` on every chunk in order."""
    context = multiprocessing.get_context("fork")
    queues = [context.Queue(maxsize=1) for _ in range(workers)]
    processes = [
        context.Process(
            target=_worker,
            args=(i, workers, path, name, salvage, constants, chunk_lines, chunk_bytes, queues[i]),
            name=f"normalize-{i}",
            daemon=True,
        )
        for i in range(workers)
    ]
    for process_ in processes:
        process_.start()
    try:
        number = 0
        while True:
            index = number % workers
            kind, _, value = _get(queues[index], processes[index], name)
            if kind == "error":
                raise value
            if kind == "done":  # the worker due for chunk `number` has none: all chunks are in
                return value
            collect(value)
            number += 1
    finally:
        for process_ in processes:
            if process_.is_alive():
                process_.terminate()
            process_.join()
        for q in queues:
            q.close()
            q.join_thread()


def _get(q: Any, worker: Any, name: str) -> tuple[str, int, Any]:
    while True:
        try:
            return q.get(timeout=_POLL_SECONDS)
        except queue.Empty:
            if not worker.is_alive() and q.empty():
                raise RuntimeError(
                    f"{name}: normalize worker {worker.name} died (exit code {worker.exitcode}), "
                    "e.g. killed for memory; retry with workers=0"
                ) from None
