"""The native fast path (`_fastpath.c`) seen from Python: Events-era lines -> Arrow arrays.

The C module maps every line it can prove it maps exactly as `eras.EventMapper.map` does and gives
the others back ("fallback") for the Python mapper; `chunks.py` merges both in line order. It is
built at install time when a C compiler is present (setup.py, optional); without it, or with
GHARCHIVE_NATIVE=0, everything runs in Python with the same output.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from types import ModuleType

import pyarrow as pa

from .. import schema
from .timestamps import BIGQUERY_RANGE


def switched_off() -> bool:
    """GHARCHIVE_NATIVE=0 (or false/no/off): the pure-Python path is wanted even where the module is built."""
    return os.environ.get("GHARCHIVE_NATIVE", "1").strip().lower() in ("0", "false", "no", "off")


def _load() -> ModuleType | None:
    if switched_off():
        return None
    try:
        from . import _fastpath  # type: ignore[attr-defined]
    except ImportError:
        return None
    return _fastpath


_module = _load()
AVAILABLE = _module is not None

#: the columns the C module fills, in schema order (the lineage columns are constants, added later)
NATIVE_COLUMNS: tuple[str, ...] = schema.COLUMN_NAMES[: schema.COLUMN_NAMES.index("is_bot") + 1]


@dataclass(frozen=True)
class NativeChunk:
    columns: list[pa.Array]  # NATIVE_COLUMNS, one array each
    row_offsets: pa.Array  # int64: the offset in the chunk of each row's line
    fallback: list[tuple[int, bytes]]  # (offset, line) of the non-blank lines left to Python
    lines: int  # non-blank lines seen

    @property
    def rows(self) -> int:
        return len(self.row_offsets)


def count_newlines(data: bytes, start: int, end: int) -> int:
    """data.count(b"\\n", start, end), vectorized when the native module is there."""
    if _module is None:
        return data.count(b"\n", start, end)
    return int(_module.count_lines(data, start, end))


def map_lines(
    pieces: list[bytes | memoryview] | list[bytes], window: tuple[int, int] = BIGQUERY_RANGE
) -> NativeChunk | None:
    """Map the lines of `pieces` (each one or more lines joined by newlines) natively; line
    offsets count across pieces. A created_at outside `window` (microseconds) is left to Python,
    which rejects it. None when the native module is not in use."""
    if _module is None:
        return None
    rows, buffers, fallback, offsets, seen = _module.map_lines(pieces, *window)
    arrow = schema.arrow_schema()
    columns = [
        pa.Array.from_buffers(
            arrow.field(name).type, rows, [pa.py_buffer(b) if b is not None else None for b in parts]
        )
        for name, parts in zip(NATIVE_COLUMNS, buffers, strict=True)
    ]
    row_offsets = pa.Array.from_buffers(pa.int64(), rows, [None, pa.py_buffer(offsets)])
    return NativeChunk(columns, row_offsets, fallback, seen)
