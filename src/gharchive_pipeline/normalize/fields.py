"""Values bound for typed columns: the right JSON type in the column's range, null, or a reject.

A present value that the column cannot hold faithfully (an id of 2^63, a string where an integer
belongs, an object where a login belongs) makes its line ONE reject with the field named in the
reason: silently nulling it would hide damage, and letting it through would make Arrow raise and
take the whole hour down. Null (or absent) stays null. Bools are not integers here (JSON `true` is
not a count), and integers orjson could only read as floats (past 64 bits) are out of range.
"""

from __future__ import annotations

from typing import Any

from .errors import RowError
from .numbers import BigInt, RawFloat

INT64_MIN = -(2**63)
INT64_MAX = 2**63 - 1

_KINDS = {
    str: "a string",
    int: "an integer",
    float: "a number with a fraction or exponent, or past 64 bits",
    RawFloat: "a number with a fraction or exponent",
    BigInt: "a number past 64 bits",
    bool: "a boolean",
    dict: "an object",
    list: "an array",
}


def kind(value: Any) -> str:
    """The JSON kind of a parsed value, for reasons."""
    return _KINDS.get(type(value), type(value).__name__)


def int64(value: Any, name: str) -> int | None:
    if type(value) is int:
        if INT64_MIN <= value <= INT64_MAX:
            return value
        raise RowError(f"{name} {value} does not fit a 64-bit integer column")
    if value is None:
        return None
    raise RowError(f"{name} is {kind(value)}, not an integer")


def string(value: Any, name: str) -> str | None:
    if value is None or type(value) is str:
        return value
    raise RowError(f"{name} is {kind(value)}, not a string")


def boolean(value: Any, name: str) -> bool | None:
    if value is None or type(value) is bool:
        return value
    raise RowError(f"{name} is {kind(value)}, not true or false")


def obj(value: Any, name: str) -> dict[str, Any] | None:
    if value is None or type(value) is dict:
        return value
    raise RowError(f"{name} is {kind(value)}, not an object")
