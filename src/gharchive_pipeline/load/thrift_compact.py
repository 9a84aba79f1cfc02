"""Thrift's compact protocol, read and written back field for field: what a parquet footer is in.

Only what parquet_splice.py needs to move row groups between files: a struct is read into its fields
in order (id, wire type, value), any of them can be replaced, and writing it gives the same bytes
back when nothing was changed (tests/load/test_parquet_splice.py checks that on real footers).
Unknown fields are kept as they are, so a footer from a newer parquet writer survives the trip.
Spec: https://github.com/apache/thrift/blob/master/doc/specs/thrift-compact-protocol.md
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from typing import Any

__all__ = ["I32", "I64", "ThriftError", "ThriftList", "ThriftStruct", "read_struct"]

TRUE, FALSE, BYTE, I16, I32, I64, DOUBLE, BINARY, LIST, SET, MAP, STRUCT = range(1, 13)
_MAX_DEPTH = 64


class ThriftError(ValueError):
    """Bytes that are not a compact-protocol struct (a damaged footer)."""


@dataclass
class ThriftList:
    element_type: int
    items: list[Any]
    kind: int = LIST  # LIST or SET


@dataclass(frozen=True)
class _Raw:
    """A nested value not read yet: its bytes, read on first `get` and written back as they are."""

    data: bytes
    wire_type: int


@dataclass
class ThriftStruct:
    """Fields in wire order: [field id, wire type, value]. Nested structs and collections are read
    when first asked for (`get`): a footer's statistics, schema and key-value metadata are only ever
    carried over, and reading them was most of the time spent on a footer."""

    fields: list[list[Any]] = field(default_factory=list)

    def get(self, field_id: int, default: Any = None) -> Any:
        for f in self.fields:
            if f[0] == field_id:
                if isinstance(f[2], _Raw):
                    f[2] = _value(f[2].data, 0, f[2].wire_type, 0)[0]
                return f[2]
        return default

    def set(self, field_id: int, wire_type: int, value: Any) -> None:
        """Replace the field's value (or add it, in id order)."""
        for f in self.fields:
            if f[0] == field_id:
                f[1], f[2] = wire_type, value
                return
        self.fields.append([field_id, wire_type, value])
        self.fields.sort(key=lambda f: f[0])

    def drop(self, *field_ids: int) -> None:
        self.fields = [f for f in self.fields if f[0] not in field_ids]

    def to_bytes(self) -> bytes:
        out = bytearray()
        _write_struct(out, self)
        return bytes(out)


def read_struct(data: bytes | memoryview, pos: int = 0) -> tuple[ThriftStruct, int]:
    """The struct starting at `pos`, and the position after it."""
    try:
        return _struct(bytes(data), pos, 0)
    except (IndexError, struct.error) as exc:
        raise ThriftError(f"truncated thrift struct ({exc})") from None


# The reader is plain functions over (bytes, position): a footer holds ~10,000 values per 200
# column chunks, and method calls per byte made reading one take 20 ms.
def _read_varint(data: bytes, pos: int) -> tuple[int, int]:
    b = data[pos]
    pos += 1
    if b < 0x80:
        return b, pos
    result, shift = b & 0x7F, 7
    while True:
        b = data[pos]
        pos += 1
        result |= (b & 0x7F) << shift
        if b < 0x80:
            return result, pos
        shift += 7
        if shift > 70:
            raise ThriftError("varint too long")


def _struct(data: bytes, pos: int, depth: int) -> tuple[ThriftStruct, int]:
    if depth > _MAX_DEPTH:
        raise ThriftError("thrift structs nested too deep")
    fields: list[list[Any]] = []
    last = 0
    while True:
        head = data[pos]
        pos += 1
        if head == 0:
            return ThriftStruct(fields), pos
        wire_type, delta = head & 0x0F, head >> 4
        if delta:
            field_id = last + delta
        else:
            n, pos = _read_varint(data, pos)
            field_id = (n >> 1) ^ -(n & 1)
        if wire_type in _INTEGERS:
            n, pos = _read_varint(data, pos)
            value: Any = (n >> 1) ^ -(n & 1)
        elif wire_type == BINARY:
            n, pos = _read_varint(data, pos)
            value, pos = data[pos : pos + n], pos + n
            if pos > len(data):
                raise ThriftError("binary runs past the end")
        elif wire_type in (TRUE, FALSE):  # in a field header the type is the value
            value = wire_type == TRUE
        elif wire_type in _NESTED:
            end = _skip(data, pos, wire_type, depth)
            value, pos = _Raw(data[pos:end], wire_type), end
        else:
            value, pos = _value(data, pos, wire_type, depth)
        fields.append([field_id, wire_type, value])
        last = field_id


_INTEGERS = frozenset((I16, I32, I64))
_NESTED = frozenset((STRUCT, LIST, SET, MAP))


def _skip(data: bytes, pos: int, wire_type: int, depth: int) -> int:
    """The position after the value at `pos` (read, not kept)."""
    if depth > _MAX_DEPTH:
        raise ThriftError("thrift structs nested too deep")
    if wire_type in _INTEGERS:
        while data[pos] & 0x80:
            pos += 1
        return pos + 1
    if wire_type == BINARY:
        n, pos = _read_varint(data, pos)
        if pos + n > len(data):
            raise ThriftError("binary runs past the end")
        return pos + n
    if wire_type == STRUCT:
        while True:
            head = data[pos]
            pos += 1
            if head == 0:
                return pos
            if not head >> 4:
                _, pos = _read_varint(data, pos)
            kind = head & 0x0F
            if kind in _INTEGERS:  # the common fields inline: a call per field was most of the time
                while data[pos] & 0x80:
                    pos += 1
                pos += 1
            elif kind == BINARY:
                n, pos = _read_varint(data, pos)
                pos += n
            elif kind not in (TRUE, FALSE):
                pos = _skip(data, pos, kind, depth + 1)
    if wire_type in (TRUE, FALSE, BYTE):  # a bool in a collection is a byte
        return pos + 1
    if wire_type == DOUBLE:
        return pos + 8
    if wire_type in (LIST, SET):
        size, element_type, pos = _list_header(data, pos)
        if element_type in _INTEGERS:
            for _ in range(size):
                while data[pos] & 0x80:
                    pos += 1
                pos += 1
        elif element_type == BINARY:
            for _ in range(size):
                n, pos = _read_varint(data, pos)
                pos += n
        else:
            for _ in range(size):
                pos = _skip(data, pos, element_type, depth + 1)
        return pos
    if wire_type == MAP:
        size, pos = _read_varint(data, pos)
        if size:
            types = data[pos]
            pos += 1
            for _ in range(size):
                pos = _skip(data, pos, types >> 4, depth + 1)
                pos = _skip(data, pos, types & 0x0F, depth + 1)
        return pos
    raise ThriftError(f"unknown thrift wire type {wire_type}")


def _list_header(data: bytes, pos: int) -> tuple[int, int, int]:
    """(size, element type, position after) of a list or set header."""
    head = data[pos]
    size, element_type = head >> 4, head & 0x0F
    if size == 15:
        size, end = _read_varint(data, pos + 1)
        return size, element_type, end
    return size, element_type, pos + 1


def _value(data: bytes, pos: int, wire_type: int, depth: int) -> tuple[Any, int]:
    """A value in a collection, or of the rarer field types."""
    if wire_type in _INTEGERS:
        n, pos = _read_varint(data, pos)
        return (n >> 1) ^ -(n & 1), pos
    if wire_type == BINARY:
        n, pos = _read_varint(data, pos)
        if pos + n > len(data):
            raise ThriftError("binary runs past the end")
        return data[pos : pos + n], pos + n
    if wire_type == STRUCT:
        return _struct(data, pos, depth + 1)
    if wire_type in (TRUE, FALSE):  # in a collection a bool is a byte of its own (kept as read)
        return data[pos], pos + 1
    if wire_type == BYTE:
        return struct.unpack_from("b", data, pos)[0], pos + 1
    if wire_type == DOUBLE:
        return struct.unpack_from("<d", data, pos)[0], pos + 8
    if wire_type in (LIST, SET):
        size, element_type, pos = _list_header(data, pos)
        items = []
        for _ in range(size):
            item, pos = _value(data, pos, element_type, depth)
            items.append(item)
        return ThriftList(element_type, items, wire_type), pos
    if wire_type == MAP:
        size, pos = _read_varint(data, pos)
        types = 0
        if size:
            types = data[pos]
            pos += 1
        entries = []
        for _ in range(size):
            key, pos = _value(data, pos, types >> 4, depth)
            item, pos = _value(data, pos, types & 0x0F, depth)
            entries.append((key, item))
        return (types, entries), pos
    raise ThriftError(f"unknown thrift wire type {wire_type}")


def _varint(out: bytearray, n: int) -> None:
    while True:
        if n < 0x80:
            out.append(n)
            return
        out.append((n & 0x7F) | 0x80)
        n >>= 7


def _zigzag(out: bytearray, n: int) -> None:
    _varint(out, (n << 1) ^ (n >> 63))


def _write_value(out: bytearray, wire_type: int, value: Any) -> None:
    if isinstance(value, _Raw):
        out += value.data
        return
    if wire_type in (TRUE, FALSE):
        return  # the field header carried it
    if wire_type == BYTE:
        out += struct.pack("b", value)
    elif wire_type in (I16, I32, I64):
        _zigzag(out, value)
    elif wire_type == DOUBLE:
        out += struct.pack("<d", value)
    elif wire_type == BINARY:
        _varint(out, len(value))
        out += value
    elif wire_type in (LIST, SET):
        size = len(value.items)
        if size < 15:
            out.append(size << 4 | value.element_type)
        else:
            out.append(0xF0 | value.element_type)
            _varint(out, size)
        for item in value.items:
            _write_element(out, value.element_type, item)
    elif wire_type == MAP:
        types, entries = value
        _varint(out, len(entries))
        if entries:
            out.append(types)
        for k, v in entries:
            _write_element(out, types >> 4, k)
            _write_element(out, types & 0x0F, v)
    elif wire_type == STRUCT:
        _write_struct(out, value)
    else:
        raise ThriftError(f"unknown thrift wire type {wire_type}")


def _write_element(out: bytearray, wire_type: int, value: Any) -> None:
    if wire_type in (TRUE, FALSE):
        out.append(value)
    else:
        _write_value(out, wire_type, value)


def _write_struct(out: bytearray, value: ThriftStruct) -> None:
    last = 0
    for field_id, wire_type, item in value.fields:
        if wire_type in (TRUE, FALSE):
            wire_type = TRUE if item else FALSE
        delta = field_id - last
        if 0 < delta <= 15:
            out.append(delta << 4 | wire_type)
        else:
            out.append(wire_type)
            _zigzag(out, field_id)
        _write_value(out, wire_type, item)
        last = field_id
    out.append(0)
