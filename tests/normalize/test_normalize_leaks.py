"""Addresses of every form are hashed in every output (columns, payload, rejects, reasons).

The forms GH Archive data holds beyond `local@ascii.domain`: domains that are not ASCII (typed IDNs)
or punycode, upper case, address literals (`[192.0.2.1]`), RFC 5322 specials in the local part
(`o'reilly`, `first!last`), quoted local parts with commas, `\\u0040`-escaped '@' in a line that does
not parse, and an address that a reason's 40-character excerpt of `created_at` would cut in half.
Each is planted in a real hour and normalized on the native and the pure-Python path.
"""

from __future__ import annotations

import copy
import gzip
import hashlib
from pathlib import Path

import orjson
import pytest

from gharchive_pipeline.normalize import normalize
from gharchive_pipeline.normalize.pii import scrub, scrub_value
from tests.support.leak_check import normalized_on_both_paths

from ..conftest import DATA

HOUR = "2015-01-01-0.json.gz"


def sha1(text: str) -> str:
    return hashlib.sha1(text.encode()).hexdigest()


#: (address, its local part, its domain, a part of it that must never appear in an output)
ADDRESSES = [
    ("alice@ümlaut.de", "alice", "ümlaut.de", "alice@"),
    ("taro@例え.jp", "taro", "例え.jp", "taro@"),
    ("ivan@пример.рф", "ivan", "пример.рф", "ivan@"),
    ("ümit@xn--mnchen-3ya.de", "ümit", "xn--mnchen-3ya.de", "ümit@"),
    ("KEVIN.JONES@EXAMPLE.COM", "KEVIN.JONES", "EXAMPLE.COM", "KEVIN.JONES"),
    ("o'reilly@example.com", "o'reilly", "example.com", "o'reilly"),
    ("first!last@example.com", "first!last", "example.com", "first!"),
    ("x#y$z&w*q=r?s^t`u{v|w}x~y/z@example.com", "x#y$z&w*q=r?s^t`u{v|w}x~y/z", "example.com", "x#y"),
    ('"doe, john"@example.com', "doe, john", "example.com", "doe, john"),
    ("lisa@[192.0.2.1]", "lisa", "[192.0.2.1]", "lisa@"),
    ("mike@[IPv6:2001:db8::1]", "mike", "[IPv6:2001:db8::1]", "mike@"),
    ("nina%40ümlaut.de", "nina", "ümlaut.de", "nina%40"),
]
IDS = [a for a, *_ in ADDRESSES]


@pytest.mark.parametrize(("address", "local", "domain", "leak"), ADDRESSES, ids=IDS)
def test_scrub_hashes_every_form(address: str, local: str, domain: str, leak: str) -> None:
    at = "%40" if "%40" in address else "@"
    hashed = f"{sha1(local)}{at}{domain}"
    assert scrub_value(address) == hashed
    assert scrub_value(f"mail {address} now") == f"mail {hashed} now"
    assert scrub_value(f"<{address}>, ({address})") == f"<{hashed}>, ({hashed})"
    in_json = orjson.dumps({"m": f"cc {address}\n"})
    assert leak.encode() not in scrub(in_json)
    assert f"cc {hashed}".encode() in scrub(in_json)


def test_text_with_an_at_sign_but_no_address_is_left_alone() -> None:
    for text in ("node_modules/@types/node", "import x from '@scope/pkg'", "pkg@1.2.3", "@mention",
                 "git@github.com:o/r.git", "a@[not an ip]", "x=@y", "user!@example.com"):  # fmt: skip
        assert scrub_value(text) == text


def test_leading_specials_are_not_hashed() -> None:
    """`'ann@x.org'` (quoted in code) hashes `ann`, as the commit e-mail field `ann@x.org` does."""
    assert scrub_value("'ann@x.org'") == f"'{sha1('ann')}@x.org'"
    assert scrub_value("{ann@x.org}") == f"{{{sha1('ann')}@x.org}}"


def _planted(lines: list[bytes]) -> tuple[list[bytes], list[str]]:
    """Copies of real events carrying every address in a column value (ref, actor login), in a
    commit message and in an issue body; the raw parts that must not appear in an output."""
    events = [orjson.loads(line) for line in lines]
    push = next(e for e in events if e["type"] == "PushEvent" and e["payload"]["commits"])
    create = next(e for e in events if e["type"] == "CreateEvent")
    issue = next(e for e in events if e["type"] == "IssuesEvent")
    planted, leaks = [], []
    for address, _local, _domain, leak in ADDRESSES:
        leaks.append(leak)
        event = copy.deepcopy(create)
        event["payload"]["ref"] = address
        planted.append(orjson.dumps(event))
        event = copy.deepcopy(push)
        event["actor"]["login"] = address
        event["payload"]["commits"][0]["message"] = f"Fix\n\nSigned-off-by: A <{address}>"
        planted.append(orjson.dumps(event))
        event = copy.deepcopy(issue)
        event["payload"]["issue"]["body"] = f"write to {address}, thanks"
        planted.append(orjson.dumps(event))
    return planted, leaks


def test_no_address_form_reaches_any_column_on_either_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    lines = gzip.decompress((DATA / HOUR).read_bytes()).splitlines()
    planted, leaks = _planted(lines)
    src = tmp_path / HOUR
    src.write_bytes(gzip.compress(b"\n".join(lines + planted) + b"\n"))
    table = normalized_on_both_paths(
        src, tmp_path, monkeypatch, events=len(lines) + len(planted), leaks=leaks
    )
    rows = table.slice(len(lines)).to_pylist()
    for i, (address, local, domain, _leak) in enumerate(ADDRESSES):
        at = "%40" if "%40" in address else "@"
        hashed = f"{sha1(local)}{at}{domain}"
        create, push, issue = rows[3 * i : 3 * i + 3]
        assert create["ref"] == hashed
        assert push["actor_login"] == hashed
        assert f"<{hashed}>" in push["payload"]
        assert f"write to {hashed}, thanks" in issue["payload"]


def test_rejects_hold_no_address_in_any_spelling(tmp_path: Path) -> None:
    """Lines that do not parse go to the rejects file as text: addresses spelled with `\\u`
    escapes (`alice\\u0040example.com`, `\\u0022doe, john\\u0022@…`) are hashed there too."""
    lines = gzip.decompress((DATA / HOUR).read_bytes()).splitlines()
    broken = []
    for address, *_ in ADDRESSES:
        line = orjson.dumps({"note": f"cc {address} ok"} | orjson.loads(lines[3]))
        broken.append(line[:-1])  # cut: not JSON
        escaped = line.replace(b"@", rb"\u0040").replace(b'\\"', rb"\u0022").replace(b"'", rb"\u0027")
        broken.append(escaped[:-1])
    src = tmp_path / HOUR
    src.write_bytes(gzip.compress(b"\n".join(lines[:3000] + broken) + b"\n"))
    result = normalize(src, tmp_path / "out.parquet")
    assert result.rejects == len(broken) and result.rejects_path is not None
    text = result.rejects_path.read_text()
    assert [leak for *_, leak in ADDRESSES if leak in text.replace("\\u0040", "@")] == []
    assert "doe, john" not in text


@pytest.mark.parametrize("cut_at", [5, 9, 12, 39])
def test_created_at_excerpt_never_cuts_an_address_in_half(tmp_path: Path, cut_at: int) -> None:
    """The reason quotes 40 characters of a bad created_at: hashed first, then cut (cut first,
    `…alice.smith@exa` no longer looks like an address and stayed in clear)."""
    lines = gzip.decompress((DATA / HOUR).read_bytes()).splitlines()
    address = "alice.smith@example.com"
    event = orjson.loads(lines[3])
    event["created_at"] = "x" * (40 - cut_at) + " " + address  # the cut falls inside the address
    src = tmp_path / HOUR
    src.write_bytes(gzip.compress(b"\n".join([*lines[:1000], orjson.dumps(event)]) + b"\n"))
    result = normalize(src, tmp_path / "out.parquet")
    assert result.rejects == 1 and result.rejects_path is not None
    reject = orjson.loads(result.rejects_path.read_bytes())
    assert "is not a timestamp" in reject["reason"]
    assert "alice" not in reject["reason"] and "alice" not in reject["text"]
