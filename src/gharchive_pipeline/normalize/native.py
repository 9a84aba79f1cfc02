"""The native fast path (`_fastpath.c`) seen from Python: Events-era lines -> Arrow arrays.

The C module maps every line it can prove it maps exactly as `eras.EventMapper.map` does and gives
the others back ("fallback") for the Python mapper; `chunks.py` merges both in line order. It is
built at install time when a C compiler is present (setup.py, optional); without it, or with
GHARCHIVE_NATIVE=0, everything runs in Python with the same output.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from dataclasses import dataclass
from types import ModuleType

import pyarrow as pa

from .. import schema
from .native_columns import native_columns
from .timestamps import BIGQUERY_RANGE

log = logging.getLogger(__name__)


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


#: the columns the C module fills, in schema order (the lineage columns are added in Python)
NATIVE_COLUMNS: tuple[str, ...] = schema.MAPPED_COLUMNS


def _matches_schema(module: ModuleType) -> bool:
    """Whether the module was built with the column table of this schema (a stale build: no)."""
    built = tuple(tuple(c) for c in getattr(module, "columns", lambda: ())())
    if built == native_columns():
        return True
    log.warning(
        "the native normalizer was built for other columns than schema.py's (a stale build: "
        "reinstall the package to rebuild it); using the pure-Python mapper"
    )
    return False


_module = _load()
if _module is not None and not _matches_schema(_module):
    _module = None
AVAILABLE = _module is not None


@dataclass(frozen=True)
class NativeChunk:
    columns: dict[str, pa.Array]  # NATIVE_COLUMNS by name
    row_offsets: pa.Array  # int64: the offset in the chunk of each row's line
    fallback: list[tuple[int, bytes]]  # (offset, line) of the non-blank lines left to Python
    lines: int  # non-blank lines seen

    @property
    def rows(self) -> int:
        return len(self.row_offsets)


def numbers_scanner() -> Callable[[bytes], bool] | None:
    """The native `numbers_at_risk(text)` (numbers.py), None when the module is not in use."""
    return None if _module is None else _module.numbers_at_risk


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
    columns = {
        name: pa.Array.from_buffers(
            arrow.field(name).type, rows, [pa.py_buffer(b) if b is not None else None for b in parts]
        )
        for name, parts in zip(NATIVE_COLUMNS, buffers, strict=True)
    }
    row_offsets = pa.Array.from_buffers(pa.int64(), rows, [None, pa.py_buffer(offsets)])
    return NativeChunk(columns, row_offsets, fallback, seen)
