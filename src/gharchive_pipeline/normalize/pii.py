"""E-mail obfuscation: the form GH Archive itself used when it re-issued old hours in 2016.

`hash_email` reproduces the re-issue exactly (checked on both servings of 2015-01-01-1): the part
before the first '@' becomes its sha1 hex and the part after it, up to any further '@', is kept
(`a@b.edu@svn-uuid` -> `sha1(a)@b.edu`); a value without '@' becomes sha1 of the whole string. Values
whose local part is already 40 hex characters are left alone, so both servings normalize alike.

`scrub` hashes e-mail-like substrings anywhere in (JSON) text: author e-mails reappear in commit
messages (`Signed-off-by:`), in author names and in issue bodies, and none may reach an output.
It works on UTF-8 bytes, the form orjson produces, and only looks around each '@' (and each `%40`,
the URL-encoded '@'). The local part is hashed whole: non-ASCII characters and RFC 5322 specials
(`o'reilly`, `first!last`) belong to it, and a quoted local part (`"doe, john"@example.com`) is
hashed without its quotes. A local part ends (at the '@') with a letter, digit, non-ASCII character
or one of `._%+-`, and specials it starts with are not hashed: so `node_modules/@types`, `'@scope`
are no addresses and `'ann@x.org'` hashes `ann`. A domain is a dotted name with a letter, ASCII or
not (`ümlaut.de`, `例え.jp`, punycode `xn--mnchen-3ya.de`), or an IP literal (`[192.0.2.1]`,
`[IPv6:2001:db8::1]`). `scrub_value` does the same for a plain string bound for a column (`ref`,
`action`, logins...).
"""

from __future__ import annotations

import hashlib
import re

_HEX40 = re.compile(rb"[0-9a-f]{40}")
#: characters of an address local part, matched on the REVERSED text (leftwards from the '@'); a
#: window of _MAX_LOCAL first (the common case), the whole run when the window is full
_MAX_LOCAL = 128
#: non-ASCII bytes count as local-part characters (`Jörg@x.org` is hashed whole, not from `rg`),
#: and so do the RFC 5322 specials (`o'reilly@x.org`); the last one before the '@' is never a special
_SPECIALS = rb"!#$&'*/=?^`{|}~"
_LOCAL_CHARS = rb"A-Za-z0-9._%+\-\x80-\xff" + re.escape(_SPECIALS)
_LOCAL_REVERSED = re.compile(rb"[A-Za-z0-9._%%+\-\x80-\xff][%s]{0,127}" % _LOCAL_CHARS)
_LOCAL_RUN_REVERSED = re.compile(rb"[%s]*" % _LOCAL_CHARS)
#: leading bytes never hashed: specials (`'ann@`, `{ann@`) and continuation bytes (half a character)
_LEAD_SKIP = frozenset(_SPECIALS) | frozenset(range(0x80, 0xC0))
_AT = re.compile(rb"@|%40")
#: what may stand between the quotes of a quoted local part: RFC 5322 atext, dots, non-ASCII, and
#: inner spaces (`"john doe"`); not parentheses, brackets, commas, colons, backslashes: text such as
#: `Error(\\"@printf` or `\\"a\\" and \\"@types` holds a quote before an '@' but no address
_QUOTED_CHAR = rb"A-Za-z0-9!#$%&'*+\-/=?^_`{|}~.\x80-\xff"
#: inside the quotes also spaces and commas (`"doe, john"`), never first or last
_QUOTED = re.compile(rb"[%s](?:[ ,%s]{0,62}[%s])?" % (_QUOTED_CHAR, _QUOTED_CHAR, _QUOTED_CHAR))
#: a domain label: ASCII letters and digits or any non-ASCII (an IDN as typed), inner hyphens
_LABEL = rb"[A-Za-z0-9\x80-\xff](?:[A-Za-z0-9\x80-\xff\-]*[A-Za-z0-9\x80-\xff])?"
_DOMAIN = re.compile(_LABEL + rb"(?:\." + _LABEL + rb")*")
_HAS_LETTER = re.compile(rb"[A-Za-z\x80-\xff]")
#: an address literal: `[192.0.2.1]`, `[IPv6:2001:db8::1]` (hex digits with a dot or colon)
_IP_LITERAL = re.compile(rb"\[(?:IPv6:)?[0-9A-Fa-f]*[.:][0-9A-Fa-f.:]*\]")
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


def needs_scrub(data: bytes) -> bool:
    """Whether `data` could hold an address at all (the cheap test before `scrub`)."""
    return b"@" in data or has_pct40(data)


def has_pct40(data: bytes) -> bool:
    """`%40` in data; looking for '%' first is 2.5x cheaper (most payloads have none)."""
    return b"%" in data and b"%40" in data


def scrub(data: bytes, *, json: bool = True) -> bytes:
    """`data` with every `local@domain` (or `local%40domain`) replaced by `sha1(local)@domain`.

    Skips `git@host` (ssh URLs), domains without a letter (`pkg@1.2.3`, `trunk@17448`) and already
    hashed local parts. `json`: `data` is JSON text, so a JSON escape right before the address
    (`\\nfoo@x.org`) is not taken as part of it and a quoted local part has escaped quotes
    (`\\"john doe\\"@x.org`); otherwise it is a plain value (`"john doe"@x.org`).
    """
    if b"%" in data and b"%40" in data:  # has_pct40, inline: this runs for many payloads
        hits = [m.start() for m in _AT.finditer(data)]
    else:  # the common case: only '@' (found by bytes.find, much cheaper than a regex scan)
        hits = []
        at = data.find(b"@")
        while at >= 0:
            hits.append(at)
            at = data.find(b"@", at + 1)
    parts: list[bytes] = []
    last = 0
    for at in hits:
        if at > 0 and data[at - 1] == 0x22:  # '"': maybe a quoted local part
            span = _quoted_local(data, at, last, json)
            if span is None:
                continue
            start, local = span
        else:
            window = data[max(0, at - _MAX_LOCAL) : at][::-1]  # reversed: the local part is a prefix
            local_m = _LOCAL_REVERSED.match(window)
            if local_m is None:
                continue
            start = max(at - local_m.end(), last)
            if local_m.end() == _MAX_LOCAL and start > last and _is_address(data, at):
                # A longer local part is hashed whole, never left with its start in clear. Only
                # for a real address, which is then replaced (`last` moves up to it): so no byte is
                # scanned twice, however many '@' a long token holds.
                longer = _LOCAL_RUN_REVERSED.match(data[last:start][::-1])
                start -= longer.end() if longer else 0
            if start > 0 and data[start - 1] == 0x5C and data[start] < 0x80:  # a JSON escape such as \n
                start += 1  # (escapes are ASCII: a backslash before a non-ASCII character is not one)
            while start < at and data[start] in _LEAD_SKIP:  # never half a character, no leading special
                start += 1
            local = data[start:at]
            if not local:
                continue
        if not _is_address(data, at):
            continue
        if local not in _NOT_PERSONAL and not _HEX40.fullmatch(local):
            parts.append(data[last:start])
            parts.append(_sha1(local))
            last = at
    if not parts:
        return data
    parts.append(data[last:])
    return b"".join(parts)


def _is_address(data: bytes, at: int) -> bool:
    """Whether a domain with a letter (or an address literal) follows the '@' (or `%40`) at `at`."""
    begin = at + (1 if data[at] == 0x40 else 3)
    domain_m = _DOMAIN.match(data, begin)
    if domain_m is None:
        return _IP_LITERAL.match(data, begin) is not None
    return _HAS_LETTER.search(domain_m.group()) is not None


def _quoted_local(data: bytes, at: int, last: int, json: bool) -> tuple[int, bytes] | None:
    """(start, text between the quotes) of a quoted local part ending right before `at`, else None."""
    close = at - 1
    if close < 1 or data[close] != 0x22:
        return None
    if json:  # inside JSON text the quotes of a quoted local part are escaped
        if data[close - 1] != 0x5C:
            return None
        close -= 1
    opening = data.rfind(b'"', max(last, close - _MAX_LOCAL), close)
    if opening < 0:
        return None
    start = opening
    if json:
        if opening == 0 or data[opening - 1] != 0x5C:
            return None
        start -= 1
    local = data[opening + 1 : close]
    return (start, local) if _QUOTED.fullmatch(local) else None


def scrub_text(text: str) -> str:
    return scrub(text.encode("utf-8", "surrogatepass")).decode("utf-8", "replace")


def scrub_value(value: str | None) -> str | None:
    """A plain string bound for a column, addresses hashed (most values hold no '@': untouched)."""
    if value is None or ("@" not in value and ("%" not in value or "%40" not in value)):
        return value
    return scrub(value.encode(), json=False).decode("utf-8", "replace")
