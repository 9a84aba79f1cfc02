"""No raw e-mail reaches any output; hashing matches GH Archive's own 2016 re-issue."""

from __future__ import annotations

import copy
import gzip
import hashlib
import re
from pathlib import Path
from typing import Any

import orjson
import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gharchive_pipeline.hours import Hour
from gharchive_pipeline.normalize import normalize
from gharchive_pipeline.normalize.pii import hash_email, scrub, scrub_text, scrub_value
from tests.support.leak_check import normalized_on_both_paths

from ..conftest import DATA

#: originals with raw e-mails (the 2016 re-issues hold hashed ones)
ORIGINALS = [
    "variant-preobfuscation/2015-01-01-1.json.gz",
    "2011-02-15-0.json.gz",
    "2012-02-15-0.json.gz",
    "2012-10-13-0.json.gz",
    "2014-02-15-0.json.gz",
    "2015-01-01-0.json.gz",
]


def sha1(text: str) -> str:
    return hashlib.sha1(text.encode()).hexdigest()


def test_hash_email_is_the_reissue_rule() -> None:
    assert hash_email("david.hulse@live.com") == sha1("david.hulse") + "@live.com"
    assert hash_email("selloggingbot") == "c7f2353e77fbd59227c091422ca81210965ba01d"
    assert hash_email("") == "da39a3ee5e6b4b0d3255bfef95601890afd80709"
    # more than one '@': the re-issue keeps only the part up to the second '@'
    assert hash_email("ggolden@umich.edu@fdecad78-55fc-0310") == sha1("ggolden") + "@umich.edu"
    hashed = sha1("x") + "@example.org"
    assert hash_email(hashed) == hashed  # never hashed twice
    assert hash_email(sha1("y")) == sha1("y")


def test_scrub_hashes_addresses_in_free_text_only() -> None:
    text = "Fix\\n\\nSigned-off-by: Ann <ann.lee@kernel.org>\\nssh git@github.com:o/r.git pkg@1.2.3 @mention"
    out = scrub_text(text)
    assert "ann.lee@kernel.org" not in out
    assert f"<{sha1('ann.lee')}@kernel.org>" in out
    assert "git@github.com:o/r.git" in out and "pkg@1.2.3" in out and "@mention" in out
    escaped = scrub(b'"a\\nbob@x.io"')  # the JSON escape \n is not part of the address
    assert escaped == b'"a\\n' + sha1("bob").encode() + b'@x.io"'
    assert scrub(b"no at sign") == b"no at sign"
    already = f"{sha1('z')}@z.org"
    assert scrub_text(already) == already


def known_emails(event: dict[str, Any]) -> list[str]:
    """Every value of an e-mail field in a raw event (and author names that are addresses)."""
    found: list[str] = []
    payload = event.get("payload") or {}
    for entry in payload.get("shas") or []:
        found += [v for v in entry[1:4:2] if isinstance(v, str) and "@" in v] + [entry[1]]
    for commit in payload.get("commits") or []:
        author = commit.get("author") or {}
        found += [author.get("email") or ""] + ([author["name"]] if "@" in (author.get("name") or "") else [])
    if isinstance(payload.get("target"), dict):
        found.append(payload["target"].get("email") or "")
    found.append((event.get("actor_attributes") or {}).get("email") or "")
    return [e for e in found if ADDRESS.fullmatch(e) and len(e.split("@")[0]) != 40]


ADDRESS = re.compile(r"[^@\s<>]+@[^@\s<>]+")
LOCAL_CHARS = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._%+-")


def starts_a_word(text: str, start: int) -> bool:
    """Nothing of an address precedes `start` (a JSON escape such as \\n does not count)."""
    return start == 0 or text[start - 1] not in LOCAL_CHARS or (start > 1 and text[start - 2] == "\\")


def find_leaks(text: str, emails: set[str]) -> set[str]:
    """The addresses of `emails` that occur in `text` as whole addresses (looked up around every '@')."""
    by_local: dict[str, set[str]] = {}
    for email in emails:
        local, _, domain = email.partition("@")
        by_local.setdefault(local, set()).add(domain)
    lengths = {len(local) for local in by_local}
    leaks = set()
    at = text.find("@")
    while at >= 0:
        for n in lengths:
            domains = by_local.get(text[max(0, at - n) : at])
            if domains and starts_a_word(text, at - n):
                leaks |= {f"{text[at - n : at]}@{d}" for d in domains if text.startswith(d, at + 1)}
        at = text.find("@", at + 1)
    return leaks


@pytest.mark.parametrize("name", ORIGINALS)
def test_no_raw_email_survives(name: str, tmp_path: Path) -> None:
    with gzip.open(DATA / name, "rb") as f:
        lines = f.read().splitlines()
    emails = {e for line in lines for e in known_emails(orjson.loads(line))}
    assert len(emails) > 500
    assert find_leaks(b"\n".join(lines).decode(), emails)  # the check can see them in the source
    # the same lines plus a broken copy of each of the first 10, so the rejects file gets e-mails too
    src = tmp_path / "hour.json"
    src.write_bytes(b"\n".join(lines + [line[:-40] for line in lines[:10]]) + b"\n")
    result = normalize(src, tmp_path / "out.parquet", hour=Hour.parse(name.split("/")[-1]))
    assert result.rejects == 10 and result.rejects_path is not None
    table = pq.read_table(result.output)
    output = "\n".join(
        "\n".join(v for v in table.column(c).to_pylist() if v)
        for c in table.column_names
        if table.schema.field(c).type == "string"
    )
    assert find_leaks(output, emails) == set()
    assert find_leaks(result.rejects_path.read_text(), emails) == set()


LOCAL = st.text("ghijklmnopqrstuvwxyz", min_size=1, max_size=3).flatmap(
    lambda head: st.text("abcdefghijklmnopqrstuvwxyz0123456789._+-", max_size=20).map(
        lambda tail: head + tail
    )
)
DOMAIN = st.from_regex(r"[a-z][a-z0-9\-]{0,10}[a-z0-9](\.[a-z]{2,6}){1,2}", fullmatch=True)
AROUND = st.text(st.characters(codec="utf-8", exclude_characters="@"), max_size=30)


@given(local=LOCAL, domain=DOMAIN, before=AROUND, after=AROUND)
@settings(max_examples=300, deadline=None)
def test_scrub_never_lets_an_address_through(local: str, domain: str, before: str, after: str) -> None:
    """Locals start with a non-hex letter, so a hash can never spell them by accident."""
    if local == "git" or after[:1].isalnum() or after[:1] in "-.":
        return  # ssh user, or a longer domain: a different address
    address = f"{local}@{domain}"
    assert address not in scrub_text(before + address + after)
    json_text = orjson.dumps({"message": before + address + after}).decode()
    assert address not in scrub_text(json_text)


# ---- addresses in curated columns; whole, quoted and %40 local parts (issue 13, item 3) -------------


def test_scrub_hashes_the_whole_local_part() -> None:
    assert scrub_text("mail Jörg.Müller@example.de") == f"mail {sha1('Jörg.Müller')}@example.de"
    assert scrub_text("日本@example.jp!") == f"{sha1('日本')}@example.jp!"
    # quoted local parts: escaped quotes in JSON text, plain ones in a column value
    assert scrub(b'to \\"john doe\\"@example.com.') == b"to " + sha1("john doe").encode() + b"@example.com."
    assert scrub_value('"john doe"@example.com') == f"{sha1('john doe')}@example.com"
    # the URL-encoded '@'
    assert scrub_value("mailto:alice%40example.com") == f"mailto:{sha1('alice')}%40example.com"
    assert scrub(b'"alice%40example.com"') == b'"' + sha1("alice").encode() + b'%40example.com"'
    # a local part never keeps half a character
    cut = scrub_text("é" * 100 + "@example.com")
    assert cut.encode().decode() == cut and "\ufffd" not in cut and cut.endswith("@example.com")
    # nor after a JSON escape (found by hypothesis: `\\é@x.org` kept half of the é)
    escaped = scrub(orjson.dumps("C:\\é@x.org"))
    assert escaped == b'"C:\\\\' + sha1("é").encode() + b'@x.org"'


def test_scrub_hashes_local_parts_longer_than_its_window_whole() -> None:
    """The local part is looked for in a 128-byte window first: a longer one is hashed whole, its
    start never kept in clear; in JSON text, column values, after `%40` and with many '@'."""
    for n in (127, 128, 129, 130, 300, 5000):
        local = ("x" * (n - 7)) + ".secret"[: min(n, 7)]
        local = local[-n:]
        for text in (f"to {local}@example.com.", f"{local}@example.com"):
            assert scrub_text(text) == text.replace(local, sha1(local)), n
            assert scrub_value(text) == text.replace(local, sha1(local)), n
        assert scrub_value(f"mailto:{local}%40example.com") == f"mailto:{sha1(local)}%40example.com"
        assert scrub(orjson.dumps(f"a\n{local}@x.org")) == orjson.dumps(f"a\n{sha1(local)}@x.org")
    long_local = "é" * 100 + "a" * 100
    assert scrub_text(f"{long_local}@ex.org") == f"{sha1(long_local)}@ex.org"
    # many addresses in one long token: each hashed whole (and in linear time)
    chain = "@".join("k" * 200 for _ in range(2000)) + "@x.org"
    assert scrub_text(chain).count("k") == 0
    # a long run before an '@' that is not an address stays as it was
    assert scrub_text("z" * 300 + "@1.2.3") == "z" * 300 + "@1.2.3"


def test_scrub_leaves_text_that_holds_no_address() -> None:
    for text in (
        b'{"body":"@octocat thanks","name":"@low"}',  # mentions and labels
        b'{"body":"ErrorException(\\"@printf: x\\") and \\"a\\" and \\"@types/node"}',
        b'{"x":"android:text=\\"@string/eula\\" android:id=\\"@+id/a\\""}',
        b'{"url":"https://www.npmjs.com/package/%40babel%2Fcore","y":"labels/%40low"}',
        b'{"v":"pkg@1.2.3","s":"git@github.com:o/r.git"}',
    ):
        assert scrub(text) == text
    once = scrub_value('"john doe"@example.com, Jörg@x.org, a%40b.org')
    assert once is not None and scrub_value(once) == once  # hashing twice changes nothing


#: addresses planted in every string column an event can fill, and in payload text
PLANTED = {
    "ref": "alice@example.com",
    "action": "Bob.Smith@example.org",
    "ref_type": "carol%40example.net",
    "actor.login": "dave@example.com",
    "repo.name": "erin@example.com/x",
    "org.login": '"frank lee"@example.com',
    "id": "grace@example.com",
    "type": "Heidi@example.com",
    "message": 'Signed-off-by: Jörg Müller <Jörg.Müller@example.de>, to \\"ivan ivanov\\"@example.com',
    "body": 'write to judy%40example.com or "mallory x"@example.com',
}


def _plant(lines: list[bytes]) -> list[bytes]:
    """Copies of real events with the PLANTED addresses, appended to the hour."""
    events = [orjson.loads(line) for line in lines]
    push = next(e for e in events if e["type"] == "PushEvent" and e["payload"]["commits"])
    create = next(e for e in events if e["type"] == "CreateEvent")
    issue = next(e for e in events if e["type"] == "IssuesEvent" and "org" in e)
    planted = []
    for name, value in PLANTED.items():
        event = copy.deepcopy(
            create if name in ("ref", "ref_type", "action") else issue if name == "body" else push
        )
        if name in ("ref", "ref_type", "action"):
            event["payload"][name] = value
        elif name == "message":
            event["payload"]["commits"][0]["message"] = value.replace('\\"', '"')
        elif name == "body":
            event["payload"]["issue"]["body"] = value
        elif name == "org.login":
            event = copy.deepcopy(issue)
            event["org"]["login"] = value
        elif "." in name:
            outer, inner = name.split(".")
            event[outer][inner] = value
        else:
            event[name] = value
        planted.append(orjson.dumps(event))
    return planted


LEAKS = ("alice@", "Bob.Smith@", "carol%40", "dave@", "erin@", "frank lee", "grace@", "Heidi@",
         "Jörg.Müller@", "Jörg.Mü", "ivan ivanov", "judy%40", "mallory x")  # fmt: skip


@pytest.mark.parametrize("name", ["2015-01-01-0.json.gz", "2012-10-13-0.json.gz"])
def test_no_planted_address_reaches_any_column_on_either_path(
    name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    lines = gzip.decompress((DATA / name).read_bytes()).splitlines()
    if name.startswith("2012"):  # Timeline: the login is `actor`, the organization in `repository`
        event = orjson.loads(next(line for line in lines if b'"organization"' in line))
        event["actor"] = "peggy@example.com"
        event["repository"]["organization"] = "trent@example.com"
        event["repository"]["owner"] = "victor@example.com"
        planted = [orjson.dumps(event)]
        leaks: tuple[str, ...] = ("peggy@", "trent@", "victor@")
    else:
        planted, leaks = _plant(lines), LEAKS
    src = tmp_path / name
    src.write_bytes(gzip.compress(b"\n".join(lines + planted) + b"\n"))
    table = normalized_on_both_paths(
        src, tmp_path, monkeypatch, events=len(lines) + len(planted), leaks=leaks
    )
    if name.startswith("2015"):
        rows = table.slice(len(lines)).to_pylist()
        assert rows[0]["ref"] == f"{sha1('alice')}@example.com"
        assert rows[2]["ref_type"] == f"{sha1('carol')}%40example.net"
        assert rows[5]["org_login"] == f"{sha1('frank lee')}@example.com"
        assert f"<{sha1('Jörg.Müller')}@example.de>" in rows[8]["payload"]


NON_ASCII_LOCAL = st.text(
    st.characters(min_codepoint=0xC0, max_codepoint=0x2FFF), min_size=1, max_size=8
).flatmap(
    lambda head: st.text("abcdefghijklmnopqrstuvwxyz0123456789._+-", max_size=8).map(lambda tail: head + tail)
)


@given(local=NON_ASCII_LOCAL, domain=DOMAIN, before=AROUND, after=AROUND)
@settings(max_examples=300, deadline=None)
def test_scrub_hashes_non_ascii_local_parts_whole(local: str, domain: str, before: str, after: str) -> None:
    """Not a character of the local part survives (it once kept the non-ASCII head: `Jö<sha1>@…`):
    what precedes the hash is a prefix of the text before the address, in plain and JSON text."""
    if after[:1].isalnum() or after[:1] in "-." or len(local.encode()) > 100:
        return  # a longer domain, or a local part past the 128-byte window: a different case
    json_before = orjson.dumps({"m": before}).decode()[:-2]
    for text, head in (
        (before + local + "@" + domain + after, before),
        (orjson.dumps({"m": before + local + "@" + domain + after}).decode(), json_before),
    ):
        out = scrub_text(text)
        assert out.encode().decode() == out and "\ufffd" not in out
        at = out.index("@" + domain)
        assert re.fullmatch("[0-9a-f]{40}", out[at - 40 : at]) and head.startswith(out[: at - 40]), out


def test_rejects_hash_escaped_non_ascii_local_parts_whole(tmp_path: Path) -> None:
    """A line that does not parse can spell a non-ASCII address in `\\u` escapes: the rejects file
    holds it hashed whole (not `J\\u<sha1>@…`)."""
    lines = gzip.decompress((DATA / "2015-01-01-5.json.gz").read_bytes()).splitlines()
    broken = orjson.dumps({"note": "cc Jörg.Müller@example.de"} | orjson.loads(lines[3]))
    broken = broken.replace("ö".encode(), rb"\u00f6").replace("ü".encode(), rb"\u00fc")[:-1]  # cut: no JSON
    src = tmp_path / "2015-01-01-5.json"
    src.write_bytes(b"\n".join([*lines, broken]) + b"\n")
    result = normalize(src, tmp_path / "out.parquet")
    assert result.rejects == 1 and result.rejects_path is not None
    text = orjson.loads(result.rejects_path.read_bytes())["text"]
    assert f"cc {sha1('Jörg.Müller')}@example.de" in text and "rg.M" not in text
