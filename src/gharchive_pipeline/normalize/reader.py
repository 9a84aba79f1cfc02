"""Bytes of a GH Archive hour -> complete lines, streamed in chunks (memory stays bounded).

Gzip or plain NDJSON is told by the first bytes (1f 8b). A file that is one pretty-printed JSON
document (first line `{` or `[`) is read whole as a single "line" (`document=True`), up to
MAX_DOCUMENT.

Memory: the inflater hands out at most CHUNK bytes at a time, however well the input compresses,
and a line longer than MAX_LINE is never held: its bytes are skipped up to the next newline, an
empty line takes its place (line numbers stay right) and `stats.too_long` records it, a reject.

Damage: a gzip stream that stops before its end (truncated) raises CorruptInputError unless
`salvage`: its bytes up to the cut are as written, so every complete line before it is yielded and
`damage` says what happened. A stream whose data is corrupt (an inflate error, or a CRC or length
that does not match) is always refused: the damage may lie anywhere before the point where it was
seen (one flipped bit only shows at the CRC), so no line of it can be shown intact.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

from isal import isal_zlib

from .errors import CorruptInputError, EmptyInputError
from .native import count_newlines

GZIP_MAGIC = b"\x1f\x8b"
CHUNK = 1 << 20  # compressed bytes per read, and most inflated bytes handed out at once
#: the longest line kept (longer: a reject). GitHub caps what an event carries (bodies and comments
#: at 65,536 characters, release notes at 125,000, 20 commits per push): the largest line of the
#: bundled real hours is 240 KiB, so 16 MiB is far past any real event, and small next to the 4 GiB
#: of the cloud function even as parsed objects (about 25x the text at worst).
MAX_LINE = 16 << 20
MAX_DOCUMENT = MAX_LINE  # a single pretty-printed JSON document is read (and parsed) whole
TOO_LONG_HEAD = 2_000  # bytes of a refused long line kept for its reject
#: trailing local-part characters of a cut head: maybe half an address, never kept (pii.py)
_LOCAL_TAIL = re.compile(rb"[A-Za-z0-9._%+\-\x80-\xff!#$&'*/=?^`{|}~\\\"]+$")


@dataclass(frozen=True)
class LongLine:
    """A line over MAX_LINE: skipped, not held (a reject)."""

    line_no: int
    size: int  # bytes, without the newline
    head: bytes  # its first bytes, up to TOO_LONG_HEAD, no half address at the cut

    @property
    def reason(self) -> str:
        return f"line of {self.size:,} bytes is longer than the {MAX_LINE >> 20} MiB a line may have"


@dataclass
class ReadStats:
    kind: str = "ndjson"  # gzip | ndjson | document
    bytes_read: int = 0  # input bytes consumed (for progress)
    damage: str | None = None  # what was wrong with the stream, when salvaged
    dropped_partial_bytes: int = 0  # bytes of the incomplete line cut by the damage
    too_long: list[LongLine] = field(default_factory=list)  # lines over MAX_LINE, skipped


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
        for data in _chain(first, raw):
            while data:
                try:  # at most CHUNK out at once: a bomb never inflates a whole read in one go
                    out = inflater.decompress(data, CHUNK)
                except Exception as exc:  # isal_zlib.error (IsalError) or OSError
                    raise CorruptInputError(
                        f"{self.name}: corrupt gzip data ({exc}); the damage may lie anywhere before "
                        "it was seen, so no line of the stream is known intact and none is kept "
                        "(--salvage keeps lines only of a stream cut short); nothing was written"
                    ) from None
                if out:
                    yield out
                if inflater.unconsumed_tail:
                    data = inflater.unconsumed_tail
                elif inflater.eof:  # member ended: a next member may follow (multi-member gzip)
                    data = inflater.unused_data
                    if data.strip(b"\x00") and data[:2] != GZIP_MAGIC:
                        # every member before passed its CRC: what was yielded is intact
                        self._damaged("trailing bytes after the gzip stream")
                        return
                    if data[:2] == GZIP_MAGIC:
                        inflater = isal_zlib.decompressobj(wbits=31)
                    else:
                        data = b""
                else:
                    data = b""
        if not inflater.eof:
            self._damaged("truncated gzip stream (it ends before the gzip end-of-stream marker)")

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
        blank: list[Any] = [(b"", 1)] if self.pieces else [b""]  # stands for a skipped long line
        lines_out = 0  # lines yielded so far (blank ones too): the next line's number - 1
        skipping: tuple[int, bytes] | None = None  # (bytes so far, head) of a line over MAX_LINE
        for block in data:
            if first:
                first = False
                head = (carry + block).lstrip()
                line_end = head.find(b"\n")
                if head[: line_end if line_end >= 0 else len(head)].strip() in (b"{", b"["):
                    yield [self._document(head, data)]
                    return
            if skipping is None and carry:  # does the line `carry` starts grow past the limit?
                nl = block.find(b"\n")
                if len(carry) + (nl if nl >= 0 else len(block)) > MAX_LINE:
                    skipping, carry = (len(carry), carry[:TOO_LONG_HEAD]), b""
            if skipping is not None:
                nl = block.find(b"\n")
                size, head = skipping
                if nl < 0:
                    skipping = (size + len(block), (head + block[: TOO_LONG_HEAD - len(head)]))
                    continue
                lines_out += 1
                self.stats.too_long.append(LongLine(lines_out, size + nl, _cut(head + block[:nl])))
                yield blank
                skipping, block = None, block[nl + 1 :]
            items, carry = split(carry, block)
            if items:
                lines_out += sum(n for _, n in items) if self.pieces else len(items)
                yield items
            if len(carry) > MAX_LINE:  # blocks are at most CHUNK: caught within CHUNK of the limit
                skipping, carry = (len(carry), carry[:TOO_LONG_HEAD]), b""
        if skipping is not None:  # the file ends inside a long line
            size, head = skipping
            self.stats.too_long.append(LongLine(lines_out + 1, size, _cut(head)))
            yield blank
        elif carry.strip():
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
                    f"{self.name}: a single JSON document over {MAX_DOCUMENT >> 20} MiB (it is read "
                    "whole); GH Archive hours are NDJSON (one event per line)"
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


def _cut(head: bytes) -> bytes:
    """The first TOO_LONG_HEAD bytes of a long line, less a trailing run that could be the start
    of an address whose '@' lies past the cut (hashing needs the whole address)."""
    head = head[:TOO_LONG_HEAD]
    return _LOCAL_TAIL.sub(b"", head)


def _chain(first: bytes, rest: Iterator[bytes]) -> Iterator[bytes]:
    yield first
    yield from rest
