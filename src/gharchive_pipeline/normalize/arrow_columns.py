"""Python values -> Arrow arrays through their buffers, for the rows the Python mapper gives.

Why not `pa.array` / `pa.scalar`: on every call pyarrow asks whether pandas is importable and, where
it is, imports it (0.26 s, about a seventh of a 200,000-event hour's whole normalize), though nothing
here uses pandas. The four types of the table's columns are built here from numpy buffers instead;
anything else (or text that is not valid UTF-8) still goes through `pa.array`.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pyarrow as pa

__all__ = ["bool_array", "column", "constant", "int64_values", "micros"]

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def column(values: Sequence[Any], type_: pa.DataType) -> pa.Array:
    """`pa.array(values, type=type_)` for string, int64, bool and timestamp[us] columns."""
    n = len(values)
    valid = np.fromiter((v is not None for v in values), dtype=np.bool_, count=n)
    nulls = n - int(np.count_nonzero(valid))
    bitmap = pa.py_buffer(np.packbits(valid, bitorder="little")) if nulls else None
    if pa.types.is_string(type_):
        try:  # text comes as str, or as UTF-8 bytes (a payload as orjson wrote it)
            encoded = [b"" if v is None else v if type(v) is bytes else v.encode() for v in values]
        except (UnicodeEncodeError, AttributeError):  # a lone surrogate, or not text: pyarrow says what
            return pa.array(values, type=type_)
        offsets = np.zeros(n + 1, dtype=np.int64)
        np.cumsum(np.fromiter(map(len, encoded), dtype=np.int64, count=n), out=offsets[1:])
        if offsets[-1] > np.iinfo(np.int32).max:  # past a string array's int32 offsets
            return pa.array(values, type=type_)
        data = pa.py_buffer(b"".join(encoded))
        array = pa.Array.from_buffers(type_, n, [bitmap, pa.py_buffer(offsets.astype(np.int32)), data], nulls)
        array.validate(full=True)  # bytes given as text must be UTF-8, as pa.array checks them
        return array
    if pa.types.is_boolean(type_):
        bits = np.fromiter((v is not None and bool(v) for v in values), dtype=np.bool_, count=n)
        packed = pa.py_buffer(np.packbits(bits, bitorder="little"))
        return pa.Array.from_buffers(type_, n, [bitmap, packed], nulls)
    if pa.types.is_int64(type_) and all(type(v) is int for v in values if v is not None):
        ints = np.fromiter((0 if v is None else v for v in values), dtype=np.int64, count=n)
        return pa.Array.from_buffers(type_, n, [bitmap, pa.py_buffer(ints)], nulls)
    if pa.types.is_timestamp(type_) and type_.unit == "us" and _all_datetimes(values):
        stamps = np.fromiter((0 if v is None else micros(v) for v in values), dtype=np.int64, count=n)
        return pa.Array.from_buffers(type_, n, [bitmap, pa.py_buffer(stamps)], nulls)
    return pa.array(values, type=type_)  # another type or other values: pyarrow decides (and errs)


def constant(value: str | datetime, type_: pa.DataType, n: int) -> pa.Array:
    """`n` copies of one value (a run's hour, ingest time, version, era)."""
    return pa.repeat(column([value], type_)[0], n)


def int64_values(array: pa.Array) -> np.ndarray:
    """The values of an int64 or timestamp array without nulls, as numpy, without a copy
    (`to_numpy` would import pandas too)."""
    values = np.frombuffer(array.buffers()[1], dtype=np.int64)
    return values[array.offset : array.offset + len(array)]


def bool_array(values: np.ndarray) -> pa.Array:
    """A boolean Arrow array (no nulls) from a numpy one."""
    bits = pa.py_buffer(np.packbits(values, bitorder="little"))
    return pa.Array.from_buffers(pa.bool_(), len(values), [None, bits])


def _all_datetimes(values: Sequence[Any]) -> bool:
    """Datetimes, or microseconds since the epoch (ints) as the mappers give created_at."""
    return all(type(v) is int or isinstance(v, datetime) for v in values if v is not None)


def micros(value: datetime | int) -> int:
    """Microseconds since the epoch, as pyarrow counts them (a naive datetime is taken as UTC)."""
    if type(value) is int:
        return value
    assert isinstance(value, datetime)
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return (value - _EPOCH) // _ONE_MICROSECOND


_ONE_MICROSECOND = np.timedelta64(1, "us").item()
