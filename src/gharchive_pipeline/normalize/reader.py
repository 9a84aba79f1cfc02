"""Bytes of a GH Archive hour -> complete lines, streamed in chunks (memory stays bounded).

Gzip or plain NDJSON is told by the first bytes (1f 8b). A file that is one pretty-printed JSON
document (first line `{` or `[`) is read whole as a single "line" (`document=True`).

Damage: a gzip stream that stops before its end marker (truncated) or fails to inflate (corrupt)
raises CorruptInputError, unless `salvage`, in which case every complete line before the damage is
yielded and `damage` says what happened. Corrupt data is found a chunk late by the fast inflater,
so on salvage the stream is re-inflated from the start in small pieces to recover up to the damage.
"""

from __future__ import annotations

import contextlib
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from isal import isal_zlib

from .errors import CorruptInputError, EmptyInputError
from .native import count_newlines

GZIP_MAGIC = b"\x1f\x8b"
CHUNK = 1 << 20  # compressed bytes per read
SALVAGE_PIECE = 1024  # compressed bytes per step when recovering up to corrupt data
MAX_DOCUMENT = 256 << 20  # a single pretty-printed JSON document is read whole


@dataclass
class ReadStats:
    kind: str = "ndjson"  # gzip | ndjson | document
    bytes_read: int = 0  # input bytes consumed (for progress)
    damage: str | None = None  # what was wrong with the stream, when salvaged
    dropped_partial_bytes: int = 0  # bytes of the incomplete line cut by the damage


#: `(text, lines)`: one or more complete lines joined by newlines (no final newline), and how many
Piece = tuple[bytes | memoryview, int]


class LineReader:
    """Iterate `chunks()` for lists of complete lines (without newline; may contain blanks), or
    with `pieces=True` lists of Pieces (blocks of complete lines, for the native mapper)."""

    def __init__(
        self, src: Path | BinaryIO, name: str, *, salvage: bool = False, pieces: bool = False
    ) -> None:
        self.src = src
        self.name = name
        self.salvage = salvage
        self.pieces = pieces
        self.stats = ReadStats()

    # ---- raw bytes -----------------------------------------------------------------------------
    def _open(self) -> BinaryIO:
        if isinstance(self.src, Path):
            try:
                return self.src.open("rb")
            except OSError as exc:
                raise CorruptInputError(f"{self.name}: cannot read ({exc.strerror})") from None
        return self.src

    def _raw_chunks(self, stream: BinaryIO) -> Iterator[bytes]:
        while True:
            data = stream.read(CHUNK)
            if not data:
                return
            self.stats.bytes_read += len(data)
            yield data

    # ---- decoding ------------------------------------------------------------------------------
    def chunks(self) -> Iterator[list[Any]]:
        stream = self._open()
        try:
            raw = self._raw_chunks(stream)
            first = next(raw, b"")
            if not first:
                raise EmptyInputError(f"{self.name}: file is empty (0 bytes)")
            if first[:2] == GZIP_MAGIC:
                self.stats.kind = "gzip"
                yield from self._lines(self._inflate(first, raw))
            else:
                stripped = first.lstrip()
                if stripped and stripped[:1] not in (b"{", b"["):
                    raise CorruptInputError(
                        f"{self.name}: neither gzip (no 1f 8b header) nor JSON "
                        f"(first byte {first[:1]!r}); the file is damaged or not a GH Archive hour"
                    )
                yield from self._lines(_chain(first, raw))
        finally:
            if isinstance(self.src, Path):
                stream.close()

    def _inflate(self, first: bytes, raw: Iterator[bytes]) -> Iterator[bytes]:
        inflater = isal_zlib.decompressobj(wbits=31)
        produced = 0
        for data in _chain(first, raw):
            while data:
                try:
                    out = inflater.decompress(data)
                except Exception as exc:  # isal_zlib.error (IsalError) or OSError
                    yield from self._corrupt(str(exc), produced)
                    return
                if out:
                    produced += len(out)
                    yield out
                if inflater.eof:  # member ended: a next member may follow (multi-member gzip)
                    data = inflater.unused_data
                    if data.strip(b"\x00") and data[:2] != GZIP_MAGIC:
                        yield from self._corrupt("trailing bytes after the gzip stream", produced)
                        return
                    if data[:2] == GZIP_MAGIC:
                        inflater = isal_zlib.decompressobj(wbits=31)
                    else:
                        data = b""
                else:
                    data = b""
        if not inflater.eof:
            self._damaged("truncated gzip stream (it ends before the gzip end-of-stream marker)")

    def _corrupt(self, reason: str, produced: int) -> Iterator[bytes]:
        """Corrupt data: fail, or re-inflate slowly from the start to recover what precedes it."""
        reason = f"corrupt gzip data ({reason})"
        self._damaged(reason)
        stream = self._reread()
        if stream is None:
            return  # a one-shot stream cannot be re-read; lines up to the last good chunk are kept
        with stream if isinstance(self.src, Path) else contextlib.nullcontext(stream):
            inflater = zlib.decompressobj(wbits=31)
            skipped = 0
            while True:
                piece = stream.read(SALVAGE_PIECE)
                if not piece:
                    return
                try:
                    out = inflater.decompress(piece)
                except zlib.error:
                    return
                if skipped < produced:  # already passed on by the fast inflater
                    take = min(len(out), produced - skipped)
                    skipped += take
                    out = out[take:]
                if out:
                    yield out
                if inflater.eof:
                    return

    def _reread(self) -> BinaryIO | None:
        """The input from its first byte again: reopened, or rewound when seekable."""
        if isinstance(self.src, Path):
            return self.src.open("rb")
        try:
            if self.src.seekable():
                self.src.seek(0)
                return self.src
        except (OSError, ValueError):
            pass
        return None

    def _damaged(self, reason: str) -> None:
        if not self.salvage:
            raise CorruptInputError(
                f"{self.name}: {reason}; nothing was written (rerun with --salvage to keep the "
                "complete lines before the damage)"
            )
        self.stats.damage = reason

    def _lines(self, data: Iterator[bytes]) -> Iterator[list[Any]]:
        carry = b""
        first = True
        split = self._split_pieces if self.pieces else _split_lines
        for block in data:
            if first:
                first = False
                head = (carry + block).lstrip()
                line_end = head.find(b"\n")
                if head[: line_end if line_end >= 0 else len(head)].strip() in (b"{", b"["):
                    yield [self._document(head, data)]
                    return
            items, carry = split(carry, block)
            if items:
                yield items
        if carry.strip():
            if self.stats.damage is not None:
                self.stats.dropped_partial_bytes = len(carry)
            else:  # a last line without newline: complete or truncated, the parser decides
                yield [(carry, 1)] if self.pieces else [carry]

    @staticmethod
    def _split_pieces(carry: bytes, block: bytes) -> tuple[list[Piece], bytes]:
        """Pieces of complete lines, without copying the block: the line that completes `carry`,
        then a view of every further complete line (the native mapper splits them itself)."""
        first_nl = block.find(b"\n")
        if first_nl < 0:
            return [], carry + block
        last_nl = block.rfind(b"\n")
        pieces: list[Piece] = [(carry + block[:first_nl], 1)]
        if last_nl > first_nl:
            lines = count_newlines(block, first_nl + 1, last_nl) + 1
            pieces.append((memoryview(block)[first_nl + 1 : last_nl], lines))
        return pieces, block[last_nl + 1 :]

    def _document(self, head: bytes, rest: Iterator[bytes]) -> bytes:
        self.stats.kind = "document"
        parts = [head]
        size = len(head)
        for block in rest:
            size += len(block)
            if size > MAX_DOCUMENT:
                raise CorruptInputError(
                    f"{self.name}: a single JSON document over {MAX_DOCUMENT >> 20} MiB; "
                    "GH Archive hours are NDJSON (one event per line)"
                )
            parts.append(block)
        return b"".join(parts)


def _split_lines(carry: bytes, block: bytes) -> tuple[list[bytes], bytes]:
    """The complete lines of carry + block, and the incomplete rest."""
    lines = block.split(b"\n")  # not (carry + block): that copies every block once more
    if carry:
        lines[0] = carry + lines[0]
    rest = lines.pop()
    return lines, rest


def _chain(first: bytes, rest: Iterator[bytes]) -> Iterator[bytes]:
    yield first
    yield from rest
