"""E-mail obfuscation: the form GH Archive itself used when it re-issued old hours in 2016.

`hash_email` reproduces the re-issue exactly (checked on both servings of 2015-01-01-1): the part
before the first '@' becomes its sha1 hex and the part after it, up to any further '@', is kept
(`a@b.edu@svn-uuid` -> `sha1(a)@b.edu`); a value without '@' becomes sha1 of the whole string. Values
whose local part is already 40 hex characters are left alone, so both servings normalize alike.

`scrub` hashes e-mail-like substrings anywhere in (JSON) text: author e-mails reappear in commit
messages (`Signed-off-by:`), in author names and in issue bodies, and none may reach an output.
It works on UTF-8 bytes, the form orjson produces, and only looks around each '@'.
"""

from __future__ import annotations

import hashlib
import re

_HEX40 = re.compile(rb"[0-9a-f]{40}")
#: characters of an address local part, matched on the REVERSED text (leftwards from the '@')
_MAX_LOCAL = 128
_LOCAL_REVERSED = re.compile(rb"[A-Za-z0-9._%+\-]{1,128}")
_LABEL = rb"[A-Za-z0-9](?:[A-Za-z0-9\-]*[A-Za-z0-9])?"
_DOMAIN = re.compile(_LABEL + rb"(?:\." + _LABEL + rb")*")
_HAS_LETTER = re.compile(rb"[A-Za-z]")
#: `git@github.com:owner/repo.git` (ssh_url) is a URL, not a person's address
_NOT_PERSONAL = frozenset({b"git"})
_CACHE_LIMIT = 200_000


class EmailHasher:
    """`hash_email` with a per-run cache (commit authors repeat a lot within an hour)."""

    def __init__(self) -> None:
        self._cache: dict[str, str] = {}

    def __call__(self, value: str) -> str:
        cached = self._cache.get(value)
        if cached is None:
            cached = hash_email(value)
            if len(self._cache) >= _CACHE_LIMIT:
                self._cache.clear()
            self._cache[value] = cached
        return cached


def _sha1(data: bytes) -> bytes:
    return hashlib.sha1(data).hexdigest().encode("ascii")


def hash_email(value: str) -> str:
    """GH Archive's re-issue rule for the value of an e-mail field."""
    raw = value.encode("utf-8", "surrogatepass")
    at = raw.find(b"@")
    if at < 0:
        return value if _HEX40.fullmatch(raw) else _sha1(raw).decode()
    local = raw[:at]
    if _HEX40.fullmatch(local):
        return value
    domain = value[value.find("@") + 1 :].split("@", 1)[0]
    return f"{_sha1(local).decode()}@{domain}"


def scrub(data: bytes) -> bytes:
    """`data` with every `local@domain` replaced by `sha1(local)@domain`.

    Skips `git@host` (ssh URLs), domains without a letter (`pkg@1.2.3`, `trunk@17448`) and already
    hashed local parts. A JSON escape right before the address (`\\nfoo@x.org`) is not taken as
    part of it.
    """
    at = data.find(b"@")
    if at < 0:
        return data
    parts: list[bytes] = []
    last = 0
    while at >= 0:
        window = data[max(0, at - _MAX_LOCAL) : at][::-1]  # reversed, so the local part is a prefix
        local_m = _LOCAL_REVERSED.match(window)
        if local_m is not None:
            domain_m = _DOMAIN.match(data, at + 1)
            if domain_m is not None:
                start = max(at - local_m.end(), last)
                if start > 0 and data[start - 1] == 0x5C:  # backslash: JSON escape such as \n
                    start += 1
                local = data[start:at]
                if (
                    local
                    and local not in _NOT_PERSONAL
                    and _HAS_LETTER.search(domain_m.group())
                    and not _HEX40.fullmatch(local)
                ):
                    parts.append(data[last:start])
                    parts.append(_sha1(local))
                    last = at
        at = data.find(b"@", at + 1)
    if not parts:
        return data
    parts.append(data[last:])
    return b"".join(parts)


def scrub_text(text: str) -> str:
    return scrub(text.encode("utf-8", "surrogatepass")).decode("utf-8", "replace")
