"""Curated columns: the handful of payload facts most queries need, pulled out once.

Every value is null where the event does not say (e.g. PushEvents of late 2025 carry neither
`size` nor `commits`): a missing fact is never turned into 0 or false. A fact of the wrong JSON type
or out of range makes the line a reject (fields.py), and strings are e-mail-scrubbed (pii.py) like
the payload they come from.
"""

from __future__ import annotations

from typing import Any, NamedTuple

from .fields import boolean, int64, string
from .pii import scrub_value


class Curated(NamedTuple):
    """The curated columns of one row: exactly schema.names("curated"), in table order (writer.py
    checks). Adding one: the field in schema.py, here, its extraction below and in _fastpath.c."""

    action: str | None = None
    ref: str | None = None
    ref_type: str | None = None
    push_size: int | None = None
    push_distinct_size: int | None = None
    number: int | None = None
    pr_merged: bool | None = None
    is_bot: bool | None = None


_BOT_SUFFIXES = ("[bot]", "-bot", "_bot")


def push_sizes(payload: dict[str, Any]) -> tuple[int | None, int | None]:
    """(size, distinct size) from `size`/`distinct_size`, else `commits`, else the old `shas`.

    `size` wins over len(commits): GitHub lists at most 20 commits of a bigger push.
    Old `shas` entries are [sha, email, message, name, distinct?]; the flag exists from ~2012 on,
    so 2011 pushes have a size but a null distinct size.
    """
    size = int64(payload.get("size"), "payload.size")
    distinct = int64(payload.get("distinct_size"), "payload.distinct_size")
    if size is None or distinct is None:
        commits = payload.get("commits")
        if isinstance(commits, list):
            if size is None:
                size = len(commits)
            if distinct is None and all(isinstance(c, dict) and "distinct" in c for c in commits):
                distinct = sum(1 for c in commits if c["distinct"] is True)
        shas = payload.get("shas")
        if isinstance(shas, list):
            if size is None:
                size = len(shas)
            if distinct is None and shas and all(isinstance(s, list) and len(s) > 4 for s in shas):
                distinct = sum(1 for s in shas if s[4] is True)
    return size, distinct


def _number(payload: dict[str, Any]) -> int | None:
    """payload.number (Timeline), else issue.number / pull_request.number (Events). A Timeline
    `issue` is an integer id, not an object: only objects are looked into."""
    number = int64(payload.get("number"), "payload.number")
    if number is not None:
        return number
    for key in ("issue", "pull_request"):
        inner = payload.get(key)
        if isinstance(inner, dict):
            number = int64(inner.get("number"), f"payload.{key}.number")
            if number is not None:
                return number
    return None


def curated(event_type: str, payload: Any, actor_login: str | None) -> Curated:
    """The curated columns of an event (`actor_login` already checked and scrubbed)."""
    if not isinstance(payload, dict):
        return Curated(is_bot=is_bot(actor_login))
    get = payload.get
    action, ref, ref_type = get("action"), get("ref"), get("ref_type")
    size = distinct = number = merged = None
    if event_type == "PushEvent":
        size, distinct = push_sizes(payload)
    elif "number" in payload or "issue" in payload or "pull_request" in payload:
        number = _number(payload)
        if event_type == "PullRequestEvent":
            pr = get("pull_request")
            if isinstance(pr, dict):
                merged = boolean(pr.get("merged"), "payload.pull_request.merged")
    if type(action) is not str:
        action = string(action, "payload.action")
    if type(ref) is not str:
        ref = string(ref, "payload.ref")
    if type(ref_type) is not str:
        ref_type = string(ref_type, "payload.ref_type")
    texts = f"{action}{ref}{ref_type}"
    if "@" in texts or "%" in texts:  # rare: one test for the three values
        action, ref, ref_type = scrub_value(action), scrub_value(ref), scrub_value(ref_type)
    return Curated(
        action=action,
        ref=ref,
        ref_type=ref_type,
        push_size=size,
        push_distinct_size=distinct,
        number=number,
        pr_merged=merged,
        is_bot=is_bot(actor_login),
    )


def is_bot(login: str | None) -> bool | None:
    """Bot heuristic on the actor login, case-insensitive: GitHub Apps end in `[bot]`
    (`dependabot[bot]`); bot accounts by convention end in `-bot` or `_bot` (`renovate-bot`).
    A login merely containing "bot" (`abbott`, `robotics`) is not a bot. Null without an actor."""
    if login is None:
        return None
    return login.lower().endswith(_BOT_SUFFIXES)
