"""JSON numbers kept as written: the payload holds the digits of `123456789012345678901234567890`.

orjson reads an integer past 64 bits as a float (`1.2345678901234568e+29`) and writes every float in
its shortest form (`1.0E+10` -> `10000000000.0`), refusing an exponent past a double (`1e400`). A
line holding such a number (found by a cheap scan: a number token with a fraction, an exponent, or
19+ digits) is parsed again by the standard library with hooks that keep each number's text:
`BigInt` (an int past 64 bits) and `RawFloat` (any number with a fraction or exponent) carry it,
and `dumps` writes it back verbatim. Integers orjson keeps exactly stay plain ints, so typed columns
see what they saw before. Everything else is orjson, at orjson's speed.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

import orjson

_U64_MAX = 2**64 - 1
_I64_MIN = -(2**63)

#: a number token (after `:`, `,` or `[`) with a fraction or exponent, or 19+ digits (maybe past
#: 64 bits); inside strings they may also match, which costs only the slower, equal parse. One
#: pattern per leading byte: a literal first byte makes the scan 5x faster than a character class.
_NUMBER = rb"[ \t\r\n]*-?(?:[0-9]{19}|[0-9]+[.eE])"
_AFTER_COLON = re.compile(rb":" + _NUMBER)
_AFTER_COMMA = re.compile(rb"," + _NUMBER)
_AFTER_BRACKET = re.compile(rb"\[" + _NUMBER)


def at_risk(raw: bytes) -> bool:
    """Whether the JSON text `raw` may hold a number orjson would not give back as written: the
    native scanner (it skips strings) when built, else these patterns (10x slower, and they take
    some strings too; either way only the speed differs, never the output)."""
    scan = _scanner()
    if scan is not None:
        return scan(raw)
    return bool(
        _AFTER_COLON.search(raw) or _AFTER_COMMA.search(raw) or (b"[" in raw and _AFTER_BRACKET.search(raw))
    )


def _scanner() -> Callable[[bytes], bool] | None:
    global _SCAN
    if _SCAN is _UNSET:
        from . import native  # here: native imports the schema, which imports this module's users

        _SCAN = native.numbers_scanner()
    return _SCAN


_UNSET: Any = object()
_SCAN: Any = _UNSET


class BigInt(int):
    """An integer orjson cannot hold (past 64 bits), with its text (rare: no __slots__ for ints)."""

    text: str

    def __new__(cls, text: str) -> BigInt:
        value = super().__new__(cls, text)
        value.text = text
        return value


class RawFloat(float):
    """A number with a fraction or exponent, with its text (`1.0E+10`, `1e400`). Slotted: a line
    of millions of them costs ~90 bytes each, not ~250."""

    __slots__ = ("text",)
    text: str

    def __new__(cls, text: str) -> RawFloat:
        value = super().__new__(cls, text)
        value.text = text
        return value


def _int(text: str) -> int:
    value = int(text)
    return value if _I64_MIN <= value <= _U64_MAX else BigInt(text)


def _refuse(text: str) -> Any:
    raise ValueError(f"{text} is not JSON")


_EXACT = json.JSONDecoder(parse_int=_int, parse_float=RawFloat, parse_constant=_refuse)


def loads(raw: bytes | str) -> Any:
    """orjson.loads, numbers kept as written (see the module doc); raises orjson.JSONDecodeError."""
    try:
        value = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        if "infinity" not in str(exc):
            raise
        return _exact(raw, exc)  # `1e400`: a valid JSON number past a double
    if not at_risk(raw if isinstance(raw, bytes) else raw.encode()):
        return value
    del value  # not held while the exact reading is built (a long line of numbers is big)
    return _exact(raw, None)


def _exact(raw: bytes | str, error: orjson.JSONDecodeError | None) -> Any:
    try:
        text = raw.decode("utf-8") if isinstance(raw, bytes) else raw
        value, end = _EXACT.raw_decode(text)
        if text[end:].strip():
            raise ValueError("extra data")
    except (ValueError, RecursionError):  # what orjson refused (or, nested deep, its own reading)
        if error is not None:
            raise error from None
        return orjson.loads(raw)
    return value


def _text(value: Any) -> orjson.Fragment:
    if isinstance(value, (BigInt, RawFloat)):
        return orjson.Fragment(value.text)  # str: orjson writes it as is
    raise TypeError(f"{type(value).__name__} is not JSON")


def dumps(value: Any, option: int = 0) -> bytes:
    """orjson.dumps, writing BigInt and RawFloat as they were written."""
    return orjson.dumps(value, default=_text, option=option | orjson.OPT_PASSTHROUGH_SUBCLASS)


def _as_float(value: Any) -> Any:
    if isinstance(value, (BigInt, RawFloat)):
        return float(value)
    raise TypeError(f"{type(value).__name__} is not JSON")


def dumps_as_orjson(value: Any, option: int = 0) -> bytes:
    """orjson.dumps as it was before numbers kept their text (BigInt and RawFloat as floats): for
    values that must not change with it, such as the derived ids of events that have none."""
    return orjson.dumps(value, default=_as_float, option=option | orjson.OPT_PASSTHROUGH_SUBCLASS)
